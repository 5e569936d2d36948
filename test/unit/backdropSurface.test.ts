import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyBackdropSurface, fitBackdropSurface } from '../../src/imaging/backdropSurface.js';
import { ISOLATE_TUNING, isolateProduct } from '../../src/imaging/isolateProduct.js';
import { boxBlur } from '../../src/imaging/ops.js';
import { gaussian, mulberry32, rgbImage } from './toys.js';

const W = 160, H = 120, BAND = 5;
const clamp = (v: number) => Math.max(0, Math.min(255, Math.round(v)));
const border: number[] = [];
for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) if (x < BAND || y < BAND || x >= W - BAND || y >= H - BAND) border.push(y * W + x);

/** A backdrop lit from the top left with darker corners (a gradient and a vignette), with a little sensor noise. */
function shaded(seed: number, object: (x: number, y: number) => readonly [number, number, number] | null) {
  const g = gaussian(mulberry32(seed));
  return rgbImage(W, H, (x, y) => {
    const o = object(x, y);
    if (o) return [clamp(o[0] + g() * 2), clamp(o[1] + g() * 2), clamp(o[2] + g() * 2)];
    const u = x / W - 0.5, v = y / H - 0.5;
    const light = 1 - 0.25 * (u + v) - 1.2 * (u * u + v * v);
    return [clamp(190 * light + g() * 2), clamp(150 * light + g() * 2), clamp(110 * light + g() * 2)];
  });
}
/** An object inside the frame, and one that reaches the top edge over half its width (a person's head and shoulders). */
const inside = (x: number, y: number) => (x >= 60 && x < 100 && y >= 30 && y < 80 ? ([40, 60, 170] as const) : null);
const touching = (x: number, y: number) => (x >= 40 && x < 120 && y < 80 ? ([30, 25, 20] as const) : null);

test('the surface fits a shading backdrop within the guard, and then lowers the distance where the clusters miss', () => {
  const img = shaded(3, inside);
  const smooth = boxBlur(img.data, W, H, 2);
  const fit = fitBackdropSurface(smooth, W, H, border);
  assert.ok(fit && fit.residual < ISOLATE_TUNING.surfaceFit / 2, `residual ${fit?.residual}`);
  const dist = new Float32Array(W * H).fill(100);
  assert.equal(applyBackdropSurface(smooth, W, H, border, dist, ISOLATE_TUNING.surfaceFit), true);
  // The light middle of the backdrop (left of the object) is close to the surface; the object is not.
  assert.ok(dist[60 * W + 30]! < 10, `backdrop pixel ${dist[60 * W + 30]}`);
  assert.ok(dist[55 * W + 80]! > 60, `object pixel ${dist[55 * W + 80]}`);
});

test('a border the surface does not fit (an object reaching the frame) leaves the clusters alone: isolation as with the surface off', () => {
  const img = shaded(4, touching);
  const smooth = boxBlur(img.data, W, H, 2);
  const fit = fitBackdropSurface(smooth, W, H, border);
  assert.ok(fit && fit.residual > ISOLATE_TUNING.surfaceFit, `residual ${fit?.residual}`);
  const dist = new Float32Array(W * H).fill(100);
  assert.equal(applyBackdropSurface(smooth, W, H, border, dist, ISOLATE_TUNING.surfaceFit), false);
  assert.ok(dist.every((d) => d === 100), 'no distance changed');
  // The default has the surface on, behind the guard: the same crop as with the surface off. Unguarded, the surface changes it.
  assert.equal(ISOLATE_TUNING.surface, 1);
  const off = isolateProduct(img, { ...ISOLATE_TUNING, surface: 0 });
  assert.deepEqual(isolateProduct(img).box, off.box);
  assert.equal(isolateProduct(img).foregroundShare, off.foregroundShare);
  assert.notEqual(isolateProduct(img, { ...ISOLATE_TUNING, surfaceFit: Infinity }).foregroundShare, off.foregroundShare);
});
