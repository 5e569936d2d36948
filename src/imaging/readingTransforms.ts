import { ISOLATE_TUNING, type IsolatedProduct } from './isolateProduct.js';
import { boxBlur, reduce } from './ops.js';
import { isStudioWhite, STUDIO_WHITE, type DecodedRgb } from './rgb.js';

/**
 * Candidate readings of a shopper's photo beside the isolated product (src/imaging/decode.ts fitPhoto), each a cheap pass
 * over the decoded photo or the isolated product. Measured with bench/readings.ts on TUNE and HELD-OUT shopper-photo
 * styles (docs/relevance.md, issue 21).
 */

/**
 * The photo as it is, backdrop kept, cut to isolation's box (clamped to the frame) and brought to the isolated product's
 * detail: for a product small in the frame the as-is reading otherwise shows mostly backdrop.
 */
export function cropAsIs(img: DecodedRgb, box: IsolatedProduct['box']): DecodedRgb {
  const left = Math.max(0, box.left), top = Math.max(0, box.top);
  const right = Math.min(img.width, box.left + box.width), bottom = Math.min(img.height, box.top + box.height);
  const cw = Math.max(1, right - left), ch = Math.max(1, bottom - top);
  const out = new Uint8Array(cw * ch * 3);
  for (let y = 0; y < ch; y++) out.set(img.data.subarray(((top + y) * img.width + left) * 3, ((top + y) * img.width + left + cw) * 3), y * cw * 3);
  const side = ISOLATE_TUNING.canonicalSide > 0 ? Math.round(ISOLATE_TUNING.canonicalSide * (1 + 2 * ISOLATE_TUNING.margin)) : 0;
  return reduce({ data: out, width: cw, height: ch }, side);
}

/** Unsharp mask (the image plus `amount` times its difference from a 3x3 box blur): a defocused or blurred photo's edges back. */
export function sharpened(img: DecodedRgb, amount = 0.8): DecodedRgb {
  const blur = boxBlur(img.data, img.width, img.height, 1);
  const out = new Uint8Array(img.data.length);
  for (let i = 0; i < out.length; i++) out[i] = Math.max(0, Math.min(255, Math.round(img.data[i]! + amount * (img.data[i]! - blur[i]!))));
  return { data: out, width: img.width, height: img.height };
}

/**
 * Shades-of-grey colour constancy (Finlayson and Trezzi 2004) on the product's pixels (the white that isolation put
 * around it stays white): each channel scaled so that its Minkowski p-mean equals the three channels' average, the gains
 * kept within [0.75, 1.33] so that a product of one strong colour is only nudged.
 */
export function shadesOfGrey(img: DecodedRgb, p = 6): DecodedRgb {
  const n = img.width * img.height;
  const sums = [0, 0, 0];
  let count = 0;
  for (let i = 0; i < n; i++) {
    const r = img.data[i * 3]!, g = img.data[i * 3 + 1]!, b = img.data[i * 3 + 2]!;
    if (isStudioWhite(r, g, b, STUDIO_WHITE.garment)) continue;
    sums[0]! += (r / 255) ** p;
    sums[1]! += (g / 255) ** p;
    sums[2]! += (b / 255) ** p;
    count++;
  }
  if (count < n * 0.02) return img;
  const m = sums.map((s) => (s / count) ** (1 / p));
  const avg = (m[0]! + m[1]! + m[2]!) / 3;
  const gains = m.map((c) => Math.max(0.75, Math.min(1.33, c > 0 ? avg / c : 1)));
  const out = new Uint8Array(img.data);
  for (let i = 0; i < n; i++) {
    const r = img.data[i * 3]!, g = img.data[i * 3 + 1]!, b = img.data[i * 3 + 2]!;
    if (isStudioWhite(r, g, b, STUDIO_WHITE.garment)) continue;
    for (let c = 0; c < 3; c++) out[i * 3 + c] = Math.min(255, Math.round(img.data[i * 3 + c]! * gains[c]!));
  }
  return { data: out, width: img.width, height: img.height };
}

/** The image mirrored left to right. */
export function flipped(img: DecodedRgb): DecodedRgb {
  const { width: w, height: h, data } = img;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out.set(data.subarray((y * w + x) * 3, (y * w + x) * 3 + 3), (y * w + (w - 1 - x)) * 3);
  return { data: out, width: w, height: h };
}
