import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import type { Embedder } from '../../src/embedding/embedder.js';
import { prepareBatch, prepareReadings } from '../../src/embedding/vectorize.js';
import { decodeRgb, DECODE_MAX_SIDE, fitPhoto } from '../../src/imaging/decode.js';
import { balancedReading, ISOLATE_TUNING, isolateProduct, QUERY_ISOLATION } from '../../src/imaging/isolateProduct.js';
import { fitCopy } from '../../src/imaging/shopperPhoto/fitCopy.js';
import { fitToTensor } from '../../src/imaging/resample.js';
import { reduce } from '../../src/imaging/ops.js';
import { IMAGENET_PREPROCESS, type Preprocess } from '../../src/imaging/preprocess.js';
import { alphaTap, productBox } from '../../src/imaging/workingSize.js';
import { gaussian, mulberry32, rgbImage } from './toys.js';

type Rgb = readonly [number, number, number];
const W = 160, H = 120;
/** The object of the synthetic photos: a rectangle, x 60..99, y 30..79 (40 x 50 pixels). */
const OBJ = { x0: 60, y0: 30, x1: 100, y1: 80 };
const inObject = (x: number, y: number) => x >= OBJ.x0 && x < OBJ.x1 && y >= OBJ.y0 && y < OBJ.y1;

/** A photo of a coloured object on a backdrop, with a little seeded sensor noise. */
function photo(backdrop: Rgb, object: Rgb, seed = 1, noise = 2) {
  const g = gaussian(mulberry32(seed));
  const clamp = (v: number) => Math.max(0, Math.min(255, Math.round(v)));
  return rgbImage(W, H, (x, y) => {
    const c = inObject(x, y) ? object : backdrop;
    return [clamp(c[0] + g() * noise), clamp(c[1] + g() * noise), clamp(c[2] + g() * noise)];
  });
}

const pixel = (img: { data: Uint8Array; width: number }, x: number, y: number) => [...img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3)];

test('a coloured object on a grey backdrop is found: backdrop replaced with white, cropped to the object', () => {
  const img = photo([128, 128, 128], [200, 40, 40]);
  const iso = isolateProduct(img);
  assert.equal(iso.method, 'replaced');
  // The object is 2000 of 19200 pixels.
  assert.ok(Math.abs(iso.foregroundShare - 2000 / (W * H)) < 0.02, `foreground share ${iso.foregroundShare}`);
  // The crop holds the whole object plus a margin of 8% of its longer side (4 px), no more.
  const { left, top, width, height } = iso.box;
  assert.ok(left <= OBJ.x0 && top <= OBJ.y0 && left + width >= OBJ.x1 && top + height >= OBJ.y1, JSON.stringify(iso.box));
  assert.ok(width <= 40 + 2 * 6 && height <= 50 + 2 * 6, `crop ${width}x${height} is tight around the 40x50 object`);
  assert.deepEqual([iso.image.width, iso.image.height], [width, height], 'smaller than the canonical side: not reduced');
  // White corners where the grey backdrop was, the object's colour in the middle.
  for (const [x, y] of [[0, 0], [width - 1, 0], [0, height - 1], [width - 1, height - 1]] as const) {
    assert.ok(Math.min(...pixel(iso.image, x, y)) >= 250, `corner ${x},${y}: ${pixel(iso.image, x, y)}`);
  }
  const mid = pixel(iso.image, Math.floor(width / 2), Math.floor(height / 2));
  assert.ok(Math.abs(mid[0]! - 200) < 10 && Math.abs(mid[1]! - 40) < 10 && Math.abs(mid[2]! - 40) < 10, `middle ${mid}`);
});

test('a large photo is reduced to the canonical side after the crop', () => {
  // The same scene at 4x: the object is 160 x 200, reduced so that its longer side is 80.
  const small = photo([90, 110, 140], [240, 200, 30], 2);
  const big = rgbImage(W * 4, H * 4, (x, y) => pixel(small, x >> 2, y >> 2) as unknown as Rgb);
  const iso = isolateProduct(big);
  assert.equal(iso.method, 'replaced');
  assert.ok(Math.max(iso.image.width, iso.image.height) <= 80 * 1.2, `${iso.image.width}x${iso.image.height}`);
  assert.ok(Math.abs(iso.image.height / iso.image.width - iso.box.height / iso.box.width) < 0.05, 'aspect kept');
});

test('a studio shot on white is left alone: no pixel changes, and it is not cropped when it fills the frame', () => {
  // Fills 0.8 of the frame both ways: left as it is.
  const full = rgbImage(W, H, (x, y) => (x >= 16 && x < 144 && y >= 12 && y < 108 ? [30, 60, 150] : [255, 255, 255]));
  const iso = isolateProduct(full);
  assert.equal(iso.method, 'studio');
  assert.deepEqual(iso.box, { left: 0, top: 0, width: W, height: H });
  assert.ok(Buffer.from(iso.image.data).equals(Buffer.from(full.data)));
  // A light garment whose outer 6 pixels are barely off-white (234), small in the frame: cropped, edges kept, pixels untouched.
  const rim = (x: number, y: number) => x < OBJ.x0 + 6 || x >= OBJ.x1 - 6 || y < OBJ.y0 + 6 || y >= OBJ.y1 - 6;
  const small = rgbImage(W, H, (x, y) => (inObject(x, y) ? (rim(x, y) ? [234, 234, 234] : [200, 200, 215]) : [255, 255, 255]));
  const s = isolateProduct(small);
  assert.equal(s.method, 'studio');
  const { left, top, width, height } = s.box;
  assert.ok(left <= OBJ.x0 && top <= OBJ.y0 && left + width >= OBJ.x1 && top + height >= OBJ.y1, `the garment's edges stay inside: ${JSON.stringify(s.box)}`);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const sx = left + x, sy = top + y;
      const want = sx < 0 || sy < 0 || sx >= W || sy >= H ? [255, 255, 255] : pixel(small, sx, sy);
      assert.deepEqual(pixel(s.image, x, y), want, `crop pixel ${x},${y}`);
    }
  }
});

test('nothing to tell from the backdrop, or too small a photo: unchanged', () => {
  const plain = photo([128, 128, 128], [128, 128, 128], 3);
  const iso = isolateProduct(plain);
  assert.equal(iso.method, 'unchanged');
  assert.equal(iso.image, plain);
  assert.equal(iso.foregroundShare, 1);
  const tiny = rgbImage(6, 6, () => [10, 20, 30]);
  assert.equal(isolateProduct(tiny).method, 'unchanged');
});

test('a light warm-grey backdrop offers the balanced reading: gains that make it white, then a studio shot', () => {
  const backdrop: Rgb = [210, 200, 185];
  const img = photo(backdrop, [20, 40, 120], 4, 0);
  const iso = isolateProduct(img);
  assert.equal(iso.method, 'replaced');
  assert.ok(iso.backdropGains, 'gains found');
  iso.backdropGains!.forEach((g, c) => assert.ok(Math.abs(g - 255 / backdrop[c]!) < 1e-6, `gain ${c}: ${g}`));
  const balanced = balancedReading(img, iso);
  assert.equal(balanced?.method, 'balanced');
  // A mid-grey backdrop is too dark to be a white one under other light; a white studio border needs no balance.
  assert.equal(isolateProduct(photo([128, 128, 128], [200, 40, 40])).backdropGains, undefined);
  const studio = rgbImage(W, H, (x, y) => (inObject(x, y) ? [20, 40, 120] : [255, 255, 255]));
  assert.equal(balancedReading(studio, isolateProduct(studio)), null);
});

test('fitPhoto isolates when the preprocessing says so, and gives the other readings for a query photo', async () => {
  const img = photo([128, 128, 128], [200, 40, 40], 5);
  const png = await sharp(img.data, { raw: { width: W, height: H, channels: 3 } }).png().toBuffer();
  const plain = await fitPhoto(png, IMAGENET_PREPROCESS);
  assert.equal(plain.isolation, undefined);
  assert.deepEqual([plain.product.width, plain.product.height], [W, H]);
  const iso = await fitPhoto(png, { ...IMAGENET_PREPROCESS, isolate: true }, { readings: 'both' });
  assert.equal(iso.isolation, 'replaced');
  assert.ok(iso.product.width < 60 && iso.product.height < 70, `${iso.product.width}x${iso.product.height}`);
  // The photo as it is, for the other reading: around the object (40 x 50, plus isolation's margin), the grey backdrop kept.
  assert.ok(iso.asIs, 'expected the as-is reading');
  assert.ok(iso.asIs.width >= 40 && iso.asIs.width <= 52 && iso.asIs.height >= 50 && iso.asIs.height <= 62, `${iso.asIs.width}x${iso.asIs.height}`);
  assert.ok(Math.abs(pixel(iso.asIs, 0, 0)[0]! - 128) < 10, 'the corner is backdrop, not the white isolation puts there');
  assert.ok(pixel(iso.asIs, Math.floor(iso.asIs.width / 2), Math.floor(iso.asIs.height / 2))[0]! > 180, 'the object in the middle');
  assert.equal(iso.pixelHash, plain.pixelHash, 'the hash is of the photo, not of the isolated product');
});

test('with the surface on, a backdrop that shades across the frame (a vignette on a gradient) is taken away whole: the crop fits the object', () => {
  const g = gaussian(mulberry32(7));
  const clamp = (v: number) => Math.max(0, Math.min(255, Math.round(v)));
  // Light from the top left, darker corners: the middle of the frame is lighter than any part of the border.
  const img = rgbImage(W, H, (x, y) => {
    if (inObject(x, y)) return [clamp(40 + g() * 2), clamp(60 + g() * 2), clamp(170 + g() * 2)];
    const u = x / W - 0.5, v = y / H - 0.5;
    const light = 1 - 0.25 * (u + v) - 1.2 * (u * u + v * v);
    return [clamp(190 * light + g() * 2), clamp(150 * light + g() * 2), clamp(110 * light + g() * 2)];
  });
  const tight = (iso: ReturnType<typeof isolateProduct>) => iso.method === 'replaced' && iso.box.width <= 40 + 2 * 6 && iso.box.height <= 50 + 2 * 6;
  // The surface is on by default behind its guard (src/imaging/isolateProduct.ts); this backdrop's border fits it closely.
  const iso = isolateProduct(img);
  assert.ok(tight(iso), `${iso.method} ${JSON.stringify(iso.box)}`);
  const { left, top, width, height } = iso.box;
  assert.ok(left <= OBJ.x0 && top <= OBJ.y0 && left + width >= OBJ.x1 && top + height >= OBJ.y1, JSON.stringify(iso.box));
  // Border clusters alone keep the light middle of the backdrop as part of the product.
  const clustersOnly = isolateProduct(img, { ...ISOLATE_TUNING, surface: 0 });
  assert.ok(!tight(clustersOnly), `clusters alone: ${clustersOnly.method} ${JSON.stringify(clustersOnly.box)}`);
});

test('a photo at or below the working size is isolated at its own size: the same result whatever workingSide says', () => {
  // Catalog photos (60x80) and these 160x120 scenes sit at or below the working side: not reduced, so a catalog's stored
  // vectors stay as they are.
  const side = ISOLATE_TUNING.workingSide || 160;
  const photos = [photo([128, 128, 128], [200, 40, 40], 8), rgbImage(W, H, (x, y) => (inObject(x, y) ? [30, 60, 150] : [255, 255, 255]))];
  for (const img of photos) {
    const atOwnSize = isolateProduct(img, { ...ISOLATE_TUNING, workingSide: 0 });
    const working = isolateProduct(img, { ...ISOLATE_TUNING, workingSide: Math.max(W, H, side) });
    assert.deepEqual({ ...working, image: null }, { ...atOwnSize, image: null });
    assert.ok(Buffer.from(working.image.data).equals(Buffer.from(atOwnSize.image.data)), `${working.method}: same pixels`);
  }
});

test('a larger photo: the product is found on a reduced copy, its box mapped back within a working pixel, cut at the photo\'s detail', () => {
  // The 160x120 scene at 2x (320x240, a phone photo's size), found on its reduction to 160 (one working pixel = 2 photo pixels).
  const small = photo([90, 110, 140], [240, 200, 30], 9);
  const big = rgbImage(W * 2, H * 2, (x, y) => pixel(small, x >> 1, y >> 1) as unknown as Rgb);
  const full = isolateProduct(big, { ...ISOLATE_TUNING, workingSide: 0 });
  const reduced = isolateProduct(big, { ...ISOLATE_TUNING, workingSide: 160 });
  assert.equal(reduced.method, 'replaced');
  assert.equal(full.method, 'replaced');
  // Found on the working copy: its share of the product is the reduced photo's own.
  const work = isolateProduct(reduce(big, 160), { ...ISOLATE_TUNING, workingSide: 0 });
  assert.equal(reduced.foregroundShare, work.foregroundShare);
  assert.notEqual(full.foregroundShare, work.foregroundShare, 'the two sizes give masks of other shares (else this test could not tell them apart)');
  const edges = (b: typeof full.box) => [b.left, b.top, b.left + b.width, b.top + b.height];
  // One working pixel (2) plus a pixel of the margin's rounding, each side.
  edges(reduced.box).forEach((e, k) => assert.ok(Math.abs(e - edges(full.box)[k]!) <= 3, `box ${JSON.stringify(reduced.box)} against ${JSON.stringify(full.box)}`));
  const { left, top, width, height } = reduced.box;
  assert.ok(left <= OBJ.x0 * 2 && top <= OBJ.y0 * 2 && left + width >= OBJ.x1 * 2 && top + height >= OBJ.y1 * 2, JSON.stringify(reduced.box));
  // The object is 80 x 100 in the photo but 40 x 50 on the working copy: the crop is of the photo, reduced only to the
  // canonical side (80 for the object's longer side), not to the working copy's 50.
  assert.ok(Math.abs(Math.max(reduced.image.width, reduced.image.height) - Math.max(full.image.width, full.image.height)) <= 2, `${reduced.image.width}x${reduced.image.height}`);
  // The inside of the object is the photo's own pixels (alpha 1 there); the corners, where the backdrop was, white.
  const mid = isolateProduct(big, { ...ISOLATE_TUNING, workingSide: 160, canonicalSide: 0 });
  for (const [x, y] of [[OBJ.x0 * 2 + 4, OBJ.y0 * 2 + 4], [OBJ.x1 * 2 - 5, OBJ.y1 * 2 - 5], [(OBJ.x0 + OBJ.x1), (OBJ.y0 + OBJ.y1)]] as const) {
    assert.deepEqual(pixel(mid.image, x - mid.box.left, y - mid.box.top), pixel(big, x, y), `object pixel ${x},${y}`);
  }
  assert.ok(Math.min(...pixel(mid.image, 0, 0)) >= 250 && Math.min(...pixel(mid.image, mid.image.width - 1, mid.image.height - 1)) >= 250, 'white corners');
});

test('a larger studio shot found on the working copy is only cropped from the photo: every pixel of the crop is the photo\'s', () => {
  const img = rgbImage(W * 2, H * 2, (x, y) => (inObject(x >> 1, y >> 1) ? [30 + (x % 7), 60, 150 + (y % 5)] : [255, 255, 255]));
  const s = isolateProduct(img, { ...ISOLATE_TUNING, workingSide: 160, canonicalSide: 0 });
  assert.equal(s.method, 'studio');
  const { left, top, width, height } = s.box;
  assert.ok(left <= OBJ.x0 * 2 && top <= OBJ.y0 * 2 && left + width >= OBJ.x1 * 2 && top + height >= OBJ.y1 * 2, JSON.stringify(s.box));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const sx = left + x, sy = top + y;
      const want = sx < 0 || sy < 0 || sx >= W * 2 || sy >= H * 2 ? [255, 255, 255] : pixel(img, sx, sy);
      assert.deepEqual(pixel(s.image, x, y), want, `crop pixel ${x},${y}`);
    }
  }
});

test('working-size maps: a working box covers the photo pixels it was averaged from; the alpha taps are the identity at the same size', () => {
  // 240 -> 120 columns, 320 -> 160 rows: working pixel x covers photo columns 2x and 2x + 1.
  assert.deepEqual(productBox({ x0: 10, y0: 0, x1: 20, y1: 159 }, { width: 120, height: 160 }, { width: 240, height: 320 }), { x0: 20, y0: 0, x1: 41, y1: 319 });
  // 240 -> 90 (a factor of 8/3): the blocks are 2 or 3 wide, as `reduce` averages them.
  const img = rgbImage(240, 320, (x) => [x, 0, 0]);
  const work = reduce(img, 120);
  assert.equal(work.width, 90);
  for (let x = 0; x < 90; x++) {
    const { x0, x1 } = productBox({ x0: x, y0: 0, x1: x, y1: 0 }, work, img);
    // The working pixel's red is the mean of the photo columns it covers.
    assert.equal(work.data[x * 3], Math.round((x0 + x1) / 2), `column ${x}: ${x0}..${x1}`);
  }
  assert.deepEqual(productBox({ x0: 3, y0: 4, x1: 50, y1: 60 }, { width: 60, height: 80 }, { width: 60, height: 80 }), { x0: 3, y0: 4, x1: 50, y1: 60 });
  for (const i of [0, 7, 59]) assert.deepEqual(alphaTap(i, 60, 60).filter((_, k) => k !== 1), [i, 0]);
  // At half the size, a photo pixel's centre lies a quarter of a working pixel from the nearest working centre.
  assert.deepEqual(alphaTap(5, 240, 120), [2, 3, 0.25]);
});

test('query photos are isolated with QUERY_ISOLATION, training copies and catalog photos at the decoded size', async () => {
  // A phone-sized photo (320x240, above every working side): the two isolations differ on it.
  const small = photo([90, 110, 140], [240, 200, 30], 9);
  const big = rgbImage(W * 2, H * 2, (x, y) => pixel(small, x >> 1, y >> 1) as unknown as Rgb);
  const png = await sharp(big.data, { raw: { width: big.width, height: big.height, channels: 3 } }).png().toBuffer();
  const p: Preprocess = { ...IMAGENET_PREPROCESS, isolate: true };
  const decoded = await decodeRgb(png, { maxSide: DECODE_MAX_SIDE });
  const atDecoded = isolateProduct(decoded, { ...ISOLATE_TUNING, workingSide: 0 });
  const atWorking = isolateProduct(decoded, QUERY_ISOLATION);
  // The query's working side ships at 0 (the decoded size: see QUERY_ISOLATION's comment); where a side is set, it must
  // be below this photo's so that the two isolations differ on it and the test can tell them apart.
  if (QUERY_ISOLATION.workingSide > 0) {
    assert.ok(QUERY_ISOLATION.workingSide < Math.max(big.width, big.height));
    assert.notDeepEqual(atWorking.image, atDecoded.image, 'the working side changes this photo (else this test could not tell them apart)');
  } else assert.deepEqual(QUERY_ISOLATION, ISOLATE_TUNING);
  // The query path (src/embedding/vectorize.ts prepareReadings, what QueryBatcher runs), with and without other readings.
  const embedder = { identity: { preprocess: p } } as unknown as Embedder;
  for (const readings of ['both', 'one'] as const) {
    const q = await prepareReadings(embedder, [{ bytes: png, label: 'query' }], undefined, readings);
    assert.deepEqual(q.photos[0]!.product, atWorking.image, `query photo, readings '${readings}'`);
  }
  // A working side set by the configuration (Config.queryWorkingSide, passed down by QueryBatcher) reaches the query path.
  const configured = { ...QUERY_ISOLATION, workingSide: 120 };
  const atConfigured = isolateProduct(decoded, configured);
  assert.notDeepEqual(atConfigured.image, atDecoded.image, 'a side of 120 changes this photo');
  for (const readings of ['both', 'one'] as const) {
    const q = await prepareReadings(embedder, [{ bytes: png, label: 'query' }], undefined, readings, configured);
    assert.deepEqual(q.photos[0]!.product, atConfigured.image, `query photo at a configured side, readings '${readings}'`);
  }
  // A training copy (src/imaging/shopperPhoto/fitCopy.ts, as training embeds it) keeps the decoded-size isolation: the
  // copies' vectors, and so what training learns, do not change with the query's working side.
  const copy = await fitCopy(png, p, 'copy');
  const want = new Float32Array(3 * p.size * p.size);
  fitToTensor(atDecoded.image, p, want, 0);
  assert.deepEqual(copy.tensor, want);
  // And a catalog photo's ingest (prepareBatch).
  const ingest = await prepareBatch(embedder, [{ bytes: png, label: 'catalog photo' }]);
  assert.deepEqual(ingest.photos[0]!.product, atDecoded.image);
});
