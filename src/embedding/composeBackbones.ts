import onnxProto from 'onnx-proto';
import { FashionError } from '../errors.js';
import type { Preprocess } from '../imaging/preprocess.js';
import { intAttr, node, valueInfo, type HeadCutModel } from './headCut.js';

const { onnx } = onnxProto;
type Node = onnxProto.onnx.INodeProto;
const DataType = onnx.TensorProto.DataType;

/** One head-cut classifier of a composed backbone, and the pixels it was trained on. */
export interface Trunk {
  readonly cut: Pick<HeadCutModel, 'bytes' | 'inputName' | 'outputName'>;
  readonly preprocess: Preprocess;
}

export const COMPOSED_INPUT = 'pixels';
export const COMPOSED_OUTPUT = 'features';

/**
 * One ONNX graph over several head-cut trunks fed the same photo: the input (normalised as `input` says) is
 * converted in the graph to each trunk's own normalisation and channel order; with `mirror`, each trunk also
 * sees the photo mirrored left to right and its two feature vectors are summed (the features of a product
 * then do not depend on which way it faces); each trunk's vector is scaled to unit length and the vectors
 * are concatenated. One session, one run per batch: the rest of the product sees one backbone vector.
 */
export function composeBackbones(trunks: readonly Trunk[], input: Preprocess, options: { mirror: boolean }): Uint8Array {
  if (trunks.length === 0) throw new Error('Expected at least one trunk to compose');
  const nodes: Node[] = [];
  const initializers: onnxProto.onnx.ITensorProto[] = [];
  const opsets = new Map<string, number>();
  let irVersion = 7;
  let resizing = false;
  const outputs: string[] = [];
  trunks.forEach((trunk, k) => {
    const p = trunk.preprocess;
    if (p.fit !== input.fit || p.kernel !== input.kernel || p.background.some((v, c) => v !== input.background[c])) {
      throw new FashionError('model/unsupported', `Expected every model of a composed backbone to take the same ${input.fit} fit of the photo but one wants ${p.fit}`);
    }
    const model = onnx.ModelProto.decode(trunk.cut.bytes);
    irVersion = Math.max(irVersion, Number(model.irVersion ?? 7));
    for (const o of model.opsetImport) opsets.set(o.domain ?? '', Math.max(opsets.get(o.domain ?? '') ?? 0, Number(o.version)));
    const graph = model.graph!;
    const prefix = `trunk${k}/`;
    const weights = new Set((graph.initializer ?? []).map((t) => t.name!));
    for (const t of graph.initializer ?? []) initializers.push({ ...t, name: prefix + t.name });
    let adapted = convertPixels(input, p, `${prefix}pixels`, nodes, initializers);
    if (p.size !== input.size) {
      adapted = resized(adapted, p.size, `${prefix}resized`, nodes, initializers);
      resizing = true;
    }
    const copies: Array<[string, string]> = [['', adapted]];
    if (options.mirror) {
      const flip = `${prefix}mirror/indices`;
      initializers.push(int64Tensor(flip, [p.size], Array.from({ length: p.size }, (_, x) => p.size - 1 - x)));
      nodes.push(node('Gather', [adapted, flip], [`${prefix}mirror/pixels`], [intAttr('axis', 3)]));
      copies.push(['mirror/', `${prefix}mirror/pixels`]);
    }
    const features = copies.map(([copy, pixels]) => {
      const rename = (t: string) => (!t ? t : t === trunk.cut.inputName ? pixels : weights.has(t) ? prefix + t : `${prefix}${copy}${t}`);
      (graph.node ?? []).forEach((n, i) => {
        nodes.push({ ...n, name: `${prefix}${copy}${n.name || `node${i}`}`, input: (n.input ?? []).map(rename), output: (n.output ?? []).map(rename) });
      });
      return rename(trunk.cut.outputName);
    });
    let summed = features[0]!;
    if (features.length > 1) {
      summed = `${prefix}sum`;
      nodes.push(node('Sum', features, [summed]));
    }
    const unit = `${prefix}unit`;
    nodes.push(node('LpNormalization', [summed], [unit], [intAttr('axis', 1), intAttr('p', 2)]));
    outputs.push(unit);
  });
  nodes.push(node('Concat', outputs, [COMPOSED_OUTPUT], [intAttr('axis', 1)]));
  const graph = onnx.GraphProto.create({
    name: 'composed-backbone',
    node: nodes,
    initializer: initializers,
    input: [valueInfo(COMPOSED_INPUT, DataType.FLOAT, ['batch', 3, input.size, input.size])],
    output: [valueInfo(COMPOSED_OUTPUT, DataType.FLOAT, ['batch', 'channels'])],
  });
  // Resize with `sizes` is opset 11's; the default backbone's MobileNetV2 already brings opset 12.
  if (resizing) opsets.set('', Math.max(opsets.get('') ?? 0, 11));
  const opsetImport = [...opsets].map(([domain, version]) => ({ domain, version }));
  return onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion, opsetImport, graph, producerName: 'fashion-recs' })).finish();
}

/**
 * The square `x` [N,3,S,S] resized to `side` x `side` for a trunk that takes another side than the photo was fitted to
 * (`--second-size`): bilinear, pixel centres aligned (half_pixel, as the product's own resampling). Not antialiased
 * (Resize's antialias needs opset 18, and raising a graph's opset changes the meaning of its older operators): the square
 * was already fitted with the widened triangle filter (src/imaging/resample.ts), and a shrink of up to 2x between pixel
 * centres then reads every source pixel (bench/sideRelevance.ts measures what the side costs in relevance).
 */
function resized(x: string, side: number, out: string, nodes: Node[], initializers: onnxProto.onnx.ITensorProto[]): string {
  // The batch stays open: sizes = [N, C] of the input, then the side twice.
  initializers.push(
    int64Tensor(`${out}/starts`, [1], [0]),
    int64Tensor(`${out}/ends`, [1], [2]),
    int64Tensor(`${out}/side`, [2], [side, side]),
    floatTensor(`${out}/roi`, [0], []),
    floatTensor(`${out}/scales`, [0], []),
  );
  nodes.push(
    node('Shape', [x], [`${out}/shape`]),
    node('Slice', [`${out}/shape`, `${out}/starts`, `${out}/ends`], [`${out}/batch_channels`]),
    node('Concat', [`${out}/batch_channels`, `${out}/side`], [`${out}/sizes`], [intAttr('axis', 0)]),
    node('Resize', [x, `${out}/roi`, `${out}/scales`, `${out}/sizes`], [out], [stringAttr('mode', 'linear'), stringAttr('coordinate_transformation_mode', 'half_pixel')]),
  );
  return out;
}

function stringAttr(name: string, value: string): onnxProto.onnx.IAttributeProto {
  return onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode(value) });
}

/**
 * Nodes turning pixels normalised as `from` into pixels normalised as `to`: per output channel, the input channel
 * holding the same colour, scaled and shifted (value = (byte * pixelScale - mean) / std on both sides).
 */
function convertPixels(from: Preprocess, to: Preprocess, out: string, nodes: Node[], initializers: onnxProto.onnx.ITensorProto[]): string {
  const source = (c: number) => (from.channelOrder === to.channelOrder ? c : 2 - c);
  const scale = [0, 1, 2].map((c) => (from.std[source(c)]! * to.pixelScale) / (from.pixelScale * to.std[c]!));
  const shift = [0, 1, 2].map((c) => ((from.mean[source(c)]! * to.pixelScale) / from.pixelScale - to.mean[c]!) / to.std[c]!);
  const same = from.channelOrder === to.channelOrder && scale.every((s) => Math.abs(s - 1) < 1e-9) && shift.every((s) => Math.abs(s) < 1e-9);
  if (same) return COMPOSED_INPUT;
  let x = COMPOSED_INPUT;
  if (from.channelOrder !== to.channelOrder) {
    initializers.push(int64Tensor(`${out}/order`, [3], [2, 1, 0]));
    nodes.push(node('Gather', [x, `${out}/order`], [`${out}/ordered`], [intAttr('axis', 1)]));
    x = `${out}/ordered`;
  }
  initializers.push(floatTensor(`${out}/scale`, [1, 3, 1, 1], scale), floatTensor(`${out}/shift`, [1, 3, 1, 1], shift));
  nodes.push(node('Mul', [x, `${out}/scale`], [`${out}/scaled`]), node('Add', [`${out}/scaled`, `${out}/shift`], [out]));
  return out;
}

function floatTensor(name: string, dims: number[], values: number[]): onnxProto.onnx.ITensorProto {
  return onnx.TensorProto.create({ name, dims, dataType: DataType.FLOAT, floatData: values });
}

function int64Tensor(name: string, dims: number[], values: number[]): onnxProto.onnx.ITensorProto {
  const raw = new BigInt64Array(values.map((v) => BigInt(v)));
  return onnx.TensorProto.create({ name, dims, dataType: DataType.INT64, rawData: new Uint8Array(raw.buffer) });
}
