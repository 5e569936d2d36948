/**
 * Toy inputs the unit tests make themselves: tiny ONNX classifiers (onnx-proto), crafted image bytes, seeded
 * numbers. Nothing here reads ../shared or imports test/helpers.ts.
 */
import { deflateSync } from 'node:zlib';
import onnxProto from 'onnx-proto';
import { COLOUR_DIMS } from '../../src/refine/colourFeatures.js';
import type { MlpWeights } from '../../src/refine/mlp.js';
import { RefineModel, type RefineHeader } from '../../src/refine/refineModel.js';
import { mulberry32 } from '../../src/util/random.js';

const { onnx } = onnxProto;

export { mulberry32 };

/** A seeded standard normal generator. */
export function gaussian(rand: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
}

function tensor(name: string, dims: number[], data: Float32Array): onnxProto.onnx.TensorProto {
  // A copy, so that rawData spans exactly this tensor's bytes.
  const bytes = new Uint8Array(data.slice().buffer);
  return onnx.TensorProto.create({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: bytes });
}

function valueInfo(name: string, dims: (number | string)[]): onnxProto.onnx.ValueInfoProto {
  return onnx.ValueInfoProto.create({
    name,
    type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  });
}

const INT = onnx.AttributeProto.AttributeType.INT;
const INTS = onnx.AttributeProto.AttributeType.INTS;

export interface ToyClassifier {
  readonly bytes: Uint8Array;
  /** Conv weights, channels x 3 x 3 x 3 (OIHW), and biases. */
  readonly convW: Float32Array;
  readonly convB: Float32Array;
  readonly channels: number;
  readonly classes: number;
  /** The tensor the head cut must pool: the ReLU after the convolution. */
  readonly featureTensor: string;
}

/**
 * A tiny image classifier: Conv 3x3 (3 -> channels, pad 1) -> Relu -> GlobalAveragePool -> Flatten -> Gemm (the
 * head, channels -> classes) -> Softmax, weights seeded. Input `image` [N,3,H,W] with a dynamic batch (or a
 * batch fixed at 1). With `convHead`, the classifier is fully convolutional as SqueezeNet is: a 1x1 convolution
 * to the classes and a ReLU come before the pooling, and there is no Gemm.
 */
export function toyClassifier(options: { channels?: number; classes?: number; seed?: number; fixedBatch?: boolean; convHead?: boolean } = {}): ToyClassifier {
  const channels = options.channels ?? 6;
  const classes = options.classes ?? 4;
  const rand = mulberry32(options.seed ?? 1);
  const g = gaussian(rand);
  const convW = Float32Array.from({ length: channels * 27 }, () => g() * 0.3);
  const convB = Float32Array.from({ length: channels }, () => g() * 0.1);
  const headW = Float32Array.from({ length: classes * channels }, () => g() * 0.5);
  const headB = Float32Array.from({ length: classes }, () => g() * 0.1);
  const nodes: onnxProto.onnx.NodeProto[] = [
    onnx.NodeProto.create({
      name: 'conv1',
      opType: 'Conv',
      input: ['image', 'conv1_w', 'conv1_b'],
      output: ['conv1_out'],
      attribute: [
        { name: 'kernel_shape', type: INTS, ints: [3, 3] },
        { name: 'pads', type: INTS, ints: [1, 1, 1, 1] },
      ],
    }),
    onnx.NodeProto.create({ name: 'relu1', opType: 'Relu', input: ['conv1_out'], output: ['relu1_out'] }),
  ];
  const initializer = [tensor('conv1_w', [channels, 3, 3, 3], convW), tensor('conv1_b', [channels], convB)];
  if (options.convHead) {
    nodes.push(
      onnx.NodeProto.create({ name: 'head', opType: 'Conv', input: ['relu1_out', 'head_w', 'head_b'], output: ['head_out'], attribute: [{ name: 'kernel_shape', type: INTS, ints: [1, 1] }] }),
      onnx.NodeProto.create({ name: 'head_relu', opType: 'Relu', input: ['head_out'], output: ['head_relu_out'] }),
      onnx.NodeProto.create({ name: 'pool', opType: 'GlobalAveragePool', input: ['head_relu_out'], output: ['pooled'] }),
      onnx.NodeProto.create({ name: 'flatten', opType: 'Flatten', input: ['pooled'], output: ['logits'], attribute: [{ name: 'axis', type: INT, i: 1 }] }),
    );
    initializer.push(tensor('head_w', [classes, channels, 1, 1], headW), tensor('head_b', [classes], headB));
  } else {
    nodes.push(
      onnx.NodeProto.create({ name: 'pool', opType: 'GlobalAveragePool', input: ['relu1_out'], output: ['pooled'] }),
      onnx.NodeProto.create({ name: 'flatten', opType: 'Flatten', input: ['pooled'], output: ['flat'], attribute: [{ name: 'axis', type: INT, i: 1 }] }),
      onnx.NodeProto.create({ name: 'head', opType: 'Gemm', input: ['flat', 'head_w', 'head_b'], output: ['logits'], attribute: [{ name: 'transB', type: INT, i: 1 }] }),
    );
    initializer.push(tensor('head_w', [classes, channels], headW), tensor('head_b', [classes], headB));
  }
  nodes.push(onnx.NodeProto.create({ name: 'softmax', opType: 'Softmax', input: ['logits'], output: ['probs'], attribute: [{ name: 'axis', type: INT, i: 1 }] }));
  const batch = options.fixedBatch ? 1 : 'N';
  const graph = onnx.GraphProto.create({
    name: 'toy',
    node: nodes,
    initializer,
    input: [valueInfo('image', [batch, 3, 'H', 'W'])],
    output: [valueInfo('probs', [batch, classes])],
  });
  const bytes = onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 7, opsetImport: [{ domain: '', version: 13 }], graph })).finish();
  return { bytes, convW, convB, channels, classes, featureTensor: 'relu1_out' };
}

/**
 * What the head-cut toy classifier should give for one CHW image, computed here in float64: the 3x3
 * convolution (zero padding), ReLU, then max or average over the whole map, per channel.
 */
export function toyFeatures(model: Pick<ToyClassifier, 'convW' | 'convB' | 'channels'>, image: Float32Array, h: number, w: number, pooling: 'max' | 'avg'): number[] {
  const out: number[] = [];
  for (let c = 0; c < model.channels; c++) {
    let max = -Infinity;
    let sum = 0;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let s = model.convB[c]!;
        for (let i = 0; i < 3; i++) {
          for (let ky = 0; ky < 3; ky++) {
            for (let kx = 0; kx < 3; kx++) {
              const yy = y + ky - 1;
              const xx = x + kx - 1;
              if (yy < 0 || xx < 0 || yy >= h || xx >= w) continue;
              s += model.convW[((c * 3 + i) * 3 + ky) * 3 + kx]! * image[(i * h + yy) * w + xx]!;
            }
          }
        }
        const a = Math.max(0, s);
        max = Math.max(max, a);
        sum += a;
      }
    }
    out.push(pooling === 'max' ? max : sum / (h * w));
  }
  return out;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([Buffer.from(type, 'latin1'), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/**
 * A valid-looking PNG whose header declares `width` x `height` RGB pixels but that carries the data of only one
 * short row: a decoder that trusts the header before checking the pixel limit would try to allocate it all.
 */
export function pngDeclaring(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(Buffer.alloc(16))),
    pngChunk('IEND', new Uint8Array(0)),
  ]);
}

/** Interleaved RGB bytes of `w` x `h` filled by `colour(x, y)`. */
export function rgbImage(w: number, h: number, colour: (x: number, y: number) => readonly [number, number, number]): { data: Uint8Array; width: number; height: number } {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set(colour(x, y), (y * w + x) * 3);
  return { data, width: w, height: h };
}

/**
 * A tiny refinement's header and weights: one articleType head with kinds A and B over `backboneDims` backbone values and
 * the colour features, random weights from `seed` (tests that need only the search vector's layout), hidden width 4.
 */
export function tinyRefinement(backboneDims: number, seed: number, fusion: Partial<RefineHeader['fusion']> = {}): { header: RefineHeader; weights: MlpWeights } {
  const heads = [{ field: 'articleType', weight: 1, classes: ['A', 'B'] }];
  const inDims = backboneDims + COLOUR_DIMS;
  const rng = mulberry32(seed);
  const weights = { inDims, hidden: 4, heads, w1: Float32Array.from({ length: inDims * 4 }, () => rng() - 0.5), b1: new Float32Array(4), w2: Float32Array.from({ length: 8 }, () => rng() - 0.5), b2: new Float32Array(2) };
  const header: RefineHeader = {
    version: 1,
    backboneKey: 'test',
    colourVersion: RefineModel.colourVersion(),
    backboneDims,
    mean: new Array<number>(inDims).fill(0),
    std: new Array<number>(inDims).fill(1),
    hidden: 4,
    heads,
    fusion: { type: 1, colour: 0.6, histogram: 0.4, hidden: 0.7, gender: 0.3, ...fusion },
    trainedAt: 'now',
    report: {},
  };
  return { header, weights };
}
