import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import sharp, { type Sharp } from 'sharp';
import { FashionError } from '../errors.js';
import { requireImageType, type ImageType } from './imageType.js';
import { balancedReading, ISOLATE_TUNING, isolateProduct, type IsolatedProduct, type IsolateTuning } from './isolateProduct.js';
import type { Preprocess } from './preprocess.js';
import { cropAsIs } from './readingTransforms.js';
import { fitToSquare, squareToRgb } from './resample.js';
import type { DecodedRgb } from './rgb.js';

export interface ImageLimits {
  /** Largest encoded image accepted, in bytes. */
  readonly maxBytes: number;
  /** Largest decoded image accepted, in pixels: checked from the header before any decoding (decompression bombs). */
  readonly maxPixels: number;
}

export const DEFAULT_IMAGE_LIMITS: ImageLimits = Object.freeze({ maxBytes: 25 * 1024 * 1024, maxPixels: 50_000_000 });

// libvips runs its own threads; one per pipeline keeps two cores free for onnxruntime during ingest.
sharp.concurrency(1);
// libvips' operation cache keeps the last 100 operations for a repeat with the same input; every photo here is a new
// buffer, so nothing is ever found in it, and keeping it costs a third of a small photo's decode (60x80 JPEG: ~0.85
// core-ms with it, ~0.55 without; scratch measurement, bench/ingest.ts shows it end to end). The pixels are the same.
sharp.cache(false);

/** Reads an image file, refusing a missing file or one over the byte limit before reading it. */
export async function readImageFile(path: string, limits: ImageLimits = DEFAULT_IMAGE_LIMITS): Promise<Buffer> {
  let size: number;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new FashionError('input/not-found', `Expected an image file at ${path} but found a directory or device`);
    size = info.size;
  } catch (err) {
    if (err instanceof FashionError) throw err;
    throw new FashionError('input/not-found', `Expected an image file at ${path} but there is none`, { cause: err });
  }
  checkByteLimit(size, limits, path);
  return readFile(path);
}

export function checkByteLimit(size: number, limits: ImageLimits, label: string): void {
  if (size > limits.maxBytes) {
    throw new FashionError(
      'image/too-large',
      `Expected an image of at most ${limits.maxBytes} bytes for ${label} but received ${size} bytes; send a smaller photo`,
    );
  }
}

function pipeline(bytes: Uint8Array, limits: ImageLimits): Sharp {
  // limitInputPixels refuses from the header, before any pixel is decoded (bombs, headers declaring 100000 x 100000).
  // failOn 'truncated' rejects cut-off files while tolerating the harmless warnings real phone JPEGs carry.
  // pages: 1 reads an animated WebP at its first frame (the product photo); the other frames are never decoded.
  return sharp(bytes, { limitInputPixels: limits.maxPixels, failOn: 'truncated', pages: 1 }).rotate();
}

async function decodeError(err: unknown, bytes: Uint8Array, type: ImageType, limits: ImageLimits, label: string): Promise<FashionError> {
  const message = err instanceof Error ? err.message : String(err);
  if (/pixel limit/i.test(message)) {
    const size = await declaredSize(bytes);
    return new FashionError(
      'image/too-many-pixels',
      `Expected an image of at most the pixel limit (${limits.maxPixels} pixels) for ${label} but ${size ? `its header declares ${size.width} x ${size.height}` : 'it declares more'}; send a smaller photo`,
      { cause: err },
    );
  }
  return new FashionError('image/corrupt', `Expected a decodable ${type.toUpperCase()} image for ${label} but ${decoderDetail(message, type)}; send the photo again or another one`, { cause: err });
}

/** The size an image's header declares (read from the header alone, no pixel decoded), when it can be read. */
async function declaredSize(bytes: Uint8Array): Promise<{ width: number; height: number } | null> {
  try {
    const m = await sharp(bytes, { limitInputPixels: false }).metadata();
    return m.width && m.height ? { width: m.width, height: m.height } : null;
  } catch {
    return null;
  }
}

/** Lines of libvips' error buffer by the decoder of each type (other lines come from other images, see decoderDetail). */
const DECODER_LINE: Record<ImageType, RegExp> = {
  jpeg: /^VipsJpeg: /,
  png: /^(vipspng|png2vips|libpng)\b[^:]*: /i,
  webp: /^(webp2vips|webp)\b[^:]*: /i,
};

/**
 * What went wrong, in the decoder's words where they can be trusted. libvips gathers errors in one buffer that every
 * decoding thread shares, so sharp's message can carry other uploads' errors (another format's decoder, repeated
 * lines): only the first line of this image's own decoder is kept, without its prefix, and short.
 */
function decoderDetail(message: string, type: ImageType): string {
  const lines = message.split('\n').map((l) => l.replace(/^Input (buffer|file) has corrupt header: /, '').trim());
  const own = lines.find((l) => DECODER_LINE[type].test(l))?.replace(DECODER_LINE[type], '');
  if (own && /premature end|truncat|unexpected end|not enough data/i.test(own)) return `it is cut off (${own.slice(0, 120)})`;
  return own ? `its data is damaged (${own.slice(0, 120)})` : 'its data is damaged';
}

/** Decodes any accepted image to interleaved 8-bit sRGB, transparency flattened onto `background`. */
export async function decodeRgb(
  bytes: Uint8Array,
  options: { limits?: ImageLimits; label?: string; background?: readonly [number, number, number]; maxSide?: number } = {},
): Promise<DecodedRgb> {
  const limits = options.limits ?? DEFAULT_IMAGE_LIMITS;
  const label = options.label ?? 'the image';
  const type = requireImageType(bytes, label);
  checkByteLimit(bytes.length, limits, label);
  const [r, g, b] = options.background ?? [255, 255, 255];
  try {
    let p = pipeline(bytes, limits).flatten({ background: { r, g, b } }).toColourspace('srgb');
    if (options.maxSide) p = p.resize(options.maxSide, options.maxSide, { fit: 'inside', withoutEnlargement: true });
    const { data, info } = await p.removeAlpha().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    return { data: toRgb(data, info.channels, info.width * info.height), width: info.width, height: info.height };
  } catch (err) {
    throw await decodeError(err, bytes, type, limits, label);
  }
}

/**
 * Largest side a photo is decoded at: phone photos are scaled down by the decoder (JPEG shrink-on-load), the
 * catalog's photos are smaller and decode as they are. Isolation, colour features and the fit all start from it.
 */
export const DECODE_MAX_SIDE = 480;

/** One photo, decoded once, ready to fit to the model (src/imaging/resample.ts) and for the colour features. */
export interface FittedPhoto {
  /** What the model sees before the fit: the isolated product when `p.isolate` is set, else the decoded photo. */
  readonly product: DecodedRgb;
  /** How isolation treated the photo, when `p.isolate` is set (src/imaging/isolateProduct.ts). */
  readonly isolation?: IsolatedProduct['method'];
  /** `pixelHash` of the photo. */
  readonly pixelHash: string;
  /** With `readings: 'both'`, the product read as a studio shot under other light, when the backdrop allows it (`balancedReading`). */
  readonly balanced?: DecodedRgb;
  /**
   * With `readings: 'both'`, the photo as it is, backdrop kept, when isolation replaced a backdrop: a cut that took part of the
   * product or left a fringe of the backdrop costs more than the backdrop itself, so a photo search reads both. Cut to
   * isolation's box and brought to the isolated product's detail (`cropAsIs`): a product small in the frame otherwise reads
   * as mostly backdrop (issue 21: hard copies in HELD-OUT styles, own item in the top 5 0.440 -> 0.475; docs/relevance.md).
   */
  readonly asIs?: DecodedRgb;
}

/**
 * Decodes a photo once, hashes its pixels and isolates the product (when `p.isolate`). `readings: 'both'`
 * (query photos) also gives the other readings: balanced (a uniform light-grey backdrop taken as white) and as it is
 * (around the product, backdrop kept). `isolation`: isolation's settings, ISOLATE_TUNING unless given (the query path
 * gives QUERY_ISOLATION; catalog photos and training copies take the default).
 */
export async function fitPhoto(
  bytes: Uint8Array,
  p: Preprocess,
  options: { limits?: ImageLimits; label?: string; readings?: 'one' | 'both'; isolation?: IsolateTuning } = {},
): Promise<FittedPhoto> {
  const img = await decodeForFit(bytes, p, options);
  return { ...fitDecoded(img, p, options), pixelHash: hashPixels(img) };
}

/**
 * `fitPhoto` without the pixel hash (a sha256 of the decoded pixels): for callers that read only the product and its
 * readings, such as a training copy (src/imaging/shopperPhoto/fitCopy.ts) or a catalog photo's colour filled in later
 * (src/app/refineCatalog.ts). Decoded and fitted exactly as fitPhoto does, so the product is the same.
 */
export async function fitUnhashed(
  bytes: Uint8Array,
  p: Preprocess,
  options: { limits?: ImageLimits; label?: string; readings?: 'one' | 'both'; isolation?: IsolateTuning } = {},
): Promise<Omit<FittedPhoto, 'pixelHash'>> {
  return fitDecoded(await decodeForFit(bytes, p, options), p, options);
}

/** Decodes as every fitted photo is decoded: on the model's background, at most DECODE_MAX_SIDE a side. */
function decodeForFit(bytes: Uint8Array, p: Preprocess, options: { limits?: ImageLimits; label?: string }): Promise<DecodedRgb> {
  return decodeRgb(bytes, { ...options, background: p.background, maxSide: DECODE_MAX_SIDE });
}

/** The product isolated (when `p.isolate`) and its readings, from a photo decoded by decodeForFit. */
function fitDecoded(img: DecodedRgb, p: Preprocess, options: { readings?: 'one' | 'both'; isolation?: IsolateTuning } = {}): Omit<FittedPhoto, 'pixelHash'> {
  if (!p.isolate) return { product: img };
  const tuning = options.isolation ?? ISOLATE_TUNING;
  const iso = isolateProduct(img, tuning);
  const both = options.readings === 'both';
  const balanced = both ? balancedReading(img, iso, tuning) : null;
  const asIs = both && iso.method === 'replaced' ? cropAsIs(img, iso.box) : null;
  return { product: iso.image, isolation: iso.method, ...(balanced ? { balanced: balanced.image } : {}), ...(asIs ? { asIs } : {}) };
}

/** Decodes and fits an image to the model's square input, as interleaved RGB bytes of side `p.size`. */
export async function fitForModel(bytes: Uint8Array, p: Preprocess, options: { limits?: ImageLimits; label?: string } = {}): Promise<Uint8Array> {
  return squareToRgb(fitToSquare((await fitPhoto(bytes, p, options)).product, p));
}

/**
 * A hash of the decoded pixels (sha256 of the size and the RGB bytes, as decoded for the model: at most
 * DECODE_MAX_SIDE on a side): a renamed copy, or one re-encoded without loss (PNG, WebP lossless, a JPEG
 * re-wrapped with other metadata), has the same hash.
 */
export async function pixelHash(bytes: Uint8Array, options: { limits?: ImageLimits; label?: string } = {}): Promise<string> {
  return hashPixels(await decodeRgb(bytes, { ...options, maxSide: DECODE_MAX_SIDE }));
}

function hashPixels(img: DecodedRgb): string {
  return createHash('sha256').update(`${img.width}x${img.height}:`).update(img.data).digest('hex');
}

/** JPEG quality of the isolated product shown beside a photo query. */
export const VIEW_JPEG_QUALITY = 88;

/** Encodes RGB bytes as JPEG (for showing an isolated query on the page). */
export async function encodeJpeg(img: DecodedRgb, quality = 90): Promise<Buffer> {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).jpeg({ quality }).toBuffer();
}

function toRgb(data: Buffer, channels: number, pixels: number): Uint8Array {
  if (channels === 3) return new Uint8Array(data.buffer, data.byteOffset, pixels * 3);
  const out = new Uint8Array(pixels * 3);
  for (let i = 0; i < pixels; i++) {
    const v = data[i * channels]!;
    out[i * 3] = v;
    out[i * 3 + 1] = channels >= 3 ? data[i * channels + 1]! : v;
    out[i * 3 + 2] = channels >= 3 ? data[i * channels + 2]! : v;
  }
  return out;
}
