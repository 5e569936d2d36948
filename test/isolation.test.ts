import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import { ingestFolder } from '../src/catalog/ingest.js';
import { openCatalogStore } from '../src/catalog/openCatalog.js';
import { resolveConfig, embedderOptions } from '../src/config.js';
import { Embedder } from '../src/embedding/embedder.js';
import { decodeRgb, DECODE_MAX_SIDE, fitForModel, fitPhoto, pixelHash } from '../src/imaging/decode.js';
import { balancedReading, isolateProduct } from '../src/imaging/isolateProduct.js';
import { resolvePreprocess } from '../src/imaging/preprocess.js';
import { cropAsIs } from '../src/imaging/readingTransforms.js';
import { PHOTO_CONDITIONS, rephotograph } from '../src/imaging/rephotograph.js';
import { mulberry32 } from '../src/util/random.js';
import { SqliteCatalogStore } from '../src/store/sqliteStore.js';
import { DEMO, makeFixture, pickIds, STYLE_ROWS } from './helpers.js';

const photoOf = (id: string) => readFileSync(join(DEMO!.images, `${id}.jpg`));
const whiteTee = [...STYLE_ROWS].find(([, m]) => m.articleType === 'Tshirts' && m.baseColour === 'White')![0];
const watch = pickIds(['Watches'], 1)[0]!;

test('rephotograph is seeded: the same rng gives the same bytes, another rng another photo', async () => {
  const src = photoOf(watch);
  const a = await rephotograph(src, PHOTO_CONDITIONS.all, mulberry32(5));
  const b = await rephotograph(src, PHOTO_CONDITIONS.all, mulberry32(5));
  const c = await rephotograph(src, PHOTO_CONDITIONS.all, mulberry32(6));
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  const meta = await sharp(a).metadata();
  assert.equal(meta.format, 'jpeg');
  assert.equal(meta.width, 240);
  assert.equal(meta.height, 320);
  await assert.rejects(rephotograph(src, { rotateDeg: -3 }, mulberry32(1)), /rotateDeg/);
});

test('a studio photo is only cropped: every off-white pixel of a white T-shirt stays, none changes', async () => {
  const img = await decodeRgb(photoOf(whiteTee));
  const iso = isolateProduct(img);
  assert.equal(iso.method, 'studio');
  // The crop lies over the original and its pixels are the original's.
  const { left, top, width, height } = iso.box;
  for (let y = 0; y < height; y += 3) {
    for (let x = 0; x < width; x += 3) {
      const sx = left + x;
      const sy = top + y;
      if (sx < 0 || sy < 0 || sx >= img.width || sy >= img.height) continue;
      for (let c = 0; c < 3; c++) assert.equal(iso.image.data[(y * iso.image.width + x) * 3 + c], img.data[(sy * img.width + sx) * 3 + c]);
    }
  }
  // Nothing visibly off-white is left outside the crop.
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      if (x >= left && x < left + width && y >= top && y < top + height) continue;
      const i = (y * img.width + x) * 3;
      assert.ok(Math.min(img.data[i]!, img.data[i + 1]!, img.data[i + 2]!) >= 200, `pixel ${x},${y} of the shirt was cut off`);
    }
  }
});

test('a coloured backdrop is replaced with white and the product cropped out of the frame', async () => {
  const copy = await rephotograph(photoOf(watch), { background: true, frame: { minScale: 0.5, maxScale: 0.5 } }, mulberry32(3));
  const img = await decodeRgb(copy);
  const iso = isolateProduct(img);
  assert.equal(iso.method, 'replaced');
  assert.ok(iso.foregroundShare > 0.05 && iso.foregroundShare < 0.6, String(iso.foregroundShare));
  // The corners of the isolated product are white, as in the catalog.
  const { data, width, height } = iso.image;
  for (const [x, y] of [[0, 0], [width - 1, 0], [0, height - 1], [width - 1, height - 1]] as const) {
    const i = (y * width + x) * 3;
    assert.ok(Math.min(data[i]!, data[i + 1]!, data[i + 2]!) >= 235, `corner ${x},${y} is ${data[i]},${data[i + 1]},${data[i + 2]}`);
  }
  // Smaller than the frame: the crop follows the product (half the frame here, plus a margin).
  assert.ok(iso.box.height < img.height * 0.75, `${iso.box.height} of ${img.height}`);
});

test('a product whose colours come near its backdrop keeps its inside: a dark purple sweater on a dark backdrop', async () => {
  // With the flood's old threshold (spreadFactor 1.0) this copy lost the whole sweater (foreground 0.21 of the frame against 0.45).
  const studio = photoOf('20303');
  const copy = await rephotograph(studio, { background: true }, mulberry32(1));
  const iso = isolateProduct(await decodeRgb(copy));
  const expected = isolateProduct(await decodeRgb(studio)).foregroundShare;
  assert.equal(iso.method, 'replaced');
  assert.ok(Math.abs(iso.foregroundShare - expected) < expected * 0.1, `product ${iso.foregroundShare.toFixed(3)} of the frame, studio shot ${expected.toFixed(3)}`);
});

test('a studio shot in a dim, warm room has a second reading that turns its backdrop white again; other photos have none', async () => {
  const img = await decodeRgb(photoOf(whiteTee));
  // The same shot 25% darker under a warm lamp: every pixel scaled per channel.
  const gains = [0.8, 0.72, 0.62];
  const dim = { ...img, data: Uint8Array.from(img.data, (v, i) => Math.round(v * gains[i % 3]!)) };
  assert.notEqual(isolateProduct(dim).method, 'studio');
  const reading = balancedReading(dim, isolateProduct(dim));
  assert.ok(reading, 'expected a balanced reading');
  assert.equal(reading.method, 'balanced');
  // The white T-shirt is back near its studio colours, cropped as the studio shot is: its pixels were not taken for backdrop.
  const studio = isolateProduct(img).image;
  assert.deepEqual([reading.image.width, reading.image.height], [studio.width, studio.height]);
  const mean = (d: Uint8Array, c: number) => d.reduce((s, v, i) => (i % 3 === c ? s + v : s), 0) / (d.length / 3);
  for (const c of [0, 1, 2]) assert.ok(Math.abs(mean(reading.image.data, c) - mean(studio.data, c)) < 6, `channel ${c}: ${mean(reading.image.data, c)} vs ${mean(studio.data, c)}`);
  // A white studio shot, and a photo on a saturated backdrop, have no second reading.
  assert.equal(balancedReading(img, isolateProduct(img)), null);
  const blue = Uint8Array.from(img.data);
  for (let i = 0; i < blue.length; i += 3) if (Math.min(blue[i]!, blue[i + 1]!, blue[i + 2]!) >= 240) blue.set([40, 90, 200], i);
  const onBlue = { ...img, data: blue };
  assert.equal(balancedReading(onBlue, isolateProduct(onBlue)), null);
});

test('isolation is part of the preprocessing identity; off leaves the old identity unchanged', async () => {
  const off = resolvePreprocess('imagenet', { isolate: false });
  const on = resolvePreprocess('imagenet', { isolate: true });
  assert.equal('isolate' in off, false);
  assert.equal(on.isolate, true);
  // A studio shot framed like the catalog's is left as it is; a photo on a backdrop is not.
  assert.deepEqual(await fitForModel(photoOf(watch), on), await fitForModel(photoOf(watch), off));
  const copy = await rephotograph(photoOf(watch), { background: true }, mulberry32(1));
  const a = await fitForModel(copy, on);
  const b = await fitForModel(copy, off);
  assert.equal(a.length, 224 * 224 * 3);
  assert.notDeepEqual(a, b);
  assert.equal(resolveConfig({ isolate: 'off' }, {}).preprocess.isolate, undefined);
  assert.equal(resolveConfig({}, { FASHION_ISOLATE: 'on' }).preprocess.isolate, true);
  assert.throws(() => resolveConfig({ isolate: 'maybe' }, {}), /isolate/);
});

test('the pixel hash survives renaming and lossless re-encoding, not a changed photo', async () => {
  const jpeg = photoOf(watch);
  const img = await decodeRgb(jpeg);
  const png = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).png().toBuffer();
  assert.equal(await pixelHash(png), await pixelHash(jpeg));
  const brighter = await sharp(jpeg).modulate({ brightness: 1.1 }).png().toBuffer();
  assert.notEqual(await pixelHash(brighter), await pixelHash(jpeg));
});

test('an old catalog gains the pixel-hash column; ingest records hashes and warns about a duplicate photo', async () => {
  const ids = pickIds(['Watches', 'Jeans'], 3);
  const fx = makeFixture(ids, 'dup-ingest');
  // A catalog file as made before the column existed.
  const old = new Database(join(fx.root, 'old.sqlite'));
  old.exec('CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL); CREATE TABLE items (id TEXT PRIMARY KEY, path TEXT NOT NULL, size INTEGER NOT NULL, mtime_ms REAL NOT NULL, metadata TEXT NOT NULL, vector BLOB NOT NULL)');
  old.prepare('INSERT INTO items VALUES (?, ?, ?, ?, ?, ?)').run('1', '1.jpg', 1, 1, '{}', Buffer.alloc(8));
  old.close();
  const migrated = new SqliteCatalogStore(join(fx.root, 'old.sqlite'));
  assert.equal((await migrated.loadAll()).items[0]!.pixelHash, undefined);
  await migrated.close();

  const config = fx.config();
  const embedder = await Embedder.load({ ...embedderOptions(config), threads: 2 });
  try {
    const store = await openCatalogStore(fx.data, { create: true });
    const first = await ingestFolder(store, embedder, { imagesDir: fx.images, metadataCsv: fx.csv, batchSize: 8 });
    assert.deepEqual(first.duplicates, []);
    assert.equal((await store.pixelHashes()).size, ids.length);
    // The same photo again under a new name, re-encoded as PNG.
    const img = await decodeRgb(photoOf(ids[0]!));
    writeFileSync(join(fx.images, 'copy-of-first.png'), await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).png().toBuffer());
    const second = await ingestFolder(store, embedder, { imagesDir: fx.images, metadataCsv: fx.csv, batchSize: 8 });
    assert.deepEqual(second.duplicates.map((d) => [d.id, d.duplicateOf]), [['copy-of-first', ids[0]]]);
    assert.ok(second.warnings.some((w) => w.includes(`catalog item ${ids[0]}`)));
    await store.close();
  } finally {
    await embedder.close();
  }
});

test('a query photo on a backdrop is also read as it is (backdrop kept); a studio shot, or a catalog photo read once, is not', async () => {
  const p = resolvePreprocess('imagenet', { isolate: true });
  const bytes = await rephotograph(photoOf(watch), PHOTO_CONDITIONS.background, mulberry32(3));
  const query = await fitPhoto(bytes, p, { readings: 'both' });
  assert.equal(query.isolation, 'replaced');
  assert.ok(query.asIs, 'expected the as-is reading');
  // The as-is reading is the decoded photo cut to isolation's box (backdrop kept), the isolated one its cut-out on white.
  const decoded = await decodeRgb(bytes, { maxSide: DECODE_MAX_SIDE });
  assert.deepEqual(query.asIs, cropAsIs(decoded, isolateProduct(decoded).box));
  assert.ok(query.asIs.width < decoded.width || query.asIs.height < decoded.height);
  assert.ok(query.product.width < decoded.width);
  assert.equal((await fitPhoto(bytes, p, { readings: 'one' })).asIs, undefined);
  const studio = await fitPhoto(photoOf(watch), p, { readings: 'both' });
  assert.equal(studio.isolation, 'studio');
  assert.equal(studio.asIs, undefined);
});
