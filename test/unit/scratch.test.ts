import assert from 'node:assert/strict';
import { test } from 'node:test';
import { floodFromBorder, floodFromBorderAtMost } from '../../src/imaging/floodFill.js';
import { balancedReading, isolateProduct } from '../../src/imaging/isolateProduct.js';
import { boxBlur, boxBlurMask, keepMainComponents, nearestDistances } from '../../src/imaging/ops.js';
import { IMAGENET_PREPROCESS } from '../../src/imaging/preprocess.js';
import { fitToTensor } from '../../src/imaging/resample.js';
import { fillScratch, scratchFloat32, scratchInt32, scratchSizes } from '../../src/imaging/scratch.js';
import { gaussian, mulberry32, rgbImage } from './toys.js';

/*
 * The imaging passes keep their temporaries in reused buffers (src/imaging/scratch.ts), whose contents are whatever the last
 * pass left. Every result must be what it is on fresh memory: each pass is run once, the buffers are then filled with values
 * no pass writes (NaN, -1e9, a negative index), and each pass run again must give the same bytes and floats.
 */

/** A coloured object on a light warm-grey backdrop with sensor noise and a gradient: the backdrop path, the balanced reading. */
function phonePhoto(w: number, h: number, seed: number) {
  const g = gaussian(mulberry32(seed));
  const clamp = (v: number) => Math.max(0, Math.min(255, Math.round(v)));
  return rgbImage(w, h, (x, y) => {
    const inside = x > w * 0.3 && x < w * 0.7 && y > h * 0.2 && y < h * 0.8;
    const c = inside ? [30, 60, 150] : [210 - y * 0.05, 200 - y * 0.05, 185];
    return [clamp(c[0]! + g() * 3), clamp(c[1]! + g() * 3), clamp(c[2]! + g() * 3)];
  });
}

function everyPass(w: number, h: number, seed: number) {
  const img = phonePhoto(w, h, seed);
  const n = w * h;
  const smooth = boxBlur(img.data, w, h, 3);
  const blurInto = boxBlur(img.data, w, h, 2, scratchFloat32('test.out', n * 3)).slice();
  const fg = new Uint8Array(n).map((_, i) => (smooth[i * 3 + 2]! > 120 ? 1 : 0));
  const centres = Float32Array.of(200, 190, 185, 30, 60, 150);
  const dist = nearestDistances(smooth, n, centres, scratchFloat32('test.dist', n)).slice();
  const tensor = new Float32Array(3 * 224 * 224);
  fitToTensor(img, IMAGENET_PREPROCESS, tensor);
  const iso = isolateProduct(img);
  return {
    smooth,
    blurInto,
    components: keepMainComponents(fg, w, h),
    softEdge: boxBlurMask(fg, w, h, scratchFloat32('test.edge', n)).slice(),
    flood: floodFromBorder(w, h, (i) => fg[i] === 0),
    floodAtMost: floodFromBorderAtMost(w, h, dist, 40),
    dist,
    tensor,
    iso,
    balanced: balancedReading(img, iso),
  };
}

test('every imaging pass gives the same result whatever its reused buffers held before', () => {
  // Largest first, so that the smaller photos' passes get views into buffers longer than they need.
  for (const [w, h, seed] of [[240, 320, 1], [97, 61, 2], [160, 120, 3]] as const) {
    const fresh = everyPass(w, h, seed);
    assert.equal(fresh.iso.method, 'replaced', 'the backdrop path');
    assert.ok(fresh.balanced, 'the balanced reading');
    for (const value of [NaN, -1e9, -7]) {
      fillScratch(value);
      assert.deepEqual(everyPass(w, h, seed), fresh, `${w}x${h} after the buffers were filled with ${value}`);
    }
  }
});

test('a slot hands out views of one buffer, grown when asked for more, and does not keep a very large one', () => {
  const a = scratchFloat32('test.views', 100);
  const b = scratchFloat32('test.views', 40);
  assert.equal(a.buffer, b.buffer);
  assert.equal(b.length, 40);
  const c = scratchFloat32('test.views', 1000);
  assert.equal(c.length, 1000);
  assert.notEqual(c.buffer, a.buffer);
  assert.equal(scratchFloat32('test.views', 10).buffer, c.buffer);
  assert.equal(scratchInt32('test.views', 10).constructor, Int32Array, 'slots of each type apart');
  const huge = scratchFloat32('test.huge', 3 * 2 ** 20);
  assert.equal(huge.length, 3 * 2 ** 20);
  assert.equal(scratchSizes()['test.huge'], undefined, 'not kept');
});
