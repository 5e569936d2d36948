import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { FashionError, type ErrorCode } from '../../src/errors.js';
import { decodeRgb, fitForModel, pixelHash, readImageFile } from '../../src/imaging/decode.js';
import { requireImageType, sniffImageType } from '../../src/imaging/imageType.js';
import { CAFFE_PREPROCESS, IMAGENET_PREPROCESS } from '../../src/imaging/preprocess.js';
import { fitToSquare, fitToTensor, squareToRgb } from '../../src/imaging/resample.js';
import { mulberry32, pngDeclaring, rgbImage } from './toys.js';

const RED: [number, number, number] = [208, 16, 16];

/** A 40x30 PNG: white, with a red 10x8 rectangle whose top-left corner is at (12, 9). */
async function redSquareOnWhite(): Promise<Buffer> {
  return sharp({ create: { width: 40, height: 30, channels: 3, background: '#ffffff' } })
    .composite([{ input: { create: { width: 10, height: 8, channels: 3, background: { r: RED[0], g: RED[1], b: RED[2] } } }, left: 12, top: 9 }])
    .png()
    .toBuffer();
}

/** A 64x64 JPEG of seeded noise: real entropy-coded data to cut short. */
async function noiseJpeg(): Promise<Buffer> {
  const rand = mulberry32(4);
  const img = rgbImage(64, 64, () => [Math.floor(rand() * 256), Math.floor(rand() * 256), Math.floor(rand() * 256)]);
  return sharp(img.data, { raw: { width: 64, height: 64, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
}

async function rejectsWith(p: Promise<unknown>, code: ErrorCode): Promise<FashionError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof FashionError, `expected a FashionError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected ${code}`);
}

test('the type is sniffed from the bytes: JPEG, PNG and WebP; anything else is null', async () => {
  const solid = sharp({ create: { width: 8, height: 8, channels: 3, background: '#3366cc' } });
  assert.equal(sniffImageType(await solid.clone().jpeg().toBuffer()), 'jpeg');
  assert.equal(sniffImageType(await solid.clone().png().toBuffer()), 'png');
  assert.equal(sniffImageType(await solid.clone().webp().toBuffer()), 'webp');
  assert.equal(sniffImageType(Buffer.from('GIF89a\x01\x00\x01\x00')), null);
  assert.equal(sniffImageType(Buffer.from('RIFF\x00\x00\x00\x00WAVEfmt ')), null, 'RIFF that is not WebP');
  assert.equal(sniffImageType(new Uint8Array([0xff, 0xd8])), null, 'too short for a JPEG');
  assert.equal(sniffImageType(new Uint8Array(0)), null);
  assert.equal(requireImageType(await solid.clone().png().toBuffer(), 'x'), 'png');
});

test('decodes a lossless toy image exactly: size, the red rectangle and the white around it', async () => {
  const img = await decodeRgb(await redSquareOnWhite());
  assert.equal(img.width, 40);
  assert.equal(img.height, 30);
  assert.equal(img.data.length, 40 * 30 * 3);
  const at = (x: number, y: number) => [...img.data.subarray((y * 40 + x) * 3, (y * 40 + x) * 3 + 3)];
  assert.deepEqual(at(12, 9), RED);
  assert.deepEqual(at(21, 16), RED);
  assert.deepEqual(at(11, 9), [255, 255, 255]);
  assert.deepEqual(at(22, 16), [255, 255, 255]);
  assert.deepEqual(at(12, 17), [255, 255, 255]);
  let red = 0;
  for (let i = 0; i < 40 * 30; i++) if (img.data[i * 3] === RED[0] && img.data[i * 3 + 1] === RED[1]) red++;
  assert.equal(red, 80);
});

test('greyscale becomes three equal channels; transparency is flattened onto the background; maxSide shrinks', async () => {
  const grey = await sharp({ create: { width: 6, height: 4, channels: 3, background: { r: 90, g: 90, b: 90 } } }).greyscale().png().toBuffer();
  const g = await decodeRgb(grey);
  assert.deepEqual([...g.data.subarray(0, 6)], [90, 90, 90, 90, 90, 90]);
  assert.equal(g.data.length, 6 * 4 * 3);
  const clear = await sharp({ create: { width: 5, height: 5, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer();
  assert.deepEqual([...(await decodeRgb(clear)).data.subarray(0, 3)], [255, 255, 255]);
  assert.deepEqual([...(await decodeRgb(clear, { background: [10, 120, 200] })).data.subarray(0, 3)], [10, 120, 200]);
  const wide = await sharp({ create: { width: 100, height: 50, channels: 3, background: '#808080' } }).png().toBuffer();
  const small = await decodeRgb(wide, { maxSide: 40 });
  assert.deepEqual([small.width, small.height], [40, 20]);
  const kept = await decodeRgb(wide, { maxSide: 400 });
  assert.deepEqual([kept.width, kept.height], [100, 50], 'never enlarged');
});

test('EXIF orientation is applied: a portrait phone photo stored sideways decodes upright', async () => {
  const sideways = await sharp({ create: { width: 30, height: 20, channels: 3, background: '#00ff00' } }).withMetadata({ orientation: 6 }).jpeg().toBuffer();
  const img = await decodeRgb(sideways);
  assert.deepEqual([img.width, img.height], [20, 30]);
});

test('bad inputs fail with clear coded errors: empty, not an image, truncated, garbage after a JPEG marker', async () => {
  await rejectsWith(decodeRgb(new Uint8Array(0)), 'image/empty');
  const text = await rejectsWith(decodeRgb(Buffer.from('hello, I am not a photo'), { label: 'upload.jpg' }), 'image/unsupported-type');
  assert.match(text.message, /JPEG, PNG or WebP/);
  assert.match(text.message, /upload\.jpg/);
  const jpeg = await noiseJpeg();
  assert.equal((await decodeRgb(jpeg)).width, 64, 'the whole JPEG decodes');
  await rejectsWith(decodeRgb(jpeg.subarray(0, Math.floor(jpeg.length / 2))), 'image/corrupt');
  await rejectsWith(decodeRgb(Buffer.concat([jpeg.subarray(0, 4), Buffer.alloc(400, 7)])), 'image/corrupt');
  const png = await redSquareOnWhite();
  await rejectsWith(decodeRgb(png.subarray(0, 40)), 'image/corrupt');
  // The same errors come through the model path.
  await rejectsWith(fitForModel(new Uint8Array(0), IMAGENET_PREPROCESS), 'image/empty');
});

test('too many pixels is refused from the header, before decoding; too many bytes before anything else', async () => {
  // 100000 x 100000 declared: 10^10 pixels (30 GB decoded) in a file of a few dozen bytes.
  const bomb = pngDeclaring(100_000, 100_000);
  assert.ok(bomb.length < 200);
  assert.equal(sniffImageType(bomb), 'png');
  const started = Date.now();
  const err = await rejectsWith(decodeRgb(bomb), 'image/too-many-pixels');
  assert.match(err.message, /pixel limit/);
  assert.ok(Date.now() - started < 2000, 'refused at once');
  // A real image over a small pixel limit.
  await rejectsWith(decodeRgb(await redSquareOnWhite(), { limits: { maxBytes: 1e6, maxPixels: 1000 } }), 'image/too-many-pixels');
  const big = await rejectsWith(decodeRgb(await noiseJpeg(), { limits: { maxBytes: 100, maxPixels: 1e6 } }), 'image/too-large');
  assert.match(big.message, /at most 100 bytes/);
});

test('reading a file: missing, a folder, over the byte limit', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fashion-unit-img-'));
  await rejectsWith(readImageFile(join(dir, 'absent.jpg')), 'input/not-found');
  await rejectsWith(readImageFile(dir), 'input/not-found');
  const file = join(dir, 'photo.jpg');
  const jpeg = await noiseJpeg();
  writeFileSync(file, jpeg);
  assert.deepEqual(await readImageFile(file), jpeg);
  await rejectsWith(readImageFile(file, { maxBytes: 10, maxPixels: 1e6 }), 'image/too-large');
  rmSync(dir, { recursive: true, force: true });
});

test('the pixel hash follows the pixels, not the encoding', async () => {
  const png = await redSquareOnWhite();
  const webpLossless = await sharp(png).webp({ lossless: true }).toBuffer();
  const other = await sharp(png).flop().png().toBuffer();
  assert.equal(await pixelHash(png), await pixelHash(webpLossless));
  assert.notEqual(await pixelHash(png), await pixelHash(other));
  assert.match(await pixelHash(png), /^[0-9a-f]{64}$/);
});

test('the JS resample agrees with libvips (sharp resize, linear) on a toy image', async () => {
  // A 90x60 image: a horizontal gradient with a red block, padded into a 48 square, and enlarged into a 120 square.
  const img = rgbImage(90, 60, (x, y) => (x >= 30 && x < 55 && y >= 15 && y < 45 ? RED : [Math.round((x / 89) * 255), 128, Math.round((y / 59) * 255)]));
  const encoded = await sharp(img.data, { raw: { width: 90, height: 60, channels: 3 } }).png().toBuffer();
  // Shrinking (48) they agree to a fraction of a level (a nearest-neighbour resample is ~1 off); enlarging (120) within ~1.
  for (const [size, tolerance] of [[48, 0.3], [120, 2]] as const) {
    const ours = squareToRgb(fitToSquare(img, { size, fit: 'pad', background: [255, 255, 255] }));
    const theirs = await sharp(encoded).resize(size, size, { fit: 'contain', background: { r: 255, g: 255, b: 255 }, kernel: 'linear' }).removeAlpha().raw().toBuffer();
    assert.equal(theirs.length, ours.length);
    let diff = 0;
    for (let i = 0; i < ours.length; i++) diff += Math.abs(ours[i]! - theirs[i]!);
    assert.ok(diff / ours.length < tolerance, `size ${size}: mean absolute difference to libvips ${diff / ours.length}`);
  }
});

test('resampling keeps flat colours exact, averages when it shrinks, and pads / crops / stretches as asked', () => {
  const flat = rgbImage(37, 23, () => [12, 200, 99]);
  const sq = squareToRgb(fitToSquare(flat, { size: 32, fit: 'stretch', background: [0, 0, 0] }));
  for (let i = 0; i < sq.length; i += 3) assert.deepEqual([sq[i], sq[i + 1], sq[i + 2]], [12, 200, 99]);
  // Alternate black and white columns, shrunk 8x: grey, not a sample of one column.
  const stripes = rgbImage(256, 256, (x) => (x % 2 ? [255, 255, 255] : [0, 0, 0]));
  const small = squareToRgb(fitToSquare(stripes, { size: 32, fit: 'pad', background: [255, 255, 255] }));
  assert.ok(small.every((v) => v >= 120 && v <= 135), 'mid grey');
  // A 4x2 image, left half red, right half blue, into 8x8.
  const halves = rgbImage(4, 2, (x) => (x < 2 ? [255, 0, 0] : [0, 0, 255]));
  const at = (rgb: Uint8Array, x: number, y: number) => [...rgb.subarray((y * 8 + x) * 3, (y * 8 + x) * 3 + 3)];
  const pad = squareToRgb(fitToSquare(halves, { size: 8, fit: 'pad', background: [1, 2, 3] }));
  assert.deepEqual(at(pad, 0, 0), [1, 2, 3], 'pad margin is the background');
  assert.deepEqual(at(pad, 0, 1), [1, 2, 3]);
  assert.deepEqual(at(pad, 0, 3), [255, 0, 0]);
  assert.deepEqual(at(pad, 0, 4), [255, 0, 0]);
  assert.deepEqual(at(pad, 7, 4), [0, 0, 255]);
  const crop = squareToRgb(fitToSquare(halves, { size: 8, fit: 'crop', background: [1, 2, 3] }));
  assert.deepEqual(at(crop, 0, 0), [255, 0, 0]);
  assert.deepEqual(at(crop, 7, 7), [0, 0, 255]);
  const stretch = squareToRgb(fitToSquare(halves, { size: 8, fit: 'stretch', background: [1, 2, 3] }));
  assert.deepEqual(at(stretch, 0, 0), [255, 0, 0]);
  assert.deepEqual(at(stretch, 7, 0), [0, 0, 255]);
});

test('the model tensor is planar and normalised, in the preset channel order', () => {
  const red = rgbImage(10, 10, () => [255, 0, 0]);
  const plane = 32 * 32;
  const rgb = new Float32Array(3 * plane);
  fitToTensor(red, { ...IMAGENET_PREPROCESS, size: 32 }, rgb);
  assert.ok(Math.abs(rgb[0]! - (1 - 0.485) / 0.229) < 1e-5);
  assert.ok(Math.abs(rgb[plane]! - (0 - 0.456) / 0.224) < 1e-5);
  assert.ok(Math.abs(rgb[2 * plane]! - (0 - 0.406) / 0.225) < 1e-5);
  // Caffe: BGR planes, bytes less the means.
  const bgr = new Float32Array(3 * plane + 5);
  fitToTensor(red, { ...CAFFE_PREPROCESS, size: 32 }, bgr, 5);
  assert.ok(Math.abs(bgr[5]! - (0 - 103.94)) < 1e-3, 'blue plane first');
  assert.ok(Math.abs(bgr[5 + 2 * plane]! - (255 - 123.68)) < 1e-3, 'red plane last');
  assert.throws(() => fitToTensor(red, { ...IMAGENET_PREPROCESS, size: 32 }, new Float32Array(10)), (e: unknown) => e instanceof FashionError && e.code === 'input/invalid');
});
