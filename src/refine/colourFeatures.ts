import { floodFromBorder } from '../imaging/floodFill.js';
import { isStudioWhite, STUDIO_WHITE } from '../imaging/rgb.js';

/**
 * Colour evidence for a product photo: a histogram over perceptual colour bins of the garment's pixels,
 * the studio background removed. ImageNet features are nearly blind to colour (a red and a blue T-shirt
 * are close neighbours), so this vector is fused with them by the learned refinement.
 *
 * Background = near-white pixels connected to the image border (a flood fill), so a white garment's own
 * pixels, enclosed by its outline and shadows, still count. Bins: 12 hues x 3 saturations x 3 values for
 * chromatic pixels plus 6 grey levels for achromatic ones; square-rooted (Hellinger) and L2-normalised so
 * that cosine similarity compares distributions.
 */
export const HUE_BINS = 12;
export const SAT_BINS = 3;
export const VAL_BINS = 3;
export const GREY_BINS = 6;
export const COLOUR_DIMS = HUE_BINS * SAT_BINS * VAL_BINS + GREY_BINS;
// v2: taken from the product at its decoded size (was: the 224px model input), a tenth of the pixels to count.
export const COLOUR_FEATURES_VERSION = 'hsv12x3x3+grey6-floodfill-v2';


export function colourHistogram(rgb: Uint8Array, width: number, height: number): Float32Array {
  const n = width * height;
  const background = borderBackground(rgb, width, height);
  const hist = new Float32Array(COLOUR_DIMS);
  let counted = 0;
  const add = (i: number, weight: number) => {
    const r = rgb[i * 3]! / 255, g = rgb[i * 3 + 1]! / 255, b = rgb[i * 3 + 2]! / 255;
    const max = Math.max(r, g, b), min = Math.min(r, g, b);
    const v = max;
    const s = max === 0 ? 0 : (max - min) / max;
    if (s < 0.18 || v < 0.12) {
      hist[HUE_BINS * SAT_BINS * VAL_BINS + Math.min(GREY_BINS - 1, Math.floor(v * GREY_BINS))]! += weight;
      return;
    }
    let h: number;
    const d = max - min;
    if (max === r) h = ((g - b) / d + 6) % 6;
    else if (max === g) h = (b - r) / d + 2;
    else h = (r - g) / d + 4;
    const hb = Math.floor((h / 6) * HUE_BINS) % HUE_BINS;
    const sb = Math.min(SAT_BINS - 1, Math.floor(((s - 0.18) / 0.82) * SAT_BINS));
    const vb = Math.min(VAL_BINS - 1, Math.floor(((v - 0.12) / 0.88) * VAL_BINS));
    hist[(hb * SAT_BINS + sb) * VAL_BINS + vb]! += weight;
  };
  for (let i = 0; i < n; i++) {
    if (!background[i]) {
      add(i, 1);
      counted++;
    }
  }
  // Nothing but background (a white item lost in white): use every pixel rather than nothing.
  if (counted < n * 0.01) for (let i = 0; i < n; i++) add(i, 1);
  let norm = 0;
  for (let j = 0; j < COLOUR_DIMS; j++) {
    hist[j] = Math.sqrt(hist[j]!);
    norm += hist[j]! * hist[j]!;
  }
  norm = Math.sqrt(norm) || 1;
  for (let j = 0; j < COLOUR_DIMS; j++) hist[j]! /= norm;
  return hist;
}

function isWhiteish(rgb: Uint8Array, i: number): boolean {
  const r = rgb[i * 3]!, g = rgb[i * 3 + 1]!, b = rgb[i * 3 + 2]!;
  return isStudioWhite(r, g, b, STUDIO_WHITE.histogram);
}

/** Marks near-white pixels reachable from the border through near-white pixels. */
export function borderBackground(rgb: Uint8Array, width: number, height: number): Uint8Array {
  return floodFromBorder(width, height, (i) => isWhiteish(rgb, i));
}
