import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { Embedder } from '../src/embedding/embedder.js';
import { headCutModel } from '../src/embedding/headCut.js';
import { FashionError } from '../src/errors.js';
import { IMAGENET_PREPROCESS, CAFFE_PREPROCESS } from '../src/imaging/preprocess.js';
import { sharedDir } from '../src/config.js';

const { onnx } = onnxProto;
const models = join(sharedDir()!, 'models');
const cache = mkdtempSync(join(tmpdir(), 'fashion-headcut-'));

/**
 * A tiny classifier the test builds itself: a 1x1 convolution (3 -> 4 channels, weight w[c][i] = c+1 if
 * i == c % 3), global average pooling, flatten and a 4 -> 2 Gemm head.
 */
function tinyClassifier(): Uint8Array {
  const w = new Float32Array(4 * 3);
  for (let c = 0; c < 4; c++) w[c * 3 + (c % 3)] = c + 1;
  const t = (name: string, dims: number[], data: Float32Array) =>
    onnx.TensorProto.create({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(data.buffer) });
  const vi = (name: string, dims: (number | string)[]) =>
    onnx.ValueInfoProto.create({
      name,
      type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
    });
  const graph = onnx.GraphProto.create({
    name: 'tiny',
    node: [
      onnx.NodeProto.create({ opType: 'Conv', input: ['x', 'w'], output: ['map'], attribute: [{ name: 'kernel_shape', type: 7, ints: [1, 1] }] }),
      onnx.NodeProto.create({ opType: 'GlobalAveragePool', input: ['map'], output: ['pooled'] }),
      onnx.NodeProto.create({ opType: 'Flatten', input: ['pooled'], output: ['flat'], attribute: [{ name: 'axis', type: 2, i: 1 }] }),
      onnx.NodeProto.create({ opType: 'Gemm', input: ['flat', 'head_w'], output: ['logits'], attribute: [{ name: 'transB', type: 2, i: 1 }] }),
    ],
    initializer: [t('w', [4, 3, 1, 1], w), t('head_w', [2, 4], new Float32Array(8).fill(1))],
    input: [vi('x', ['N', 3, 4, 4])],
    output: [vi('logits', ['N', 2])],
  });
  return onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 7, opsetImport: [{ domain: '', version: 12 }], graph })).finish();
}

test('cuts a tiny classifier at its pooling and pools the map by max or average', async () => {
  const x = new Float32Array(3 * 16);
  for (let i = 0; i < x.length; i++) x[i] = i; // channel c holds 16c .. 16c+15
  for (const pooling of ['max', 'avg'] as const) {
    const cut = headCutModel(tinyClassifier(), { pooling });
    assert.equal(cut.featureTensor, 'map');
    const s = await ort.InferenceSession.create(cut.bytes);
    const out = await s.run({ [cut.inputName]: new ort.Tensor('float32', x, [1, 3, 4, 4]) });
    const f = Array.from(out[cut.outputName]!.data as Float32Array);
    assert.deepEqual(out[cut.outputName]!.dims, [1, 4]);
    // map channel c = (c+1) * x[c % 3]
    const expected = [0, 1, 2, 3].map((c) => {
      const chan = Array.from(x.subarray((c % 3) * 16, (c % 3) * 16 + 16)).map((v) => v * (c + 1));
      return pooling === 'max' ? Math.max(...chan) : chan.reduce((a, b) => a + b) / 16;
    });
    f.forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) < 1e-4, `${pooling}[${i}] ${v} vs ${expected[i]}`));
  }
});

test('the int8 MobileNetV2 is cut at its last feature map and dequantized (1280-d)', async () => {
  const e = await Embedder.load({ model: join(models, 'mobilenetv2-12-int8.onnx'), pooling: 'max', preprocess: IMAGENET_PREPROCESS, threads: 1, cacheDir: cache });
  assert.equal(e.dims, 1280);
  assert.equal(e.identity.featureTensor, '627_quantized');
  const batch = new Float32Array(2 * 3 * 224 * 224).map((_, i) => Math.sin(i));
  // embedBatch takes the batch over (its buffer moves to the inference thread): the second load gets its own copy.
  const v = await e.embedBatch(batch.slice(), 2);
  assert.equal(v.length, 2560);
  // Dequantized ReLU6 activations: real numbers in [0, 6], not raw uint8 codes.
  assert.ok(v.every((x) => x >= 0 && x <= 6.01));
  assert.ok(v.some((x) => x > 0 && !Number.isInteger(x)));
  // The edited graph is cached and reused.
  const again = await Embedder.load({ model: join(models, 'mobilenetv2-12-int8.onnx'), pooling: 'max', preprocess: IMAGENET_PREPROCESS, threads: 1, cacheDir: cache });
  assert.deepEqual(Array.from(await again.embedBatch(batch, 2)), Array.from(v));
  await e.close();
  await again.close();
});

test('the float16 SqueezeNet works through the same code, batched despite its fixed batch', async () => {
  const e = await Embedder.load({ model: join(models, 'squeezenet1.0-fp16.onnx'), pooling: 'max', preprocess: CAFFE_PREPROCESS, threads: 1, cacheDir: cache });
  // Its 1x1 classifier convolution (to 1000 classes) is part of the head: the features are fire9's 512 channels.
  assert.equal(e.identity.featureTensor, 'fire9/concat_1');
  assert.equal(e.dims, 512);
  const batch = new Float32Array(3 * 3 * 224 * 224).map((_, i) => (i % 255) - 120);
  const v = await e.embedBatch(batch, 3);
  assert.equal(v.length, 3 * 512);
  assert.ok(v.some((x) => x > 0));
  await e.close();
});

test('GeM pooling of the real models lies between their average and max pooling, finite in the float16 SqueezeNet too', async () => {
  for (const [file, preprocess] of [['mobilenetv2-12-int8.onnx', IMAGENET_PREPROCESS], ['squeezenet1.0-fp16.onnx', CAFFE_PREPROCESS]] as const) {
    const batch = new Float32Array(3 * 224 * 224).map((_, i) => Math.sin(i / 7) * 2);
    const by: Record<string, Float32Array> = {};
    for (const pooling of ['avg', 'gem', 'max'] as const) {
      const e = await Embedder.load({ model: join(models, file), pooling, preprocess, threads: 1, cacheDir: cache });
      by[pooling] = await e.embedBatch(batch.slice(), 1);
      await e.close();
    }
    assert.ok(by.gem!.every((x) => Number.isFinite(x)), `${file}: finite`);
    assert.ok(by.gem!.some((x, c) => x > by.avg![c]! + 1e-3), `${file}: above the average somewhere`);
    by.gem!.forEach((x, c) => assert.ok(x >= by.avg![c]! - 1e-2 && x <= by.max![c]! + 1e-2, `${file}[${c}]: ${by.avg![c]} <= ${x} <= ${by.max![c]}`));
  }
});

test('a graph without global pooling is refused with a clear message', () => {
  const bytes = tinyClassifier();
  const m = onnx.ModelProto.decode(bytes);
  m.graph!.node = m.graph!.node!.filter((n) => n.opType === 'Conv');
  m.graph!.output = [onnx.ValueInfoProto.create({ name: 'map' })];
  assert.throws(() => headCutModel(onnx.ModelProto.encode(m).finish(), { pooling: 'max' }), (err: unknown) => err instanceof FashionError && /--cut-at/.test(err.message));
  assert.throws(() => headCutModel(new Uint8Array([1, 2, 3, 4, 5]), { pooling: 'max' }), FashionError);
});

test('the float16 SqueezeNet file is widened to float32 when cut (the file itself is left as it is)', () => {
  const squeeze = readFileSync(join(models, 'squeezenet1.0-fp16.onnx'));
  const graph = onnx.ModelProto.decode(headCutModel(squeeze, { pooling: 'max' }).bytes).graph as onnxProto.onnx.GraphProto;
  assert.ok(graph.initializer.length > 0 && graph.initializer.every((t) => t.dataType === onnx.TensorProto.DataType.FLOAT));
  assert.ok(graph.node.every((n) => n.opType !== 'Cast'), 'no casts at the ends');
  const kept = onnx.ModelProto.decode(headCutModel(squeeze, { pooling: 'max', float16: 'keep' }).bytes).graph as onnxProto.onnx.GraphProto;
  assert.ok(kept.initializer.every((t) => t.dataType === onnx.TensorProto.DataType.FLOAT16));
});

test('--cut-at names the feature map explicitly', () => {
  const squeeze = readFileSync(join(models, 'squeezenet1.0-fp16.onnx'));
  const cut = headCutModel(squeeze, { pooling: 'avg', cutAt: 'fire8/concat_1' });
  assert.equal(cut.featureTensor, 'fire8/concat_1');
  assert.throws(() => headCutModel(squeeze, { pooling: 'avg', cutAt: 'no-such-tensor' }), /produced by no node/);
});
