import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { fitPhoto } from '../../src/imaging/decode.js';
import { balancedReading, ISOLATE_TUNING, isolateProduct } from '../../src/imaging/isolateProduct.js';
import { IMAGENET_PREPROCESS } from '../../src/imaging/preprocess.js';
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
