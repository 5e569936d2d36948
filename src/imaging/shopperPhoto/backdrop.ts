import sharp from 'sharp';
import { addNoise } from './noiseTile.js';
import type { BackdropRecipe } from './recipe.js';

/** The region of another catalog photo that a 'photo' backdrop shows, stretched over the frame (`textureRegion`). */
export interface TextureRegion {
  /** w x h pixels, `channels` bytes each. */
  readonly data: Uint8Array;
  readonly channels: number;
}

/**
 * The surface the product lies on, as float RGB (w x h x 3), painted into `out` (every value written): a solid colour, a
 * woven or striped pattern, a smooth linear or radial gradient, or a texture cut from another catalog photo (`texture`,
 * from `textureRegion`: blurred and recoloured here), each with grain. Without a texture the 'photo' style falls back to
 * a pattern, so a copy never fails for want of it. Synchronous, so that `out` may be a thread's scratch frame
 * (src/imaging/scratch.ts); the one libvips step, the texture, comes before it.
 */
export function paintBackdrop(out: Float32Array, r: BackdropRecipe, w: number, h: number, texture: TextureRegion | null): Float32Array {
  const [a] = r.colours;
  if (r.style === 'photo' && texture) photoTexture(out, r, w, h, texture);
  else if (r.style === 'gradient') gradient(out, r, w, h);
  else {
    for (let i = 0; i < w * h; i++) {
      out[i * 3] = a[0];
      out[i * 3 + 1] = a[1];
      out[i * 3 + 2] = a[2];
    }
    if (r.style === 'pattern' || r.style === 'photo') pattern(out, r, w, h);
  }
  addNoise(out, w, h, r.grain, r.grainAt, r.style !== 'gradient');
  return out;
}

/** A sine over one period, looked up instead of computed per pixel. */
const SINE_STEPS = 1024;
const SINE = Float32Array.from({ length: SINE_STEPS }, (_, i) => Math.sin((2 * Math.PI * i) / SINE_STEPS));

/** Stripes one way and a square weave across it, in one bulk pass. */
function pattern(out: Float32Array, r: BackdropRecipe, w: number, h: number): void {
  const [a, b] = r.colours;
  const dx = Math.cos(r.angle), dy = Math.sin(r.angle);
  // Phases in sine steps per pixel; kept positive so that a bitwise mask wraps them.
  const k1 = SINE_STEPS / r.period, k2 = SINE_STEPS / (r.period * 0.7);
  const offset = SINE_STEPS * 1024;
  const ink = [b[0] - a[0], b[1] - a[1], b[2] - a[2]].map((d) => r.amplitude + (d * r.amplitude) / 255 / 2);
  const wrap = SINE_STEPS - 1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const s = SINE[(offset + k1 * (x * dx + y * dy)) & wrap]!;
      const weave = SINE[(offset + k2 * (-x * dy + y * dx)) & wrap]! > 0 ? 0.4 : -0.4;
      const t = 0.6 * s + weave;
      const o = (y * w + x) * 3;
      out[o] = out[o]! + t * ink[0]!;
      out[o + 1] = out[o + 1]! + t * ink[1]!;
      out[o + 2] = out[o + 2]! + t * ink[2]!;
    }
  }
}

/** A smooth two-colour gradient, linear along the recipe's angle or radial from an off-centre point. */
function gradient(out: Float32Array, r: BackdropRecipe, w: number, h: number): void {
  const [a, b] = r.colours;
  const dx = Math.cos(r.angle), dy = Math.sin(r.angle);
  const cx = w * (0.3 + 0.4 * (r.angle / Math.PI)), cy = h * 0.35;
  const diag = Math.hypot(w, h);
  const reach = diag * 0.75;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let t = r.radial ? Math.sqrt((x - cx) * (x - cx) + (y - cy) * (y - cy)) / reach : ((x - w / 2) * dx + (y - h / 2) * dy) / diag + 0.5;
      t = t < 0 ? 0 : t > 1 ? 1 : t * t * (3 - 2 * t);
      const o = (y * w + x) * 3;
      out[o] = a[0] + (b[0] - a[0]) * t;
      out[o + 1] = a[1] + (b[1] - a[1]) * t;
      out[o + 2] = a[2] + (b[2] - a[2]) * t;
    }
  }
}

/**
 * A region of another catalog photo (its product, mostly), stretched over the frame (a 4-10x enlargement in libvips,
 * which blurs it), for a 'photo' backdrop (`paintBackdrop`).
 */
export async function textureRegion(r: BackdropRecipe, w: number, h: number, bytes: Uint8Array): Promise<TextureRegion> {
  const t = r.texture;
  const img = sharp(bytes).removeAlpha();
  const meta = await img.metadata();
  const sw = meta.width ?? 1, sh = meta.height ?? 1;
  const cw = Math.max(2, Math.round(sw * t.size)), ch = Math.max(2, Math.round(sh * t.size));
  // Around the middle of the photo, where its product is, rather than its white margin.
  const left = Math.round((sw - cw) * (0.25 + 0.5 * t.x)), top = Math.round((sh - ch) * (0.25 + 0.5 * t.y));
  const { data, info } = await img
    .extract({ left, top, width: cw, height: ch })
    .resize(w, h, { fit: 'fill', kernel: t.blur > 3 ? 'linear' : 'cubic' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data, channels: info.channels };
}

/** The texture recoloured (a hue rotation about the grey axis and a saturation change, in the same pass as the mix) and mixed with a colour. */
function photoTexture(out: Float32Array, r: BackdropRecipe, w: number, h: number, texture: TextureRegion): void {
  const t = r.texture;
  const { data, channels: step } = texture;
  const m = colourMatrix(t.hue, t.saturation).map((v) => v * t.mix);
  const [c0, c1, c2] = r.colours[0].map((c) => c * (1 - t.mix)) as [number, number, number];
  for (let i = 0; i < w * h; i++) {
    const R = data[i * step]!, G = data[i * step + 1]!, B = data[i * step + 2]!;
    out[i * 3] = m[0]! * R + m[1]! * G + m[2]! * B + c0;
    out[i * 3 + 1] = m[3]! * R + m[4]! * G + m[5]! * B + c1;
    out[i * 3 + 2] = m[6]! * R + m[7]! * G + m[8]! * B + c2;
  }
}

/** Hue rotation by `deg` and saturation scaling as one 3x3 matrix on RGB (the CSS filter matrices, luminance kept). */
function colourMatrix(deg: number, saturation: number): number[] {
  const a = (deg * Math.PI) / 180, c = Math.cos(a), s = Math.sin(a);
  const hue = [
    0.213 + c * 0.787 - s * 0.213, 0.715 - c * 0.715 - s * 0.715, 0.072 - c * 0.072 + s * 0.928,
    0.213 - c * 0.213 + s * 0.143, 0.715 + c * 0.285 + s * 0.14, 0.072 - c * 0.072 - s * 0.283,
    0.213 - c * 0.213 - s * 0.787, 0.715 - c * 0.715 + s * 0.715, 0.072 + c * 0.928 + s * 0.072,
  ];
  const k = saturation;
  const sat = [
    0.213 + 0.787 * k, 0.715 - 0.715 * k, 0.072 - 0.072 * k,
    0.213 - 0.213 * k, 0.715 + 0.285 * k, 0.072 - 0.072 * k,
    0.213 - 0.213 * k, 0.715 - 0.715 * k, 0.072 + 0.928 * k,
  ];
  const out: number[] = [];
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) out.push(sat[i * 3]! * hue[j]! + sat[i * 3 + 1]! * hue[3 + j]! + sat[i * 3 + 2]! * hue[6 + j]!);
  return out;
}
