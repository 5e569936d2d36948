import onnxProto from 'onnx-proto';
import { FashionError } from '../errors.js';
import { node } from './headCut.js';

const { onnx } = onnxProto;
type Node = onnxProto.onnx.INodeProto;
type Tensor = onnxProto.onnx.ITensorProto;
const DataType = onnx.TensorProto.DataType;

/**
 * What a static int8 quantization of a float graph needs to know of its activations, measured on photos
 * (bench/calibrateInt8.ts): the range of the graph's input, and for every ReLU output an upper bound (its lower bound is 0).
 */
export interface ActivationRanges {
  readonly input: { readonly min: number; readonly max: number };
  /** ReLU output tensor -> the largest value quantized exactly; larger ones saturate. */
  readonly relu: Readonly<Record<string, number>>;
}

/** Names what quantizeInt8 makes: raised whenever its output for the same graph and ranges changes (it keys the cached graphs). */
export const INT8_QUANTIZER_VERSION = 1;

/**
 * Rewrites a float32 head-cut graph (src/embedding/headCut.ts) of convolutions, ReLUs, max pools and concatenations
 * (SqueezeNet) as onnxruntime's quantized operators, the form of the shipped MobileNetV2-int8 (QLinearConv with uint8
 * activations and int8 weights per output channel, the form onnxruntime's CPU provider runs with its integer GEMM):
 *
 * - the input is quantized once (QuantizeLinear, uint8, asymmetric over the calibrated input range);
 * - every Conv whose only consumer is a ReLU becomes one QLinearConv: weights int8, symmetric per output channel
 *   (scale = max |w| / 127, zero point 0), bias int32 at the input scale times the weight scale, output uint8 with zero
 *   point 0 over [0, calibrated bound]: the saturation at 0 is the ReLU, which goes;
 * - MaxPool runs on the uint8 tensor as it is (the maximum commutes with a monotone quantization), and so does Concat
 *   once its inputs share one scale: the calibrated bounds of a concatenation's inputs are unified to their largest;
 * - any other node (the pooling that the head cut added) gets its inputs dequantized (DequantizeLinear) and runs in float.
 *
 * Deterministic: the same float graph and ranges give the same bytes on every machine (IEEE arithmetic, no clock, no
 * randomness). The opset is raised to 13 (QLinearConv is 10's, uint8 MaxPool 12's; the head-cut graph's operators mean
 * the same there) and the IR version to 7, where weights are constants rather than graph inputs, so the optimiser may
 * fold and pre-pack them.
 */
export function quantizeInt8(floatGraph: Uint8Array, ranges: ActivationRanges): Uint8Array {
  const model = onnx.ModelProto.decode(floatGraph);
  const graph = model.graph!;
  const weights = new Map<string, Tensor>((graph.initializer ?? []).map((t) => [t.name!, t]));
  const dataInputs = (graph.input ?? []).filter((i) => !weights.has(i.name!));
  if (dataInputs.length !== 1) throw new FashionError('model/unsupported', `Expected one data input to quantize but the graph has ${dataInputs.length}`);
  const inputName = dataInputs[0]!.name!;
  const consumers = new Map<string, Node[]>();
  for (const n of graph.node ?? []) for (const i of n.input ?? []) consumers.set(i, [...(consumers.get(i) ?? []), n]);

  // Bounds per ReLU output, the inputs of one Concat unified to their largest so that the concatenation is of equal scales.
  const bound = new Map<string, number>(Object.entries(ranges.relu));
  for (const n of graph.node ?? []) {
    if (n.opType !== 'Concat' || !(n.input ?? []).every((i) => bound.has(i))) continue;
    const top = Math.max(...n.input!.map((i) => bound.get(i)!));
    for (const i of n.input!) bound.set(i, top);
  }

  const out: Node[] = [];
  const added: Tensor[] = [];
  /** Tensors held quantized: float name -> the uint8 tensor and the names of its scale and zero point. */
  const quantized = new Map<string, { q: string; scale: string; zeroPoint: string; scaleValue: number; zeroValue: number }>();
  /** Float tensors made available (the input, node outputs run in float, dequantized ones). */
  const floats = new Set<string>([inputName, ...weights.keys()]);
  const fused = new Set<Node>();

  const quantParams = (name: string, scale: number, zero: number) => {
    const s = Math.fround(Math.max(scale, 1e-12));
    added.push(floatScalar(`${name}_scale`, s), uint8Scalar(`${name}_zero_point`, zero));
    const entry = { q: `${name}_quantized`, scale: `${name}_scale`, zeroPoint: `${name}_zero_point`, scaleValue: s, zeroValue: zero };
    quantized.set(name, entry);
    return entry;
  };
  const asQuantized = (name: string) => {
    const have = quantized.get(name);
    if (have) return have;
    if (name !== inputName) return null;
    // The input: asymmetric uint8 over its calibrated range (which must hold 0, as a zero point does).
    const lo = Math.min(0, ranges.input.min);
    const hi = Math.max(0, ranges.input.max);
    const scale = (hi - lo) / 255;
    const entry = quantParams(name, scale, Math.min(255, Math.max(0, Math.round(-lo / Math.fround(scale)))));
    out.push(node('QuantizeLinear', [name, entry.scale, entry.zeroPoint], [entry.q]));
    return entry;
  };
  const asFloat = (name: string) => {
    if (floats.has(name) || !quantized.has(name)) return name;
    const q = quantized.get(name)!;
    out.push(node('DequantizeLinear', [q.q, q.scale, q.zeroPoint], [name]));
    floats.add(name);
    return name;
  };

  for (const n of graph.node ?? []) {
    if (fused.has(n)) continue;
    const ins = n.input ?? [];
    if (n.opType === 'Conv') {
      const next = consumers.get(n.output![0]!) ?? [];
      const relu = next.length === 1 && next[0]!.opType === 'Relu' ? next[0]! : null;
      const w = weights.get(ins[1]!);
      const b = ins[2] ? weights.get(ins[2]) : undefined;
      const top = relu ? bound.get(relu.output![0]!) : undefined;
      const x = relu && w && top !== undefined && (ins.length < 3 || b) ? asQuantized(ins[0]!) : null;
      if (relu && w && top !== undefined && x) {
        const y = quantParams(relu.output![0]!, top / 255, 0);
        const { q: wq, scales } = perChannelInt8(floatsOf(w), w.dims!.map(Number));
        const wName = `${ins[1]}_quantized`;
        added.push(
          onnx.TensorProto.create({ name: wName, dims: w.dims, dataType: DataType.INT8, rawData: new Uint8Array(wq.buffer) }),
          onnx.TensorProto.create({ name: `${ins[1]}_scale`, dims: [scales.length], dataType: DataType.FLOAT, rawData: new Uint8Array(scales.buffer) }),
          onnx.TensorProto.create({ name: `${ins[1]}_zero_point`, dims: [scales.length], dataType: DataType.INT8, rawData: new Uint8Array(scales.length) }),
        );
        const qIns = [x.q, x.scale, x.zeroPoint, wName, `${ins[1]}_scale`, `${ins[1]}_zero_point`, y.scale, y.zeroPoint];
        if (b) {
          const bias = floatsOf(b);
          const bq = new Int32Array(bias.length);
          for (let c = 0; c < bias.length; c++) bq[c] = clamp(Math.round(bias[c]! / (x.scaleValue * scales[c]!)), -2147483648, 2147483647);
          added.push(onnx.TensorProto.create({ name: `${ins[2]}_quantized`, dims: [bq.length], dataType: DataType.INT32, rawData: new Uint8Array(bq.buffer) }));
          qIns.push(`${ins[2]}_quantized`);
        }
        out.push({ ...node('QLinearConv', qIns, [y.q]), attribute: n.attribute ?? [] });
        fused.add(relu);
        continue;
      }
    }
    if (n.opType === 'MaxPool' && (n.output ?? []).length === 1 && quantized.has(ins[0]!)) {
      const x = quantized.get(ins[0]!)!;
      const y = { q: `${n.output![0]}_quantized`, scale: x.scale, zeroPoint: x.zeroPoint, scaleValue: x.scaleValue, zeroValue: x.zeroValue };
      quantized.set(n.output![0]!, y);
      out.push({ ...n, input: [x.q], output: [y.q] });
      continue;
    }
    if (n.opType === 'Concat') {
      const xs = ins.map((i) => quantized.get(i));
      const first = xs[0];
      if (first && xs.every((x) => x && x.scaleValue === first.scaleValue && x.zeroValue === first.zeroValue)) {
        const y = { ...first, q: `${n.output![0]}_quantized` };
        quantized.set(n.output![0]!, y);
        out.push({ ...n, input: xs.map((x) => x!.q), output: [y.q] });
        continue;
      }
    }
    out.push({ ...n, input: ins.map((i) => (i ? asFloat(i) : i)) });
    for (const o of n.output ?? []) floats.add(o);
  }

  const used = new Set(out.flatMap((n) => n.input ?? []));
  graph.node = out;
  graph.initializer = [...(graph.initializer ?? []), ...added].filter((t) => used.has(t.name!));
  graph.input = [dataInputs[0]!];
  graph.valueInfo = [];
  model.irVersion = Math.max(Number(model.irVersion ?? 0), 7);
  const opsets = (model.opsetImport ?? []).filter((o) => (o.domain ?? '') !== '');
  const ai = (model.opsetImport ?? []).find((o) => (o.domain ?? '') === '');
  model.opsetImport = [{ domain: '', version: Math.max(Number(ai?.version ?? 0), 13) }, ...opsets];
  return onnx.ModelProto.encode(model).finish();
}

/** Symmetric int8 per output channel (axis 0): scale = max |w| / 127 (float32), values rounded and clipped to [-127, 127]. */
export function perChannelInt8(w: Float32Array, dims: readonly number[]): { q: Int8Array; scales: Float32Array } {
  const channels = dims[0]!;
  const per = w.length / channels;
  const q = new Int8Array(w.length);
  const scales = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    let top = 0;
    for (let i = c * per; i < (c + 1) * per; i++) top = Math.max(top, Math.abs(w[i]!));
    // A channel of zeros keeps a scale of 1: its weights quantize to 0 whatever it is.
    const s = Math.fround(top > 0 ? top / 127 : 1);
    scales[c] = s;
    for (let i = c * per; i < (c + 1) * per; i++) q[i] = clamp(Math.round(w[i]! / s), -127, 127);
  }
  return { q, scales };
}

function floatsOf(t: Tensor): Float32Array {
  if (t.dataType !== DataType.FLOAT) throw new FashionError('model/unsupported', `Expected float32 weights to quantize but ${t.name} has ONNX type ${t.dataType}`);
  if (t.rawData && t.rawData.length > 0) {
    // Copied out: the protobuf's bytes may sit at an unaligned offset of a larger buffer.
    const out = new Float32Array(t.rawData.length / 4);
    new Uint8Array(out.buffer).set(t.rawData);
    return out;
  }
  return Float32Array.from(t.floatData ?? []);
}

function floatScalar(name: string, v: number): Tensor {
  return onnx.TensorProto.create({ name, dims: [], dataType: DataType.FLOAT, rawData: new Uint8Array(new Float32Array([v]).buffer) });
}

function uint8Scalar(name: string, v: number): Tensor {
  return onnx.TensorProto.create({ name, dims: [], dataType: DataType.UINT8, rawData: new Uint8Array([v]) });
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}
