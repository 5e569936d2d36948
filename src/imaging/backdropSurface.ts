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
  // Row by row: along a row each channel is a quadratic in x, a + x (b + c x).
  const a = new Float64Array(3), b = new Float64Array(3), c = new Float64Array(3);
  for (let yy = 0; yy < h; yy++) {
    const y = yy / h - 0.5;
    for (let ch = 0; ch < 3; ch++) {
      const f = ch * 6;
      a[ch] = fit[f]! + fit[f + 2]! * y + fit[f + 4]! * y * y;
      b[ch] = fit[f + 1]! + fit[f + 5]! * y;
      c[ch] = fit[f + 3]!;
    }
    for (let xx = 0; xx < w; xx++) {
      const x = xx / w - 0.5;
      const i = yy * w + xx;
      const d0 = smooth[i * 3]! - (a[0]! + x * (b[0]! + c[0]! * x));
      const d1 = smooth[i * 3 + 1]! - (a[1]! + x * (b[1]! + c[1]! * x));
      const d2 = smooth[i * 3 + 2]! - (a[2]! + x * (b[2]! + c[2]! * x));
      const d = d0 * d0 + d1 * d1 + d2 * d2;
      if (d < dist[i]! * dist[i]!) dist[i] = Math.sqrt(d);
    }
  }
  return true;
}

/**
 * Least-squares fit of each channel of the border to 1, x, y, x^2, y^2, xy (coordinates as shares of the frame, centred):
 * a linear or radial gradient and a vignette are such surfaces. Returns 3 x 6 coefficients, or null when singular.
 */
function fitBorderSurface(smooth: Float32Array, w: number, h: number, borderIdx: ArrayLike<number>): Float64Array | null {
  const ata = new Float64Array(36);
  const atb = new Float64Array(18);
  const terms = new Float64Array(6);
  for (let k = 0; k < borderIdx.length; k++) {
    const i = borderIdx[k]!;
    const x = (i % w) / w - 0.5, y = Math.floor(i / w) / h - 0.5;
    terms[0] = 1; terms[1] = x; terms[2] = y; terms[3] = x * x; terms[4] = y * y; terms[5] = x * y;
    const r = smooth[i * 3]!, g = smooth[i * 3 + 1]!, bl = smooth[i * 3 + 2]!;
    for (let a = 0; a < 6; a++) {
      const ta = terms[a]!;
      // The upper triangle only: (a, b) and (b, a) add the same products in the same order, so the lower one is a copy.
      for (let b = a; b < 6; b++) ata[a * 6 + b]! += ta * terms[b]!;
      atb[a]! += ta * r;
      atb[6 + a]! += ta * g;
      atb[12 + a]! += ta * bl;
    }
  }
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
