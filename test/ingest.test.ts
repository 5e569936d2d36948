import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, copyFileSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import { ingestFolder } from '../src/catalog/ingest.js';
import { catalogFile, openCatalogStore } from '../src/catalog/openCatalog.js';
import { embedderOptions } from '../src/config.js';
import { Embedder } from '../src/embedding/embedder.js';
import { FashionError } from '../src/errors.js';
import { Recommender } from '../src/recommend/recommender.js';
import { DEMO, makeFixture, pickIds, TYPES } from './helpers.js';

const fx = makeFixture(pickIds(TYPES, 4), 'ingest');
const config = fx.config();
let embedder: Embedder;

before(async () => {
  embedder = await Embedder.load({ ...embedderOptions(config), threads: 2 });
});
after(async () => {
  await embedder.close();
});

async function ingest(extra: Partial<Parameters<typeof ingestFolder>[2]> = {}) {
  const store = await openCatalogStore(fx.data, { create: true });
  try {
    return await ingestFolder(store, embedder, { imagesDir: fx.images, metadataCsv: fx.csv, batchSize: 8, ...extra });
  } finally {
    await store.close();
  }
}

test('indexes a folder with its CSV, then a second run embeds nothing', async () => {
  const events: string[] = [];
  const first = await ingest({ onProgress: (p) => events.push(p.phase) });
  assert.equal(first.added, fx.ids.length);
  assert.equal(first.failed.length, 0);
  assert.ok(events.includes('embed') && events.at(-1) === 'done');
  const second = await ingest();
  assert.equal(second.added + second.updated, 0);
  assert.equal(second.unchanged, fx.ids.length);
  const rec = await Recommender.open(config);
  assert.equal(rec.info().items, fx.ids.length);
  assert.equal(rec.item(fx.ids[0]!).metadata.articleType, 'Tshirts');
  await rec.close();
});

test('a folder copied or extracted again (same photos, new mtimes) is not embedded again: the pixels decide', async () => {
  const later = new Date(Math.ceil(Date.now() / 1000) * 1000 + 60_000);
  for (const id of fx.ids) utimesSync(join(fx.images, `${id}.jpg`), later, later);
  const r = await ingest();
  assert.equal(r.added + r.updated, 0);
  assert.equal(r.unchanged, fx.ids.length);
  // The new mtimes are recorded, so the next run compares nothing.
  const store = await openCatalogStore(fx.data);
  try {
    const states = await store.fileStates();
    for (const id of fx.ids) assert.equal(states.get(id)!.mtimeMs, Math.floor(later.getTime()));
  } finally {
    await store.close();
  }
});

test('picks up new, changed and deleted photos, and metadata edits without re-embedding', async () => {
  const [changed, removed] = [fx.ids[1]!, fx.ids[2]!];
  const added = pickIds(['Jeans'], 1, 10)[0]!;
  copyFileSync(join(DEMO!.images, `${added}.jpg`), join(fx.images, `${added}.jpg`));
  appendFileSync(fx.csv, `${added},Men,Apparel,Bottomwear,Jeans,Blue,Summer,2012,Casual,Test Jeans\n`);
  copyFileSync(join(DEMO!.images, `${fx.ids[5]}.jpg`), join(fx.images, `${changed}.jpg`));
  utimesSync(join(fx.images, `${changed}.jpg`), new Date(), new Date(Date.now() + 5000));
  rmSync(join(fx.images, `${removed}.jpg`));
  writeFileSync(fx.csv, readFileSync(fx.csv, 'utf8').replace(/^(\d+,\w+,Accessories,Watches,Watches,)(\w+)/m, '$1Purple'));
  const r = await ingest();
  assert.equal(r.added, 1);
  assert.equal(r.updated, 1);
  assert.equal(r.removed, 1);
  assert.ok(r.metadataUpdated >= 1);
  const rec = await Recommender.open(config);
  assert.equal(rec.hasItem(removed), false);
  assert.equal(rec.item(added).metadata.productDisplayName, 'Test Jeans');
  assert.ok(rec.allItems().some((it) => it.metadata.baseColour === 'Purple'));
  await rec.close();
});

test('a corrupt photo, a non-image, a link out of the folder and bad CSV rows are reported and skipped', async () => {
  writeFileSync(join(fx.images, 'broken.jpg'), readFileSync(join(fx.images, `${fx.ids[0]}.jpg`)).subarray(0, 300));
  writeFileSync(join(fx.images, 'notes.png'), 'this is text, not a PNG');
  symlinkSync('/etc/hostname', join(fx.images, 'escape.jpg'));
  appendFileSync(fx.csv, 'x1,Men,"unclosed\n');
  const r = await ingest();
  assert.deepEqual(r.failed.map((f) => f.id).sort(), ['broken', 'notes']);
  assert.equal(r.failed.find((f) => f.id === 'notes')!.code, 'image/unsupported-type');
  assert.equal(r.failed.find((f) => f.id === 'broken')!.code, 'image/corrupt');
  assert.ok(r.warnings.some((w) => w.includes('escape.jpg') && /outside/.test(w)));
  assert.ok(r.warnings.some((w) => w.includes('styles.csv')));
  const rec = await Recommender.open(config);
  assert.equal(rec.hasItem('broken'), false);
  assert.equal(rec.hasItem('escape'), false);
  assert.ok(rec.info().items >= fx.ids.length - 1);
  await rec.close();
  for (const f of ['broken.jpg', 'notes.png', 'escape.jpg']) rmSync(join(fx.images, f));
});

test('a catalog made with one model refuses another, and --reembed replaces its vectors', async () => {
  const avg = await Embedder.load({ ...embedderOptions(config), pooling: 'avg' });
  try {
    const store = await openCatalogStore(fx.data);
    await assert.rejects(ingestFolder(store, avg, { imagesDir: fx.images, batchSize: 8 }), (e: unknown) => e instanceof FashionError && e.code === 'catalog/model-mismatch');
    await store.close();
    await assert.rejects(Recommender.open(config, { embedder: avg }), /re-index with --reembed/);
  } finally {
    await avg.close();
  }
});

test('killed with SIGKILL mid-run, the next run finishes with every item indexed exactly once', async () => {
  const big = makeFixture(pickIds(['Tshirts', 'Shirts', 'Casual Shoes', 'Watches', 'Handbags', 'Kurtas'], 40), 'resume');
  const args = ['bin/fashion.js', 'index', big.images, '--metadata', big.csv, '--data', big.data, '--batch-size', '8', '--json', '--cache', config.cacheDir];
  const child = spawn(process.execPath, args, { stdio: 'ignore' });
  const file = catalogFile(big.data);
  // Wait until some batches are committed, then kill it without warning.
  for (let i = 0; i < 600; i++) {
    await new Promise((r) => setTimeout(r, 100));
    try {
      const db = new Database(file, { readonly: true, fileMustExist: true });
      const n = (db.prepare('SELECT COUNT(*) AS n FROM items').get() as { n: number }).n;
      db.close();
      if (n >= 16) break;
    } catch {
      // not created yet
    }
  }
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  const partial = new Database(file, { readonly: true });
  const mid = (partial.prepare('SELECT COUNT(*) AS n FROM items').get() as { n: number }).n;
  partial.close();
  assert.ok(mid > 0 && mid < big.ids.length, `killed after ${mid} of ${big.ids.length}`);

  const store = await openCatalogStore(big.data);
  const r = await ingestFolder(store, embedder, { imagesDir: big.images, metadataCsv: big.csv, batchSize: 8 });
  await store.close();
  assert.equal(r.unchanged, mid);
  assert.equal(r.added, big.ids.length - mid);
  const db = new Database(file, { readonly: true });
  const rows = db.prepare('SELECT id FROM items').all() as { id: string }[];
  db.close();
  assert.equal(rows.length, big.ids.length);
  assert.equal(new Set(rows.map((x) => x.id)).size, big.ids.length);
});
