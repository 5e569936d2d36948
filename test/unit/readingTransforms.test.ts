import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cropAsIs, flipped, shadesOfGrey, sharpened } from '../../src/imaging/readingTransforms.js';
import { ISOLATE_TUNING } from '../../src/imaging/isolateProduct.js';
import { rgbImage } from './toys.js';

const pixel = (img: { data: Uint8Array; width: number }, x: number, y: number) => [...img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3)];

test('cropAsIs keeps the backdrop inside isolation\'s box, clamps a box that reaches past the frame, and brings it to the product\'s detail', () => {
  const img = rgbImage(400, 300, (x, y) => (x >= 100 && x < 300 && y >= 50 && y < 250 ? [200, 30, 30] : [90, 120, 90]));
  const out = cropAsIs(img, { left: 80, top: -20, width: 240, height: 300 });
  const side = Math.round(ISOLATE_TUNING.canonicalSide * (1 + 2 * ISOLATE_TUNING.margin));
  assert.equal(Math.max(out.width, out.height), side);
  // 240 x 280 after clamping (rows -20..279 -> 0..279): the aspect is kept, and the corners are backdrop, not white.
  assert.ok(Math.abs(out.width / out.height - 240 / 280) < 0.02);
  assert.deepEqual(pixel(out, 0, 0), [90, 120, 90]);
  assert.deepEqual(pixel(out, Math.floor(out.width / 2), Math.floor(out.height / 2)), [200, 30, 30]);
});

test('sharpened raises the contrast across an edge and leaves flat areas as they were', () => {
  const img = rgbImage(20, 20, (x) => (x < 10 ? [100, 100, 100] : [150, 150, 150]));
  const out = sharpened(img, 1);
  assert.ok(pixel(out, 9, 10)[0]! < 100 && pixel(out, 10, 10)[0]! > 150);
  assert.deepEqual(pixel(out, 2, 10), [100, 100, 100]);
});

test('shadesOfGrey takes a cast off the product and keeps the white around it', () => {
  // A grey product under a warm cast (red up, blue down), on isolation's white.
  const img = rgbImage(40, 40, (x, y) => (x >= 10 && x < 30 && y >= 10 && y < 30 ? [150, 120, 95] : [255, 255, 255]));
  const out = shadesOfGrey(img);
  const [r, g, b] = pixel(out, 20, 20) as [number, number, number];
  assert.ok(Math.max(r, g, b) - Math.min(r, g, b) < 10, `${r} ${g} ${b}`);
  assert.deepEqual(pixel(out, 2, 2), [255, 255, 255]);
  // A strongly coloured product is only nudged: the gains stay within [0.75, 1.33].
  const red = shadesOfGrey(rgbImage(40, 40, (x, y) => (x >= 10 && x < 30 && y >= 10 && y < 30 ? [200, 40, 40] : [255, 255, 255])));
  const [rr, rg] = pixel(red, 20, 20) as [number, number, number];
  assert.ok(rr >= 150 && rg <= 54, `${rr} ${rg}`);
});

test('flipped mirrors left and right', () => {
  const img = rgbImage(5, 2, (x) => [x * 10, 0, 0]);
  assert.deepEqual(pixel(flipped(img), 0, 1), [40, 0, 0]);
  assert.deepEqual(pixel(flipped(flipped(img)), 3, 0), pixel(img, 3, 0));
});

test('averageReadings reads two readings as one: vectors and colour evidence averaged as they are, the first reading\'s photo shown', async () => {
  const { averageReadings } = await import('../../src/app/averageReadings.js');
  const photo = (isolation: 'replaced' | 'unchanged') => ({ product: rgbImage(2, 2, () => [0, 0, 0]), isolation, pixelHash: 'h' });
  const a = { vector: Float32Array.from([1, 0, 2]), colour: Float32Array.from([0.5, 0.5]), photo: photo('replaced') };
  const b = { vector: Float32Array.from([0, 1, 4]), colour: Float32Array.from([1, 0]), photo: photo('unchanged') };
  const m = averageReadings(a, b);
  assert.deepEqual([...m.vector], [0.5, 0.5, 3]);
  assert.deepEqual([...m.colour], [0.75, 0.25]);
  assert.equal(m.photo, a.photo);
});
