import type { DecodedRgb } from './rgb.js';
import { scratchInt32, scratchFloat32 } from './scratch.js';

/**
 * Image primitives on RGB bytes and masks: connected components, area reduction, erosion, extents, box blurs and a
 * deterministic k-means. They know nothing of products or backdrops; the isolation policy (src/imaging/isolateProduct.ts)
 * is built from them.
 */

export interface Components {
  readonly mask: Uint8Array;
  readonly count: number;
}

/** Keeps the connected foreground regions that matter: the largest and any at least a tenth of its size. */
export function keepMainComponents(fg: Uint8Array, w: number, h: number): Components {
  const n = w * h;
  // Labels and stack are this thread's scratch (src/imaging/scratch.ts): every label is set here before it is read.
  const label = scratchInt32('components.label', n).fill(-1);
  const sizes: number[] = [];
  // A pixel is labelled when pushed, so each is pushed at most once: a typed stack of n never overflows and never
  // grows (a plain array's pushes and pops took most of the time on a phone photo's ~77k pixels).
  const stack = scratchInt32('components.stack', n);
  for (let s = 0; s < n; s++) {
    if (!fg[s] || label[s]! >= 0) continue;
    const id = sizes.length;
    let size = 0;
    let top = 0;
    label[s] = id;
    stack[top++] = s;
    while (top > 0) {
      const i = stack[--top]!;
      size++;
      const x = i % w;
      const x0 = x > 0 ? -1 : 0;
      const x1 = x < w - 1 ? 1 : 0;
      // 8-connected: the rows above and below (where there are), and the pixels left and right (the pixel itself is
      // labelled already). Which pixels join, not the order they are visited in, decides the components.
      if (i >= w) {
        for (let j = i - w + x0, end = i - w + x1; j <= end; j++) {
          if (fg[j] && label[j]! < 0) {
            label[j] = id;
            stack[top++] = j;
          }
        }
      }
      if (x0 && fg[i - 1] && label[i - 1]! < 0) {
        label[i - 1] = id;
        stack[top++] = i - 1;
      }
      if (x1 && fg[i + 1] && label[i + 1]! < 0) {
        label[i + 1] = id;
        stack[top++] = i + 1;
      }
      if (i < n - w) {
        for (let j = i + w + x0, end = i + w + x1; j <= end; j++) {
          if (fg[j] && label[j]! < 0) {
            label[j] = id;
            stack[top++] = j;
          }
        }
      }
    }
    sizes.push(size);
  }
  let largest = 0;
  for (const size of sizes) if (size > largest) largest = size;
  const floor = Math.max(largest * 0.1, n * 0.0015);
  const keep = sizes.map((s) => s >= floor);
  const mask = new Uint8Array(n);
  let count = 0;
  for (let i = 0; i < n; i++) {
    const l = label[i]!;
    if (l >= 0 && keep[l]) {
      mask[i] = 1;
      count++;
    }
  }
  return { mask, count };
}

/** Area-average reduction so that the longer side is at most `side` pixels (0: unchanged). */
export function reduce(img: DecodedRgb, side: number): DecodedRgb {
  const { width: w, height: h, data } = img;
  if (side <= 0 || Math.max(w, h) <= side) return img;
  const f = Math.max(w, h) / side;
  const ow = Math.max(1, Math.round(w / f));
  const oh = Math.max(1, Math.round(h / f));
  const out = new Uint8Array(ow * oh * 3);
  for (let y = 0; y < oh; y++) {
    const y0 = Math.floor((y * h) / oh);
    const y1 = Math.max(y0 + 1, Math.floor(((y + 1) * h) / oh));
    for (let x = 0; x < ow; x++) {
      const x0 = Math.floor((x * w) / ow);
      const x1 = Math.max(x0 + 1, Math.floor(((x + 1) * w) / ow));
      let r = 0, g = 0, b = 0;
      for (let yy = y0; yy < y1; yy++) {
        for (let xx = x0; xx < x1; xx++) {
          const i = (yy * w + xx) * 3;
          r += data[i]!;
          g += data[i + 1]!;
          b += data[i + 2]!;
        }
      }
      const c = (y1 - y0) * (x1 - x0);
      const o = (y * ow + x) * 3;
      out[o] = Math.round(r / c);
      out[o + 1] = Math.round(g / c);
      out[o + 2] = Math.round(b / c);
    }
  }
  return { data: out, width: ow, height: oh };
}

/** Foreground = not background, shrunk by `r` pixels (a pixel within r of the background is background). */
export function erode(bg: Uint8Array, w: number, h: number, r: number): Uint8Array {
  const fg = new Uint8Array(w * h);
  if (r <= 0) {
    // No erosion (the chosen setting): the complement, without visiting each pixel's empty neighbourhood.
    for (let i = 0; i < fg.length; i++) fg[i] = bg[i] ? 0 : 1;
    return fg;
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (bg[y * w + x]) continue;
      let keep = 1;
      for (let dy = -r; dy <= r && keep; dy++) {
        for (let dx = -r; dx <= r; dx++) {
          const nx = x + dx;
          const ny = y + dy;
          if (nx >= 0 && ny >= 0 && nx < w && ny < h && bg[ny * w + nx]) {
            keep = 0;
            break;
          }
        }
      }
      fg[y * w + x] = keep;
    }
  }
  return fg;
}

export function extent(mask: Uint8Array, w: number, h: number): { width: number; height: number } {
  const { x0, y0, x1, y1 } = boundingBox(mask, w, h);
  return { width: Math.max(0, x1 - x0 + 1), height: Math.max(0, y1 - y0 + 1) };
}

/** The smallest box holding every set pixel of the mask (x1 < x0 when none is set). */
export function boundingBox(mask: Uint8Array, w: number, h: number): { x0: number; y0: number; x1: number; y1: number } {
  let x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (let i = 0; i < w * h; i++) {
    if (!mask[i]) continue;
    const x = i % w;
    const y = (i - x) / w;
    if (x < x0) x0 = x;
    if (x > x1) x1 = x;
    if (y < y0) y0 = y;
    if (y > y1) y1 = y;
  }
  return { x0, y0, x1, y1 };
}

/** Separable box blur of interleaved RGB, as floats. */
export function boxBlur(data: Uint8Array, w: number, h: number, r: number, into?: Float32Array): Float32Array {
  // Running sums, O(1) per pixel whatever the radius. The sums are of bytes, then of float32 values below 256, both
  // exact in doubles, so adding and dropping along the window gives the same result as summing each window anew.
  // The channels' sums are three locals and the vertical pass walks rows (a running sum per column), so both passes
  // read memory in order; each sum sees the same additions in the same order as a column-by-column walk would.
  // The horizontal pass's rows are scratch (every value is written before the vertical pass reads it); `into`, when
  // given, takes the result (every value written), else a new array does.
  const tmp = scratchFloat32('boxBlur.rows', w * h * 3);
  const out = into ?? new Float32Array(w * h * 3);
  // The window of column x is [max(0, x - r), min(w - 1, x + r)]: columns below `lo` drop nothing from the left, columns
  // from `hi` on add nothing on the right, and the ones between slide a full window of 2r + 1 (sums of bytes are integers,
  // so the order of the additions does not matter).
  const lo = Math.min(w, r + 1);
  const hi = Math.max(lo, w - r);
  for (let y = 0; y < h; y++) {
    const row = y * w * 3;
    let s0 = 0, s1 = 0, s2 = 0;
    for (let k = 0, j = row; k <= Math.min(w - 1, r); k++, j += 3) {
      s0 += data[j]!;
      s1 += data[j + 1]!;
      s2 += data[j + 2]!;
    }
    let o = row;
    tmp[o] = s0 / (Math.min(w - 1, r) + 1);
    tmp[o + 1] = s1 / (Math.min(w - 1, r) + 1);
    tmp[o + 2] = s2 / (Math.min(w - 1, r) + 1);
    let x = 1;
    for (; x < lo; x++) {
      o += 3;
      if (x + r <= w - 1) {
        const j = row + (x + r) * 3;
        s0 += data[j]!;
        s1 += data[j + 1]!;
        s2 += data[j + 2]!;
      }
      const c = Math.min(w - 1, x + r) + 1;
      tmp[o] = s0 / c;
      tmp[o + 1] = s1 / c;
      tmp[o + 2] = s2 / c;
    }
    const full = 2 * r + 1;
    for (let add = row + (x + r) * 3, drop = row + (x - r - 1) * 3; x < hi; x++, add += 3, drop += 3) {
      o += 3;
      s0 += data[add]! - data[drop]!;
      s1 += data[add + 1]! - data[drop + 1]!;
      s2 += data[add + 2]! - data[drop + 2]!;
      tmp[o] = s0 / full;
      tmp[o + 1] = s1 / full;
      tmp[o + 2] = s2 / full;
    }
    for (; x < w; x++) {
      o += 3;
      if (x - r - 1 >= 0) {
        const j = row + (x - r - 1) * 3;
        s0 -= data[j]!;
        s1 -= data[j + 1]!;
        s2 -= data[j + 2]!;
      }
      const c = w - 1 - Math.max(0, x - r) + 1;
      tmp[o] = s0 / c;
      tmp[o + 1] = s1 / c;
      tmp[o + 2] = s2 / c;
    }
  }
  const stride = w * 3;
  const sum = new Float64Array(stride);
  for (let k = 0; k <= Math.min(h - 1, r); k++) for (let j = 0; j < stride; j++) sum[j]! += tmp[k * stride + j]!;
  for (let y = 0; y < h; y++) {
    const a = Math.max(0, y - r);
    const b = Math.min(h - 1, y + r);
    const c = b - a + 1;
    const o = y * stride;
    const add = y > 0 && y + r <= h - 1 ? (y + r) * stride : -1;
    const drop = y > 0 && y - r - 1 >= 0 ? (y - r - 1) * stride : -1;
    // One pass per row: the new row in, the old one out, the mean written. The difference of two float32 values below
    // 256 is exact in a double, so the sums are the same exact window sums as adding and dropping in two passes.
    if (add >= 0 && drop >= 0) {
      for (let j = 0; j < stride; j++) out[o + j] = (sum[j]! += tmp[add + j]! - tmp[drop + j]!) / c;
    } else if (add >= 0) {
      for (let j = 0; j < stride; j++) out[o + j] = (sum[j]! += tmp[add + j]!) / c;
    } else if (drop >= 0) {
      for (let j = 0; j < stride; j++) out[o + j] = (sum[j]! -= tmp[drop + j]!) / c;
    } else {
      for (let j = 0; j < stride; j++) out[o + j] = sum[j]! / c;
    }
  }
  return out;
}

export function boxBlurMask(mask: Uint8Array, w: number, h: number, into?: Float32Array): Float32Array {
  // Per pixel: the share of set pixels in its 3x3 neighbourhood (as far as it lies inside the image). Column sums of
  // three rows are kept per row, so each pixel adds three numbers instead of visiting nine; counts are integers, so
  // the shares are the same as counting each neighbourhood anew.
  // `into`, when given, takes the result: every pixel is written below.
  const out = into ?? new Float32Array(w * h);
  const col = new Int32Array(w);
  for (let y = 0; y < h; y++) {
    const up = y > 0 ? (y - 1) * w : -1;
    const down = y < h - 1 ? (y + 1) * w : -1;
    const rows = 1 + (up >= 0 ? 1 : 0) + (down >= 0 ? 1 : 0);
    const row = y * w;
    for (let x = 0; x < w; x++) col[x] = mask[row + x]! + (up >= 0 ? mask[up + x]! : 0) + (down >= 0 ? mask[down + x]! : 0);
    for (let x = 0; x < w; x++) {
      // Product pixels stay opaque; only background pixels next to the product blend in a little.
      if (mask[row + x]) {
        out[row + x] = 1;
        continue;
      }
      let s = col[x]!;
      let cols = 1;
      if (x > 0) {
        s += col[x - 1]!;
        cols++;
      }
      if (x < w - 1) {
        s += col[x + 1]!;
        cols++;
      }
      out[row + x] = s / (rows * cols);
    }
  }
  return out;
}

/** Deterministic k-means (farthest-point start) over RGB samples; returns the centres holding at least `minShare` of them. */
export function kmeans(samples: Float32Array, k: number, minShare: number): Float32Array {
  // The distance is written out in the loops (as `sq` computes it, the same operations in the same order) and each
  // sample's channels are read once per sample rather than once per centre: this runs ~10k samples x 8 centres x 8 rounds
  // per photo.
  const m = samples.length / 3;
  const kk = Math.min(k, m);
  const centres = new Float32Array(kk * 3);
  centres.set(samples.subarray(0, 3));
  const best = new Float32Array(m).fill(Infinity);
  for (let c = 1; c < kk; c++) {
    let far = 0;
    let farD = -1;
    const cr = centres[(c - 1) * 3]!, cg = centres[(c - 1) * 3 + 1]!, cb = centres[(c - 1) * 3 + 2]!;
    for (let i = 0; i < m; i++) {
      const dr = samples[i * 3]! - cr;
      const dg = samples[i * 3 + 1]! - cg;
      const db = samples[i * 3 + 2]! - cb;
      const d = dr * dr + dg * dg + db * db;
      if (d < best[i]!) best[i] = d;
      if (best[i]! > farD) {
        farD = best[i]!;
        far = i;
      }
    }
    centres.set(samples.subarray(far * 3, far * 3 + 3), c * 3);
  }
  let counts = new Int32Array(kk);
  // Once a round assigns every sample as the round before did, its centres are the ones it started from (the same sums in
  // the same order), so every later round would repeat it: stopping there gives the eight rounds' result exactly.
  const assigned = new Int32Array(m).fill(-1);
  // The centres as doubles (the same values), read once per sample and centre.
  const cen = new Float64Array(kk * 3);
  for (let iter = 0; iter < 8; iter++) {
    const sums = new Float64Array(kk * 3);
    counts = new Int32Array(kk);
    cen.set(centres);
    let changed = false;
    for (let i = 0; i < m; i++) {
      const r = samples[i * 3]!, g = samples[i * 3 + 1]!, b = samples[i * 3 + 2]!;
      let bc = 0;
      let bd = Infinity;
      for (let c = 0; c < kk; c++) {
        // A partial sum already at least the best cannot end below it (adding squares never lowers a rounded sum), so
        // such a centre is passed over where the full distance would have lost the comparison anyway.
        const dr = r - cen[c * 3]!;
        const d1 = dr * dr;
        if (d1 >= bd) continue;
        const dg = g - cen[c * 3 + 1]!;
        const d2 = d1 + dg * dg;
        if (d2 >= bd) continue;
        const db = b - cen[c * 3 + 2]!;
        const d = d2 + db * db;
        if (d < bd) {
          bd = d;
          bc = c;
        }
      }
      if (assigned[i] !== bc) {
        assigned[i] = bc;
        changed = true;
      }
      counts[bc]!++;
      sums[bc * 3]! += r;
      sums[bc * 3 + 1]! += g;
      sums[bc * 3 + 2]! += b;
    }
    if (!changed) break;
    for (let c = 0; c < kk; c++) {
      if (counts[c]! === 0) continue;
      for (let j = 0; j < 3; j++) centres[c * 3 + j] = sums[c * 3 + j]! / counts[c]!;
    }
  }
  const kept: number[] = [];
  for (let c = 0; c < kk; c++) if (counts[c]! >= minShare * m) kept.push(centres[c * 3]!, centres[c * 3 + 1]!, centres[c * 3 + 2]!);
  return kept.length > 0 ? Float32Array.from(kept) : centres;
}

export function sq(a: Float32Array, i: number, c: Float32Array, j: number): number {
  const dr = a[i * 3]! - c[j * 3]!;
  const dg = a[i * 3 + 1]! - c[j * 3 + 1]!;
  const db = a[i * 3 + 2]! - c[j * 3 + 2]!;
  return dr * dr + dg * dg + db * db;
}

/**
 * Each of the `n` pixels' (RGB triples of `smooth`) distance to the nearest of `centres` (RGB triples), in one pass without a
 * call per pixel: what the background colours' k-means centres are measured by.
 */
export function nearestDistances(smooth: Float32Array, n: number, centres: Float32Array, into?: Float32Array): Float32Array {
  // `into`, when given, takes the result: every pixel's distance is written below.
  const dist = into ?? new Float32Array(n);
  const m = centres.length;
  const cen = Float64Array.from(centres);
  // The centre nearest the pixel before is measured first: neighbours mostly share their nearest colour, so the partial
  // sums below then pass over most other centres at once. Only the minimum is kept, not which centre gave it, and every
  // distance measured is the same sum in the same order, so the order the centres are met in does not change the result.
  if (m === 0) return dist.fill(Infinity);
  let last = 0;
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    const r = smooth[j]!, g = smooth[j + 1]!, b = smooth[j + 2]!;
    const first = last;
    const lr = r - cen[first]!, lg = g - cen[first + 1]!, lb = b - cen[first + 2]!;
    let best = lr * lr + lg * lg + lb * lb;
    for (let c = 0; c < m; c += 3) {
      if (c === first) continue;
      // Partial sums at least the best cannot end below it (kmeans above): the same minimum with fewer operations.
      const dr = r - cen[c]!;
      const d1 = dr * dr;
      if (d1 >= best) continue;
      const dg = g - cen[c + 1]!;
      const d2 = d1 + dg * dg;
      if (d2 >= best) continue;
      const db = b - cen[c + 2]!;
      const d = d2 + db * db;
      if (d < best) {
        best = d;
        last = c;
      }
    }
    dist[i] = Math.sqrt(best);
  }
  return dist;
}

/**
 * The `k`-th smallest value of `values` (0-based): what `values.sort()[k]` is, found by selection (quickselect, O(n))
 * instead of a full sort. Reorders `values`. For arrays without NaN, and where -0 and 0 need not be told apart.
 */
export function orderStatistic(values: Float32Array, k: number): number {
  if (!(k >= 0 && k < values.length)) throw new RangeError(`Expected a rank from 0 to ${values.length - 1} but received ${k}`);
  let lo = 0;
  let hi = values.length - 1;
  while (hi > lo) {
    // Median of three as the pivot, then Hoare's partition.
    const mid = (lo + hi) >> 1;
    const a = values[lo]!, b = values[mid]!, c = values[hi]!;
    const pivot = a < b ? (b < c ? b : a < c ? c : a) : a < c ? a : b < c ? c : b;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (values[i]! < pivot) i++;
      while (values[j]! > pivot) j--;
      if (i <= j) {
        const t = values[i]!;
        values[i] = values[j]!;
        values[j] = t;
        i++;
        j--;
      }
    }
    // Now values[lo..j] <= pivot <= values[i..hi], and anything between j and i equals the pivot.
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return values[k]!;
  }
  return values[k]!;
}
