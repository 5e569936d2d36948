import { invalid } from '../errors.js';
import type { DecodedRgb } from './rgb.js';
import type { Preprocess } from './preprocess.js';
import { scratchFloat32 } from './scratch.js';

/**
 * Fits a decoded photo into the model's square input in plain JS: a separable triangle (bilinear) filter whose
 * support widens when shrinking, as PIL's bilinear does, so a large phone photo is averaged, not aliased.
 *
 * Why not sharp here: for the catalog's 60x80 photos, a second libvips pipeline (raw in, resize, raw out)
 * costs ~2.2 ms of fixed overhead per photo, more than the resampling itself (~0.4 ms here); at ingest that
 * overhead alone capped throughput below the model's speed.
 */
export function fitToSquare(img: DecodedRgb, p: Pick<Preprocess, 'size' | 'fit' | 'background'>): Float32Array {
  const out = new Float32Array(p.size * p.size * 3);
  fitInto(img, p, out, { offset: 0, planar: false, planeOf: [0, 1, 2], scale: [1, 1, 1], shift: [0, 0, 0] });
  return out;
}

/** The square as interleaved RGB bytes (`fitForModel`: tests, or showing what the model saw). */
export function squareToRgb(square: Float32Array): Uint8Array {
  const out = new Uint8Array(square.length);
  for (let i = 0; i < square.length; i++) {
    const v = Math.round(square[i]!);
    out[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
  return out;
}

/**
 * Fits a decoded photo straight into the model's planar, normalised float input (CHW), at `offset` so that a
 * batch fills in place: one pass, no intermediate square.
 */
export function fitToTensor(img: DecodedRgb, p: Preprocess, out: Float32Array, offset = 0): void {
  const plane = p.size * p.size;
  if (out.length < offset + plane * 3) throw invalid('tensor', `room for ${plane * 3} values at ${offset}`, out.length);
  // Planes are in the model's channel order; source channel c (R, G, B) lands in plane planeOf[c].
  const planeOf: Triple = p.channelOrder === 'RGB' ? [0, 1, 2] : [2, 1, 0];
  const scale = planeOf.map((pl) => p.pixelScale / p.std[pl]!) as unknown as Triple;
  const shift = planeOf.map((pl) => p.mean[pl]! / p.std[pl]!) as unknown as Triple;
  fitInto(img, p, out, { offset, planar: true, planeOf, scale, shift });
}

type Triple = [number, number, number];

interface Target {
  readonly offset: number;
  /** Planar (CHW, the model's input) or interleaved (HWC). */
  readonly planar: boolean;
  readonly planeOf: Triple;
  /** Per source channel: written value = resampled value * scale - shift. */
  readonly scale: Triple;
  readonly shift: Triple;
}

function fitInto(img: DecodedRgb, p: Pick<Preprocess, 'size' | 'fit' | 'background'>, out: Float32Array, t: Target): void {
  const { width: w, height: h } = img;
  if (w < 1 || h < 1 || img.data.length < w * h * 3) throw invalid('image', 'a decoded RGB image', `${w}x${h}`);
  const size = p.size;
  const plane = size * size;
  const { rw, rh } = regionSize(w, h, size, p.fit);
  // The region is centred; a negative offset (crop) cuts it, a positive one (pad) leaves background around it.
  const ox = Math.floor((size - rw) / 2);
  const oy = Math.floor((size - rh) / 2);
  const cols = axisTaps(w, rw, size, ox);
  const rows = axisTaps(h, rh, size, oy);
  const x0 = Math.max(0, ox), x1 = Math.min(size, ox + rw);
  const y0 = Math.max(0, oy), y1 = Math.min(size, oy + rh);
  const src = img.data;
  const [sR, sG, sB] = t.scale;
  const [hR, hG, hB] = t.shift;
  const base = t.offset;
  // Interleaved: channel c of pixel i at 3i + c. Planar: at planeOf[c] * plane + i.
  const step = t.planar ? 1 : 3;
  const oR = base + (t.planar ? t.planeOf[0] * plane : 0);
  const oG = base + (t.planar ? t.planeOf[1] * plane : 1);
  const oB = base + (t.planar ? t.planeOf[2] * plane : 2);

  // Background first (the pad margin, or nothing for crop and stretch).
  const [br, bg, bb] = p.background;
  const vR = br * sR - hR, vG = bg * sG - hG, vB = bb * sB - hB;
  if (x0 > 0 || y0 > 0 || x1 < size || y1 < size) {
    for (let y = 0; y < size; y++) {
      const inside = y >= y0 && y < y1;
      for (let x = 0; x < size; x++) {
        if (inside && x >= x0 && x < x1) continue;
        const i = (y * size + x) * step;
        out[oR + i] = vR;
        out[oG + i] = vG;
        out[oB + i] = vB;
      }
    }
  }

  // Horizontal pass over every source row, for the output columns inside the region.
  const cStart = cols.start, cCount = cols.count, cW = cols.weights, cStride = cols.stride;
  // Scratch (src/imaging/scratch.ts): the vertical pass reads only the columns x0..x1 of source rows, all written here.
  const tmp = scratchFloat32('fit.rows', h * size * 3);
  for (let y = 0; y < h; y++) {
    const rowBase = y * w * 3;
    const tBase = y * size * 3;
    for (let x = x0; x < x1; x++) {
      const n = cCount[x]!;
      let i = rowBase + cStart[x]! * 3;
      let k = x * cStride;
      let r = 0, g = 0, b = 0;
      for (let j = 0; j < n; j++, i += 3, k++) {
        const wt = cW[k]!;
        r += src[i]! * wt;
        g += src[i + 1]! * wt;
        b += src[i + 2]! * wt;
      }
      const o = tBase + x * 3;
      tmp[o] = r;
      tmp[o + 1] = g;
      tmp[o + 2] = b;
    }
  }

  // Vertical pass, written scaled and shifted into the target layout.
  const rStart = rows.start, rCount = rows.count, rW = rows.weights, rStride = rows.stride;
  const tRow = size * 3;
  for (let y = y0; y < y1; y++) {
    const n = rCount[y]!;
    const first = rStart[y]! * tRow;
    const kBase = y * rStride;
    for (let x = x0; x < x1; x++) {
      let i = first + x * 3;
      let r = 0, g = 0, b = 0;
      for (let j = 0; j < n; j++, i += tRow) {
        const wt = rW[kBase + j]!;
        r += tmp[i]! * wt;
        g += tmp[i + 1]! * wt;
        b += tmp[i + 2]! * wt;
      }
      const o = (y * size + x) * step;
      out[oR + o] = r * sR - hR;
      out[oG + o] = g * sG - hG;
      out[oB + o] = b * sB - hB;
    }
  }
}

function regionSize(w: number, h: number, size: number, fit: Preprocess['fit']): { rw: number; rh: number } {
  if (fit === 'stretch') return { rw: size, rh: size };
  const scale = fit === 'pad' ? size / Math.max(w, h) : size / Math.min(w, h);
  return { rw: Math.max(1, Math.round(w * scale)), rh: Math.max(1, Math.round(h * scale)) };
}

interface AxisTaps {
  /** First source index of each output index. */
  readonly start: Int32Array;
  /** Number of source taps of each output index; 0 outside the region (background). */
  readonly count: Int32Array;
  /** `stride` weights per output index, normalised to sum to 1. */
  readonly weights: Float32Array;
  readonly stride: number;
}

/** Triangle-filter taps mapping `srcLen` source pixels onto a region of `regionLen` placed at `offset` in `outLen`. */
function axisTaps(srcLen: number, regionLen: number, outLen: number, offset: number): AxisTaps {
  const scale = srcLen / regionLen;
  const support = Math.max(1, scale);
  const stride = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outLen);
  const count = new Int32Array(outLen);
  const weights = new Float32Array(outLen * stride);
  const inv = 1 / Math.max(1, scale);
  for (let o = 0; o < outLen; o++) {
    const u = o - offset;
    if (u < 0 || u >= regionLen) continue;
    const centre = (u + 0.5) * scale;
    // Only taps with weight: |s + 0.5 - centre| < support, i.e. s in (centre - support - 0.5, centre + support - 0.5).
    const lo = Math.max(0, Math.floor(centre - support - 0.5) + 1);
    const hi = Math.min(srcLen, Math.ceil(centre + support - 0.5));
    let sum = 0;
    let n = 0;
    for (let s = lo; s < hi && n < stride; s++, n++) {
      const d = Math.abs((s - centre + 0.5) * inv);
      const k = d < 1 ? 1 - d : 0;
      weights[o * stride + n] = k;
      sum += k;
    }
    if (sum <= 0) {
      // A region pixel between two source pixels always has weight; this guards degenerate 1-pixel sources.
      weights[o * stride] = 1;
      n = Math.max(n, 1);
      sum = 1;
    }
    for (let t = 0; t < n; t++) weights[o * stride + t]! /= sum;
    start[o] = lo;
    count[o] = n;
  }
  return { start, count, weights, stride };
}
