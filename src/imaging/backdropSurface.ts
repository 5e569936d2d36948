/**
 * A backdrop that shades across the frame (a gradient, a vignette, light falling off) has colours away from the border
 * that no border colour cluster holds. A smooth colour surface (per channel, quadratic in x and y) fitted to the border
 * models it; isolation (src/imaging/isolateProduct.ts) then takes a pixel's distance to the backdrop as the smaller of
 * its distance to a cluster and to the surface there.
 *
 * The guard: a quadratic fitted to a border that is not one smooth backdrop (a person's hair and shoulders touching the
 * frame, a product cut by the edge, a textured table) says nothing about the colours inside the frame, and where it
 * happens to pass near the product's colours it takes part of the product as backdrop. So the surface is used only where
 * it fits the border closely: the border pixels' typical distance to it (the 90th percentile, so that a product touching
 * the frame in a few places does not count) must be at most `maxResidual`.
 */

import { orderStatistic } from './ops.js';

export interface BackdropSurface {
  /** 3 x 6 coefficients (see `fitBorderSurface`). */
  readonly coefficients: Float64Array;
  /** 90th percentile of the border pixels' RGB distance to the surface. */
  readonly residual: number;
}

/**
 * Fits the surface to the border and returns it with its residual, or null when the fit is singular. `smooth`: the
 * blurred photo (RGB floats); `borderIdx`: the pixel indices of the border band.
 */
export function fitBackdropSurface(smooth: Float32Array, w: number, h: number, borderIdx: ArrayLike<number>): BackdropSurface | null {
  const coefficients = fitBorderSurface(smooth, w, h, borderIdx);
  if (!coefficients) return null;
  const d = new Float32Array(borderIdx.length);
  for (let k = 0; k < borderIdx.length; k++) {
    const i = borderIdx[k]!;
    const x = (i % w) / w - 0.5, y = Math.floor(i / w) / h - 0.5;
    let s = 0;
    for (let ch = 0; ch < 3; ch++) {
      const f = ch * 6;
      const v = coefficients[f]! + coefficients[f + 1]! * x + coefficients[f + 2]! * y + coefficients[f + 3]! * x * x + coefficients[f + 4]! * y * y + coefficients[f + 5]! * x * y;
      const e = smooth[i * 3 + ch]! - v;
      s += e * e;
    }
    d[k] = Math.sqrt(s);
  }
  return { coefficients, residual: d.length > 0 ? orderStatistic(d, Math.floor(d.length * 0.9)) : 0 };
}

/**
 * Lowers `dist` (each pixel's distance to the nearest border colour cluster) to the pixel's distance to the surface where
 * that is smaller, when the surface fits the border within `maxResidual` (the guard above). Returns whether it did.
 */
export function applyBackdropSurface(smooth: Float32Array, w: number, h: number, borderIdx: ArrayLike<number>, dist: Float32Array, maxResidual: number): boolean {
  const surface = fitBackdropSurface(smooth, w, h, borderIdx);
  if (!surface || !(surface.residual <= maxResidual)) return false;
  const fit = surface.coefficients;
  // Row by row: along a row each channel is a quadratic in x, a + x (b + c x). Each column's x is computed once (the
  // same value for every row), and the coefficients are locals.
  const xs = new Float64Array(w);
  for (let xx = 0; xx < w; xx++) xs[xx] = xx / w - 0.5;
  const c0 = fit[3]!, c1 = fit[9]!, c2 = fit[15]!;
  for (let yy = 0; yy < h; yy++) {
    const y = yy / h - 0.5;
    const a0 = fit[0]! + fit[2]! * y + fit[4]! * y * y, b0 = fit[1]! + fit[5]! * y;
    const a1 = fit[6]! + fit[8]! * y + fit[10]! * y * y, b1 = fit[7]! + fit[11]! * y;
    const a2 = fit[12]! + fit[14]! * y + fit[16]! * y * y, b2 = fit[13]! + fit[17]! * y;
    for (let xx = 0, i = yy * w, j = yy * w * 3; xx < w; xx++, i++, j += 3) {
      const x = xs[xx]!;
      const d0 = smooth[j]! - (a0 + x * (b0 + c0 * x));
      const d1 = smooth[j + 1]! - (a1 + x * (b1 + c1 * x));
      const d2 = smooth[j + 2]! - (a2 + x * (b2 + c2 * x));
      const d = d0 * d0 + d1 * d1 + d2 * d2;
      const e = dist[i]!;
      if (d < e * e) dist[i] = Math.sqrt(d);
    }
  }
  return true;
}

/**
 * Least-squares fit of each channel of the border to 1, x, y, x^2, y^2, xy (coordinates as shares of the frame, centred):
 * a linear or radial gradient and a vignette are such surfaces. Returns 3 x 6 coefficients, or null when singular.
 */
function fitBorderSurface(smooth: Float32Array, w: number, h: number, borderIdx: ArrayLike<number>): Float64Array | null {
  // The sums of the normal equations, each in a local: the upper triangle of A'A (terms 1, x, y, x^2, y^2, xy) and A'b per
  // channel. Each sum takes the same products in the same order as a loop over the terms would (1 * v is v).
  let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s04 = 0, s05 = 0, s11 = 0, s12 = 0, s13 = 0, s14 = 0, s15 = 0;
  let s22 = 0, s23 = 0, s24 = 0, s25 = 0, s33 = 0, s34 = 0, s35 = 0, s44 = 0, s45 = 0, s55 = 0;
  let r0 = 0, r1 = 0, r2 = 0, r3 = 0, r4 = 0, r5 = 0, g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0;
  let b0 = 0, b1 = 0, b2 = 0, b3 = 0, b4 = 0, b5 = 0;
  for (let k = 0; k < borderIdx.length; k++) {
    const i = borderIdx[k]!;
    const x = (i % w) / w - 0.5, y = Math.floor(i / w) / h - 0.5;
    const t3 = x * x, t4 = y * y, t5 = x * y;
    const r = smooth[i * 3]!, g = smooth[i * 3 + 1]!, bl = smooth[i * 3 + 2]!;
    s00 += 1; s01 += x; s02 += y; s03 += t3; s04 += t4; s05 += t5;
    r0 += r; g0 += g; b0 += bl;
    s11 += x * x; s12 += x * y; s13 += x * t3; s14 += x * t4; s15 += x * t5;
    r1 += x * r; g1 += x * g; b1 += x * bl;
    s22 += y * y; s23 += y * t3; s24 += y * t4; s25 += y * t5;
    r2 += y * r; g2 += y * g; b2 += y * bl;
    s33 += t3 * t3; s34 += t3 * t4; s35 += t3 * t5;
    r3 += t3 * r; g3 += t3 * g; b3 += t3 * bl;
    s44 += t4 * t4; s45 += t4 * t5;
    r4 += t4 * r; g4 += t4 * g; b4 += t4 * bl;
    s55 += t5 * t5;
    r5 += t5 * r; g5 += t5 * g; b5 += t5 * bl;
  }
  const ata = Float64Array.of(s00, s01, s02, s03, s04, s05, 0, s11, s12, s13, s14, s15, 0, 0, s22, s23, s24, s25, 0, 0, 0, s33, s34, s35, 0, 0, 0, 0, s44, s45, 0, 0, 0, 0, 0, s55);
  const atb = Float64Array.of(r0, r1, r2, r3, r4, r5, g0, g1, g2, g3, g4, g5, b0, b1, b2, b3, b4, b5);
  for (let a = 0; a < 6; a++) for (let b = 0; b < a; b++) ata[a * 6 + b] = ata[b * 6 + a]!;
  // Gaussian elimination with partial pivoting, three right-hand sides at once.
  const m = Float64Array.from(ata);
  const rhs = Float64Array.from(atb);
  for (let col = 0; col < 6; col++) {
    let piv = col;
    for (let r = col + 1; r < 6; r++) if (Math.abs(m[r * 6 + col]!) > Math.abs(m[piv * 6 + col]!)) piv = r;
    if (Math.abs(m[piv * 6 + col]!) < 1e-9) return null;
    if (piv !== col) {
      for (let k = 0; k < 6; k++) [m[col * 6 + k], m[piv * 6 + k]] = [m[piv * 6 + k]!, m[col * 6 + k]!];
      for (let c = 0; c < 3; c++) [rhs[c * 6 + col], rhs[c * 6 + piv]] = [rhs[c * 6 + piv]!, rhs[c * 6 + col]!];
    }
    for (let r = 0; r < 6; r++) {
      if (r === col) continue;
      const f = m[r * 6 + col]! / m[col * 6 + col]!;
      if (f === 0) continue;
      for (let k = col; k < 6; k++) m[r * 6 + k]! -= f * m[col * 6 + k]!;
      for (let c = 0; c < 3; c++) rhs[c * 6 + r]! -= f * rhs[c * 6 + col]!;
    }
  }
  const out = new Float64Array(18);
  for (let c = 0; c < 3; c++) for (let a = 0; a < 6; a++) out[c * 6 + a] = rhs[c * 6 + a]! / m[a * 6 + a]!;
  return out;
}
