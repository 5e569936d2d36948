import assert from 'node:assert/strict';
import { test } from 'node:test';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { halfToFloat, hasFloat16, widenFloat16 } from '../../src/embedding/float32Graph.js';
import { headCutModel } from '../../src/embedding/headCut.js';

const { onnx } = onnxProto;
const F16 = onnx.TensorProto.DataType.FLOAT16;
const F32 = onnx.TensorProto.DataType.FLOAT;

/** A number to IEEE binary16 bits, rounded to nearest even (normal range and zero: all this test needs). */
function toHalf(x: number): number {
  if (x === 0) return Object.is(x, -0) ? 0x8000 : 0;
  const sign = x < 0 ? 0x8000 : 0;
  const a = Math.abs(x);
  const e = Math.floor(Math.log2(a));
  const m = a / 2 ** e - 1; // [0, 1)
  let frac = Math.round(m * 1024);
  let exp = e + 15;
  if (frac === 1024) {
    frac = 0;
    exp++;
  }
  assert.ok(exp > 0 && exp < 31, `toHalf: ${x} is outside the normal half range`);
  return sign | (exp << 10) | frac;
}

function halfTensor(name: string, dims: number[], values: number[], asInt32 = false): onnxProto.onnx.ITensorProto {
  const halves = new Uint16Array(values.map(toHalf));
  return asInt32
    ? onnx.TensorProto.create({ name, dims, dataType: F16, int32Data: Array.from(halves) })
    : onnx.TensorProto.create({ name, dims, dataType: F16, rawData: new Uint8Array(halves.buffer) });
}

/**
 * A tiny float16 classifier as the model zoo's SqueezeNet is made: float16 input, weights (one stored as raw bytes,
 * one as int32_data, one in a Constant node), a Cast to float16 and back inside, a 1x1 convolution head, pooling.
 */
function tinyHalfClassifier(): Uint8Array {
  const vi = (name: string, elemType: number, dims: (number | string)[]) =>
    onnx.ValueInfoProto.create({
      name,
      type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
    });
  const w = Array.from({ length: 6 * 3 * 3 * 3 }, (_, i) => Math.sin(i * 0.7) * 0.5);
  const bias = Array.from({ length: 6 }, (_, i) => 0.1 * i - 0.2);
  const head = Array.from({ length: 10 * 6 }, (_, i) => Math.cos(i) * 0.3);
  const graph = onnx.GraphProto.create({
    name: 'tiny-half',
    node: [
      onnx.NodeProto.create({ opType: 'Constant', output: ['scale'], attribute: [{ name: 'value', type: 4, t: halfTensor('scale', [1], [0.5]) }] }),
      onnx.NodeProto.create({ opType: 'Mul', input: ['x', 'scale'], output: ['scaled'] }),
      onnx.NodeProto.create({ opType: 'Conv', input: ['scaled', 'w', 'b'], output: ['conv'], attribute: [{ name: 'kernel_shape', type: 7, ints: [3, 3] }, { name: 'pads', type: 7, ints: [1, 1, 1, 1] }] }),
      onnx.NodeProto.create({ opType: 'Relu', input: ['conv'], output: ['map'] }),
      // A round trip through float32 inside the graph: its Casts must follow the widening.
      onnx.NodeProto.create({ opType: 'Cast', input: ['map'], output: ['map32'], attribute: [{ name: 'to', type: 2, i: F32 }] }),
      onnx.NodeProto.create({ opType: 'Cast', input: ['map32'], output: ['map16'], attribute: [{ name: 'to', type: 2, i: F16 }] }),
      onnx.NodeProto.create({ opType: 'Conv', input: ['map16', 'head_w'], output: ['logits_map'], attribute: [{ name: 'kernel_shape', type: 7, ints: [1, 1] }] }),
      onnx.NodeProto.create({ opType: 'Relu', input: ['logits_map'], output: ['relu_logits'] }),
      onnx.NodeProto.create({ opType: 'GlobalAveragePool', input: ['relu_logits'], output: ['pooled'] }),
      onnx.NodeProto.create({ opType: 'Softmax', input: ['pooled'], output: ['prob'] }),
    ],
    initializer: [halfTensor('w', [6, 3, 3, 3], w), halfTensor('b', [6], bias, true), halfTensor('head_w', [10, 6, 1, 1], head)],
    input: [vi('x', F16, [1, 3, 8, 8])],
    output: [vi('prob', F16, [1, 10, 1, 1])],
    valueInfo: [vi('map', F16, [1, 6, 8, 8])],
  });
  return onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 7, opsetImport: [{ domain: '', version: 12 }], graph })).finish();
}

test('halfToFloat decodes binary16 exactly: normals, subnormals, zeros, infinities, NaN', () => {
  assert.equal(halfToFloat(0x3c00), 1);
  assert.equal(halfToFloat(0xc000), -2);
  assert.equal(halfToFloat(0x3555), 0.333251953125);
  assert.equal(halfToFloat(0x7bff), 65504);
  assert.equal(halfToFloat(0x0001), 2 ** -24);
  assert.equal(halfToFloat(0x03ff), 1023 * 2 ** -24);
  assert.ok(Object.is(halfToFloat(0x8000), -0));
  assert.equal(halfToFloat(0x7c00), Infinity);
  assert.equal(halfToFloat(0xfc00), -Infinity);
  assert.ok(Number.isNaN(halfToFloat(0x7e00)));
  for (const x of [0.1, -3.75, 1e-3, 1234.5]) assert.ok(Math.abs(halfToFloat(toHalf(x)) - x) <= Math.abs(x) * 2 ** -11);
});

test('a float16 graph cut and widened to float32 gives the float16 graph outputs within 1e-3, and holds no float16', async () => {
  const source = tinyHalfClassifier();
  const kept = headCutModel(source, { pooling: 'max', float16: 'keep' });
  const widened = headCutModel(source, { pooling: 'avg' });
  const keptAvg = headCutModel(source, { pooling: 'avg', float16: 'keep' });
  // The 1x1 convolution to the 10 classes is the head: both cut at the map that feeds it.
  assert.equal(widened.featureTensor, 'map16');
  assert.equal(kept.featureTensor, 'map16');

  const model = onnx.ModelProto.decode(widened.bytes);
  const g = model.graph as onnxProto.onnx.GraphProto;
  assert.ok(g.initializer.length >= 2);
  assert.ok(g.initializer.every((t) => t.dataType === F32), 'every initializer is float32');
  const types = [...g.input, ...g.output, ...g.valueInfo].map((v) => v.type?.tensorType?.elemType);
  assert.ok(types.every((t) => t === F32), `every declared type is float32: ${types.join(',')}`);
  const attrs = g.node.flatMap((n) => n.attribute ?? []);
  assert.ok(attrs.every((a) => !(a.name === 'to' && Number(a.i) === F16)), 'no Cast to float16 is left');
  assert.ok(attrs.every((a) => !a.t || a.t.dataType === F32), 'Constant tensors are float32');
  assert.equal(hasFloat16(g), false);
  assert.equal(hasFloat16(onnx.ModelProto.decode(tinyHalfClassifier()).graph!), true);

  const x = new Float32Array(2 * 3 * 8 * 8).map((_, i) => Math.sin(i * 0.37) * 4);
  const run = async (bytes: Uint8Array) => {
    const s = await ort.InferenceSession.create(bytes);
    const out = await s.run({ [s.inputNames[0]!]: new ort.Tensor('float32', x, [2, 3, 8, 8]) });
    await s.release();
    return { data: Array.from(out[s.outputNames[0]!]!.data as Float32Array), dims: out[s.outputNames[0]!]!.dims };
  };
  const a = await run(keptAvg.bytes);
  const b = await run(widened.bytes);
  assert.deepEqual(b.dims, [2, 6]);
  assert.deepEqual(a.dims, b.dims);
  assert.ok(b.data.some((v) => v > 0.05), 'the features are not all zero');
  a.data.forEach((v, i) => assert.ok(Math.abs(v - b.data[i]!) < 1e-3, `feature ${i}: float16 ${v} vs float32 ${b.data[i]}`));
  // The widened graph computes in float32: it does not land on float16 values everywhere, as the kept one does.
  assert.ok(b.data.some((v) => halfToFloat(toHalf(v)) !== v || v === 0));
  await run(kept.bytes); // the kept graph still runs, with its casts
});

test('widenFloat16 leaves a float32 graph untouched', () => {
  const g = onnx.GraphProto.create({
    node: [onnx.NodeProto.create({ opType: 'Cast', input: ['a'], output: ['b'], attribute: [{ name: 'to', type: 2, i: F32 }] })],
    initializer: [onnx.TensorProto.create({ name: 'w', dims: [1], dataType: F32, floatData: [2] })],
  });
  assert.equal(widenFloat16(g), 0);
  assert.deepEqual(g.initializer[0]!.floatData, [2]);
});
