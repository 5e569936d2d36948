// The page on a running server, in Chromium: uploads a photo and waits for the results and the outfit row, and
// reports how long each took and any page error or Content-Security-Policy refusal. A check for large catalogs
// (the tests' catalogs are small): node --import tsx bench/pageOutfit.ts --url http://127.0.0.1:8080 --photo some.jpg
import { chromium } from 'playwright-core';
import { arg } from './common.js';

const url = arg('url', 'http://127.0.0.1:8080');
const photo = arg('photo', '');
if (!photo) throw new Error('--photo is needed');
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  await page.goto(url);
  await page.waitForSelector('[data-testid="result"]');
  const t0 = performance.now();
  await page.setInputFiles('#file-input', photo);
  await page.waitForFunction(() => /similar to your photo|products like|results? for/i.test(document.getElementById('status')?.textContent ?? ''), undefined, { timeout: 30_000 }).catch(() => undefined);
  const resultsMs = performance.now() - t0;
  const picks = await page.waitForSelector('[data-testid="outfit-pick"]', { timeout: 30_000 }).then(() => page.$$eval('[data-testid="outfit-pick"]', (els) => els.length)).catch(() => 0);
  const outfitMs = performance.now() - t0;
  const outfitText = (await page.textContent('#outfit'))?.replace(/\s+/g, ' ').slice(0, 200) ?? null;
  console.log(JSON.stringify({ status: await page.textContent('#status'), resultsMs: Math.round(resultsMs), outfitPicks: picks, outfitMs: Math.round(outfitMs), outfitText, errors }, null, 2));
  if (picks === 0 || errors.length) process.exitCode = 1;
} finally {
  await browser.close();
}
