import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { embedderOptions, resolveConfig, sharedDir } from '../src/config.js';
import { modelMismatch } from '../src/catalog/identity.js';
import { Embedder, identityKey } from '../src/embedding/embedder.js';
import { headCutModel } from '../src/embedding/headCut.js';
import { activationRanges, int8CalibrationFor } from '../src/embedding/int8Calibration.js';
import { perChannelInt8, quantizeInt8 } from '../src/embedding/int8Graph.js';
import { FashionError } from '../src/errors.js';
import { fitPhoto } from '../src/imaging/decode.js';
import { CAFFE_PREPROCESS, IMAGENET_PREPROCESS, type Preprocess } from '../src/imaging/preprocess.js';
import { fitToTensor } from '../src/imaging/resample.js';
import { cosine } from '../src/linalg/cosine.js';
import { DEMO, pickIds } from './helpers.js';

const { onnx } = onnxProto;
const SQUEEZENET = join(sharedDir()!, 'models', 'squeezenet1.0-fp16.onnx');
const cache = mkdtempSync(join(tmpdir(), 'fashion-int8-'));
const PLANE = 224 * 224;
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function tensors(ids: readonly string[], p: Preprocess): Promise<Float32Array> {
  const out = new Float32Array(ids.length * 3 * PLANE);
  for (const [i, id] of ids.entries()) fitToTensor((await fitPhoto(readFileSync(join(DEMO!.images, `${id}.jpg`)), p)).product, p, out, i * 3 * PLANE);
  return out;
}

function squeezenetInt8(): { float: ReturnType<typeof headCutModel>; int8: Uint8Array } {
  const source = readFileSync(SQUEEZENET);
  const float = headCutModel(source, { pooling: 'max' });
  return { float, int8: quantizeInt8(float.bytes, activationRanges(int8CalibrationFor(sha256(source), 'squeezenet1.0-fp16.onnx'))) };
}

test('weights quantize symmetrically per output channel: the largest magnitude maps to 127, a channel of zeros stays zero', () => {
  const w = new Float32Array([0.5, -0.25, 0.125, 0, 0, 0, -2, 1, 0.01]);
  const { q, scales } = perChannelInt8(w, [3, 3, 1, 1]);
  assert.deepEqual(Array.from(scales), [Math.fround(0.5 / 127), 1, Math.fround(2 / 127)]);
  assert.deepEqual(Array.from(q), [127, -64, 32, 0, 0, 0, -127, 64, 1]);
});

test('SqueezeNet in int8: QLinearConv throughout, the same graph bytes on every build, features close to the float ones on catalog photos', async () => {
  const { float, int8 } = squeezenetInt8();
  // Deterministic: built again, the same bytes. The pinned hash fails when the quantizer, the calibration or the
  // protobuf encoding changes the graph (then the cached graphs are keyed anew: INT8_QUANTIZER_VERSION).
  assert.equal(sha256(squeezenetInt8().int8), sha256(int8));
  assert.equal(sha256(int8), INT8_GRAPH_SHA256);
  const ops = onnx.ModelProto.decode(int8).graph!.node!.map((n) => n.opType);
  assert.equal(ops.filter((o) => o === 'QLinearConv').length, 25, 'every convolution of the trunk, each with its ReLU fused');
  assert.equal(ops.filter((o) => o === 'Conv' || o === 'Relu').length, 0);
  assert.deepEqual(ops.filter((o) => o === 'QuantizeLinear' || o === 'DequantizeLinear'), ['QuantizeLinear', 'DequantizeLinear'], 'quantized once at the input, dequantized once before the pooling');

  const ids = pickIds(['Tshirts', 'Watches', 'Handbags', 'Casual Shoes', 'Sarees'], 1);
  const x = await tensors(ids, CAFFE_PREPROCESS);
  const run = async (bytes: Uint8Array) => {
    const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
    const out = (await s.run({ [float.inputName]: new ort.Tensor('float32', x, [ids.length, 3, 224, 224]) }))[float.outputName]!.data as Float32Array;
    await s.release();
    return out;
  };
  const a = await run(float.bytes);
  const b = await run(int8);
  assert.equal(b.length, a.length);
  ids.forEach((id, i) => {
    const c = cosine(a.subarray(i * 512, (i + 1) * 512), b.subarray(i * 512, (i + 1) * 512));
    // Over 500 fit-side photos the median is 0.9987 and the least 0.988 (bench/int8Vectors.ts); a broken scale gives < 0.9.
    assert.ok(c > 0.98, `${id}: cosine int8 vs float ${c}`);
  });
});

test('a catalog embedded with the int8 second model has its own identity, which its defaults follow and a float catalog refuses', async () => {
  const env = { ...process.env, FASHION_SHARED: sharedDir()! };
  const withCache = (input: Parameters<typeof resolveConfig>[0]) => resolveConfig({ cacheDir: cache, threads: 1, ...input }, env);
  const float = await Embedder.load(embedderOptions(withCache({})));
  const int8 = await Embedder.load(embedderOptions(withCache({ secondPrecision: 'int8' })));
  assert.equal('secondPrecision' in float.identity, false, 'a float catalog keeps the identity it had before the setting');
  assert.equal(int8.identity.secondPrecision, 'int8');
  assert.match(int8.identity.modelName, /squeezenet1\.0-fp16\.onnx \(int8\)/);
  assert.notEqual(identityKey(int8.identity), identityKey(float.identity));
  assert.match(modelMismatch(float.identity, int8.identity).message, /second model in int8/);
  // Left at their defaults, queries of either catalog load what embedded it.
  const followsInt8 = await Embedder.load(embedderOptions(withCache({}), int8.identity));
  const followsFloat = await Embedder.load(embedderOptions(withCache({}), float.identity));
  assert.equal(identityKey(followsInt8.identity), identityKey(int8.identity));
  assert.equal(identityKey(followsFloat.identity), identityKey(float.identity));
  const x = await tensors(pickIds(['Jeans'], 1), IMAGENET_PREPROCESS);
  assert.deepEqual(await followsInt8.embedBatch(x.slice(), 1), await int8.embedBatch(x.slice(), 1));
  await Promise.all([float.close(), int8.close(), followsInt8.close(), followsFloat.close()]);
  // A model with no committed calibration is refused by name, not quantized with made-up ranges.
  assert.throws(() => int8CalibrationFor('0'.repeat(64), 'other.onnx'), (e: unknown) => e instanceof FashionError && /calibration of other\.onnx/.test(e.message));
  assert.throws(() => resolveConfig({ secondPrecision: 'int4' }, env), /secondPrecision/);
});

// The int8 head-cut graph (max pooling) of squeezenet1.0-fp16.onnx with the committed calibration.
const INT8_GRAPH_SHA256 = '94e5c0f6233f362c1a239c389ae5a2fdc1690191f345ad1134f56a40dbf2d90b';
