import assert from 'node:assert/strict';
import { test } from 'node:test';
import { floodFromBorder, floodFromBorderAtMost } from '../../src/imaging/floodFill.js';
import { boxBlur, boxBlurMask, erode, keepMainComponents, kmeans, orderStatistic } from '../../src/imaging/ops.js';
import { mulberry32 } from './toys.js';

/*
 * The imaging primitives were rewritten for speed (typed stacks, running sums walked row by row, column sums of the
 * mask): they must give exactly what the plain versions gave, since isolation, the catalog's vectors and every chosen
 * setting rest on them. The plain versions are kept here as references and compared on seeded random images and masks
 * of odd sizes, blobs and noise, bit for bit.
 */

function refKeepMainComponents(fg: Uint8Array, w: number, h: number): { mask: Uint8Array; count: number } {
  const n = w * h;
  const label = new Int32Array(n).fill(-1);
  const sizes: number[] = [];
  const stack: number[] = [];
  for (let s = 0; s < n; s++) {
    if (!fg[s] || label[s]! >= 0) continue;
    const id = sizes.length;
    let size = 0;
    label[s] = id;
    stack.push(s);
    while (stack.length > 0) {
      const i = stack.pop()!;
      size++;
      const x = i % w;
      const y = (i - x) / w;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx, ny = y + dy;
          if (nx < 0 || ny < 0 || nx >= w || ny >= h) continue;
          const j = ny * w + nx;
          if (fg[j] && label[j]! < 0) {
            label[j] = id;
            stack.push(j);
          }
        }
      }
    }
    sizes.push(size);
  }
  const largest = Math.max(0, ...sizes);
  const floor = Math.max(largest * 0.1, n * 0.0015);
  const mask = new Uint8Array(n);
  let count = 0;
  for (let i = 0; i < n; i++) {
    if (label[i]! >= 0 && sizes[label[i]!]! >= floor) {
      mask[i] = 1;
      count++;
    }
  }
  return { mask, count };
}

function refBoxBlur(data: Uint8Array, w: number, h: number, r: number): Float32Array {
  const tmp = new Float32Array(w * h * 3);
  const out = new Float32Array(w * h * 3);
  const sum = new Float64Array(3);
  for (let y = 0; y < h; y++) {
    const row = y * w;
    sum.fill(0);
    for (let k = 0; k <= Math.min(w - 1, r); k++) for (let c = 0; c < 3; c++) sum[c]! += data[(row + k) * 3 + c]!;
    for (let x = 0; x < w; x++) {
      const a = Math.max(0, x - r), b = Math.min(w - 1, x + r);
      if (x > 0) {
        if (x + r <= w - 1) for (let c = 0; c < 3; c++) sum[c]! += data[(row + x + r) * 3 + c]!;
        if (x - r - 1 >= 0) for (let c = 0; c < 3; c++) sum[c]! -= data[(row + x - r - 1) * 3 + c]!;
      }
      for (let c = 0; c < 3; c++) tmp[(row + x) * 3 + c] = sum[c]! / (b - a + 1);
    }
  }
  for (let x = 0; x < w; x++) {
    sum.fill(0);
    for (let k = 0; k <= Math.min(h - 1, r); k++) for (let c = 0; c < 3; c++) sum[c]! += tmp[(k * w + x) * 3 + c]!;
    for (let y = 0; y < h; y++) {
      const a = Math.max(0, y - r), b = Math.min(h - 1, y + r);
      if (y > 0) {
        if (y + r <= h - 1) for (let c = 0; c < 3; c++) sum[c]! += tmp[((y + r) * w + x) * 3 + c]!;
        if (y - r - 1 >= 0) for (let c = 0; c < 3; c++) sum[c]! -= tmp[((y - r - 1) * w + x) * 3 + c]!;
      }
      for (let c = 0; c < 3; c++) out[(y * w + x) * 3 + c] = sum[c]! / (b - a + 1);
    }
  }
  return out;
}

function refBoxBlurMask(mask: Uint8Array, w: number, h: number): Float32Array {
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0, c = 0;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx, ny = y + dy;
          if (nx < 0 || ny < 0 || nx >= w || ny >= h) continue;
          s += mask[ny * w + nx]!;
          c++;
        }
      }
      out[y * w + x] = mask[y * w + x] ? 1 : s / c;
    }
  }
  return out;
}

function refKmeans(samples: Float32Array, k: number, minShare: number): Float32Array {
  const sq = (a: Float32Array, i: number, c: Float32Array, j: number) => {
    const dr = a[i * 3]! - c[j * 3]!, dg = a[i * 3 + 1]! - c[j * 3 + 1]!, db = a[i * 3 + 2]! - c[j * 3 + 2]!;
    return dr * dr + dg * dg + db * db;
  };
  const m = samples.length / 3;
  const kk = Math.min(k, m);
  const centres = new Float32Array(kk * 3);
  centres.set(samples.subarray(0, 3));
  const best = new Float32Array(m).fill(Infinity);
  for (let c = 1; c < kk; c++) {
    let far = 0, farD = -1;
    for (let i = 0; i < m; i++) {
      const d = sq(samples, i, centres, c - 1);
      if (d < best[i]!) best[i] = d;
      if (best[i]! > farD) {
        farD = best[i]!;
        far = i;
      }
    }
    centres.set(samples.subarray(far * 3, far * 3 + 3), c * 3);
  }
  let counts = new Int32Array(kk);
  for (let iter = 0; iter < 8; iter++) {
    const sums = new Float64Array(kk * 3);
    counts = new Int32Array(kk);
    for (let i = 0; i < m; i++) {
      let bc = 0, bd = Infinity;
      for (let c = 0; c < kk; c++) {
        const d = sq(samples, i, centres, c);
        if (d < bd) {
          bd = d;
          bc = c;
        }
      }
      counts[bc]!++;
      for (let j = 0; j < 3; j++) sums[bc * 3 + j]! += samples[i * 3 + j]!;
    }
    for (let c = 0; c < kk; c++) {
      if (counts[c]! === 0) continue;
      for (let j = 0; j < 3; j++) centres[c * 3 + j] = sums[c * 3 + j]! / counts[c]!;
    }
  }
  const kept: number[] = [];
  for (let c = 0; c < kk; c++) if (counts[c]! >= minShare * m) kept.push(centres[c * 3]!, centres[c * 3 + 1]!, centres[c * 3 + 2]!);
  return kept.length > 0 ? Float32Array.from(kept) : centres;
}

function refFlood(width: number, height: number, isBackground: (i: number) => boolean): Uint8Array {
  const n = width * height;
  const mark = new Uint8Array(n);
  const stack: number[] = [];
  const push = (i: number) => {
    if (!mark[i] && isBackground(i)) {
      mark[i] = 1;
      stack.push(i);
    }
  };
  for (let x = 0; x < width; x++) {
    push(x);
    push((height - 1) * width + x);
  }
  for (let y = 0; y < height; y++) {
    push(y * width);
    push(y * width + width - 1);
  }
  while (stack.length > 0) {
    const i = stack.pop()!;
    const x = i % width;
    if (x > 0) push(i - 1);
    if (x < width - 1) push(i + 1);
    if (i >= width) push(i - width);
    if (i < n - width) push(i + width);
  }
  return mark;
}

/** Sizes with one-pixel rows and columns, odd and even sides, and a phone photo's. */
const SIZES: ReadonlyArray<readonly [number, number]> = [[1, 1], [1, 7], [7, 1], [2, 2], [5, 3], [17, 11], [64, 48], [240, 320]];

/** A mask of a few random blobs over sparse noise (many components of every size). */
function blobs(w: number, h: number, seed: number, noise: number): Uint8Array {
  const rand = mulberry32(seed);
  const m = new Uint8Array(w * h);
  for (let b = 0; b < 4; b++) {
    const cx = rand() * w, cy = rand() * h, r = 1 + rand() * Math.min(w, h) * 0.3;
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if ((x - cx) ** 2 + (y - cy) ** 2 <= r * r) m[y * w + x] = 1;
  }
  for (let i = 0; i < m.length; i++) if (rand() < noise) m[i] = m[i] ? 0 : 1;
  return m;
}

function randomRgb(w: number, h: number, seed: number): Uint8Array {
  const rand = mulberry32(seed);
  const d = new Uint8Array(w * h * 3);
  // Smooth colour fields plus noise, so that the blur and clustering see structure, not only noise.
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) d[(y * w + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(128 + 100 * Math.sin((x + 3 * c) / 7) * Math.cos(y / 11) + (rand() - 0.5) * 60)));
    }
  }
  return d;
}

test('keepMainComponents, the mask blur, erosion and the border floods give exactly the plain versions\' masks', () => {
  let seed = 1;
  for (const [w, h] of SIZES) {
    for (const noise of [0, 0.05, 0.5]) {
      const fg = blobs(w, h, seed++, noise);
      assert.deepEqual(keepMainComponents(fg, w, h), refKeepMainComponents(fg, w, h), `components ${w}x${h} noise ${noise}`);
      assert.deepEqual(boxBlurMask(fg, w, h), refBoxBlurMask(fg, w, h), `mask blur ${w}x${h} noise ${noise}`);
      const complement = fg.map((v) => (v ? 0 : 1));
      assert.deepEqual(erode(fg, w, h, 0), complement, `no erosion ${w}x${h}`);
      assert.deepEqual(floodFromBorder(w, h, (i) => fg[i] === 1), refFlood(w, h, (i) => fg[i] === 1), `flood ${w}x${h} noise ${noise}`);
      // Distances with ties at the threshold: at most, not below.
      const dist = Float32Array.from(fg, (v, i) => (v ? 10 : (i * 7919) % 23));
      assert.deepEqual(floodFromBorderAtMost(w, h, dist, 10), refFlood(w, h, (i) => dist[i]! <= 10), `flood at most ${w}x${h} noise ${noise}`);
    }
  }
});

test('the box blur gives the plain version\'s floats bit for bit, at every radius', () => {
  let seed = 100;
  for (const [w, h] of SIZES) {
    const data = randomRgb(w, h, seed++);
    for (const r of [1, 2, 3, 6, 400]) assert.deepEqual(boxBlur(data, w, h, r), refBoxBlur(data, w, h, r), `${w}x${h} r ${r}`);
  }
});

test('k-means gives the plain version\'s centres bit for bit', () => {
  for (let seed = 1; seed <= 12; seed++) {
    const rand = mulberry32(seed);
    const m = [1, 3, 8, 50, 2000, 11000][seed % 6]!;
    const samples = new Float32Array(m * 3);
    // A few colour clusters with blurred (non-integer) values, as the smoothed border gives.
    for (let i = 0; i < m; i++) {
      const c = Math.floor(rand() * 4);
      for (let j = 0; j < 3; j++) samples[i * 3 + j] = 40 + c * 50 + j * 7 + (rand() - 0.5) * 20 + 1 / 3;
    }
    for (const k of [1, 8]) assert.deepEqual(kmeans(samples, k, 0.05), refKmeans(samples, k, 0.05), `${m} samples, k ${k}`);
  }
});

test('orderStatistic picks what a sort would put at that rank, ties and all', () => {
  for (let seed = 1; seed <= 30; seed++) {
    const rand = mulberry32(seed);
    const n = [1, 2, 3, 10, 101, 10800][seed % 6]!;
    // Few distinct values on some seeds (many ties, as blurred backdrops give), continuous ones on others.
    const values = Float32Array.from({ length: n }, () => (seed % 2 ? Math.floor(rand() * 5) : rand() * 255));
    const sorted = values.slice().sort();
    for (const k of [0, Math.floor(n / 2), Math.floor(n * 0.9), n - 1]) assert.equal(orderStatistic(values.slice(), k), sorted[k], `n ${n} k ${k}`);
  }
  assert.throws(() => orderStatistic(new Float32Array(3), 3), RangeError);
});
