/**
 * The page for a shop's staff, in Chromium under the server's Content-Security-Policy: a write without a key says so;
 * with the key a product is added (found first by its photo), edited (changed fields only) and removed; the key stays
 * in sessionStorage and travels only on writes; the jobs list shows a duplicates scan; on a phone a search brings the
 * results into view.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Browser, Page } from 'playwright-core';
import { indexFolder } from '../src/app/indexFolder.js';
import { Services } from '../src/app/services.js';
import { buildApp } from '../src/server/app.js';
import { DEMO, makeFixture, pickIds, STYLE_ROWS, TYPES } from './helpers.js';
import { launchChromium, SHOTS } from './browser.js';

const KEY = 'staff-page-test-key-0123456789';
// 30 items. (Not servedFixture: Node 20 runs a file's top-level before hooks at once, so this file's hook could not
// wait for that one's app.)
const fx = makeFixture(pickIds(TYPES, 5), 'staff-page');
const config = fx.config({ apiKeys: KEY });
/** A new arrival: a demo photo that is not in the fixture. */
const newId = pickIds(['Tshirts'], 1, 5)[0]!;
const newPhoto = join(DEMO!.images, `${newId}.jpg`);
/** A second photo of the new product (another tee's shot: the product is added with two photos). */
const backPhoto = join(DEMO!.images, `${pickIds(['Tshirts'], 1, 6)[0]!}.jpg`);
let svc: Services;
let app: FastifyInstance;
let browser: Browser;
let base: string;

before(async () => {
  assert.ok(!fx.ids.includes(newId));
  await indexFolder(config, fx.images, { metadata: fx.csv });
  svc = await Services.open(config);
  app = await buildApp(svc, config, { logger: false });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await app?.close();
  await svc?.close();
  rmSync(fx.root, { recursive: true, force: true });
});

/** A page whose script errors and Content-Security-Policy refusals are collected (the test ends with none). */
async function openPage(viewport: { width: number; height: number }): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) errors.push(m.text());
  });
  await page.goto(base);
  await page.waitForSelector('[data-testid="result"]'); // the browse grid
  return { page, errors };
}

const resultIds = (page: Page) => page.$$eval('#results [data-testid="result"]', (els) => els.map((e) => (e as HTMLElement).dataset.id!));

test('staff: no key is refused in words; with the key add, find, edit and remove a product; the jobs list', async () => {
  const { page, errors } = await openPage({ width: 1280, height: 900 });
  // Which requests carry a key, and what the edit sent.
  const keyed: string[] = [];
  const patches: unknown[] = [];
  page.on('request', (r) => {
    if (r.headers()['authorization']) keyed.push(`${r.method()} ${new URL(r.url()).pathname}`);
    if (r.method() === 'PATCH') patches.push(JSON.parse(r.postData() ?? 'null'));
  });

  // The panel opens from the keyboard; without a key the results have no Edit.
  await page.focus('#staff-toggle');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#staff', { state: 'visible' });
  assert.equal(await page.getAttribute('#staff-toggle', 'aria-expanded'), 'true');
  assert.equal(await page.isVisible('[data-testid="edit"]'), false);

  // A product without a key: the server's 401 in words, nothing added.
  const m = STYLE_ROWS.get(newId)!;
  await page.fill('#add-id', newId);
  await page.setInputFiles('#add-file', newPhoto);
  assert.match((await page.getAttribute('#add-preview', 'src')) ?? '', /^blob:/);
  await page.fill('#add-form [data-meta="productDisplayName"]', 'Staff test tee');
  for (const field of ['gender', 'articleType', 'baseColour', 'usage', 'season'] as const) await page.fill(`#add-form [data-meta="${field}"]`, m[field] ?? '');
  await page.click('#add-extra-button');
  await page.fill('#add-extra .extra-name', 'brand');
  await page.fill('#add-extra .extra-value', 'Acme');
  await page.click('#add-submit');
  await page.waitForSelector('[data-testid="add-status"].error');
  assert.match((await page.textContent('[data-testid="add-status"]')) ?? '', /key is missing or wrong/);
  assert.equal((await fetch(`${base}/api/items/${newId}`)).status, 404);

  // The key: in sessionStorage only, Edit shows on the results.
  await page.fill('#key-input', KEY);
  await page.press('#key-input', 'Enter');
  await page.waitForSelector('[data-testid="edit"]', { state: 'visible' });
  assert.equal(await page.inputValue('#key-input'), '', 'the key leaves the field once kept');
  assert.deepEqual(await page.evaluate(() => [sessionStorage.getItem('fashion.writeKey'), localStorage.length]), [KEY, 0]);

  // Refusals in words: a file that is not a photo (the server's message), a catalog being indexed (a 409 made here).
  await page.setInputFiles('#add-file', { name: 'notes.jpg', mimeType: 'image/jpeg', buffer: Buffer.from('not a photo at all') });
  await page.click('#add-submit');
  await page.waitForFunction(() => /JPEG, PNG or WebP/.test(document.querySelector('[data-testid="add-status"].error')?.textContent ?? ''));
  await page.setInputFiles('#add-file', [newPhoto, backPhoto]);
  assert.match((await page.textContent('#add-drop-text')) ?? '', /and 1 more photo/);
  const locked = JSON.stringify({ error: { code: 'catalog/locked', message: 'The catalog is locked by another writer' } });
  await page.route(`**/api/items/${newId}`, (route) => (route.request().method() === 'PUT' ? route.fulfill({ status: 409, contentType: 'application/json', body: locked }) : route.continue()));
  await page.click('#add-submit');
  await page.waitForFunction(() => /being indexed; try again after it/.test(document.querySelector('[data-testid="add-status"].error')?.textContent ?? ''));
  await page.unroute(`**/api/items/${newId}`);

  // Added: the page searches by its photo and the new product comes first.
  await page.click('#add-submit');
  await page.waitForFunction(() => /^Added/.test(document.querySelector('[data-testid="add-status"]')?.textContent ?? ''));
  await page.waitForFunction(() => /similar to your photo/.test(document.getElementById('status')!.textContent ?? ''));
  assert.equal((await resultIds(page))[0], newId);
  const stored = await (await fetch(`${base}/api/items/${newId}`)).json();
  assert.equal(stored.metadata.productDisplayName, 'Staff test tee');
  assert.equal(stored.metadata.brand, 'Acme');
  assert.equal(stored.imageUrls?.length, 2, 'both photos were sent');
  // A shopper's search by the same photo finds it first too (the grid emptied first, to see the new answer arrive).
  await page.$eval('#results', (el) => el.replaceChildren());
  await page.setInputFiles('#file-input', newPhoto);
  await page.waitForSelector('#results [data-testid="result"]');
  assert.equal((await resultIds(page))[0], newId);
  assert.equal(await page.evaluate(() => window.scrollY), 0, 'a desktop search does not scroll');

  // Edit: the changed field and the emptied one (null) only; the refreshed card shows the new colour.
  await page.click(`[data-testid="edit"][data-id="${newId}"]`);
  await page.waitForSelector('#edit-dialog[open]');
  await page.fill('#edit-fields [data-meta="baseColour"]', 'Teal');
  await page.fill('#edit-fields [data-meta="usage"]', '');
  await page.screenshot({ path: join(SHOTS, 'staff-edit.png') });
  await page.click('#edit-save');
  await page.waitForSelector('#edit-dialog', { state: 'hidden' });
  assert.deepEqual(patches, [{ metadata: { baseColour: 'Teal', usage: null } }]);
  await page.waitForFunction((id) => document.querySelector(`#results [data-testid="result"][data-id="${id}"] .meta .sub:nth-child(3)`)?.textContent === 'Teal', newId);
  assert.match((await page.textContent('[data-testid="write-status"]')) ?? '', /baseColour → Teal, usage removed/);

  // Remove, after a confirmation (Cancel first keeps it).
  await page.click(`[data-testid="remove"][data-id="${newId}"]`);
  await page.waitForSelector('#confirm-dialog[open]');
  await page.keyboard.press('Escape');
  await page.waitForSelector('#confirm-dialog', { state: 'hidden' });
  assert.equal((await fetch(`${base}/api/items/${newId}`)).status, 200, 'Escape removes nothing');
  await page.click(`[data-testid="remove"][data-id="${newId}"]`);
  await page.click('#confirm-ok');
  await page.waitForFunction((id) => /Removed/.test(document.querySelector('[data-testid="write-status"]')?.textContent ?? '')
    && !document.querySelector(`#results [data-testid="result"][data-id="${id}"]`) && /similar to your photo/.test(document.getElementById('status')!.textContent ?? ''), newId);
  assert.ok((await resultIds(page)).length > 0);
  assert.equal((await fetch(`${base}/api/items/${newId}`)).status, 404);

  // The key went only with the writes, and forgetting it takes Edit away.
  assert.deepEqual(keyed, [...Array(3).fill(`PUT /api/items/${newId}`), `PATCH /api/items/${newId}`, `DELETE /api/items/${newId}`]);
  await page.click('#forget-key');
  await page.waitForSelector('[data-testid="edit"]', { state: 'hidden' });
  assert.equal(await page.evaluate(() => sessionStorage.getItem('fashion.writeKey')), null);

  // The jobs list: a duplicates scan started from outside, shown on Refresh with its status and progress.
  const scan = await fetch(`${base}/api/duplicates/scan`, { method: 'PUT' });
  assert.ok([200, 202].includes(scan.status), String(scan.status));
  await page.click('#jobs-refresh');
  const job = await page.waitForSelector('[data-testid="job"][data-kind="duplicates"]');
  assert.match((await job.textContent()) ?? '', /Duplicates scan\s*(queued|running|succeeded)/);
  await page.waitForSelector('[data-testid="job"][data-kind="duplicates"][data-status="succeeded"]'); // polled while it runs
  assert.match((await page.textContent('[data-testid="job"][data-kind="duplicates"]')) ?? '', /30 of 30/);

  await page.screenshot({ path: join(SHOTS, 'staff-desktop.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});

test('phone: a search brings the results into view; the staff panel fits the screen', async () => {
  const viewport = { width: 390, height: 844 };
  const { page, errors } = await openPage(viewport);
  await page.setInputFiles('#file-input', join(fx.images, `${fx.ids[0]}.jpg`));
  await page.waitForFunction(() => /similar to your photo/.test(document.getElementById('status')!.textContent ?? ''));
  // Smooth scrolling takes a moment: wait until the first result is whole on the screen.
  await page.waitForFunction(() => {
    const r = document.querySelector('#results [data-testid="result"]')!.getBoundingClientRect();
    return r.top >= 0 && r.bottom <= window.innerHeight;
  }, undefined, { timeout: 5000 });
  assert.ok(await page.evaluate(() => window.scrollY > 0), 'the page scrolled');
  assert.equal((await resultIds(page))[0], fx.ids[0]);
  // Where the scroll ends: the line that says what the results are, at the top of the screen.
  await page.waitForFunction(() => Math.abs(document.getElementById('status')!.getBoundingClientRect().top) < 40);
  await page.screenshot({ path: join(SHOTS, 'staff-phone-results.png') });

  // The staff panel at phone width: no sideways scrolling.
  await page.click('#staff-toggle');
  await page.waitForSelector('#staff', { state: 'visible' });
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no horizontal overflow');
  await page.screenshot({ path: join(SHOTS, 'staff-phone-panel.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});
