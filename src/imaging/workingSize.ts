import type { DecodedRgb } from './rgb.js';

/**
 * Between a photo and its working copy (ops.ts `reduce`: area averages, working pixel x covering the photo's columns
 * floor(x * w / ow) up to floor((x + 1) * w / ow)), so that isolation (src/imaging/isolateProduct.ts) can find the product
 * on the smaller copy and cut it from the photo itself. Where the working copy is the photo, both maps are the identity.
 */

/** The photo's pixels that a box of working pixels covers (inclusive bounds, as `boundingBox` gives them). */
export function productBox(
  box: { x0: number; y0: number; x1: number; y1: number },
  work: Pick<DecodedRgb, 'width' | 'height'>,
  img: Pick<DecodedRgb, 'width' | 'height'>,
): { x0: number; y0: number; x1: number; y1: number } {
  const [x0, x1] = span(box.x0, box.x1, img.width, work.width);
  const [y0, y1] = span(box.y0, box.y1, img.height, work.height);
  return { x0, y0, x1, y1 };
}

function span(a: number, b: number, len: number, workLen: number): [number, number] {
  const first = Math.floor((a * len) / workLen);
  const lastStart = Math.floor((b * len) / workLen);
  return [first, Math.max(lastStart + 1, Math.floor(((b + 1) * len) / workLen)) - 1];
}

/**
 * Where pixel `i` of an axis of `len` pixels falls in the working copy's `workLen`, for bilinear sampling: the two working
 * pixels around its centre and the weight of the second. Where `len === workLen` it is [i, i or the next, 0].
 */
export function alphaTap(i: number, len: number, workLen: number): [number, number, number] {
  const u = Math.min(workLen - 1, Math.max(0, ((i + 0.5) * workLen) / len - 0.5));
  const a = Math.floor(u);
  return [a, Math.min(a + 1, workLen - 1), u - a];
}

/** `alphaTap` for the photo's columns `from` to `to` (exclusive), as arrays. */
export function alphaTaps(from: number, to: number, len: number, workLen: number): { a: Int32Array; b: Int32Array; f: Float64Array } {
  const n = to - from;
  const a = new Int32Array(n), b = new Int32Array(n), f = new Float64Array(n);
  for (let k = 0; k < n; k++) [a[k], b[k], f[k]] = alphaTap(from + k, len, workLen);
  return { a, b, f };
}
