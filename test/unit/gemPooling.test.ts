import assert from 'node:assert/strict';
import { test } from 'node:test';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { GEM_TUNING, headCutModel, poolingKey } from '../../src/embedding/headCut.js';

const { onnx } = onnxProto;
const DataType = onnx.TensorProto.DataType;

/**
 * A classifier whose feature map is its input: x [N,2,2,2] -> Relu (`map`) -> GlobalAveragePool -> Flatten -> Gemm
 * (2 -> 1, weights 1). In float16 with `half` (as the shipped SqueezeNet is), at an IR version and opset as old as
 * SqueezeNet's (3 and 7) with `old`, where every initializer must also be a graph input.
 */
function identityClassifier(options: { half?: boolean; old?: boolean } = {}): Uint8Array {
  const elem = options.half ? DataType.FLOAT16 : DataType.FLOAT;
  // 1.0 in IEEE half precision is 0x3c00.
  const ones = options.half ? new Uint8Array(new Uint16Array([0x3c00, 0x3c00]).buffer) : new Uint8Array(new Float32Array([1, 1]).buffer);
  const vi = (name: string, dims: (number | string)[]) =>
    onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: elem, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } } });
  const graph = onnx.GraphProto.create({
    name: 'identity-map',
    node: [
      onnx.NodeProto.create({ name: 'relu', opType: 'Relu', input: ['x'], output: ['map'] }),
      onnx.NodeProto.create({ name: 'pool', opType: 'GlobalAveragePool', input: ['map'], output: ['pooled'] }),
      onnx.NodeProto.create({ name: 'flatten', opType: 'Flatten', input: ['pooled'], output: ['flat'], attribute: [{ name: 'axis', type: 2, i: 1 }] }),
      onnx.NodeProto.create({ name: 'head', opType: 'Gemm', input: ['flat', 'head_w'], output: ['logits'], attribute: [{ name: 'transB', type: 2, i: 1 }] }),
    ],
    initializer: [onnx.TensorProto.create({ name: 'head_w', dims: [1, 2], dataType: elem, rawData: ones })],
    input: [vi('x', ['N', 2, 2, 2]), ...(options.old ? [vi('head_w', [1, 2])] : [])],
    output: [vi('logits', ['N', 1])],
  });
  const model = onnx.ModelProto.create({ irVersion: options.old ? 3 : 7, opsetImport: [{ domain: '', version: options.old ? 7 : 13 }], graph });
  return onnx.ModelProto.encode(model).finish();
}

async function pool(bytes: Uint8Array, pixels: number[], batch = 1, float16: 'widen' | 'keep' = 'widen'): Promise<number[]> {
  const cut = headCutModel(bytes, { pooling: 'gem', float16 });
  assert.equal(cut.featureTensor, 'map');
  const s = await ort.InferenceSession.create(cut.bytes);
  try {
    const out = await s.run({ [cut.inputName]: new ort.Tensor('float32', Float32Array.from(pixels), [batch, 2, 2, 2]) });
    assert.deepEqual(out[cut.outputName]!.dims, [batch, 2]);
    return Array.from(out[cut.outputName]!.data as Float32Array);
  } finally {
    await s.release();
  }
}

const close = (got: number[], want: number[], what: string) =>
  want.forEach((w, i) => assert.ok(Math.abs(got[i]! - w) <= 1e-4 * Math.max(1, Math.abs(w)), `${what}[${i}]: ${got[i]} vs ${w}`));

test('GeM pools each channel to (mean of x^p)^(1/p): known numbers at p = 3 and p = 2, between the average and the maximum', async () => {
  // Channel 0 holds 1, 2, 3, 4; channel 1 holds 0, -5, 0, 2 (the ReLU before the cut makes the -5 a 0).
  const pixels = [1, 2, 3, 4, 0, -5, 0, 2];
  assert.equal(GEM_TUNING.power, 3);
  const p3 = await pool(identityClassifier(), pixels);
  close(p3, [Math.cbrt((1 + 8 + 27 + 64) / 4), Math.cbrt(8 / 4)], 'p = 3');
  assert.ok(p3[0]! > 2.5 && p3[0]! < 4, 'between the average (2.5) and the maximum (4)');
  GEM_TUNING.power = 2;
  try {
    close(await pool(identityClassifier(), pixels), [Math.sqrt((1 + 4 + 9 + 16) / 4), Math.sqrt(4 / 4)], 'p = 2');
    assert.equal(poolingKey('gem'), 'gem2', 'a graph cut at another power is cached under another name');
  } finally {
    GEM_TUNING.power = 3;
  }
  assert.equal(poolingKey('gem'), 'gem3');
  assert.equal(poolingKey('max'), 'max');
});

test('GeM of a float16 graph is computed in float32 (x^3 of 50 overflows float16), widened or kept in float16, batched, also at IR version 3 / opset 7', async () => {
  // Two photos: the first's channel 0 is 50 everywhere (50^3 = 125,000 > 65,504, the float16 maximum).
  const pixels = [50, 50, 50, 50, 1, 1, 1, 1, 0, 0, 0, 8, 3, 3, 3, 3];
  const want = [50, 1, Math.cbrt(512 / 4), 3];
  close(await pool(identityClassifier({ half: true }), pixels, 2), want, 'float16');
  close(await pool(identityClassifier({ half: true, old: true }), pixels, 2), want, 'float16, IR 3');
  // Kept in float16 (the graph is not widened), GeM needs its own cast to float32.
  close(await pool(identityClassifier({ half: true }), pixels, 2, 'keep'), want, 'float16 kept');
  close(await pool(identityClassifier({ half: true, old: true }), pixels, 2, 'keep'), want, 'float16 kept, IR 3');
  close(await pool(identityClassifier({ old: true }), pixels, 2), want, 'float32, IR 3');
});

test('a power that is not positive is refused', () => {
  GEM_TUNING.power = 0;
  try {
    assert.throws(() => headCutModel(identityClassifier(), { pooling: 'gem' }), /positive GeM power/);
  } finally {
    GEM_TUNING.power = 3;
  }
});
