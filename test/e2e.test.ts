import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Browser } from 'playwright-core';
import { indexFolder } from '../src/app/indexFolder.js';
import { Recommender } from '../src/recommend/recommender.js';
import { buildApp } from '../src/server/app.js';
import { makeFixture, pickIds, TYPES } from './helpers.js';
import { launchChromium, SHOTS } from './browser.js';

const fx = makeFixture(pickIds(TYPES, 5), 'e2e');
const config = fx.config();
let app: FastifyInstance;
let rec: Recommender;
let browser: Browser;
let base: string;

before(async () => {
  await indexFolder(config, fx.images, { metadata: fx.csv });
  rec = await Recommender.open(config);
  await rec.loadModel();
  app = await buildApp(rec.services, config, { logger: false });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await app?.close();
  await rec?.close();
});

test('upload a catalog photo, see 5 results, click one, see new results (desktop and phone)', async () => {
  for (const viewport of [{ width: 1280, height: 900, name: 'desktop' }, { width: 390, height: 844, name: 'phone' }]) {
    const page = await browser.newPage({ viewport });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // The page runs under the server's Content-Security-Policy: anything it refuses (an inline script or style, a
    // photo from elsewhere) is reported on the console and fails the test.
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) errors.push(m.text());
    });
    const loaded = await page.goto(base);
    assert.match(loaded?.headers()['content-security-policy'] ?? '', /default-src 'self'/);
    await page.waitForSelector('[data-testid="result"]'); // the browse grid
    const queryId = fx.ids[0]!;
    await page.setInputFiles('#file-input', join(fx.images, `${queryId}.jpg`));
    await page.waitForFunction(() => /similar to your photo/.test(document.getElementById('status')!.textContent ?? ''));
    const first = await page.$$eval('[data-testid="result"]', (els) => els.map((e) => (e as HTMLElement).dataset.id));
    assert.equal(first.length, 5);
    assert.equal(first[0], queryId);
    assert.ok(await page.isVisible('#query-image'));
    assert.match((await page.textContent('[data-testid="predicted"]')) ?? '', /Looks like: Tshirts/);

    await page.click(`[data-testid="result"][data-id="${first[1]}"]`);
    await page.waitForFunction((id) => document.querySelector('#query-image')?.getAttribute('src')?.endsWith(`/api/images/${id}`) && !/Searching/.test(document.getElementById('status')!.textContent ?? ''), first[1]);
    const second = await page.$$eval('[data-testid="result"]', (els) => els.map((e) => (e as HTMLElement).dataset.id));
    assert.equal(second.length, 5);
    assert.ok(!second.includes(first[1]), 'more-like-this leaves out the clicked item');
    assert.notDeepEqual(second, first);

    // A filter re-runs the search and every result satisfies it.
    await page.selectOption('#filter-articleType', 'Watches');
    // Wait for the filtered grid itself: the unfiltered one may already show a watch among other types.
    await page.waitForFunction(() => {
      const subs = [...document.querySelectorAll('[data-testid="result"] .meta .sub:nth-child(2)')];
      return subs.length > 0 && subs.every((e) => /^Watches/.test(e.textContent ?? ''));
    });
    const types = await page.$$eval('[data-testid="result"] .meta .sub:nth-child(2)', (els) => els.map((e) => e.textContent));
    assert.ok(types.every((t) => t?.startsWith('Watches')), String(types));

    await page.screenshot({ path: join(SHOTS, `e2e-${viewport.name}.png`), fullPage: true });
    assert.deepEqual(errors, []);
    await page.close();
  }
});

test('words alone: filter chips that can be removed, and an outfit row; then words with a catalog item', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(base);
  await page.waitForSelector('[data-testid="result"]');
  await page.fill('#text-input', 'watches');
  await page.press('#text-input', 'Enter');
  // "Searching for “watches”…" also says "for “watches”": wait for the answer, not the request.
  await page.waitForFunction(() => /products for “watches”/.test(document.getElementById('status')!.textContent ?? ''));
  const types = await page.$$eval('#results [data-testid="result"] .meta .sub:nth-child(2)', (els) => els.map((e) => e.textContent));
  assert.equal(types.length, 5);
  assert.ok(types.every((t) => t?.startsWith('Watches')), String(types));
  assert.match((await page.textContent('[data-testid="chip"][data-field="articleType"]')) ?? '', /Watches/);

  // The outfit row under the results: picks with a reason each.
  await page.waitForSelector('[data-testid="outfit-pick"]');
  const reasons = await page.$$eval('[data-testid="outfit-pick"] .reason', (els) => els.map((e) => e.textContent ?? ''));
  assert.ok(reasons.length >= 1 && reasons.every((r) => r.includes(';')), String(reasons));

  // Removing the chip: the word no longer filters.
  await page.click('[data-testid="chip"][data-field="articleType"] button');
  await page.waitForFunction(() => !document.querySelector('[data-testid="chip"][data-field="articleType"]'));

  // Words with a catalog item: click a result, type a colour, the results keep to it.
  await page.fill('#text-input', '');
  await page.press('#text-input', 'Enter');
  const first = await page.$eval('#results [data-testid="result"]', (e) => (e as HTMLElement).dataset.id!);
  await page.click(`#results [data-testid="result"][data-id="${first}"]`);
  await page.waitForFunction(() => /similar to/.test(document.getElementById('status')!.textContent ?? ''));
  await page.fill('#text-input', 'black');
  await page.press('#text-input', 'Enter');
  await page.waitForFunction(() => /matching “black”/.test(document.getElementById('status')!.textContent ?? ''));
  const colours = await page.$$eval('#results [data-testid="result"] .meta .sub:nth-child(3)', (els) => els.map((e) => e.textContent));
  assert.ok(colours.length > 0 && colours.every((c) => c === 'Black'), String(colours));
  await page.screenshot({ path: join(SHOTS, 'e2e-text-outfit.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});

test('a misspelt word: the did-you-mean line and its chip say what it was read as; clicking searches those words', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) errors.push(m.text());
  });
  await page.goto(base);
  await page.waitForSelector('[data-testid="result"]');
  assert.equal(await page.isVisible('[data-testid="did-you-mean"]'), false, 'no line before a search');
  await page.fill('#text-input', 'watchse');
  await page.press('#text-input', 'Enter');
  await page.waitForFunction(() => /products for “watchse”/.test(document.getElementById('status')!.textContent ?? ''));
  assert.ok(await page.isVisible('[data-testid="did-you-mean"]'));
  assert.equal(await page.textContent('#did-you-mean-words'), 'watches');
  assert.match((await page.textContent('[data-testid="chip"][data-field="articleType"]')) ?? '', /Watches \(from “watchse”\)/);
  const types = await page.$$eval('#results [data-testid="result"] .meta .sub:nth-child(2)', (els) => els.map((e) => e.textContent));
  assert.ok(types.length > 0 && types.every((t) => t?.startsWith('Watches')), String(types));
  await page.screenshot({ path: join(SHOTS, 'e2e-did-you-mean.png'), fullPage: true });
  // Clicking the corrected words searches them: nothing left to correct, the line goes.
  await page.click('#did-you-mean-words');
  await page.waitForFunction(() => /products for “watches”/.test(document.getElementById('status')!.textContent ?? ''));
  assert.equal(await page.inputValue('#text-input'), 'watches');
  assert.equal(await page.isVisible('[data-testid="did-you-mean"]'), false);
  assert.doesNotMatch((await page.textContent('[data-testid="chip"][data-field="articleType"]')) ?? '', /from/);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a file that is not a photo shows a clear error on the page', async () => {
  const page = await browser.newPage();
  await page.goto(base);
  await page.setInputFiles('#file-input', { name: 'notes.jpg', mimeType: 'image/jpeg', buffer: Buffer.from('not a photo at all') });
  await page.waitForSelector('#status.error');
  assert.match((await page.textContent('#status')) ?? '', /JPEG, PNG or WebP/);
  await page.close();
});

test('a shopper-style photo: the isolated product beside it, its exact match, and the catalog duplicates', async () => {
  const { readFileSync, writeFileSync } = await import('node:fs');
  const { rephotograph, PHOTO_CONDITIONS } = await import('../src/imaging/rephotograph.js');
  const { mulberry32 } = await import('../src/util/random.js');
  const id = fx.ids[7]!;
  const copy = join(fx.root, 'shopper-photo.jpg');
  writeFileSync(copy, await rephotograph(readFileSync(join(fx.images, `${id}.jpg`)), PHOTO_CONDITIONS.mild, mulberry32(2)));
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(base);
  await page.waitForSelector('[data-testid="result"]');
  await page.setInputFiles('#file-input', copy);
  await page.waitForFunction(() => /similar to your photo/.test(document.getElementById('status')!.textContent ?? ''));
  assert.ok(await page.isVisible('[data-testid="isolated"]'));
  assert.match((await page.getAttribute('[data-testid="isolated"]', 'src')) ?? '', /^data:image\/jpeg;base64,/);
  await page.click('#match-button');
  await page.waitForSelector('[data-testid="match-found"], [data-testid="no-match"]');
  assert.ok(await page.isVisible('[data-testid="match-found"]'), (await page.textContent('#match-result')) ?? '');
  assert.equal(await page.getAttribute('#match-result .thumb', 'data-id'), id);
  // The page starts the background scan (PUT), says it is scanning while GET answers 202, and shows the groups after.
  await page.click('#duplicates-button');
  await page.waitForFunction(() => /Scanning/.test(document.getElementById('duplicates-status')!.textContent ?? ''));
  await page.waitForFunction(() => /duplicate groups/.test(document.getElementById('duplicates-status')!.textContent ?? ''));
  assert.match((await page.textContent('#duplicates-status')) ?? '', /0 exact and \d+ near-duplicate groups/);
  await page.screenshot({ path: join(SHOTS, 'e2e-match.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});
