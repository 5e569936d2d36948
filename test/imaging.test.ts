import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { FashionError } from '../src/errors.js';
import { decodeRgb, fitForModel } from '../src/imaging/decode.js';
import { sniffImageType } from '../src/imaging/imageType.js';
import { IMAGENET_PREPROCESS } from '../src/imaging/preprocess.js';
import { fitToSquare, fitToTensor, squareToRgb } from '../src/imaging/resample.js';
import { DEMO } from './helpers.js';

const photo = readFileSync(join(DEMO!.images, '1163.jpg'));

async function rejects(p: Promise<unknown>, code: string): Promise<FashionError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof FashionError, `expected a FashionError, got ${err}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected ${code}`);
}

test('sniffs JPEG, PNG and WebP from their bytes, not their names', async () => {
  assert.equal(sniffImageType(photo), 'jpeg');
  assert.equal(sniffImageType(await sharp(photo).png().toBuffer()), 'png');
  assert.equal(sniffImageType(await sharp(photo).webp().toBuffer()), 'webp');
  assert.equal(sniffImageType(Buffer.from('GIF89a....')), null);
});

test('fits a catalog photo into a white-padded 224 square', async () => {
  const rgb = await fitForModel(photo, IMAGENET_PREPROCESS);
  assert.equal(rgb.length, 224 * 224 * 3);
  // 60x80 portrait padded to a square: the left and right margins are white.
  assert.deepEqual([rgb[0], rgb[1], rgb[2]], [255, 255, 255]);
  const mid = (112 * 224 + 112) * 3;
  assert.notDeepEqual([rgb[mid], rgb[mid + 1], rgb[mid + 2]], [255, 255, 255]);
});

test('normalises to planar ImageNet floats', () => {
  const p = { ...IMAGENET_PREPROCESS, size: 32 };
  const white = { data: new Uint8Array(20 * 10 * 3).fill(255), width: 20, height: 10 };
  const out = new Float32Array(3 * 32 * 32);
  fitToTensor(white, p, out);
  assert.ok(Math.abs(out[0]! - (1 - 0.485) / 0.229) < 1e-5);
  assert.ok(Math.abs(out[32 * 32]! - (1 - 0.456) / 0.224) < 1e-5);
  assert.ok(Math.abs(out[2 * 32 * 32]! - (1 - 0.406) / 0.225) < 1e-5);
});

test('the JS fit agrees with libvips on a real photo, and averages when it shrinks', async () => {
  const img = await decodeRgb(photo);
  const ours = squareToRgb(fitToSquare(img, IMAGENET_PREPROCESS));
  const { data } = await sharp(photo)
    .resize(224, 224, { fit: 'contain', background: { r: 255, g: 255, b: 255 }, kernel: 'linear' })
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  let diff = 0;
  for (let i = 0; i < data.length; i++) diff += Math.abs(data[i]! - ours[i]!);
  assert.ok(diff / data.length < 4, `mean absolute difference to libvips ${diff / data.length}`);
  // A 1-pixel black/white checkerboard shrunk 8x must come out grey, not a sampled black or white.
  const side = 64 * 8;
  const checker = new Uint8Array(side * side * 3);
  for (let y = 0; y < side; y++) for (let x = 0; x < side; x++) checker.fill((x + y) % 2 ? 255 : 0, (y * side + x) * 3, (y * side + x) * 3 + 3);
  const small = squareToRgb(fitToSquare({ data: checker, width: side, height: side }, { ...IMAGENET_PREPROCESS, size: 64 }));
  assert.ok(small.every((v) => v > 110 && v < 145), 'shrunk checkerboard is mid grey');
});

test('greyscale and transparent images become three-channel RGB', async () => {
  const grey = await sharp(photo).greyscale().jpeg().toBuffer();
  const rgb = await fitForModel(grey, IMAGENET_PREPROCESS);
  assert.equal(rgb.length, 224 * 224 * 3);
  const clear = await sharp({ create: { width: 20, height: 20, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer();
  const flat = await decodeRgb(clear);
  assert.deepEqual([...flat.data.subarray(0, 3)], [255, 255, 255]);
});

test('rejects an empty input, a non-image and a truncated JPEG with clear errors', async () => {
  await rejects(fitForModel(new Uint8Array(0), IMAGENET_PREPROCESS), 'image/empty');
  const text = await rejects(fitForModel(Buffer.from('hello, I am not a photo'), IMAGENET_PREPROCESS), 'image/unsupported-type');
  assert.match(text.message, /JPEG, PNG or WebP/);
  await rejects(fitForModel(photo.subarray(0, Math.floor(photo.length / 2)), IMAGENET_PREPROCESS), 'image/corrupt');
  const garbage = Buffer.concat([photo.subarray(0, 4), Buffer.alloc(400, 7)]);
  await rejects(fitForModel(garbage, IMAGENET_PREPROCESS), 'image/corrupt');
});

test('refuses decompression bombs from the header, before decoding', async () => {
  // A 12000x12000 PNG of one colour compresses to a few hundred KB but would decode to 432 MB.
  const bomb = await sharp({ create: { width: 12000, height: 12000, channels: 3, background: '#fff' } }).png({ compressionLevel: 9 }).toBuffer();
  assert.ok(bomb.length < 2_000_000);
  const err = await rejects(fitForModel(bomb, IMAGENET_PREPROCESS, { limits: { maxBytes: 10_000_000, maxPixels: 50_000_000 } }), 'image/too-many-pixels');
  assert.match(err.message, /pixel limit/);
});

test('refuses an image over the byte limit', async () => {
  await rejects(fitForModel(photo, IMAGENET_PREPROCESS, { limits: { maxBytes: 100, maxPixels: 1e6 } }), 'image/too-large');
});
