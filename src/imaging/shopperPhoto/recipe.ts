import { invalid } from '../../errors.js';

/**
 * The world a shopper's photo comes from, in families of conditions, each with several styles (distinct
 * implementations, not just other ranges), so that a benchmark can tune on some styles and report on others
 * that no setting has seen. A recipe is every parameter of one copy, drawn up front from a seeded rng: the
 * same recipe (and the same photos) renders the same bytes (src/imaging/shopperPhoto/render.ts).
 */
export const FAMILY_STYLES = {
  /** What the product lies on and how it was cut out of the studio shot. */
  backdrop: ['solid', 'pattern', 'photo', 'gradient'],
  /** Where the product sits in the frame: size, tilt, perspective, crop. */
  geometry: ['similarity', 'perspective'],
  /** Exposure, contrast and colour of the light. */
  light: ['linear', 'curve'],
  /** Lens and sensor: blur and noise. */
  optics: ['gaussian', 'motion', 'defocus'],
  /** What the phone and the upload do to the file: size, resampling, JPEG. */
  compression: ['jpeg', 'resample'],
} as const;

export type Family = keyof typeof FAMILY_STYLES;
export type Style<F extends Family = Family> = (typeof FAMILY_STYLES)[F][number];
export const FAMILIES = Object.keys(FAMILY_STYLES) as Family[];

/**
 * The styles no tuned setting and no training copy may see: one per family, so that every condition of a
 * phone-like photo is also measured as made by code the product was never tuned on. The held-out styles are
 * the kinds of difference that an unseen query set showed (issue 21): smooth gradients with grain and softer
 * cut-out edges, perspective, a tone curve with a tint, defocus, phone-sized resampling and re-compression.
 */
export const HELD_OUT_STYLES: { readonly [F in Family]: Style<F> } = Object.freeze({
  backdrop: 'gradient',
  geometry: 'perspective',
  light: 'curve',
  optics: 'defocus',
  compression: 'resample',
});

export type Split = 'tune' | 'held-out';

/** The styles of a family on one side of the split. */
export function stylesOf<F extends Family>(family: F, split: Split): Array<Style<F>> {
  const held = HELD_OUT_STYLES[family];
  return (FAMILY_STYLES[family] as readonly Style<F>[]).filter((s) => (split === 'held-out') === (s === held));
}

export interface BackdropRecipe {
  readonly style: Style<'backdrop'>;
  /** Two colours (RGB 0-255): the solid colour / pattern base, and the gradient's other end or the pattern's ink. */
  readonly colours: readonly [readonly [number, number, number], readonly [number, number, number]];
  /** Grain amplitude (RGB units, sd) and its offset into the shared noise tile. */
  readonly grain: number;
  readonly grainAt: readonly [number, number];
  /** Pattern: stripe period (px), angle (rad), amplitude. Gradient: angle, and radial when `radial`. */
  readonly period: number;
  readonly angle: number;
  readonly amplitude: number;
  readonly radial: boolean;
  /** Photo: which other catalog photo (an index the caller resolves), the region taken (share of its frame), blur and recolouring. */
  readonly texture: { readonly pick: number; readonly x: number; readonly y: number; readonly size: number; readonly blur: number; readonly hue: number; readonly saturation: number; readonly mix: number };
  /** Cut-out edge softness (product mask blur radius, source pixels; 0 = the studio mask's one-pixel ring). */
  readonly feather: number;
  /** Soft shadow: opacity 0-1 and its offset (output px). */
  readonly shadow: number;
  readonly shadowAt: readonly [number, number];
  /** Vignetting: how much darker the corners are (0-1). */
  readonly vignette: number;
}

export interface GeometryRecipe {
  readonly style: Style<'geometry'>;
  /** The product's height as a share of the frame's fitted height (1 = fills it as the studio shot does). */
  readonly scale: number;
  readonly rotateDeg: number;
  /** Perspective: projective terms (per layer half-size), horizontal and vertical keystone. */
  readonly keystone: readonly [number, number];
  /** Where inside the free room the product sits (0-1 each way; 0.5 = centred). */
  readonly at: readonly [number, number];
  /** Share of the width and height cut off the frame, and where the cut falls (0-1). */
  readonly crop: readonly [number, number];
  readonly cropAt: readonly [number, number];
}

export interface LightRecipe {
  readonly style: Style<'light'>;
  /** Linear: exposure gain, contrast, colour temperature (warm > 0). Curve: gamma, lift, tint (green > 0) and uneven light. */
  readonly brightness: number;
  readonly contrast: number;
  readonly temperature: number;
  readonly gamma: number;
  readonly tint: number;
  readonly uneven: number;
  readonly unevenAngle: number;
}

export interface OpticsRecipe {
  readonly style: Style<'optics'>;
  /** Gaussian sigma, motion length or defocus radius (output px). */
  readonly amount: number;
  /** Motion direction (rad). */
  readonly angle: number;
  /** Sensor noise sd (RGB units), chroma (per channel) or luminance, and its offset into the noise tile. */
  readonly noise: number;
  readonly chroma: boolean;
  readonly noiseAt: readonly [number, number];
}

export interface CompressionRecipe {
  readonly style: Style<'compression'>;
  readonly quality: number;
  readonly subsampling: '4:2:0' | '4:4:4';
  /** Resample: the delivered longer side, the kernel, and a first, earlier JPEG (0 = none: a photo re-saved by an app). */
  readonly longSide: number;
  readonly kernel: 'nearest' | 'linear' | 'lanczos3';
  readonly firstQuality: number;
}

/** Every parameter of one copy; a family left out leaves that part of the studio shot as it is. */
export interface CopyRecipe {
  readonly backdrop?: BackdropRecipe;
  readonly geometry?: GeometryRecipe;
  readonly light?: LightRecipe;
  readonly optics?: OpticsRecipe;
  readonly compression?: CompressionRecipe;
}

/** How strong the drawn conditions are: 'mild' is the exact-item criterion (crop <= 10%, light +-15%, JPEG >= 60). */
export type Strength = 'mild' | 'hard';

export interface DrawOptions {
  /** Families switched on. */
  readonly families: readonly Family[];
  /** Which side of the split styles are drawn from. */
  readonly split: Split;
  readonly strength?: Strength;
}

/** The benchmark's named sets: every family at once (a phone photo), the mild exact-item copies, and each family alone. */
export const COPY_SETS = {
  phone: { families: FAMILIES, strength: 'hard' },
  mild: { families: ['geometry', 'light', 'compression'], strength: 'mild' },
  backdrop: { families: ['backdrop'], strength: 'hard' },
  geometry: { families: ['geometry'], strength: 'hard' },
  light: { families: ['light'], strength: 'hard' },
  optics: { families: ['optics'], strength: 'hard' },
  compression: { families: ['compression'], strength: 'hard' },
} as const satisfies Record<string, { families: readonly Family[]; strength: Strength }>;
export type CopySetName = keyof typeof COPY_SETS;

/** Draws a copy's recipe. Every draw happens whatever is switched on, so a family's parameters do not depend on the others'. */
export function drawRecipe(rng: () => number, options: DrawOptions): CopyRecipe {
  const mild = (options.strength ?? 'hard') === 'mild';
  const on = new Set(options.families);
  for (const f of on) if (!(f in FAMILY_STYLES)) throw invalid('family', FAMILIES.join(', '), f);
  const u = (lo: number, hi: number) => lo + (hi - lo) * rng();
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)]!;
  const style = <F extends Family>(f: F): Style<F> => pick(stylesOf(f, options.split));
  const colour = (): [number, number, number] => {
    // Beds, tables, floors and walls: mostly mid tones, sometimes dark or saturated.
    const base = u(35, 235);
    const sat = u(0, 0.65);
    return [0, 1, 2].map(() => Math.round(Math.max(0, Math.min(255, base * (1 - sat / 2 + sat * rng()))))) as [number, number, number];
  };
  const tile = (): [number, number] => [Math.floor(rng() * 4096), Math.floor(rng() * 4096)];

  const bStyle = style('backdrop');
  const backdrop: BackdropRecipe = {
    style: bStyle,
    colours: [colour(), colour()],
    grain: bStyle === 'gradient' ? u(4, 14) : bStyle === 'photo' ? u(0, 5) : u(1, 8),
    grainAt: tile(),
    period: u(5, 28),
    angle: u(0, Math.PI),
    amplitude: u(8, 35),
    radial: rng() < 0.5,
    texture: { pick: Math.floor(rng() * 1e9), x: rng(), y: rng(), size: u(0.3, 0.7), blur: u(1, 5), hue: Math.round(u(0, 360)), saturation: u(0.4, 1.4), mix: u(0.35, 0.8) },
    feather: bStyle === 'gradient' ? u(1, 2.5) : bStyle === 'photo' ? u(0, 1.5) : 0,
    shadow: bStyle === 'solid' ? 0 : u(0, 0.45),
    shadowAt: [u(-8, 8), u(2, 12)],
    vignette: bStyle === 'gradient' || bStyle === 'photo' ? u(0, 0.45) : 0,
  };

  const gStyle = style('geometry');
  const crop = mild ? u(0, 0.1) : u(0, 0.06);
  const geometry: GeometryRecipe = {
    style: gStyle,
    scale: mild ? 1 : u(0.4, 0.92),
    rotateDeg: mild ? 0 : gStyle === 'similarity' ? u(-15, 15) : u(-8, 8),
    keystone: gStyle === 'perspective' ? [u(-1, 1) * (mild ? 0.04 : 0.3), u(-1, 1) * (mild ? 0.04 : 0.3)] : [0, 0],
    at: [rng(), rng()],
    crop: [u(0, crop), u(0, crop)],
    cropAt: [rng(), rng()],
  };

  const lStyle = style('light');
  const range = mild ? 0.15 : 0.3;
  const light: LightRecipe = {
    style: lStyle,
    brightness: 1 + u(-range, range),
    contrast: mild ? 1 : 1 + u(-0.3, 0.3),
    temperature: mild ? 0 : u(-0.15, 0.15),
    gamma: mild ? u(0.85, 1.18) : u(0.65, 1.5),
    tint: mild ? 0 : u(-0.12, 0.12),
    uneven: mild ? 0 : u(0, 0.35),
    unevenAngle: u(0, 2 * Math.PI),
  };

  const oStyle = style('optics');
  const optics: OpticsRecipe = {
    style: oStyle,
    amount: oStyle === 'gaussian' ? u(0.8, 2.8) : oStyle === 'motion' ? u(3, 9) : u(1.5, 3.5),
    angle: u(0, Math.PI),
    noise: u(0, 9),
    chroma: oStyle !== 'gaussian' && rng() < 0.6,
    noiseAt: tile(),
  };

  const cStyle = style('compression');
  const compression: CompressionRecipe = {
    style: cStyle,
    quality: Math.round(mild ? u(60, 85) : u(40, 88)),
    subsampling: cStyle === 'jpeg' || rng() < 0.7 ? '4:2:0' : '4:4:4',
    longSide: Math.round(mild ? u(240, 480) : u(160, 480)),
    kernel: pick(['nearest', 'linear', 'lanczos3'] as const),
    firstQuality: cStyle === 'resample' && rng() < 0.6 ? Math.round(u(mild ? 60 : 35, 80)) : 0,
  };

  return {
    ...(on.has('backdrop') ? { backdrop } : {}),
    ...(on.has('geometry') ? { geometry } : {}),
    ...(on.has('light') ? { light } : {}),
    ...(on.has('optics') ? { optics } : {}),
    ...(on.has('compression') ? { compression } : {}),
  };
}

/**
 * A training copy's recipe: each family on with even odds (at least one), styles from the TUNE side only, so that
 * the held-out styles stay unseen by training.
 */
export function trainingRecipe(rng: () => number): CopyRecipe {
  let on = FAMILIES.filter(() => rng() < 0.5);
  if (on.length === 0) on = [FAMILIES[Math.floor(rng() * FAMILIES.length)]!];
  return drawRecipe(rng, { families: on, split: 'tune' });
}
