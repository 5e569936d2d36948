import { isStudioWhite, STUDIO_WHITE, type DecodedRgb } from './rgb.js';
import { floodFromBorder } from './floodFill.js';

export interface IsolatedProduct {
  /** The product cropped to its extent (plus a margin), on white. */
  readonly image: DecodedRgb;
  /** Where the crop lies in the input (may reach past its edges, where the margin is white). */
  readonly box: { readonly left: number; readonly top: number; readonly width: number; readonly height: number };
  /**
   * 'studio': the photo already sits on white; only cropped, no pixel changed (white garments keep their
   * edges). 'balanced': read as a studio shot under other light (`balancedReading`): its colours were scaled
   * so that the border is white, then it was treated as a studio shot. 'replaced': a backdrop
   * was found from the borders and replaced with white. 'unchanged': no product could be told from the
   * background, the photo is used as it is.
   */
  readonly method: 'studio' | 'balanced' | 'replaced' | 'unchanged';
  /** Share of the input's pixels taken as the product. */
  readonly foregroundShare: number;
  /**
   * When the border is uniform, light and nearly grey (not white): the per-channel gains that would make it
   * white, for `balancedReading`. Found here, from the border this function reads anyway.
   */
  readonly backdropGains?: readonly [number, number, number];
}

/** Tuning, chosen on the photo-condition benchmark (bench/conditions.ts); see docs/relevance.md. */
export const ISOLATE_TUNING = Object.freeze({
  /** Share of the photo's shorter side read as border. */
  border: 0.04,
  /** Border share that must be near-white for a studio shot. */
  studioShare: 0.6,
  /**
   * Smallest colour distance (RGB, 0-441) that separates product from backdrop. Chosen with bench/isolation.ts on
   * copies of 800 training items no reported figure uses (6 / 10 / 14): 14 -> 10 put the own item of backdrop copies
   * in the top 5 0.894 -> 0.915, all-condition copies within noise (0.678 -> 0.674, P@5 0.591 -> 0.604).
   */
  minThreshold: 10,
  /** Extra margin around the product, as a share of its longer side. */
  margin: 0.08,
  /** Background colour clusters sampled from the border. */
  clusters: 8,
  /**
   * The threshold also rises with the border's own spread (noise, texture): spread * this + 8. Lower keeps more of
   * a product whose colours come near the backdrop's (1.0 flooded dark trousers on a grey gradient); chosen with
   * bench/isolation.ts on copies of training items that no reported figure uses: backdrop copies' own item first
   * 0.785 -> 0.83 from 1.0 to 0.5, all-condition copies unchanged within noise.
   */
  spreadFactor: 0.5,
  /** Erosion of the product mask, in pixels per 160 of the shorter side. */
  erode: 0,
  /**
   * Longest side the isolated product is reduced to (0 = kept): the shared catalog's photos are 60x80, so a
   * phone photo brought to the same detail embeds like them instead of like a sharper picture.
   */
  canonicalSide: 80,
  /**
   * A studio shot is cropped only when its product spans less than this share of the frame (both ways):
   * the framing of catalog photos says something about the product (a watch sits small, a dress fills
   * the frame), so a studio photo already framed like them is left as it is.
   */
  studioCropBelow: 0.7,
  /**
   * A border this uniform (share of its pixels within `balanceSpread` of its median colour, per channel), at
   * least this light (darkest channel of the median) and this close to grey (channel range over the lightest
   * channel) may be a studio backdrop under other light: `balancedReading` takes its colour as white (0 = off).
   */
  balanceShare: 0.6,
  balanceSpread: 20,
  balanceMin: 150,
  balanceChroma: 0.25,
});

/**
 * Finds the product in a photo and places it on white, cropped to its extent, so that a shopper's photo
 * (an item on a bed, a table, a coloured wall, small or off-centre in the frame) looks like the catalog's
 * studio shots, which go through the same function. The background is estimated from the photo's
 * borders: colour clusters of the smoothed border pixels; everything connected to the border that is
 * within the border's own spread of one of those colours is background.
 */
export function isolateProduct(img: DecodedRgb, tuning: typeof ISOLATE_TUNING = ISOLATE_TUNING): IsolatedProduct {
  const { width: w, height: h, data } = img;
  const n = w * h;
  const unchanged = (): IsolatedProduct => ({ image: img, box: { left: 0, top: 0, width: w, height: h }, method: 'unchanged', foregroundShare: 1 });
  if (w < 8 || h < 8) return unchanged();

  const smooth = boxBlur(data, w, h, Math.max(1, Math.round(Math.min(w, h) / 80)));
  const band = Math.max(2, Math.round(Math.min(w, h) * tuning.border));
  const borderIdx: number[] = [];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (x < band || y < band || x >= w - band || y >= h - band) borderIdx.push(y * w + x);
    }
  }

  // Studio shot: a white border (JPEG noise and soft shadows allowed). Crop only; change no pixel.
  let white = 0;
  for (const i of borderIdx) {
    const r = smooth[i * 3]!, g = smooth[i * 3 + 1]!, b = smooth[i * 3 + 2]!;
    if (isStudioWhite(r, g, b, STUDIO_WHITE.border)) white++;
  }
  if (white >= tuning.studioShare * borderIdx.length) {
    const fg = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const r = smooth[i * 3]!, g = smooth[i * 3 + 1]!, b = smooth[i * 3 + 2]!;
      // Anything visibly off-white counts, so the faint edges of a white garment stay inside the crop.
      if (!isStudioWhite(r, g, b, STUDIO_WHITE.garment)) fg[i] = 1;
    }
    const kept = keepMainComponents(fg, w, h);
    if (kept.count < n * 0.005) return unchanged();
    const span = extent(kept.mask, w, h);
    if (Math.max(span.width / w, span.height / h) >= tuning.studioCropBelow) return { ...unchanged(), method: 'studio', foregroundShare: kept.count / n };
    return crop(img, kept, tuning, 'studio', n);
  }

  const gains = backdropGains(smooth, borderIdx, tuning);
  const withGains = (r: IsolatedProduct): IsolatedProduct => (gains ? { ...r, backdropGains: gains } : r);

  // A backdrop: colour clusters of the border, a threshold from their spread, a flood fill from the edges.
  const samples = new Float32Array(borderIdx.length * 3);
  borderIdx.forEach((i, k) => {
    samples[k * 3] = smooth[i * 3]!;
    samples[k * 3 + 1] = smooth[i * 3 + 1]!;
    samples[k * 3 + 2] = smooth[i * 3 + 2]!;
  });
  // Clusters with little support are the product where it touches the frame, not the backdrop.
  const centres = kmeans(samples, tuning.clusters, 0.05);
  const dist = new Float32Array(n);
  for (let i = 0; i < n; i++) dist[i] = nearest(centres, smooth[i * 3]!, smooth[i * 3 + 1]!, smooth[i * 3 + 2]!);
  // Typed-array sorts are numeric and several times faster than a comparator on a phone photo's ~11k border pixels.
  const borderDist = Float32Array.from(borderIdx, (i) => dist[i]!).sort();
  const spread = borderDist[Math.floor(borderDist.length * 0.9)] ?? 0;
  const threshold = Math.max(tuning.minThreshold, spread * tuning.spreadFactor + 8);

  const bg = floodFromBorder(w, h, (i) => dist[i]! <= threshold);
  // Eroded a little: a blurred photo mixes the backdrop into the product's outermost pixels.
  const fg = erode(bg, w, h, Math.round((tuning.erode * Math.min(w, h)) / 160));
  const kept = keepMainComponents(fg, w, h);
  if (kept.count < n * 0.01 || kept.count > n * 0.97) return withGains(unchanged());

  // Soft edges: the mask blurred by one pixel, the product blended onto white.
  const alpha = boxBlurMask(kept.mask, w, h);
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const a = alpha[i]!;
    for (let c = 0; c < 3; c++) out[i * 3 + c] = Math.round(data[i * 3 + c]! * a + 255 * (1 - a));
  }
  return withGains(crop({ data: out, width: w, height: h }, kept, tuning, 'replaced', n));
}

/**
 * The other reading of a photo whose backdrop is uniform, light and nearly grey: a white studio backdrop in a
 * darker room or under a warm or cool lamp. Taking its colour as white undoes most of the cast on the product
 * too, and the result is isolated as the studio shot it would be. A grey or beige surface looks the same, and
 * there the product's colours were right, so this is only an alternative: a photo search embeds both readings
 * and keeps the one the catalog explains better (src/recommend/recommender.ts). Null when the photo has no such
 * backdrop (a white studio border included). `isolated`: what `isolateProduct` made of the same photo.
 */
export function balancedReading(img: DecodedRgb, isolated: IsolatedProduct, tuning: typeof ISOLATE_TUNING = ISOLATE_TUNING): IsolatedProduct | null {
  const gains = isolated.backdropGains;
  if (!gains || gains.every((g) => g < 1.02)) return null;
  const out = new Uint8Array(img.data.length);
  for (let i = 0; i < out.length; i++) out[i] = Math.min(255, Math.round(img.data[i]! * gains[i % 3]!));
  const r = isolateProduct({ data: out, width: img.width, height: img.height }, tuning);
  return r.method === 'replaced' ? null : { ...r, method: 'balanced' };
}

/** Per-channel gains that make a uniform, light, near-grey border white; null when the border is not one. */
function backdropGains(smooth: Float32Array | Uint8Array, borderIdx: readonly number[], tuning: typeof ISOLATE_TUNING): [number, number, number] | null {
  if (tuning.balanceShare <= 0) return null;
  const median = [0, 1, 2].map((c) => {
    const v = Float32Array.from(borderIdx, (i) => smooth[i * 3 + c]!).sort();
    return v[Math.floor(v.length / 2)]!;
  }) as [number, number, number];
  const lo = Math.min(...median), hi = Math.max(...median);
  if (lo < tuning.balanceMin || hi - lo > tuning.balanceChroma * hi) return null;
  let near = 0;
  for (const i of borderIdx) {
    if (Math.abs(smooth[i * 3]! - median[0]) <= tuning.balanceSpread && Math.abs(smooth[i * 3 + 1]! - median[1]) <= tuning.balanceSpread && Math.abs(smooth[i * 3 + 2]! - median[2]) <= tuning.balanceSpread) near++;
  }
  if (near < tuning.balanceShare * borderIdx.length) return null;
  return median.map((m) => 255 / m) as [number, number, number];
}

interface Components {
  readonly mask: Uint8Array;
  readonly count: number;
}

/** Keeps the connected foreground regions that matter: the largest and any at least a tenth of its size. */
function keepMainComponents(fg: Uint8Array, w: number, h: number): Components {
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
          const nx = x + dx;
          const ny = y + dy;
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

function crop(img: DecodedRgb, kept: Components, tuning: typeof ISOLATE_TUNING, method: IsolatedProduct['method'], n: number): IsolatedProduct {
  const marginShare = tuning.margin;
  const { width: w, height: h } = img;
  const { x0, y0, x1, y1 } = boundingBox(kept.mask, w, h);
  const margin = Math.round(Math.max(x1 - x0 + 1, y1 - y0 + 1) * marginShare);
  const left = x0 - margin;
  const top = y0 - margin;
  const cw = x1 - x0 + 1 + 2 * margin;
  const ch = y1 - y0 + 1 + 2 * margin;
  const out = new Uint8Array(cw * ch * 3).fill(255);
  for (let y = 0; y < ch; y++) {
    const sy = top + y;
    if (sy < 0 || sy >= h) continue;
    const sx0 = Math.max(0, left);
    const sx1 = Math.min(w, left + cw);
    if (sx1 <= sx0) continue;
    out.set(img.data.subarray((sy * w + sx0) * 3, (sy * w + sx1) * 3), (y * cw + (sx0 - left)) * 3);
  }
  // Only a product larger than the catalog's photos is reduced (by its own extent, not the margin's).
  const longest = Math.max(x1 - x0 + 1, y1 - y0 + 1);
  const target = tuning.canonicalSide > 0 && longest > tuning.canonicalSide ? Math.round((Math.max(cw, ch) * tuning.canonicalSide) / longest) : 0;
  const image = reduce({ data: out, width: cw, height: ch }, target);
  return { image, box: { left, top, width: cw, height: ch }, method, foregroundShare: kept.count / n };
}

/** Area-average reduction so that the longer side is at most `side` pixels (0: unchanged). */
function reduce(img: DecodedRgb, side: number): DecodedRgb {
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
function erode(bg: Uint8Array, w: number, h: number, r: number): Uint8Array {
  const fg = new Uint8Array(w * h);
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

function extent(mask: Uint8Array, w: number, h: number): { width: number; height: number } {
  const { x0, y0, x1, y1 } = boundingBox(mask, w, h);
  return { width: Math.max(0, x1 - x0 + 1), height: Math.max(0, y1 - y0 + 1) };
}

/** The smallest box holding every set pixel of the mask (x1 < x0 when none is set). */
function boundingBox(mask: Uint8Array, w: number, h: number): { x0: number; y0: number; x1: number; y1: number } {
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
function boxBlur(data: Uint8Array, w: number, h: number, r: number): Float32Array {
  // Running sums, O(1) per pixel whatever the radius. The sums are of bytes, then of float32 values below 256, both
  // exact in doubles, so adding and dropping along the window gives the same result as summing each window anew.
  const tmp = new Float32Array(w * h * 3);
  const out = new Float32Array(w * h * 3);
  const sum = new Float64Array(3);
  for (let y = 0; y < h; y++) {
    const row = y * w;
    sum.fill(0);
    for (let k = 0; k <= Math.min(w - 1, r); k++) for (let c = 0; c < 3; c++) sum[c]! += data[(row + k) * 3 + c]!;
    for (let x = 0; x < w; x++) {
      const a = Math.max(0, x - r);
      const b = Math.min(w - 1, x + r);
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
      const a = Math.max(0, y - r);
      const b = Math.min(h - 1, y + r);
      if (y > 0) {
        if (y + r <= h - 1) for (let c = 0; c < 3; c++) sum[c]! += tmp[((y + r) * w + x) * 3 + c]!;
        if (y - r - 1 >= 0) for (let c = 0; c < 3; c++) sum[c]! -= tmp[((y - r - 1) * w + x) * 3 + c]!;
      }
      for (let c = 0; c < 3; c++) out[(y * w + x) * 3 + c] = sum[c]! / (b - a + 1);
    }
  }
  return out;
}

function boxBlurMask(mask: Uint8Array, w: number, h: number): Float32Array {
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      let c = 0;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx;
          const ny = y + dy;
          if (nx < 0 || ny < 0 || nx >= w || ny >= h) continue;
          s += mask[ny * w + nx]!;
          c++;
        }
      }
      // Product pixels stay opaque; only background pixels next to the product blend in a little.
      out[y * w + x] = mask[y * w + x] ? 1 : s / c;
    }
  }
  return out;
}

/** Deterministic k-means (farthest-point start) over RGB samples; returns the centres holding at least `minShare` of them. */
function kmeans(samples: Float32Array, k: number, minShare: number): Float32Array {
  const m = samples.length / 3;
  const kk = Math.min(k, m);
  const centres = new Float32Array(kk * 3);
  centres.set(samples.subarray(0, 3));
  const best = new Float32Array(m).fill(Infinity);
  for (let c = 1; c < kk; c++) {
    let far = 0;
    let farD = -1;
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
      let bc = 0;
      let bd = Infinity;
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

function sq(a: Float32Array, i: number, c: Float32Array, j: number): number {
  const dr = a[i * 3]! - c[j * 3]!;
  const dg = a[i * 3 + 1]! - c[j * 3 + 1]!;
  const db = a[i * 3 + 2]! - c[j * 3 + 2]!;
  return dr * dr + dg * dg + db * db;
}

function nearest(centres: Float32Array, r: number, g: number, b: number): number {
  let best = Infinity;
  for (let c = 0; c < centres.length; c += 3) {
    const dr = r - centres[c]!;
    const dg = g - centres[c + 1]!;
    const db = b - centres[c + 2]!;
    const d = dr * dr + dg * dg + db * db;
    if (d < best) best = d;
  }
  return Math.sqrt(best);
}
