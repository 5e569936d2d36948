/**
 * Hostile uploads: 1,000 photos made from a seeded PRNG and sharp out of a few real catalog photos (truncated,
 * bytes flipped, wrong magic, headers declaring huge sizes, decompression bombs, empty, animated, CMYK, 16-bit,
 * EXIF-rotated, grey + alpha, 1x1, SVG, text, ...) are POSTed as multipart to every photo route of a small catalog.
 * Every answer must be 200 or a 4xx with the product's error JSON; none may be a 5xx or take the process or the
 * inference thread down; and a good photo is still answered afterwards.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { ERROR_TABLE } from '../src/errors.js';
import { sniffImageType, type ImageType } from '../src/imaging/imageType.js';
import { mulberry32 } from '../src/util/random.js';
import { pickIds, servedFixture, TYPES } from './helpers.js';

const UPLOADS = 1000;
/** FUZZ_SEED=n tries another thousand. */
const SEED = Number(process.env.FUZZ_SEED ?? 20240611);
/** Uploads in flight at once: concurrent photos share inference batches, so a bad photo meets good ones in a batch. */
const CONCURRENCY = 4;
const ROUTES = ['/api/search', '/api/match', '/api/categorize', '/api/outfit'] as const;
/** Words of the decoders of the other formats: an error about a photo of one type must not carry them. */
const FOREIGN_DECODER: Record<ImageType | 'none', RegExp> = {
  jpeg: /png|webp/i,
  png: /jpeg|webp/i,
  webp: /jpeg|png/i,
  none: /VipsJpeg|vipspng|libpng|webp2vips/i,
};

// No rate limit: one client sends a thousand requests here.
const served = servedFixture(pickIds(TYPES, 2), 'fuzz', { rateLimit: 0 });
const { config, fx } = served;

/** What a kind of upload must be answered with: exactly one answer, or any 200 / 4xx with error JSON ('any'). */
type Expected = 'any' | '200' | `${number} ${string}`;

interface Upload {
  readonly kind: string;
  readonly bytes: Buffer;
  readonly expected: Expected;
}

type Rand = () => number;
const pick = <T>(rand: Rand, values: readonly T[]): T => values[Math.floor(rand() * values.length)]!;
const int = (rand: Rand, lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));
const randomBytes = (rand: Rand, n: number): Buffer => Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256)));

const CRC_TABLE = Int32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});

function pngChunk(type: string, data: Uint8Array): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  let c = -1;
  for (const b of body) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  body.copy(out, 4);
  out.writeUInt32BE((c ^ -1) >>> 0, 8 + data.length);
  return out;
}

/** A 1-bit grey PNG of `width` x `height` white pixels whose pixel data really is there, deflated (a decompression bomb). */
function pngBomb(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 1; // bit depth
  ihdr[9] = 0; // grey
  const row = Buffer.alloc(1 + Math.ceil(width / 8), 0xff);
  row[0] = 0; // filter: none
  const rows = Buffer.alloc(row.length * height);
  for (let y = 0; y < height; y++) row.copy(rows, y * row.length);
  return Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(rows, { level: 9 })), pngChunk('IEND', new Uint8Array(0))]);
}

/** A PNG whose header declares `width` x `height` but that carries one short row. */
function pngDeclaring(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(Buffer.alloc(16))), pngChunk('IEND', new Uint8Array(0))]);
}

/** A JPEG whose frame header (SOF) declares `width` x `height`; the scan stays the small photo's. */
function jpegDeclaring(jpeg: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(jpeg);
  for (let i = 2; i + 9 < out.length; ) {
    if (out[i] !== 0xff) break;
    const marker = out[i + 1]!;
    const length = out.readUInt16BE(i + 2);
    if (marker >= 0xc0 && marker <= 0xc2) {
      out.writeUInt16BE(height, i + 5);
      out.writeUInt16BE(width, i + 7);
      return out;
    }
    i += 2 + length;
  }
  throw new Error('no SOF marker in the base JPEG');
}

/** A lossy WebP (simple 'VP8 ' format) whose frame header declares `width` x `height` (14 bits each). */
function webpDeclaring(webp: Buffer, width: number, height: number): Buffer {
  if (webp.toString('latin1', 12, 16) !== 'VP8 ') throw new Error('expected a simple lossy WebP');
  const out = Buffer.from(webp);
  // RIFF header (12), chunk header (8), frame tag (3), start code (3): then width and height, 16 bits each.
  out.writeUInt16LE(width & 0x3fff, 26);
  out.writeUInt16LE(height & 0x3fff, 28);
  return out;
}

/** A JPEG with a marker segment (APPn) of `payload` inserted after its start marker. */
function jpegWithSegment(jpeg: Buffer, marker: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head[0] = 0xff;
  head[1] = marker;
  head.writeUInt16BE(payload.length + 2, 2);
  return Buffer.concat([jpeg.subarray(0, 2), head, payload, jpeg.subarray(2)]);
}

/** A PNG with a chunk inserted after its header chunk (IHDR is 8 + 25 bytes in). */
function pngWithChunk(png: Buffer, type: string, data: Buffer): Buffer {
  return Buffer.concat([png.subarray(0, 33), pngChunk(type, data), png.subarray(33)]);
}

/** The valid encodings the mutations start from, and the odd-but-valid photos, made once from real catalog photos. */
async function encodings(photos: readonly Buffer[]) {
  const valid: Array<{ kind: string; bytes: Buffer }> = [];
  for (const [i, photo] of photos.entries()) {
    const s = () => sharp(photo);
    valid.push(
      { kind: 'jpeg', bytes: photo },
      { kind: 'png', bytes: await s().png().toBuffer() },
      { kind: 'webp', bytes: await s().webp({ quality: 70 }).toBuffer() },
      { kind: 'webp-lossless', bytes: await s().webp({ lossless: true }).toBuffer() },
      { kind: 'jpeg-progressive', bytes: await s().jpeg({ progressive: true }).toBuffer() },
      { kind: 'png-interlaced-palette', bytes: await s().png({ progressive: true, palette: true }).toBuffer() },
      { kind: 'jpeg-cmyk', bytes: await s().toColourspace('cmyk').jpeg().toBuffer() },
      { kind: 'png-16bit', bytes: await s().toColourspace('rgb16').png().toBuffer() },
      { kind: 'jpeg-exif-rotated', bytes: await s().withMetadata({ orientation: 5 + (i % 4) }).jpeg().toBuffer() },
      { kind: 'png-grey-alpha', bytes: await s().greyscale().ensureAlpha(0.6).png().toBuffer() },
      { kind: 'webp-alpha', bytes: await s().ensureAlpha(0.3).webp().toBuffer() },
      { kind: 'jpeg-grey', bytes: await s().greyscale().jpeg().toBuffer() },
      { kind: 'webp-animated', bytes: await sharp([await s().png().toBuffer(), await s().flop().png().toBuffer()], { join: { animated: true } }).webp({ loop: 0, delay: [80, 80] }).toBuffer() },
      { kind: 'jpeg-trailing-garbage', bytes: Buffer.concat([photo, randomBytes(mulberry32(i), 300)]) },
    );
  }
  const tiny = (w: number, h: number) => sharp({ create: { width: w, height: h, channels: 3, background: { r: 200, g: 30, b: 40 } } });
  valid.push(
    { kind: 'png-1x1', bytes: await tiny(1, 1).png().toBuffer() },
    { kind: 'jpeg-1x1', bytes: await tiny(1, 1).jpeg().toBuffer() },
    { kind: 'webp-1x1', bytes: await tiny(1, 1).webp().toBuffer() },
    { kind: 'png-1x2000', bytes: await tiny(1, 2000).png().toBuffer() },
    { kind: 'jpeg-2000x1', bytes: await tiny(2000, 1).jpeg().toBuffer() },
  );
  const base = photos[0]!;
  // Formats the product does not take (sniffed from the bytes: a name or content type is never trusted).
  const foreign: Array<{ kind: string; bytes: Buffer }> = [
    { kind: 'gif', bytes: await sharp(base).gif().toBuffer() },
    { kind: 'gif-animated', bytes: await sharp([base, await sharp(base).flip().toBuffer()], { join: { animated: true } }).gif({ loop: 0 }).toBuffer() },
    { kind: 'tiff', bytes: await sharp(base).tiff().toBuffer() },
    { kind: 'avif', bytes: await sharp(base).avif({ quality: 40, effort: 0 }).toBuffer() },
    { kind: 'svg', bytes: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="100000" height="100000"><rect width="100%" height="100%" fill="red"/></svg>') },
    { kind: 'svg-xml', bytes: Buffer.from('<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa">]><svg xmlns="http://www.w3.org/2000/svg"><text>&a;&a;&a;</text></svg>') },
    { kind: 'text', bytes: Buffer.from('hello, this is not a photo\n') },
    { kind: 'json', bytes: Buffer.from(JSON.stringify({ imageUrl: 'http://127.0.0.1/', id: '1163' })) },
    { kind: 'html', bytes: Buffer.from('<!doctype html><script>alert(1)</script>') },
    { kind: 'bmp', bytes: Buffer.concat([Buffer.from('BM'), randomBytes(mulberry32(7), 200)]) },
    { kind: 'pdf', bytes: Buffer.from('%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF') },
    { kind: 'zip', bytes: Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), randomBytes(mulberry32(8), 100)]) },
  ];
  const webp = valid.find((v) => v.kind === 'webp')!.bytes;
  // Headers that declare far more pixels than the limit: refused from the header, before any decoding.
  const huge: Array<{ kind: string; bytes: Buffer }> = [
    { kind: 'png-declares-100000x100000', bytes: pngDeclaring(100_000, 100_000) },
    { kind: 'jpeg-declares-65500x65500', bytes: jpegDeclaring(base, 65_500, 65_500) },
    { kind: 'webp-declares-16383x16383', bytes: webpDeclaring(webp, 16_383, 16_383) },
    { kind: 'png-bomb-20000x20000', bytes: pngBomb(20_000, 20_000) },
  ];
  const png = valid.find((v) => v.kind === 'png')!.bytes;
  const noise = mulberry32(9);
  // Damaged metadata around intact pixels: a decoder may use or ignore it, but it must not fail the server.
  const odd: Array<{ kind: string; bytes: Buffer }> = [
    { kind: 'png-declares-2^31-1x1', bytes: pngDeclaring(2 ** 31 - 1, 1) },
    { kind: 'jpeg-bogus-icc', bytes: jpegWithSegment(base, 0xe2, Buffer.concat([Buffer.from('ICC_PROFILE\0\x01\x01', 'latin1'), randomBytes(noise, 600)])) },
    { kind: 'jpeg-bogus-exif', bytes: jpegWithSegment(base, 0xe1, Buffer.concat([Buffer.from('Exif\0\0MM\0*\0\0\0\x08', 'latin1'), randomBytes(noise, 400)])) },
    { kind: 'jpeg-exif-orientation-9', bytes: jpegWithSegment(base, 0xe1, Buffer.from('457869660000' + '4d4d002a00000008' + '0001' + '011200030000000100090000' + '00000000', 'hex')) },
    { kind: 'png-bogus-iccp', bytes: pngWithChunk(png, 'iCCP', Buffer.concat([Buffer.from('x\0\0', 'latin1'), deflateSync(randomBytes(noise, 500))])) },
    { kind: 'png-ztxt-bomb', bytes: pngWithChunk(png, 'zTXt', Buffer.concat([Buffer.from('Comment\0\0', 'latin1'), deflateSync(Buffer.alloc(50_000_000, 0x41), { level: 9 })])) },
    { kind: 'png-unknown-critical-chunk', bytes: pngWithChunk(png, 'ABCD', randomBytes(noise, 64)) },
  ];
  return { valid, foreign, huge, odd, bomb: pngBomb(6_000, 6_000) };
}

type Made = Awaited<ReturnType<typeof encodings>>;

/** The upload number `n`: a kind drawn with fixed weights, its bytes from the seeded PRNG. */
function upload(rand: Rand, made: Made): Upload {
  const r = rand();
  const base = () => pick(rand, made.valid);
  if (r < 0.16) {
    const v = base();
    // Odd-but-valid photos are photos: each is answered (a 1x1 or a 2000x1 too).
    return { kind: `valid:${v.kind}`, bytes: v.bytes, expected: '200' };
  }
  if (r < 0.34) {
    const v = base();
    return { kind: `truncated:${v.kind}`, bytes: v.bytes.subarray(0, int(rand, 1, v.bytes.length - 1)), expected: 'any' };
  }
  if (r < 0.56) {
    const v = base();
    const out = Buffer.from(v.bytes);
    const flips = int(rand, 1, 40);
    // Mostly past the magic bytes, so that the decoder itself meets the damage.
    for (let i = 0; i < flips; i++) {
      const at = int(rand, rand() < 0.9 ? 12 : 0, out.length - 1);
      out[at] = out[at]! ^ int(rand, 1, 255);
    }
    return { kind: `flipped:${v.kind}`, bytes: out, expected: 'any' };
  }
  if (r < 0.62) {
    const v = base();
    const at = int(rand, 0, v.bytes.length);
    return { kind: `spliced:${v.kind}`, bytes: Buffer.concat([v.bytes.subarray(0, at), randomBytes(rand, int(rand, 1, 2000)), v.bytes.subarray(at)]), expected: 'any' };
  }
  if (r < 0.70) {
    // The magic of one accepted format on the body of another, or on noise.
    const magic = pick(rand, [Buffer.from('ffd8ff', 'hex'), Buffer.from('89504e470d0a1a0a', 'hex'), Buffer.from('524946460000000057454250', 'hex')]);
    const body = rand() < 0.5 ? base().bytes.subarray(int(rand, 0, 16)) : randomBytes(rand, int(rand, 0, 3000));
    return { kind: 'wrong-magic', bytes: Buffer.concat([magic, body]), expected: 'any' };
  }
  if (r < 0.74) {
    const v = base();
    const out = Buffer.from(v.bytes);
    out.fill(int(rand, 0, 255), 0, int(rand, 1, 12));
    return { kind: `magic-overwritten:${v.kind}`, bytes: out, expected: 'any' };
  }
  if (r < 0.84) {
    const f = pick(rand, made.foreign);
    return { kind: `foreign:${f.kind}`, bytes: f.bytes, expected: '415 image/unsupported-type' };
  }
  if (r < 0.87) {
    return { kind: 'noise', bytes: randomBytes(rand, int(rand, 1, 5000)), expected: 'any' };
  }
  if (r < 0.89) return { kind: 'empty', bytes: Buffer.alloc(0), expected: '400 image/empty' };
  if (r < 0.94) {
    const h = pick(rand, made.huge);
    return { kind: `huge:${h.kind}`, bytes: h.bytes, expected: '413 image/too-many-pixels' };
  }
  if (r < 0.97) {
    const o = pick(rand, made.odd);
    return { kind: `odd:${o.kind}`, bytes: o.bytes, expected: 'any' };
  }
  if (r < 0.985) {
    // 36 MP of real pixel data in 11 kB, under the 50 MP limit: decoded in full (a PNG has no shrink-on-load) and answered.
    return { kind: 'bomb-under-limit', bytes: made.bomb, expected: '200' };
  }
  // Over the upload limit (10 MiB): refused while the body streams.
  const v = base();
  return { kind: 'over-byte-limit', bytes: Buffer.concat([v.bytes, Buffer.alloc(config.maxUploadBytes + 1 - v.bytes.length + int(rand, 0, 1000))]), expected: '413 image/too-large' };
}

function multipart(bytes: Buffer, rand: Rand) {
  const boundary = `----fuzz${Math.floor(rand() * 2 ** 32).toString(16)}`;
  // Declared names and types are noise too: the type is sniffed from the bytes.
  const filename = pick(rand, ['photo.jpg', 'photo.png', 'x.webp', 'a.gif', '../../etc/passwd', 'no-extension', '"quoted".jpg', 'ünïcödé.jpeg']);
  const type = pick(rand, ['image/jpeg', 'image/png', 'image/webp', 'application/octet-stream', 'text/plain', 'image/svg+xml']);
  const payload = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="${filename.replace(/"/g, '%22')}"\r\nContent-Type: ${type}\r\n\r\n`),
    bytes,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  return { payload, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

test(`${UPLOADS} hostile uploads to the photo routes: every answer is 200 or a 4xx with error JSON, none a 5xx; a good photo is answered after`, async (t) => {
  const started = performance.now();
  const photos = fx.ids.slice(0, 3).map((id) => readFileSync(join(fx.images, `${id}.jpg`)));
  const made = await encodings(photos);
  const thread = (await served.svc.embedding.load()).thread;
  const crashes: unknown[] = [];
  thread.on('down', (d) => crashes.push(d.error));

  const rand = mulberry32(SEED);
  const uploads = Array.from({ length: UPLOADS }, () => ({ ...upload(rand, made), route: pick(rand, ROUTES) }));
  const outcomes = new Map<string, number>();
  const failures: string[] = [];
  const send = async (u: Upload & { route: string }, i: number) => {
    const { payload, headers } = multipart(u.bytes, mulberry32(SEED + i));
    const res = await served.app.inject({ method: 'POST', url: u.route, payload, headers });
    let outcome = String(res.statusCode);
    const what = `#${i} ${u.kind} (${u.bytes.length} bytes) to ${u.route}`;
    if (res.statusCode !== 200) {
      let body: { error?: { code?: string; message?: string } } = {};
      try {
        body = res.json();
      } catch {
        // Not JSON: reported below as not the error JSON.
      }
      const code = body.error?.code ?? '';
      outcome = `${res.statusCode} ${code}`;
      const message = body.error?.message;
      if (!(code in ERROR_TABLE) || ERROR_TABLE[code as keyof typeof ERROR_TABLE].status !== res.statusCode || typeof message !== 'string' || !message) {
        failures.push(`${what}: not the error JSON of a documented code: ${res.body.slice(0, 300)}`);
      } else if (/\n/.test(message) || message.length > 400 || FOREIGN_DECODER[sniffImageType(u.bytes) ?? 'none'].test(message.replace(/ for .* but /, ' but '))) {
        // (The label, the uploaded file's name, is the client's own text and is left out of the check.)
        // libvips shares one error buffer between decoding threads: its raw text can carry other uploads' errors.
        failures.push(`${what}: a message that is not about this photo alone: ${JSON.stringify(message)}`);
      }
    }
    if (res.statusCode >= 500 || (res.statusCode !== 200 && res.statusCode < 400)) failures.push(`${what}: ${outcome}: ${res.body.slice(0, 300)}`);
    else if (u.expected !== 'any' && outcome !== u.expected) failures.push(`${what}: expected ${u.expected} but answered ${outcome}: ${res.body.slice(0, 300)}`);
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
  };
  for (let i = 0; i < uploads.length; i += CONCURRENCY) {
    await Promise.all(uploads.slice(i, i + CONCURRENCY).map((u, k) => send(u, i + k)));
  }

  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  t.diagnostic(`${UPLOADS} uploads in ${seconds} s: ${[...outcomes].sort((a, b) => b[1] - a[1]).map(([o, n]) => `${o}: ${n}`).join(', ')}`);
  assert.deepEqual(failures, []);
  assert.deepEqual(crashes, [], 'the inference thread never went down');

  // Still answering: a catalog photo finds itself, and health is ok.
  const { payload, headers } = multipart(photos[1]!, mulberry32(1));
  const good = await served.app.inject({ method: 'POST', url: '/api/search', payload, headers });
  assert.equal(good.statusCode, 200, good.body);
  assert.equal(good.json().results[0].id, fx.ids[1]);
  const health = await served.app.inject({ method: 'GET', url: '/api/health' });
  assert.equal(health.statusCode, 200, health.body);
});
