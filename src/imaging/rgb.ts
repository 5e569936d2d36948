export interface DecodedRgb {
  /** Interleaved RGB bytes, row by row. */
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
}

/** How close to white a pixel must be to count as a studio's white backdrop: every channel at least `min`, channels within `spread`. */
export interface WhiteTolerance {
  readonly min: number;
  readonly spread: number;
}

/**
 * The one definition of "studio white", at the tolerances the product uses. They differ on purpose: deciding
 * that a photo is a studio shot forgives JPEG noise and soft shadows on the border (loosest); keeping a white
 * garment's faint edges inside a crop takes only near-pure white as backdrop (strictest); the copy generator's
 * product mask and the colour histogram's backdrop sit between. Each was measured where it is used.
 */
export const STUDIO_WHITE = Object.freeze({
  /** src/imaging/isolateProduct.ts: is this border a studio backdrop? */
  border: { min: 228, spread: 16 },
  /** src/imaging/isolateProduct.ts: what is off-white enough to belong to the product in a studio shot. */
  garment: { min: 238, spread: 14 },
  /** src/imaging/rephotograph.ts: the generator's mask of a studio shot's product. */
  mask: { min: 236, spread: 14 },
  /** src/refine/colourFeatures.ts: backdrop left out of the colour histogram. */
  histogram: { min: 232, spread: 14 },
} satisfies Record<string, WhiteTolerance>);

export function isStudioWhite(r: number, g: number, b: number, tolerance: WhiteTolerance): boolean {
  const lo = Math.min(r, g, b);
  return lo >= tolerance.min && Math.max(r, g, b) - lo <= tolerance.spread;
}
