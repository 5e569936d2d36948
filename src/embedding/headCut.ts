import onnxProto from 'onnx-proto';
import { FashionError } from '../errors.js';
import { hasFloat16, widenFloat16 } from './float32Graph.js';

const { onnx } = onnxProto;
type Node = onnxProto.onnx.INodeProto;
const DataType = onnx.TensorProto.DataType;
const AttrType = onnx.AttributeProto.AttributeType;

/**
 * Global pooling of the feature map: 'max' (Keras `pooling='max'`, the classic design), 'avg', or 'gem', the generalised
 * mean (mean of x^p)^(1/p) over the map (Radenović et al., "Fine-tuning CNN image retrieval with no human annotation"):
 * p = 1 is the average, p -> infinity the maximum; in between it weighs the strongest responses without resting on one
 * pixel, which a blur, a smaller product or a coarser resampling moves (issue 21).
 */
export type Pooling = 'max' | 'avg' | 'gem';
export const POOLINGS: readonly Pooling[] = ['max', 'avg', 'gem'];

/**
 * GeM's power. 3 is the usual choice in image retrieval; bench/pooling.ts sweeps it (as ISOLATE_TUNING is swept), and
 * `poolingKey` names the cut graph by it, so a graph cut at one power is never read back as another.
 */
export const GEM_TUNING = { power: 3 };

/** What names a pooling in cached graphs: the kind, and for GeM its power. */
export function poolingKey(pooling: Pooling): string {
  return pooling === 'gem' ? `gem${GEM_TUNING.power}` : pooling;
}

export interface HeadCutOptions {
  /** Global pooling applied to the feature map. */
  readonly pooling: Pooling;
  /** Name of a tensor to pool instead of the one found automatically (e.g. `fire9/concat_1`). */
  readonly cutAt?: string | undefined;
  /**
   * A float16 graph is widened to float32 (src/embedding/float32Graph.ts: the CPU kernels then run natively) unless
   * `keep`, which runs it in float16 between casts at both ends, as before; kept for benchmarks and the check of vectors.
   */
  readonly float16?: 'widen' | 'keep' | undefined;
}

export interface HeadCutModel {
  /** The edited ONNX graph: float32 input `pixels` [N,3,H,W], float32 output `features` [N,C]. */
  readonly bytes: Uint8Array;
  /** The feature map that is pooled. */
  readonly featureTensor: string;
  readonly inputName: string;
  readonly outputName: string;
  /** Whether the source graph fixed the batch at one (then the session is fed one image at a time). */
  readonly sourceBatchFixed: boolean;
}

const POOLING_OPS = new Set(['GlobalAveragePool', 'GlobalMaxPool', 'QLinearGlobalAveragePool']);
const ACTIVATIONS = new Set(['Relu', 'Clip', 'Sigmoid', 'Softmax', 'LeakyRelu', 'HardSigmoid']);
const PASS_THROUGH = new Set(['Dropout', 'Identity']);
const INPUT_NAME = 'pixels';
const OUTPUT_NAME = 'features';

/**
 * Turns an ImageNet classifier into a feature extractor, as Keras' `include_top=False, pooling=...` does:
 * finds the global pooling that feeds the classifier, takes the feature map before it, dequantizes it
 * when the graph is quantized, pools it (max or average), flattens to [N,C] float32, and drops
 * everything after. A float16 graph is widened to float32 (or, with `float16: 'keep'`, gets float32 casts at both
 * ends), and a fixed batch becomes dynamic.
 */
export function headCutModel(source: Uint8Array, options: HeadCutOptions): HeadCutModel {
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(source);
  } catch (err) {
    throw new FashionError('model/unsupported', `Expected an ONNX model but the file could not be parsed: ${(err as Error).message}`);
  }
  const graph = model.graph as onnxProto.onnx.GraphProto | null;
  if (!graph || graph.node.length === 0) throw new FashionError('model/unsupported', 'Expected an ONNX model with a graph but it has no nodes');
  if (options.float16 !== 'keep' && hasFloat16(graph)) widenFloat16(graph);

  const initializers = new Set(graph.initializer.map((t) => t.name));
  const dataInputs = graph.input.filter((i) => !initializers.has(i.name));
  if (dataInputs.length !== 1) {
    throw new FashionError('model/unsupported', `Expected an image classifier with one input but the graph has ${dataInputs.length}: ${dataInputs.map((i) => i.name).join(', ')}`);
  }
  const input = dataInputs[0]!;
  const inputType = input.type?.tensorType?.elemType ?? DataType.FLOAT;
  if (inputType !== DataType.FLOAT && inputType !== DataType.FLOAT16) {
    throw new FashionError('model/unsupported', `Expected a float32 or float16 image input but ${input.name} has ONNX type ${inputType}`);
  }
  const dims = input.type?.tensorType?.shape?.dim ?? [];
  const sourceBatchFixed = dims.length > 0 && dims[0]!.dimValue != null && Number(dims[0]!.dimValue) === 1;

  const producer = new Map<string, Node>();
  for (const node of graph.node) for (const out of node.output ?? []) producer.set(out, node);

  let featureTensor: string;
  let poolNode: Node | undefined;
  if (options.cutAt) {
    if (!producer.has(options.cutAt)) {
      throw new FashionError('model/unsupported', `Expected --cut-at to name a tensor of the graph but ${JSON.stringify(options.cutAt)} is produced by no node`);
    }
    featureTensor = options.cutAt;
  } else {
    poolNode = findClassifierPooling(graph.node);
    featureTensor = skipConvolutionalHead(poolNode.input![0]!, producer, initializers, graph.initializer, classCount(model));
  }

  const nodes: Node[] = [];
  let mapTensor = dequantized(featureTensor, producer, graph.node, poolNode, nodes);
  let half = inputType === DataType.FLOAT16;
  if (options.pooling === 'gem' && half) {
    // x^p overflows float16 (65504) for activations above ~40 at p = 3: GeM is computed in float32.
    nodes.push(node('Cast', [mapTensor], ['fashion_map_float'], [intAttr('to', DataType.FLOAT)]));
    mapTensor = 'fashion_map_float';
    half = false;
  }

  // A float16 graph kept as it is (`float16: 'keep'`): the ONNX CPU kernels cover float16 through inserted casts; the
  // product works in float32 end to end.
  const pooled = options.pooling === 'gem' ? generalisedMean(mapTensor, GEM_TUNING.power, nodes, graph.initializer) : 'fashion_pooled';
  if (options.pooling !== 'gem') nodes.push(node(options.pooling === 'max' ? 'GlobalMaxPool' : 'GlobalAveragePool', [mapTensor], [pooled]));
  nodes.push(node('Flatten', [pooled], half ? ['fashion_flat'] : [OUTPUT_NAME], [intAttr('axis', 1)]));
  if (half) nodes.push(node('Cast', ['fashion_flat'], [OUTPUT_NAME], [intAttr('to', DataType.FLOAT)]));
  mapTensor = OUTPUT_NAME;

  const head: Node[] = [];
  if (inputType === DataType.FLOAT16) {
    head.push(node('Cast', [INPUT_NAME], [input.name!], [intAttr('to', DataType.FLOAT16)]));
  }
  const inputName = inputType === DataType.FLOAT16 ? INPUT_NAME : input.name!;
  graph.node = prune([...head, ...graph.node, ...nodes], OUTPUT_NAME);

  const used = new Set(graph.node.flatMap((n) => n.input ?? []));
  graph.initializer = graph.initializer.filter((t) => used.has(t.name!));
  // Before IR version 4 every initializer had to be a graph input too: the ones the pooling added become inputs there.
  const added = Number(model.irVersion ?? 0) < 4 ? graph.initializer.filter((t) => !initializers.has(t.name)).map((t) => valueInfo(t.name!, DataType.FLOAT, [])) : [];
  graph.input = [
    // Batch and spatial size are left open: the convolutional trunk accepts any resolution (--size).
    valueInfo(inputName, DataType.FLOAT, ['batch', dims[1]?.dimValue != null ? Number(dims[1].dimValue) : 3, 'height', 'width']),
    ...graph.input.filter((i) => initializers.has(i.name!) && used.has(i.name!)),
    ...added,
  ];
  graph.output = [valueInfo(OUTPUT_NAME, DataType.FLOAT, ['batch', 'channels'])];
  // Shapes recorded for the old graph may pin the batch at one; the runtime infers them again.
  graph.valueInfo = [];
  return { bytes: onnx.ModelProto.encode(model).finish(), featureTensor, inputName, outputName: OUTPUT_NAME, sourceBatchFixed };
}

/**
 * GeM over H,W of a float32 map: Relu (the power needs x >= 0; the maps cut here follow a ReLU, so it changes nothing
 * there), Pow p, GlobalAveragePool, Pow 1/p. Every op is in ONNX since opset 7, the oldest the shipped models use.
 */
function generalisedMean(map: string, power: number, nodes: Node[], initializers: onnxProto.onnx.ITensorProto[]): string {
  if (!(power > 0)) throw new FashionError('model/unsupported', `Expected a positive GeM power but got ${power}`);
  initializers.push(scalar('fashion_gem_p', power), scalar('fashion_gem_inverse_p', 1 / power));
  nodes.push(
    node('Relu', [map], ['fashion_gem_positive']),
    node('Pow', ['fashion_gem_positive', 'fashion_gem_p'], ['fashion_gem_powered']),
    node('GlobalAveragePool', ['fashion_gem_powered'], ['fashion_gem_mean']),
    node('Pow', ['fashion_gem_mean', 'fashion_gem_inverse_p'], ['fashion_pooled']),
  );
  return 'fashion_pooled';
}

function scalar(name: string, value: number): onnxProto.onnx.ITensorProto {
  return onnx.TensorProto.create({ name, dims: [], dataType: DataType.FLOAT, floatData: [value] });
}

function findClassifierPooling(nodes: Node[]): Node {
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i]!;
    if (POOLING_OPS.has(n.opType!)) return n;
    if ((n.opType === 'ReduceMean' || n.opType === 'ReduceMax') && isSpatialAxes(n)) return n;
  }
  throw new FashionError(
    'model/unsupported',
    'Expected a global pooling (GlobalAveragePool, ReduceMean over H,W, ...) before the classifier but found none; name the feature map with --cut-at TENSOR',
  );
}

function isSpatialAxes(n: Node): boolean {
  const axes = n.attribute?.find((a) => a.name === 'axes')?.ints?.map(Number) ?? [];
  return axes.length === 2 && ((axes[0] === 2 && axes[1] === 3) || (axes[0] === -2 && axes[1] === -1));
}

function classCount(model: onnxProto.onnx.ModelProto): number | null {
  const dims = model.graph?.output?.[0]?.type?.tensorType?.shape?.dim ?? [];
  const sizes = dims.map((d) => (d.dimValue != null ? Number(d.dimValue) : 0)).filter((v) => v > 1);
  return sizes.length === 1 ? sizes[0]! : null;
}

/**
 * Fully convolutional classifiers (SqueezeNet) put the head before the pooling: a 1x1 convolution to the
 * class count, then an activation. The features are the map that feeds that convolution.
 */
function skipConvolutionalHead(
  tensor: string,
  producer: Map<string, Node>,
  initializerNames: Set<string | null | undefined>,
  initializers: onnxProto.onnx.ITensorProto[],
  classes: number | null,
): string {
  let t = tensor;
  let p = producer.get(t);
  while (p && ACTIVATIONS.has(p.opType!)) {
    t = p.input![0]!;
    p = producer.get(t);
  }
  if (!p || p.opType !== 'Conv' || classes == null || !initializerNames.has(p.input![1])) return tensor;
  const weight = initializers.find((w) => w.name === p!.input![1]);
  const shape = weight?.dims?.map(Number) ?? [];
  if (shape.length !== 4 || shape[0] !== classes || shape[2] !== 1 || shape[3] !== 1) return tensor;
  t = p.input![0]!;
  p = producer.get(t);
  while (p && PASS_THROUGH.has(p.opType!)) {
    t = p.input![0]!;
    p = producer.get(t);
  }
  return t;
}

/** Returns a float version of `tensor`, adding a DequantizeLinear when it is a quantized (QLinear) tensor. */
function dequantized(tensor: string, producer: Map<string, Node>, all: Node[], pool: Node | undefined, added: Node[]): string {
  const p = producer.get(tensor);
  const quantized = p != null && (p.opType!.startsWith('QLinear') || p.opType === 'QuantizeLinear' || p.opType === 'MaxPool' && tensor.endsWith('_quantized'));
  if (!quantized) return tensor;
  const existing = all.find((n) => n.opType === 'DequantizeLinear' && n.input![0] === tensor);
  if (existing) return existing.output![0]!;
  let scaleZp: [string, string] | null = null;
  if (pool?.opType === 'QLinearGlobalAveragePool' && pool.input![0] === tensor) scaleZp = [pool.input![1]!, pool.input![2]!];
  else if (p.opType === 'QLinearConv' || p.opType === 'QLinearAdd' || p.opType === 'QLinearMul') scaleZp = [p.input![6]!, p.input![7]!];
  else if (p.opType === 'QuantizeLinear') scaleZp = [p.input![1]!, p.input![2]!];
  if (!scaleZp) {
    throw new FashionError('model/unsupported', `Expected to find the quantization scale of ${tensor} (made by ${p.opType}) but could not; pick another tensor with --cut-at`);
  }
  const out = `${tensor}_fashion_dequantized`;
  added.push(node('DequantizeLinear', [tensor, ...scaleZp], [out]));
  return out;
}

/** Keeps only the nodes that the output depends on. */
function prune(nodes: Node[], output: string): Node[] {
  const needed = new Set([output]);
  const keep: boolean[] = new Array(nodes.length).fill(false);
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i]!;
    if ((n.output ?? []).some((o) => needed.has(o))) {
      keep[i] = true;
      for (const inp of n.input ?? []) if (inp) needed.add(inp);
    }
  }
  return nodes.filter((_, i) => keep[i]);
}

/** A graph node; its name, made from its type and first output, is unique as long as that output is. */
export function node(opType: string, input: string[], output: string[], attribute: onnxProto.onnx.IAttributeProto[] = []): Node {
  return onnx.NodeProto.create({ opType, input, output, attribute, name: `fashion_${opType}_${output[0]}` });
}

export function intAttr(name: string, i: number): onnxProto.onnx.IAttributeProto {
  return onnx.AttributeProto.create({ name, type: AttrType.INT, i });
}

export function valueInfo(name: string, elemType: number, shape: (number | string)[]): onnxProto.onnx.ValueInfoProto {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  });
}
