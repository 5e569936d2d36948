import sharp from 'sharp';
import { invalid } from '../errors.js';
import { decodeRgb } from './decode.js';
import { isStudioWhite, STUDIO_WHITE, type DecodedRgb } from './rgb.js';
import { floodFromBorder } from './floodFill.js';

/**
 * What a shopper's phone does to a product that the catalog shows as a studio shot. Each field switches
 * one condition on; the numbers are the ranges a copy's parameters are drawn from. Leaving a field out
 * leaves that part of the studio shot as it is.
 */
export interface PhotoConditions {
  /** Replace the white studio background with a solid colour, gradient, noise or a texture. */
  readonly background?: boolean;
  /** Tilt by up to this many degrees either way. */
  readonly rotateDeg?: number;
  /** The item smaller in the frame (its height this share of the frame) and anywhere inside it. */
  readonly frame?: { readonly minScale: number; readonly maxScale: number };
  /** Brightness and contrast factors within 1 +- the value; colour temperature shift within +- the value. */
  readonly light?: { readonly brightness: number; readonly contrast: number; readonly temperature: number };
  /** Gaussian blur, sigma (in output pixels) drawn from [min, max]. */
  readonly blur?: { readonly min: number; readonly max: number };
  /** Crop up to this share of the width and height off the edges (a loosely framed phone shot). */
  readonly crop?: number;
  /** JPEG quality drawn from [min, max]; without it the copy is written at quality 92. */
  readonly jpeg?: { readonly min: number; readonly max: number };
}

/** The named condition sets of the photo-condition benchmark. */
export const PHOTO_CONDITIONS = {
  clean: {},
  background: { background: true },
  rotation: { rotateDeg: 15 },
  framing: { frame: { minScale: 0.5, maxScale: 0.85 } },
  light: { light: { brightness: 0.3, contrast: 0.3, temperature: 0.15 } },
  blur: { blur: { min: 0.8, max: 2.5 } },
  jpeg: { jpeg: { min: 50, max: 85 } },
  all: {
    background: true,
    rotateDeg: 15,
    frame: { minScale: 0.5, maxScale: 0.85 },
    light: { brightness: 0.3, contrast: 0.3, temperature: 0.15 },
    blur: { min: 0.8, max: 2.5 },
    jpeg: { min: 50, max: 85 },
  },
  /** Mild copies of the exact-item criterion: crop <= 10%, brightness +-15%, JPEG >= 60. */
  mild: { crop: 0.1, light: { brightness: 0.15, contrast: 0, temperature: 0 }, jpeg: { min: 60, max: 85 } },
} as const satisfies Record<string, PhotoConditions>;
export type PhotoConditionName = keyof typeof PHOTO_CONDITIONS;

/** Output frame: a 3:4 phone-like picture, 4x the shared catalog's 60x80 photos. */
const OUT_W = 240;
const OUT_H = 320;

/**
 * Makes a seeded "re-photographed" copy of a studio product photo: the same product as a shopper would
 * photograph it. `rng` returns uniform numbers in [0, 1); the same photo, conditions and rng sequence give
 * the same bytes. Returns a JPEG.
 */
export async function rephotograph(bytes: Uint8Array, conditions: PhotoConditions, rng: () => number): Promise<Buffer> {
  checkConditions(conditions);
  const src = await decodeRgb(bytes);
  const alpha = studioForeground(src);
  const u = (lo: number, hi: number) => lo + (hi - lo) * rng();

  // The product as an RGBA layer, at the output resolution.
  const scale = conditions.frame ? u(conditions.frame.minScale, conditions.frame.maxScale) : 1;
  const fitScale = Math.min(OUT_W / src.width, OUT_H / src.height) * scale;
  const lw = Math.max(1, Math.round(src.width * fitScale));
  const lh = Math.max(1, Math.round(src.height * fitScale));
  const rgba = Buffer.alloc(src.width * src.height * 4);
  for (let i = 0, n = src.width * src.height; i < n; i++) {
    rgba[i * 4] = src.data[i * 3]!;
    rgba[i * 4 + 1] = src.data[i * 3 + 1]!;
    rgba[i * 4 + 2] = src.data[i * 3 + 2]!;
    rgba[i * 4 + 3] = alpha[i]!;
  }
  let layer = sharp(rgba, { raw: { width: src.width, height: src.height, channels: 4 } }).resize(lw, lh, { fit: 'fill', kernel: 'cubic' });
  let angle = 0;
  if (conditions.rotateDeg) angle = u(-conditions.rotateDeg, conditions.rotateDeg);
  if (Math.abs(angle) > 0.01) {
    layer = sharp(await layer.png().toBuffer()).rotate(angle, { background: { r: 0, g: 0, b: 0, alpha: 0 } });
  }
  const { data: layerData, info: layerInfo } = await layer.ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  // Keep the layer inside the frame (a rotated full-frame layer is cut at the edges, as a real photo would be).
  const cx = conditions.frame ? u(layerInfo.width / 2, OUT_W - layerInfo.width / 2) : OUT_W / 2;
  const cy = conditions.frame ? u(layerInfo.height / 2, OUT_H - layerInfo.height / 2) : OUT_H / 2;
  const left = Math.round(cx - layerInfo.width / 2);
  const top = Math.round(cy - layerInfo.height / 2);

  const canvas = conditions.background ? backdrop(OUT_W, OUT_H, rng) : new Float32Array(OUT_W * OUT_H * 3).fill(255);
  composite(canvas, OUT_W, OUT_H, layerData, layerInfo.width, layerInfo.height, left, top);

  if (conditions.light) relight(canvas, conditions.light, u);
  let out = sharp(toBytes(canvas), { raw: { width: OUT_W, height: OUT_H, channels: 3 } });
  if (conditions.blur) {
    const sigma = u(conditions.blur.min, conditions.blur.max);
    if (sigma >= 0.3) out = sharp(await out.blur(sigma).raw().toBuffer(), { raw: { width: OUT_W, height: OUT_H, channels: 3 } });
  }
  if (conditions.crop) {
    const cw = Math.round(OUT_W * u(0, conditions.crop));
    const ch = Math.round(OUT_H * u(0, conditions.crop));
    const cl = Math.round(cw * rng());
    const ct = Math.round(ch * rng());
    out = sharp(await out.extract({ left: cl, top: ct, width: OUT_W - cw, height: OUT_H - ch }).raw().toBuffer(), {
      raw: { width: OUT_W - cw, height: OUT_H - ch, channels: 3 },
    });
  }
  const quality = conditions.jpeg ? Math.round(u(conditions.jpeg.min, conditions.jpeg.max)) : 92;
  return out.jpeg({ quality, chromaSubsampling: '4:2:0' }).toBuffer();
}

function checkConditions(c: PhotoConditions): void {
  if (c.rotateDeg !== undefined && !(c.rotateDeg >= 0 && c.rotateDeg <= 90)) throw invalid('rotateDeg', 'degrees from 0 to 90', c.rotateDeg);
  if (c.frame && !(c.frame.minScale > 0.1 && c.frame.minScale <= c.frame.maxScale && c.frame.maxScale <= 1)) throw invalid('frame', 'scales with 0.1 < min <= max <= 1', JSON.stringify(c.frame));
  if (c.crop !== undefined && !(c.crop >= 0 && c.crop < 0.5)) throw invalid('crop', 'a share from 0 to 0.5', c.crop);
  if (c.jpeg && !(c.jpeg.min >= 1 && c.jpeg.min <= c.jpeg.max && c.jpeg.max <= 100)) throw invalid('jpeg', 'qualities with 1 <= min <= max <= 100', JSON.stringify(c.jpeg));
  if (c.blur && !(c.blur.min >= 0 && c.blur.min <= c.blur.max && c.blur.max <= 20)) throw invalid('blur', 'sigmas with 0 <= min <= max <= 20', JSON.stringify(c.blur));
}

/**
 * The product's mask in a studio shot (0-255): near-white pixels connected to the border are background.
 * Good enough to move the product onto a new backdrop; it is the generator's ground truth, not the
 * isolation the product uses.
 */
export function studioForeground(img: DecodedRgb): Uint8Array {
  const { width: w, height: h, data } = img;
  const whiteish = (i: number) => {
    const r = data[i * 3]!, g = data[i * 3 + 1]!, b = data[i * 3 + 2]!;
    return isStudioWhite(r, g, b, STUDIO_WHITE.mask);
  };
  const bg = floodFromBorder(w, h, whiteish);
  // A soft edge: foreground pixels next to background get half opacity.
  const alpha = new Uint8Array(w * h);
  for (let i = 0; i < w * h; i++) {
    if (bg[i]) continue;
    const x = i % w;
    const edge = (x > 0 && bg[i - 1]) || (x < w - 1 && bg[i + 1]) || (i >= w && bg[i - w]) || (i < (h - 1) * w && bg[i + w]);
    alpha[i] = edge ? 170 : 255;
  }
  return alpha;
}

/** A random backdrop: a solid colour, a two-colour gradient, coloured noise or a woven / striped texture. */
function backdrop(w: number, h: number, rng: () => number): Float32Array {
  const out = new Float32Array(w * h * 3);
  const colour = (): [number, number, number] => {
    // Beds, tables, floors and walls: mostly mid tones, sometimes dark or saturated.
    const base = 40 + rng() * 190;
    const sat = rng() * 0.6;
    return [0, 1, 2].map(() => Math.max(0, Math.min(255, base * (1 - sat / 2 + sat * rng())))) as [number, number, number];
  };
  const kind = Math.floor(rng() * 4);
  const a = colour();
  const b = colour();
  const angle = rng() * Math.PI;
  const period = 6 + rng() * 24;
  const amp = 10 + rng() * 30;
  const noise = kind === 2 ? 12 + rng() * 25 : kind === 3 ? 6 : 3;
  const dx = Math.cos(angle);
  const dy = Math.sin(angle);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const t = kind === 1 ? Math.min(1, Math.max(0, ((x - w / 2) * dx + (y - h / 2) * dy) / Math.hypot(w, h) + 0.5)) : 0;
      let tex = 0;
      if (kind === 3) {
        const s = (x * dx + y * dy) / period;
        const s2 = (-x * dy + y * dx) / (period * 0.7);
        tex = amp * (0.6 * Math.sin(2 * Math.PI * s) + 0.4 * Math.sign(Math.sin(2 * Math.PI * s2)));
      }
      const o = (y * w + x) * 3;
      for (let c = 0; c < 3; c++) {
        const n = (rng() + rng() + rng() - 1.5) * noise;
        out[o + c] = a[c]! * (1 - t) + b[c]! * t + tex + n;
      }
    }
  }
  return out;
}

function composite(canvas: Float32Array, w: number, h: number, layer: Buffer, lw: number, lh: number, left: number, top: number): void {
  for (let y = 0; y < lh; y++) {
    const cy = top + y;
    if (cy < 0 || cy >= h) continue;
    for (let x = 0; x < lw; x++) {
      const cx = left + x;
      if (cx < 0 || cx >= w) continue;
      const li = (y * lw + x) * 4;
      const a = layer[li + 3]! / 255;
      if (a <= 0) continue;
      const o = (cy * w + cx) * 3;
      for (let c = 0; c < 3; c++) canvas[o + c] = canvas[o + c]! * (1 - a) + layer[li + c]! * a;
    }
  }
}

/** Exposure, contrast and white balance: a warm or cool light and a brighter or darker room. */
function relight(canvas: Float32Array, light: NonNullable<PhotoConditions['light']>, u: (lo: number, hi: number) => number): void {
  const bright = 1 + u(-light.brightness, light.brightness);
  const contrast = 1 + u(-light.contrast, light.contrast);
  const temp = u(-light.temperature, light.temperature);
  const gains = [bright * (1 + temp), bright * (1 + temp * 0.2), bright * (1 - temp)];
  for (let i = 0; i < canvas.length; i += 3) {
    for (let c = 0; c < 3; c++) canvas[i + c] = (canvas[i + c]! * gains[c]! - 128) * contrast + 128;
  }
}

function toBytes(canvas: Float32Array): Buffer {
  const out = Buffer.alloc(canvas.length);
  for (let i = 0; i < canvas.length; i++) out[i] = Math.max(0, Math.min(255, Math.round(canvas[i]!)));
  return out;
}
