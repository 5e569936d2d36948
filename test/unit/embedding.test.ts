import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { Embedder } from '../../src/embedding/embedder.js';
import { headCutModel } from '../../src/embedding/headCut.js';
import { FashionError } from '../../src/errors.js';
import { decodeRgb } from '../../src/imaging/decode.js';
import { IMAGENET_PREPROCESS, type Preprocess } from '../../src/imaging/preprocess.js';
import { fitToTensor } from '../../src/imaging/resample.js';
import { mulberry32, toyClassifier, toyFeatures } from './toys.js';

const { onnx } = onnxProto;
const SIZE = 20;
const P: Preprocess = { ...IMAGENET_PREPROCESS, size: SIZE };
const PLANE = 3 * SIZE * SIZE;
const root = mkdtempSync(join(tmpdir(), 'fashion-unit-embed-'));
const toy = toyClassifier({ channels: 6, classes: 4, seed: 3 });
const modelFile = join(root, 'toy-classifier.onnx');
writeFileSync(modelFile, toy.bytes);
const open: Embedder[] = [];

async function load(options: Partial<Parameters<typeof Embedder.load>[0]> = {}): Promise<Embedder> {
  const e = await Embedder.load({ model: modelFile, pooling: 'max', preprocess: P, threads: 1, cacheDir: join(root, 'cache'), ...options });
  open.push(e);
  return e;
}

after(async () => {
  for (const e of open) await e.close();
  rmSync(root, { recursive: true, force: true });
});

function randomImage(seed: number): Float32Array {
  const rand = mulberry32(seed);
  return Float32Array.from({ length: PLANE }, () => rand() * 4 - 2);
}

function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) <= tol * Math.max(1, Math.abs(want[i]!)), `${what}[${i}]: ${got[i]} vs ${want[i]}`);
}

test('the toy classifier is a working classifier before the cut: probabilities over its classes', async () => {
  const s = await ort.InferenceSession.create(toy.bytes);
  const out = await s.run({ image: new ort.Tensor('float32', randomImage(1), [1, 3, SIZE, SIZE]) });
  const probs = Array.from(out.probs!.data as Float32Array);
  assert.equal(probs.length, 4);
  assert.ok(Math.abs(probs.reduce((a, b) => a + b) - 1) < 1e-5);
  await s.release();
});

test('the head cut finds the feature map before the pooling and pools it (max and average) to conv-channel vectors', async () => {
  const img = randomImage(2);
  for (const pooling of ['max', 'avg'] as const) {
    const cut = headCutModel(toy.bytes, { pooling });
    assert.equal(cut.featureTensor, 'relu1_out');
    assert.equal(cut.inputName, 'image');
    assert.equal(cut.sourceBatchFixed, false);
    // Nothing of the classifier head survives.
    const graph = onnx.ModelProto.decode(cut.bytes).graph!;
    assert.deepEqual((graph.node ?? []).filter((n) => n.opType === 'Gemm' || n.opType === 'Softmax'), []);
    assert.deepEqual((graph.initializer ?? []).map((t) => t.name).sort(), ['conv1_b', 'conv1_w']);
    const s = await ort.InferenceSession.create(cut.bytes);
    const out = await s.run({ [cut.inputName]: new ort.Tensor('float32', img, [1, 3, SIZE, SIZE]) });
    assert.deepEqual(out[cut.outputName]!.dims, [1, toy.channels]);
    assertClose(out[cut.outputName]!.data as Float32Array, toyFeatures(toy, img, SIZE, SIZE, pooling), 1e-4, pooling);
    await s.release();
  }
});

test('a fully convolutional head (1x1 conv to the classes before the pooling) is skipped: the features are the map that feeds it', () => {
  const squeeze = toyClassifier({ channels: 5, classes: 7, seed: 4, convHead: true, fixedBatch: true });
  const cut = headCutModel(squeeze.bytes, { pooling: 'avg' });
  assert.equal(cut.featureTensor, 'relu1_out');
  assert.equal(cut.sourceBatchFixed, true);
});

test('graphs that are not image classifiers are refused with model/unsupported', () => {
  const code = (f: () => unknown) => assert.throws(f, (e: unknown) => e instanceof FashionError && e.code === 'model/unsupported');
  code(() => headCutModel(new Uint8Array([1, 2, 3, 4, 5, 6]), { pooling: 'max' }));
  const m = onnx.ModelProto.decode(toy.bytes);
  m.graph!.node = (m.graph!.node ?? []).filter((n) => n.opType === 'Conv' || n.opType === 'Relu');
  assert.throws(() => headCutModel(onnx.ModelProto.encode(m).finish(), { pooling: 'max' }), /--cut-at/);
  code(() => headCutModel(toy.bytes, { pooling: 'max', cutAt: 'no-such-tensor' }));
  // --cut-at an earlier tensor: the convolution before its ReLU.
  assert.equal(headCutModel(toy.bytes, { pooling: 'max', cutAt: 'conv1_out' }).featureTensor, 'conv1_out');
});

test('the embedder runs the cut toy graph: conv-channel vectors equal to a reference computation, deterministic', async () => {
  const e = await load();
  assert.equal(e.dims, toy.channels);
  assert.equal(e.identity.featureTensor, 'relu1_out');
  assert.equal(e.identity.modelName, 'toy-classifier.onnx');
  const img = randomImage(5);
  const v1 = await e.embedBatch(img.slice(), 1);
  assertClose(v1, toyFeatures(toy, img, SIZE, SIZE, 'max'), 1e-4, 'max pooled');
  const v2 = await e.embedBatch(img.slice(), 1);
  assert.deepEqual(Array.from(v2), Array.from(v1), 'same input, same vector');
  const other = await e.embedBatch(randomImage(6), 1);
  assert.ok(other.some((x, i) => Math.abs(x - v1[i]!) > 1e-3), 'another image, another vector');
  // The cut graph was cached under the cache folder and a second load gives the same vectors.
  assert.ok(readdirSync(join(root, 'cache', 'headcut')).some((f) => f.endsWith('.onnx')));
  const again = await load();
  assert.deepEqual(Array.from(await again.embedBatch(img.slice(), 1)), Array.from(v1));
  assert.equal(again.identity.modelSha256, e.identity.modelSha256);
});

test('a batch of two gives the two single vectors', async () => {
  const e = await load({ pooling: 'avg' });
  const a = randomImage(7), b = randomImage(8);
  const batch = new Float32Array(2 * PLANE);
  batch.set(a, 0);
  batch.set(b, PLANE);
  const both = await e.embedBatch(batch, 2);
  assert.equal(both.length, 2 * toy.channels);
  const va = await e.embedBatch(a.slice(), 1), vb = await e.embedBatch(b.slice(), 1);
  assertClose(both.subarray(0, toy.channels), va, 1e-5, 'first of the batch');
  assertClose(both.subarray(toy.channels), vb, 1e-5, 'second of the batch');
  assertClose(va, toyFeatures(toy, a, SIZE, SIZE, 'avg'), 1e-4, 'avg pooled');
  await assert.rejects(e.embedBatch(new Float32Array(PLANE), 2), (err: unknown) => err instanceof FashionError && err.code === 'input/invalid');
});

test('two sessions, as an ingest has: a batch alone is split between them, batches in flight spread, the vectors are those of one session', async () => {
  const one = await load({ threads: 2 });
  const two = await load({ threads: 2, sessions: 2 });
  const batch = (s: number, n: number) => {
    const b = new Float32Array(n * PLANE);
    for (let i = 0; i < n; i++) b.set(randomImage(s * 10 + i), i * PLANE);
    return b;
  };
  const batches = [1, 2, 3, 4].map((s) => batch(s, 3));
  const expected = await Promise.all(batches.map((b) => one.embedBatch(b.slice(), 3)));
  const onFirst: number[] = [];
  const count = (e: { batch: number }) => onFirst.push(e.batch);
  two.thread.on('run', count);
  // Alone: the first session runs 2 of the 3 images (one session would run all 3).
  assert.deepEqual(await two.embedBatch(batches[0]!.slice(), 3), expected[0]);
  assert.deepEqual(onFirst, [2]);
  onFirst.length = 0;
  // Four at once: the first is split, the others go to the session with fewer runs in flight (one session: 4 runs of 3).
  const got = await Promise.all(batches.map((b) => two.embedBatch(b.slice(), 3)));
  two.thread.off('run', count);
  assert.deepEqual(onFirst, [2, 3, 3]);
  got.forEach((v, i) => assert.deepEqual(v, expected[i], `batch ${i}`));
});

test('a graph that declares a batch of one is cut with an open batch: a batch of two still embeds', async () => {
  const fixed = toyClassifier({ channels: 6, classes: 4, seed: 3, fixedBatch: true });
  const file = join(root, 'toy-fixed.onnx');
  writeFileSync(file, fixed.bytes);
  const e = await load({ model: file });
  const a = randomImage(9), b = randomImage(10);
  const batch = new Float32Array(2 * PLANE);
  batch.set(a, 0);
  batch.set(b, PLANE);
  const both = await e.embedBatch(batch, 2);
  assertClose(both.subarray(0, 6), toyFeatures(fixed, a, SIZE, SIZE, 'max'), 1e-4, 'first');
  assertClose(both.subarray(6), toyFeatures(fixed, b, SIZE, SIZE, 'max'), 1e-4, 'second');
});

test('photos made with sharp: the same photo gives the same vector, a different photo a different one', async () => {
  const e = await load();
  const photo = async (bytes: Buffer) => {
    const t = new Float32Array(PLANE);
    fitToTensor(await decodeRgb(bytes), P, t);
    return e.embedBatch(t, 1);
  };
  const redOnWhite = await sharp({ create: { width: 40, height: 40, channels: 3, background: '#ffffff' } })
    .composite([{ input: { create: { width: 16, height: 16, channels: 3, background: '#d01010' } }, left: 12, top: 12 }])
    .png()
    .toBuffer();
  const blueOnWhite = await sharp({ create: { width: 40, height: 40, channels: 3, background: '#ffffff' } })
    .composite([{ input: { create: { width: 16, height: 16, channels: 3, background: '#1030d0' } }, left: 12, top: 12 }])
    .png()
    .toBuffer();
  const r1 = await photo(redOnWhite);
  const r2 = await photo(Buffer.from(redOnWhite));
  const b = await photo(blueOnWhite);
  assert.deepEqual(Array.from(r2), Array.from(r1));
  assert.ok(b.some((x, i) => Math.abs(x - r1[i]!) > 1e-3), 'red and blue squares embed apart');
});

test('a missing model file is refused with model/not-found', async () => {
  await assert.rejects(load({ model: join(root, 'absent.onnx') }), (err: unknown) => err instanceof FashionError && err.code === 'model/not-found');
});

test('fitToTensor writes every value of its row: a reused input full of NaN reads as a fresh one, for every fit and shape', () => {
  for (const fit of ['pad', 'crop', 'stretch'] as const) {
    for (const [w, h] of [[6, 9], [31, 12], [20, 20], [1, 40], [60, 80]] as const) {
      const rand = mulberry32(w * 100 + h);
      const img = { data: Uint8Array.from({ length: w * h * 3 }, () => Math.floor(rand() * 256)), width: w, height: h };
      const p = { ...P, fit };
      const zeros = new Float32Array(2 * PLANE);
      const dirty = new Float32Array(2 * PLANE).fill(Number.NaN);
      fitToTensor(img, p, zeros, PLANE);
      fitToTensor(img, p, dirty, PLANE);
      assert.deepEqual(dirty.subarray(PLANE), zeros.subarray(PLANE), `${fit} ${w}x${h}`);
    }
  }
});
