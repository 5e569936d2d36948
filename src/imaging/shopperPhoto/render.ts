import sharp from 'sharp';
import { decodeRgb } from '../decode.js';
import { studioForeground } from '../rephotograph.js';
import { scratchFloat32 } from '../scratch.js';
import { paintBackdrop, textureRegion } from './backdrop.js';
import { addNoise } from './noiseTile.js';
import type { CopyRecipe, GeometryRecipe, LightRecipe, OpticsRecipe } from './recipe.js';

/** Output frame before compression: a 3:4 phone-like picture, 4x the shared catalog's 60x80 photos. */
export const FRAME_W = 240;
export const FRAME_H = 320;

/**
 * Renders a copy of a studio product photo as `recipe` says (src/imaging/shopperPhoto/recipe.ts): the product cut
 * out, warped and placed on a backdrop, relit, blurred, noised, cropped and compressed. Work is done in bulk passes
 * over typed arrays and in libvips (resizing, blur, convolution, JPEG); noise comes from a shared tile at seeded
 * offsets. The same bytes and recipe (and texture photo) give the same JPEG. `texture`: another catalog photo, for
 * the 'photo' backdrop style.
 */
export async function renderCopy(bytes: Uint8Array, recipe: CopyRecipe, texture?: Uint8Array): Promise<Buffer> {
  // A large catalog photo is reduced by the decoder to about the frame's size, so the bilinear warp never shrinks it much.
  const src = await decodeRgb(bytes, { maxSide: Math.max(FRAME_W, FRAME_H) });
  const { width: w, height: h } = src;
  const W = FRAME_W, H = FRAME_H;
  let alpha = studioForeground(src);
  if (recipe.backdrop && recipe.backdrop.feather > 0) alpha = feather(alpha, w, h, recipe.backdrop.feather);

  // The product as an RGBA layer; the warp below samples it directly at its size in the frame.
  const g = recipe.geometry;
  const fit = Math.min(W / w, H / h) * (g?.scale ?? 1);
  const layer = new Uint8Array(w * h * 4);
  for (let i = 0, n = w * h; i < n; i++) {
    layer[i * 4] = src.data[i * 3]!;
    layer[i * 4 + 1] = src.data[i * 3 + 1]!;
    layer[i * 4 + 2] = src.data[i * 3 + 2]!;
    layer[i * 4 + 3] = alpha[i]!;
  }

  const region = recipe.backdrop?.style === 'photo' && texture ? await textureRegion(recipe.backdrop, W, H, texture) : null;
  // From here to the light, one synchronous stretch: the frame, the product's colour and its coverage are this thread's
  // scratch (src/imaging/scratch.ts), and the light writes the copy's own bytes.
  const canvas = scratchFloat32('copy.canvas', W * H * 3);
  if (recipe.backdrop) paintBackdrop(canvas, recipe.backdrop, W, H, region);
  else canvas.fill(255);
  const { colour, cover } = warp(layer, w, h, fit, g, W, H);
  if (recipe.backdrop && recipe.backdrop.shadow > 0) shade(canvas, cover, W, H, recipe.backdrop.shadow, recipe.backdrop.shadowAt);
  for (let i = 0; i < W * H; i++) {
    const a = cover[i]!;
    if (a <= 0) continue;
    for (let c = 0; c < 3; c++) canvas[i * 3 + c] = canvas[i * 3 + c]! * (1 - a) + colour[i * 3 + c]!;
  }
  if (recipe.backdrop && recipe.backdrop.vignette > 0) vignette(canvas, W, H, recipe.backdrop.vignette);

  const bytesOut = recipe.light ? relight(canvas, W, H, recipe.light) : new Uint8ClampedArray(canvas);
  let pixels = bytesOut;
  if (recipe.optics) pixels = await optics(pixels, W, H, recipe.optics);

  let out = sharp(Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength), { raw: { width: W, height: H, channels: 3 } });
  if (g && (g.crop[0] > 0 || g.crop[1] > 0)) {
    const cw = Math.round(W * g.crop[0]), ch = Math.round(H * g.crop[1]);
    out = out.extract({ left: Math.round(cw * g.cropAt[0]), top: Math.round(ch * g.cropAt[1]), width: W - cw, height: H - ch });
  }
  const c = recipe.compression;
  if (!c) return out.jpeg({ quality: 92, chromaSubsampling: '4:2:0' }).toBuffer();
  if (c.style === 'resample') out = out.resize(c.longSide, c.longSide, { fit: 'inside', kernel: c.kernel });
  if (c.firstQuality > 0) out = sharp(await out.jpeg({ quality: c.firstQuality, chromaSubsampling: '4:2:0' }).toBuffer());
  return out.jpeg({ quality: c.quality, chromaSubsampling: c.subsampling }).toBuffer();
}

/** A softer cut-out: the studio mask blurred (two box passes of the radius), so the backdrop shows through the product's rim. */
function feather(alpha: Uint8Array, w: number, h: number, radius: number): Uint8Array {
  const r = Math.max(1, Math.round(radius));
  let plane: Float32Array = new Float32Array(alpha);
  for (let pass = 0; pass < 2; pass++) plane = boxPlane(plane, w, h, r);
  // Only the rim softens: a pixel never becomes more opaque than it was, so the studio white around it stays out.
  return Uint8Array.from(plane, (v, i) => Math.min(alpha[i]!, Math.round(v * 1.15)));
}

/** Separable box blur of one float plane, running sums. */
function boxPlane(p: Float32Array, w: number, h: number, r: number): Float32Array {
  const tmp = new Float32Array(w * h);
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    let s = 0;
    const row = y * w;
    for (let x = -r; x <= r; x++) s += p[row + Math.min(w - 1, Math.max(0, x))]!;
    for (let x = 0; x < w; x++) {
      tmp[row + x] = s / (2 * r + 1);
      s += p[row + Math.min(w - 1, x + r + 1)]! - p[row + Math.max(0, x - r)]!;
    }
  }
  for (let x = 0; x < w; x++) {
    let s = 0;
    for (let y = -r; y <= r; y++) s += tmp[Math.min(h - 1, Math.max(0, y)) * w + x]!;
    for (let y = 0; y < h; y++) {
      out[y * w + x] = s / (2 * r + 1);
      s += tmp[Math.min(h - 1, y + r + 1) * w + x]! - tmp[Math.max(0, y - r) * w + x]!;
    }
  }
  return out;
}

/**
 * Places the layer (w x h, RGBA) in the frame at `fit` times its size, through tilt and perspective (a projective map
 * about the layer's centre), sampled bilinearly with alpha weights; returns the product's premultiplied colour and
 * its coverage per frame pixel. Without geometry the layer is centred as the studio shot was.
 */
function warp(layer: Uint8Array, w: number, h: number, fit: number, g: GeometryRecipe | undefined, W: number, H: number): { colour: Float32Array; cover: Float32Array } {
  // Cleared scratch: pixels the product does not reach stay 0.
  const colour = scratchFloat32('copy.colour', W * H * 3).fill(0);
  const cover = scratchFloat32('copy.cover', W * H).fill(0);
  const lw = w * fit, lh = h * fit;
  const theta = ((g?.rotateDeg ?? 0) * Math.PI) / 180;
  const cos = Math.cos(theta), sin = Math.sin(theta);
  const kx = (g?.keystone[0] ?? 0) / (lw / 2), ky = (g?.keystone[1] ?? 0) / (lh / 2);
  const forward = (px: number, py: number): [number, number] => {
    const d = 1 + kx * px + ky * py;
    const qx = px / d, qy = py / d;
    return [cos * qx - sin * qy, sin * qx + cos * qy];
  };
  const corners = [forward(-lw / 2, -lh / 2), forward(lw / 2, -lh / 2), forward(-lw / 2, lh / 2), forward(lw / 2, lh / 2)];
  const minX = Math.min(...corners.map((p) => p[0])), maxX = Math.max(...corners.map((p) => p[0]));
  const minY = Math.min(...corners.map((p) => p[1])), maxY = Math.max(...corners.map((p) => p[1]));
  // Anywhere the whole product fits; a product larger than the frame is centred and cut at the edges, as a real photo would be.
  const place = (lo: number, hi: number, size: number, at: number) => (hi - lo <= size ? -lo + at * (size - (hi - lo)) : size / 2 - (lo + hi) / 2);
  const cx = g ? place(minX, maxX, W, g.at[0]) : W / 2, cy = g ? place(minY, maxY, H, g.at[1]) : H / 2;
  const x0 = Math.max(0, Math.floor(cx + minX) - 1), x1 = Math.min(W - 1, Math.ceil(cx + maxX) + 1);
  const y0 = Math.max(0, Math.floor(cy + minY) - 1), y1 = Math.min(H - 1, Math.ceil(cy + maxY) + 1);
  const inv = 1 / fit;
  for (let Y = y0; Y <= y1; Y++) {
    const ry = Y + 0.5 - cy;
    for (let X = x0; X <= x1; X++) {
      const rx = X + 0.5 - cx;
      const qx = cos * rx + sin * ry, qy = -sin * rx + cos * ry;
      const den = 1 - kx * qx - ky * qy;
      if (den <= 0.05) continue;
      // Layer pixel coordinates (centres at +0.5), then source pixel coordinates.
      const sx = ((qx / den + lw / 2) * inv) - 0.5, sy = ((qy / den + lh / 2) * inv) - 0.5;
      if (sx <= -1 || sy <= -1 || sx >= w || sy >= h) continue;
      const ix = Math.floor(sx), iy = Math.floor(sy);
      const fx = sx - ix, fy = sy - iy;
      // The four taps in the order top-left, top-right, bottom-left, bottom-right; a tap outside the layer or fully
      // transparent adds nothing.
      const left = ix >= 0, right = ix + 1 < w, top = iy >= 0, bottom = iy + 1 < h;
      const row0 = (iy * w + ix) * 4, row1 = row0 + w * 4;
      let a = 0, r = 0, gg = 0, b = 0;
      let al = 0;
      if (top && left && (al = layer[row0 + 3]!) !== 0) {
        const wa = ((1 - fx) * (1 - fy) * al) / 255;
        a += wa;
        r += wa * layer[row0]!;
        gg += wa * layer[row0 + 1]!;
        b += wa * layer[row0 + 2]!;
      }
      if (top && right && (al = layer[row0 + 7]!) !== 0) {
        const wa = (fx * (1 - fy) * al) / 255;
        a += wa;
        r += wa * layer[row0 + 4]!;
        gg += wa * layer[row0 + 5]!;
        b += wa * layer[row0 + 6]!;
      }
      if (bottom && left && (al = layer[row1 + 3]!) !== 0) {
        const wa = ((1 - fx) * fy * al) / 255;
        a += wa;
        r += wa * layer[row1]!;
        gg += wa * layer[row1 + 1]!;
        b += wa * layer[row1 + 2]!;
      }
      if (bottom && right && (al = layer[row1 + 7]!) !== 0) {
        const wa = (fx * fy * al) / 255;
        a += wa;
        r += wa * layer[row1 + 4]!;
        gg += wa * layer[row1 + 5]!;
        b += wa * layer[row1 + 6]!;
      }
      if (a <= 0) continue;
      const o = Y * W + X;
      cover[o] = a;
      colour[o * 3] = r;
      colour[o * 3 + 1] = gg;
      colour[o * 3 + 2] = b;
    }
  }
  return { colour, cover };
}

/** A soft shadow: the product's coverage, blurred and offset, darkens the backdrop under and beside it. */
function shade(canvas: Float32Array, cover: Float32Array, W: number, H: number, opacity: number, at: readonly [number, number]): void {
  // At half resolution: the shadow is soft, so a quarter of the pixels show the same.
  const w2 = W >> 1, h2 = H >> 1;
  let soft: Float32Array = new Float32Array(w2 * h2);
  for (let y = 0; y < h2; y++) {
    for (let x = 0; x < w2; x++) {
      const i = 2 * y * W + 2 * x;
      soft[y * w2 + x] = (cover[i]! + cover[i + 1]! + cover[i + W]! + cover[i + W + 1]!) / 4;
    }
  }
  soft = boxPlane(boxPlane(soft, w2, h2, 3), w2, h2, 3);
  const dx = Math.round(at[0]), dy = Math.round(at[1]);
  for (let y = 0; y < H; y++) {
    const sy = (y - dy) >> 1;
    if (sy < 0 || sy >= h2) continue;
    for (let x = 0; x < W; x++) {
      const sx = (x - dx) >> 1;
      if (sx < 0 || sx >= w2) continue;
      const k = 1 - opacity * soft[sy * w2 + sx]!;
      const o = (y * W + x) * 3;
      canvas[o] = canvas[o]! * k;
      canvas[o + 1] = canvas[o + 1]! * k;
      canvas[o + 2] = canvas[o + 2]! * k;
    }
  }
}

/** Corners darker than the centre (a phone lens), by up to `strength` at the corners. */
function vignette(canvas: Float32Array, W: number, H: number, strength: number): void {
  const r2 = (W / 2) ** 2 + (H / 2) ** 2;
  for (let y = 0; y < H; y++) {
    const dy2 = (y + 0.5 - H / 2) ** 2;
    for (let x = 0; x < W; x++) {
      const k = 1 - (strength * ((x + 0.5 - W / 2) ** 2 + dy2)) / r2;
      const o = (y * W + x) * 3;
      canvas[o] = canvas[o]! * k;
      canvas[o + 1] = canvas[o + 1]! * k;
      canvas[o + 2] = canvas[o + 2]! * k;
    }
  }
}

/**
 * Light, two ways. 'linear': exposure and white-balance gains, then contrast about mid-grey. 'curve': light that falls
 * off across the frame, then a per-channel tone curve (gamma, exposure and a green-magenta tint) through a lookup table.
 */
function relight(canvas: Float32Array, W: number, H: number, l: LightRecipe): Uint8ClampedArray {
  if (l.style === 'linear') {
    const t = l.temperature;
    const gains = [l.brightness * (1 + t), l.brightness * (1 + t * 0.2), l.brightness * (1 - t)];
    const out = new Uint8ClampedArray(canvas.length);
    for (let i = 0; i < canvas.length; i += 3) {
      out[i] = (canvas[i]! * gains[0]! - 128) * l.contrast + 128;
      out[i + 1] = (canvas[i + 1]! * gains[1]! - 128) * l.contrast + 128;
      out[i + 2] = (canvas[i + 2]! * gains[2]! - 128) * l.contrast + 128;
    }
    return out;
  }
  if (l.uneven > 0) {
    const dx = Math.cos(l.unevenAngle) / W, dy = Math.sin(l.unevenAngle) / H;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const k = 1 + l.uneven * ((x - W / 2) * dx + (y - H / 2) * dy);
        const o = (y * W + x) * 3;
        canvas[o] = canvas[o]! * k;
        canvas[o + 1] = canvas[o + 1]! * k;
        canvas[o + 2] = canvas[o + 2]! * k;
      }
    }
  }
  const gains = [1 - l.tint / 2, 1 + l.tint, 1 - l.tint / 2];
  const lut = new Uint8ClampedArray(256 * 3);
  for (let v = 0; v < 256; v++) for (let c = 0; c < 3; c++) lut[c * 256 + v] = 255 * Math.pow(Math.min(1, (v / 255) * l.brightness * gains[c]!), l.gamma);
  const bytes = new Uint8ClampedArray(canvas);
  for (let i = 0; i < bytes.length; i += 3) {
    bytes[i] = lut[bytes[i]!]!;
    bytes[i + 1] = lut[256 + bytes[i + 1]!]!;
    bytes[i + 2] = lut[512 + bytes[i + 2]!]!;
  }
  return bytes;
}

/** Lens blur (Gaussian, a straight motion streak or a defocus disc, in libvips), then sensor noise from the tile. */
async function optics(pixels: Uint8ClampedArray, W: number, H: number, o: OpticsRecipe): Promise<Uint8ClampedArray> {
  let img = sharp(Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength), { raw: { width: W, height: H, channels: 3 } });
  if (o.style === 'gaussian') img = img.blur(Math.max(0.3, o.amount));
  else img = img.convolve(o.style === 'motion' ? motionKernel(o.amount, o.angle) : discKernel(o.amount));
  // A clamped view of libvips' own buffer (the noise below must clamp), not a copy of it.
  const raw = await img.raw().toBuffer();
  const blurred = new Uint8ClampedArray(raw.buffer, raw.byteOffset, raw.length);
  addNoise(blurred, W, H, o.noise, o.noiseAt, o.chroma);
  return blurred;
}

interface Kernel {
  width: number;
  height: number;
  kernel: number[];
  scale: number;
}

/** A line of `length` pixels through the centre at `angle`, antialiased by distance to the line. */
function motionKernel(length: number, angle: number): Kernel {
  const size = 2 * Math.ceil(length / 2) + 1;
  const c = (size - 1) / 2;
  const dx = Math.cos(angle), dy = Math.sin(angle);
  const kernel: number[] = [];
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const px = x - c, py = y - c;
      const along = Math.abs(px * dx + py * dy), across = Math.abs(-px * dy + py * dx);
      kernel.push(along <= length / 2 ? Math.max(0, 1 - across) : 0);
    }
  }
  return integral({ width: size, height: size, kernel, scale: 0 });
}

/** Whole-number weights (libvips convolves uchar images with an integer kernel on its fast vector path). */
function integral(k: Kernel): Kernel {
  const kernel = k.kernel.map((v) => Math.round(v * 16));
  return { ...k, kernel, scale: kernel.reduce((a, b) => a + b, 0) };
}

/** A flat disc of `radius` pixels (an out-of-focus lens), antialiased at its rim. */
function discKernel(radius: number): Kernel {
  const size = 2 * Math.ceil(radius) + 1;
  const c = (size - 1) / 2;
  const kernel: number[] = [];
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) kernel.push(Math.min(1, Math.max(0, radius + 0.5 - Math.hypot(x - c, y - c))));
  return integral({ width: size, height: size, kernel, scale: 0 });
}
