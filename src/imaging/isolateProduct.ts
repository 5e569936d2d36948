import { isStudioWhite, STUDIO_WHITE, type DecodedRgb } from './rgb.js';
import { applyBackdropSurface } from './backdropSurface.js';
import { floodFromBorderAtMost } from './floodFill.js';
import { boundingBox, boxBlur, boxBlurMask, erode, extent, keepMainComponents, kmeans, nearestDistances, orderStatistic, reduce } from './ops.js';
import { scratchFloat32 } from './scratch.js';
import { alphaTap, alphaTaps, productBox } from './workingSize.js';

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
  /**
   * A backdrop that shades across the frame (a gradient, a vignette, light falling off) has colours away from the border
   * that no border cluster holds. With `surface` on, a smooth colour surface (per channel, quadratic in x and y) is also
   * fitted to the border, and a pixel's distance to the backdrop is the smaller of its distance to a cluster and to the
   * surface there (src/imaging/backdropSurface.ts). Unlike a flood that follows small steps, it cannot creep into a
   * product through a soft edge. On since issue 21's guard (`surfaceFit`): unguarded, it changed plain catalog photos
   * whose border it does not fit (a model's head and shoulders touching the frame: the lower threshold kept the head, and
   * test/server.test.ts's uploaded T-shirt found 2 T-shirts in its top 5 instead of 3).
   */
  surface: 1,
  /**
   * The guard: the surface is used only where the 90th percentile of the border's distance to it is at most this (RGB).
   * Chosen with bench/isolation.ts (--field surfaceFit --values -1,8,16,32,1000, 300 training items outside every reported
   * sample): on TUNE styles every value is within noise of the others and of the surface off (phone-like own item in top 5
   * 0.503-0.517, backdrop 0.843-0.850), so the value comes from catalog photos: the 1.8% that take the backdrop path have
   * residuals of 2.5-7 (a studio's grey vignette, where the surface takes away the slab the clusters leave) or 10-35, and
   * from 40 up (a model touching the frame, where the unguarded surface kept more than the product); 16 lies in the gap.
   * On HELD-OUT styles it keeps the surface's gain: own item in top 5, phone-like 0.367 off -> 0.423 (unguarded 0.427),
   * backdrop 0.783 -> 0.813 (0.827); `isolation-surfaceFit-shopper` in bench/results.json.
   */
  surfaceFit: 16,
  /**
   * Longest side the product is found at (0 = the decoded size): a larger photo is reduced to it (area averages) for the
   * mask, whose box and soft edge are then mapped back onto the photo itself, so that the crop keeps the photo's detail.
   * Catalog photos (60x80) are below it and isolated exactly as before (a catalog's stored vectors do not change); a phone
   * photo (240x320) is found at 90x120, ~7x fewer pixels: isolation alone 19.9 -> 4.5 ms p50 (bench/isolationSpeed.ts).
   * Chosen with bench/isolation.ts (--field workingSide --values 0,160,120,80, 300 training items outside every reported
   * sample, backbone alone; `isolation-workingSide-shopper`) on TUNE styles: own item in the top 5, phone-like 0.503 (0) /
   * 0.513 (160) / 0.513 (120) / 0.473 (80), backdrop 0.843 / 0.833 / 0.837 / 0.860; own item first, phone-like 0.370 /
   * 0.360 / 0.363 / 0.330, backdrop 0.767 / 0.740 / 0.773 / 0.737: 120 within noise of the decoded size, 80 loses on
   * phone-like photos. HELD-OUT at 120: phone-like own item in top 5 0.423 -> 0.410, backdrop 0.813 -> 0.810; clean
   * photos identical (they are below the working side).
   * Off (0) nevertheless: on the whole product, where the 6,000-item catalog is trained again on copies isolated at the
   * working side (bench/generalise.ts), TUNE styles lost at 120 (hard copies' own item in the top 5 0.665 -> 0.565, mild
   * own item first 0.985 -> 0.945) and at 160 training kept no same-product space at all (every weight cost clean photos
   * more than its allowance), phone-like P@5 0.633 -> 0.611 (TUNE), 0.650 -> 0.577 (HELD-OUT). The backbone-alone figures
   * above do not see that the training copies change too. So catalog photos and training copies are isolated at the decoded
   * size (0 here), and only query photos at a working side (QUERY_ISOLATION below).
   */
  workingSide: 0,
});

/** Isolation's settings, each a number (ISOLATE_TUNING holds the chosen ones; benches and tests try others). */
export type IsolateTuning = { readonly [K in keyof typeof ISOLATE_TUNING]: number };

/**
 * Isolation of a shopper's query photo (src/embedding/vectorize.ts prepareReadings): ISOLATE_TUNING with the product found at
 * a working side of 120 (a 240x320 phone photo at 90x120; isolation of its readings ~20 -> ~4.5 ms p50). Query time only:
 * training copies and catalog photos keep ISOLATE_TUNING (their vectors, and so what training learns, do not change; what
 * lost before was training on copies isolated small), and catalog photos (60x80) are below every working side anyway. Chosen
 * with bench/readings.ts on the trained 6,000-item catalog, query side only (`live@0,live@200,live@160,live@120`): on TUNE
 * styles 120 is within 0.005 of the decoded size on every figure (phone-like P@5 0.638 -> 0.643, mild own item first 0.985 ->
 * 0.980, hard own item in the top 5 0.750 -> 0.750, clean 0.822 unchanged), HELD-OUT 0.655 -> 0.648 / 0.965 -> 0.960 /
 * 0.685 -> 0.700; docs/relevance.md, docs/bench.md.
 * Off (0) nevertheless since the kind prior (src/search/kindPrior.ts) joined the query path: with it, on the same trained
 * catalog, 120 against the decoded size was within noise on TUNE (phone-like P@5 0.668 -> 0.662, hard 0.760 -> 0.765, mild
 * 0.985 both) but lost on HELD-OUT (phone-like 0.684 -> 0.662, hard 0.735 -> 0.700, mild 0.970 -> 0.965), and issue 21 keeps
 * a change only where the held-out styles do not lose. The setting stays for a shop that prefers the ~20 ms a phone photo.
 * A shop or a bench sets it without editing this constant: Config.queryWorkingSide (FASHION_QUERY_WORKING_SIDE), which the
 * query path takes from the configuration (src/config.ts queryIsolation). Measured again with the whole query path of
 * 2026-12-02 (kind prior, slots, off-backdrop part scales) on the 31,776-item trained catalog, TUNE and clean photos only
 * (bench/partWeights.ts read per side, `partWeights-qside`): 200 within the allowance (phone-like P@5 0.699 both, strict 0.349
 * -> 0.346, hard 0.676 -> 0.678, mild 0.988 and clean unchanged), 160 and 120 lose the kind on phone-like photos (P@5 0.695,
 * 0.687). HELD-OUT read once for 200 with same product 2.5 (`generalise-all-qside200-final`): hard 0.612 -> 0.630 but
 * phone-like P@5 0.698 -> 0.694, outside the 0.003 set before the read, so the default stays 0 (docs/relevance.md).
 */
export const QUERY_ISOLATION: IsolateTuning = Object.freeze({ ...ISOLATE_TUNING, workingSide: 0 });

/**
 * Finds the product in a photo and places it on white, cropped to its extent, so that a shopper's photo
 * (an item on a bed, a table, a coloured wall, small or off-centre in the frame) looks like the catalog's
 * studio shots, which go through the same function. The background is estimated from the photo's
 * borders: colour clusters of the smoothed border pixels; everything connected to the border that is
 * within the border's own spread of one of those colours is background.
 */
export function isolateProduct(img: DecodedRgb, tuning: IsolateTuning = ISOLATE_TUNING): IsolatedProduct {
  if (img.width < 8 || img.height < 8) return unchangedOf(img);
  // The product is found on a reduced copy (a photo at or below the working size is its own), then cut from the photo
  // itself, so that the crop keeps the photo's detail.
  const work = workingCopy(img, tuning);
  return cut(img, work, findProduct(work, tuning), tuning);
}

/** The photo as it is: the whole frame, nothing isolated. */
function unchangedOf(img: DecodedRgb): IsolatedProduct {
  return { image: img, box: { left: 0, top: 0, width: img.width, height: img.height }, method: 'unchanged', foregroundShare: 1 };
}

function workingCopy(img: DecodedRgb, tuning: IsolateTuning): DecodedRgb {
  return tuning.workingSide > 0 ? reduce(img, tuning.workingSide) : img;
}

/** What `isolateProduct` returns for the product `found` on `work` (`img` itself or its reduction). */
function cut(img: DecodedRgb, work: DecodedRgb, found: Found, tuning: IsolateTuning): IsolatedProduct {
  const unchanged = () => unchangedOf(img);
  const withGains = (r: IsolatedProduct): IsolatedProduct => (found.gains ? { ...r, backdropGains: found.gains } : r);
  switch (found.kind) {
    case 'unchanged':
      return withGains(unchanged());
    case 'studio-framed':
      return { ...unchanged(), method: 'studio', foregroundShare: found.share };
    case 'studio':
      return crop(img, work, found.mask, null, tuning, 'studio', found.share);
    case 'replaced':
      // Soft edges: the mask blurred by one working pixel, the product blended onto white.
      // The soft edge is read by the crop alone: a reused buffer (src/imaging/scratch.ts).
      return withGains(crop(img, work, found.mask, boxBlurMask(found.mask, work.width, work.height, scratchFloat32('isolate.alpha', work.width * work.height)), tuning, 'replaced', found.share));
  }
}

/** What isolation found in the photo at its working size: the product's mask there, and how it was told apart. */
type Found =
  | { readonly kind: 'unchanged'; readonly gains: [number, number, number] | null }
  /** A studio shot already framed like the catalog's: left as it is. */
  | { readonly kind: 'studio-framed'; readonly share: number; readonly gains?: undefined }
  | { readonly kind: 'studio'; readonly mask: Uint8Array; readonly share: number; readonly gains?: undefined }
  | { readonly kind: 'replaced'; readonly mask: Uint8Array; readonly share: number; readonly gains: [number, number, number] | null };

function findProduct(img: DecodedRgb, tuning: IsolateTuning): Found {
  const { width: w, height: h, data } = img;
  const n = w * h;
  if (w < 8 || h < 8) return { kind: 'unchanged', gains: null };

  // The smoothed photo and the distances to the backdrop's colours are this pass's own: reused buffers (src/imaging/scratch.ts).
  const smooth = boxBlur(data, w, h, Math.max(1, Math.round(Math.min(w, h) / 80)), scratchFloat32('isolate.smooth', n * 3));
  const band = Math.max(2, Math.round(Math.min(w, h) * tuning.border));
  const borderIdx = borderIndices(w, h, band);

  // Studio shot: a white border (JPEG noise and soft shadows allowed). Crop only; change no pixel.
  let white = 0;
  for (let k = 0; k < borderIdx.length; k++) {
    const i = borderIdx[k]!;
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
    if (kept.count < n * 0.005) return { kind: 'unchanged', gains: null };
    const span = extent(kept.mask, w, h);
    if (Math.max(span.width / w, span.height / h) >= tuning.studioCropBelow) return { kind: 'studio-framed', share: kept.count / n };
    return { kind: 'studio', mask: kept.mask, share: kept.count / n };
  }

  const gains = backdropGains(smooth, borderIdx, tuning);

  // A backdrop: colour clusters of the border, a threshold from their spread, a flood fill from the edges.
  const samples = new Float32Array(borderIdx.length * 3);
  for (let k = 0; k < borderIdx.length; k++) {
    const i = borderIdx[k]!;
    samples[k * 3] = smooth[i * 3]!;
    samples[k * 3 + 1] = smooth[i * 3 + 1]!;
    samples[k * 3 + 2] = smooth[i * 3 + 2]!;
  }
  // Clusters with little support are the product where it touches the frame, not the backdrop.
  const centres = kmeans(samples, tuning.clusters, 0.05);
  const dist = nearestDistances(smooth, n, centres, scratchFloat32('isolate.dist', n));
  if (tuning.surface > 0) applyBackdropSurface(smooth, w, h, borderIdx, dist, tuning.surfaceFit);
  const borderDist = new Float32Array(borderIdx.length);
  for (let k = 0; k < borderIdx.length; k++) borderDist[k] = dist[borderIdx[k]!]!;
  const spread = borderDist.length > 0 ? orderStatistic(borderDist, Math.floor(borderDist.length * 0.9)) : 0;
  const threshold = Math.max(tuning.minThreshold, spread * tuning.spreadFactor + 8);

  const bg = floodFromBorderAtMost(w, h, dist, threshold);
  // Eroded a little: a blurred photo mixes the backdrop into the product's outermost pixels.
  const fg = erode(bg, w, h, Math.round((tuning.erode * Math.min(w, h)) / 160));
  const kept = keepMainComponents(fg, w, h);
  if (kept.count < n * 0.01 || kept.count > n * 0.97) return { kind: 'unchanged', gains };
  return { kind: 'replaced', mask: kept.mask, share: kept.count / n, gains };
}

/**
 * The other reading of a photo whose backdrop is uniform, light and nearly grey: a white studio backdrop in a
 * darker room or under a warm or cool lamp. Taking its colour as white undoes most of the cast on the product
 * too, and the result is isolated as the studio shot it would be. A grey or beige surface looks the same, and
 * there the product's colours were right, so this is only an alternative: a photo search embeds both readings
 * and keeps the one the catalog explains better (src/recommend/recommender.ts). Null when the photo has no such
 * backdrop (a white studio border included). `isolated`: what `isolateProduct` made of the same photo.
 */
export function balancedReading(img: DecodedRgb, isolated: IsolatedProduct, tuning: IsolateTuning = ISOLATE_TUNING): IsolatedProduct | null {
  const gains = isolated.backdropGains;
  if (!gains || gains.every((g) => g < 1.02)) return null;
  const balanced = { data: scaled(img.data, gains), width: img.width, height: img.height };
  // A backdrop replaced under the balanced colours is no other reading (null): known from the mask alone, so such a photo's
  // product is never cut out, blended and reduced for nothing.
  const work = workingCopy(balanced, tuning);
  const found = findProduct(work, tuning);
  return found.kind === 'replaced' ? null : { ...cut(balanced, work, found, tuning), method: 'balanced' };
}

/**
 * Each channel of interleaved RGB bytes times its gain, rounded and capped at 255. A function of its own: its loop is then
 * compiled once, where inside `balancedReading` the code after the loop deoptimised it on every call (V8's --trace-deopt).
 */
function scaled(data: Uint8Array, gains: readonly [number, number, number]): Uint8Array {
  const out = new Uint8Array(data.length);
  const [g0, g1, g2] = gains;
  // Pixel by pixel, each channel by its own gain (the same products as channel i % 3 of each byte).
  for (let i = 0; i + 2 < out.length; i += 3) {
    out[i] = Math.min(255, Math.round(data[i]! * g0));
    out[i + 1] = Math.min(255, Math.round(data[i + 1]! * g1));
    out[i + 2] = Math.min(255, Math.round(data[i + 2]! * g2));
  }
  return out;
}

/** Per-channel gains that make a uniform, light, near-grey border white; null when the border is not one. */
function backdropGains(smooth: Float32Array | Uint8Array, borderIdx: Int32Array, tuning: IsolateTuning): [number, number, number] | null {
  if (tuning.balanceShare <= 0) return null;
  const v = new Float32Array(borderIdx.length);
  const median = [0, 1, 2].map((c) => {
    for (let k = 0; k < borderIdx.length; k++) v[k] = smooth[borderIdx[k]! * 3 + c]!;
    return orderStatistic(v, Math.floor(v.length / 2));
  }) as [number, number, number];
  const lo = Math.min(...median), hi = Math.max(...median);
  if (lo < tuning.balanceMin || hi - lo > tuning.balanceChroma * hi) return null;
  let near = 0;
  for (let k = 0; k < borderIdx.length; k++) {
    const i = borderIdx[k]!;
    if (Math.abs(smooth[i * 3]! - median[0]) <= tuning.balanceSpread && Math.abs(smooth[i * 3 + 1]! - median[1]) <= tuning.balanceSpread && Math.abs(smooth[i * 3 + 2]! - median[2]) <= tuning.balanceSpread) near++;
  }
  if (near < tuning.balanceShare * borderIdx.length) return null;
  return median.map((m) => 255 / m) as [number, number, number];
}

/**
 * The pixel indices of the border band `band` pixels wide, row by row (the order every pass over the border reads them in:
 * k-means and the surface fit see their samples in this order).
 */
function borderIndices(w: number, h: number, band: number): Int32Array {
  const rows = Math.min(h, 2 * band);
  const perRow = Math.min(band, w) + (w - Math.max(band, w - band));
  const out = new Int32Array(rows * w + (h - rows) * perRow);
  let k = 0;
  for (let y = 0; y < h; y++) {
    const row = y * w;
    if (y < band || y >= h - band) {
      for (let x = 0; x < w; x++) out[k++] = row + x;
      continue;
    }
    for (let x = 0; x < Math.min(band, w); x++) out[k++] = row + x;
    for (let x = Math.max(band, w - band); x < w; x++) out[k++] = row + x;
  }
  return out;
}

/**
 * The product cut from `img` around its mask (found on `work`, `img` itself or its reduction), with a margin, on white;
 * with `alpha` (per working pixel, 1 on the product), each pixel of the crop blended onto white by the alpha at its place.
 */
function crop(img: DecodedRgb, work: DecodedRgb, mask: Uint8Array, alpha: Float32Array | null, tuning: IsolateTuning, method: IsolatedProduct['method'], share: number): IsolatedProduct {
  const marginShare = tuning.margin;
  const { width: w, height: h, data } = img;
  const { x0, y0, x1, y1 } = productBox(boundingBox(mask, work.width, work.height), work, img);
  const margin = Math.round(Math.max(x1 - x0 + 1, y1 - y0 + 1) * marginShare);
  const left = x0 - margin;
  const top = y0 - margin;
  const cw = x1 - x0 + 1 + 2 * margin;
  const ch = y1 - y0 + 1 + 2 * margin;
  const out = new Uint8Array(cw * ch * 3).fill(255);
  const sx0 = Math.max(0, left);
  const sx1 = Math.min(w, left + cw);
  // Only the crop's own pixels are blended: the rest of the photo is never read.
  const cols = alpha && sx1 > sx0 ? alphaTaps(sx0, sx1, w, work.width) : null;
  for (let y = 0; y < ch; y++) {
    const sy = top + y;
    if (sy < 0 || sy >= h || sx1 <= sx0) continue;
    const o = (y * cw + (sx0 - left)) * 3;
    if (!alpha || !cols) {
      out.set(data.subarray((sy * w + sx0) * 3, (sy * w + sx1) * 3), o);
      continue;
    }
    const [ya, yb, fy] = alphaTap(sy, h, work.height);
    const rowA = ya * work.width, rowB = yb * work.width;
    for (let x = sx0, k = 0, j = o, i = (sy * w + sx0) * 3; x < sx1; x++, k++, j += 3, i += 3) {
      const xa = cols.a[k]!, xb = cols.b[k]!, fx = cols.f[k]!;
      // Bilinear in the working alpha; where the photo is its own working copy the weights are 0 and 1, the alpha itself.
      const top0 = alpha[rowA + xa]! + (alpha[rowA + xb]! - alpha[rowA + xa]!) * fx;
      const bot0 = alpha[rowB + xa]! + (alpha[rowB + xb]! - alpha[rowB + xa]!) * fx;
      const a = top0 + (bot0 - top0) * fy;
      // The product's inside is the photo's own pixels and the far backdrop the white already there (what the blend gives).
      if (a === 1) {
        out[j] = data[i]!;
        out[j + 1] = data[i + 1]!;
        out[j + 2] = data[i + 2]!;
        continue;
      }
      if (a === 0) continue;
      out[j] = Math.round(data[i]! * a + 255 * (1 - a));
      out[j + 1] = Math.round(data[i + 1]! * a + 255 * (1 - a));
      out[j + 2] = Math.round(data[i + 2]! * a + 255 * (1 - a));
    }
  }
  // Only a product larger than the catalog's photos is reduced (by its own extent, not the margin's).
  const longest = Math.max(x1 - x0 + 1, y1 - y0 + 1);
  const target = tuning.canonicalSide > 0 && longest > tuning.canonicalSide ? Math.round((Math.max(cw, ch) * tuning.canonicalSide) / longest) : 0;
  const image = reduce({ data: out, width: cw, height: ch }, target);
  return { image, box: { left, top, width: cw, height: ch }, method, foregroundShare: share };
}
