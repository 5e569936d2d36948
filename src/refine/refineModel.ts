import { readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import type { Gemm } from '../linalg/gemm.js';
import type { Metadata } from '../store/catalogStore.js';
import { COLOUR_DIMS, COLOUR_FEATURES_VERSION } from './colourFeatures.js';
import { DEFAULT_MATCH_GAP, DEFAULT_PIN_GAP, instanceVector, instanceVectors, type InstancePart, type InstanceProjection } from './instanceProjection.js';
import { mlpForward, mlpForwardOne, type HeadSpec, type MlpWeights } from './mlp.js';

/** How much each part of the refined vector counts in cosine similarity (each part is unit length first). */
export interface FusionWeights {
  /** Article type: the query's predicted class probabilities against the catalog item's label. */
  readonly type: number;
  /** Base colour, likewise. */
  readonly colour: number;
  /** Colour histogram of the garment (visual colour similarity). */
  readonly histogram: number;
  /** The network's hidden layer (visual style, learned from the labels). */
  readonly hidden: number;
  /** Gender, likewise. */
  readonly gender: number;
  /** "The same product" similarity (src/refine/instanceProjection.ts), when the model has one. */
  readonly instance?: number;
}

export interface Prediction {
  readonly value: string;
  readonly confidence: number;
}

export interface RefineHeader {
  readonly version: 1;
  /** identityKey() of the backbone whose vectors it refines. */
  readonly backboneKey: string;
  readonly colourVersion: string;
  readonly backboneDims: number;
  readonly mean: number[];
  readonly std: number[];
  readonly hidden: number;
  readonly heads: HeadSpec[];
  readonly fusion: FusionWeights;
  readonly trainedAt: string;
  readonly report: Record<string, unknown>;
  /** Shape of the instance projection stored after the network's weights, when trained with copies. */
  readonly instance?: { readonly colourWeight: number; readonly dims: number; readonly pairs: number; readonly pinGap?: number; readonly matchGap?: number };
}

const HEAD_ORDER = ['articleType', 'baseColour', 'gender'] as const;

/** The network's outputs for n rows: hidden layer (n x hidden) and each head's probabilities (n x classes). */
export interface NetworkRows {
  readonly hidden: Float32Array;
  readonly probs: Float32Array[];
  readonly n: number;
}

/**
 * The learned refinement of a catalog: standardise [backbone | colour histogram], run the multi-head
 * perceptron, and build the search vector from its outputs. A catalog item with labels uses its labels
 * (one-hot) where a query uses predicted probabilities, so a query ranks items by how likely it is to be
 * of their labelled kind and colour, then by visual and colour similarity, and, when the weights chosen on
 * validation give it a share, by how likely it is the very product (src/refine/instanceProjection.ts).
 */
export class RefineModel {
  readonly dims: number;
  private readonly sizes: number[];
  /** The instance projection when search uses it (weight above 0); it is kept in the file either way. */
  private readonly searchInstance: InstanceProjection | null;

  constructor(readonly header: RefineHeader, readonly weights: MlpWeights, readonly instance: InstanceProjection | null = null) {
    this.searchInstance = instance && (header.fusion.instance ?? 0) > 0 ? instance : null;
    this.sizes = [this.classCount('articleType'), this.classCount('baseColour'), COLOUR_DIMS, header.hidden, this.classCount('gender'), this.searchInstance?.dims ?? 0];
    this.dims = this.sizes.reduce((a, b) => a + b, 0);
  }

  /** Sizes of the search vector's parts in order (type, colour, histogram, hidden, gender, then "same product" when search uses it). */
  get partSizes(): readonly number[] {
    return this.sizes;
  }

  private classCount(field: string): number {
    return this.header.heads.find((h) => h.field === field)?.classes.length ?? 0;
  }

  get inDims(): number {
    return this.header.backboneDims + COLOUR_DIMS;
  }

  /** Standardised network input for one photo. */
  input(backbone: Float32Array, colour: Float32Array, out = new Float32Array(this.inDims), offset = 0): Float32Array {
    const { mean, std, backboneDims } = this.header;
    for (let j = 0; j < backboneDims; j++) out[offset + j] = (backbone[j]! - mean[j]!) / std[j]!;
    for (let j = 0; j < COLOUR_DIMS; j++) out[offset + backboneDims + j] = (colour[j]! - mean[backboneDims + j]!) / std[backboneDims + j]!;
    return out;
  }

  /** Search vector of a photo (a query): predicted probabilities. */
  queryVector(backbone: Float32Array, colour: Float32Array): Float32Array {
    const { hidden, probs } = mlpForwardOne(this.weights, this.input(backbone, colour));
    return this.fuse(hidden, probs, 0, colour, this.instanceOf(backbone, colour), null);
  }

  /** Where the "same product" part sits in the search vector, when search uses it. */
  instancePart(): InstancePart | null {
    const p = this.searchInstance;
    if (!p) return null;
    const shape = this.header.instance;
    return { offset: this.dims - p.dims, dims: p.dims, pinGap: shape?.pinGap ?? DEFAULT_PIN_GAP, matchGap: shape?.matchGap ?? DEFAULT_MATCH_GAP };
  }

  /** A photo's unit vector in the "same product" space, when search uses one. */
  sameProductVector(backbone: Float32Array, colour: Float32Array): Float32Array | null {
    return this.instanceOf(backbone, colour);
  }

  private instanceOf(backbone: Float32Array, colour: Float32Array): Float32Array | null {
    return this.searchInstance ? instanceVector(this.searchInstance, backbone, colour) : null;
  }

  /** Search vector of a catalog item: its labels where it has them, predictions where not. */
  itemVector(backbone: Float32Array, colour: Float32Array, metadata: Metadata): Float32Array {
    const { hidden, probs } = mlpForwardOne(this.weights, this.input(backbone, colour));
    return this.fuse(hidden, probs, 0, colour, this.instanceOf(backbone, colour), metadata);
  }

  /**
   * A query photo's search vector and its predictions, from one pass of the network. `sameProduct`: the photo's
   * `sameProductVector`, when the caller has it already (it is then not projected again).
   */
  analyse(backbone: Float32Array, colour: Float32Array, sameProduct?: Float32Array | null): { vector: Float32Array; predicted: Record<string, Prediction> } {
    const { hidden, probs } = mlpForwardOne(this.weights, this.input(backbone, colour));
    return { vector: this.fuse(hidden, probs, 0, colour, this.instanceOrGiven(backbone, colour, sameProduct), null), predicted: this.predictions(probs, 0) };
  }

  /**
   * The same, with the network's products on onnxruntime (Gemm, as the catalog's own vectors are made): a query's first layer
   * (1024 x 1906 on the demo catalog) takes ~0.6 ms there against ~2.4 in JavaScript. The sums are float32, as the catalog's
   * are (relative differences ~3e-7 from `analyse`).
   */
  async analyseWith(gemm: Gemm, backbone: Float32Array, colour: Float32Array, sameProduct?: Float32Array | null): Promise<{ vector: Float32Array; predicted: Record<string, Prediction> }> {
    const { hidden, probs } = await this.network(gemm, backbone, colour, 1);
    return { vector: this.fuse(hidden, probs, 0, colour, this.instanceOrGiven(backbone, colour, sameProduct), null), predicted: this.predictions(probs, 0) };
  }

  /** `sameProduct` when given (the same projection of the same photo, made before), else the projection made now. */
  private instanceOrGiven(backbone: Float32Array, colour: Float32Array, sameProduct: Float32Array | null | undefined): Float32Array | null {
    return sameProduct === undefined || !this.searchInstance ? this.instanceOf(backbone, colour) : sameProduct;
  }

  /** The articleType classes, in the order of the search vector's type part (empty without that head). */
  get typeClasses(): readonly string[] {
    return this.header.heads.find((h) => h.field === 'articleType')?.classes ?? [];
  }

  /** The articleType probabilities a query's search vector holds (its type part, scaled back to sum 1). */
  typeProbabilities(vector: Float32Array): Float32Array {
    const part = new Float32Array(vector.subarray(0, this.sizes[0]));
    let sum = 0;
    for (const x of part) sum += x;
    for (let j = 0; j < part.length; j++) part[j] = part[j]! / (sum || 1);
    return part;
  }

  /** A query's search vector with its type part made from `probs` (over typeClasses), as fuse() makes it; a new array. */
  withTypeProbabilities(vector: Float32Array, probs: Float32Array): Float32Array {
    const out = new Float32Array(vector);
    putScaled(out, 0, probs.subarray(0, this.sizes[0]), this.header.fusion.type);
    return out;
  }

  /** Predicted articleType, baseColour and gender with their probabilities (auto-categorisation). */
  categorize(backbone: Float32Array, colour: Float32Array): Record<string, Prediction> {
    const { probs } = mlpForwardOne(this.weights, this.input(backbone, colour));
    return this.predictions(probs, 0);
  }

  predictions(probs: Float32Array[], row: number): Record<string, Prediction> {
    const out: Record<string, Prediction> = {};
    this.header.heads.forEach((h, k) => {
      const c = h.classes.length;
      const p = probs[k]!;
      let best = 0;
      for (let j = 1; j < c; j++) if (p[row * c + j]! > p[row * c + best]!) best = j;
      out[h.field] = { value: h.classes[best]!, confidence: Math.round(p[row * c + best]! * 1000) / 1000 };
    });
    return out;
  }

  /** Many rows at once (Gemm): query vectors when `metadata` is null, item vectors otherwise. */
  async vectors(gemm: Gemm, backbones: Float32Array, colours: Float32Array, n: number, metadata: readonly Metadata[] | null): Promise<{ vectors: Float32Array; probs: Float32Array[] }> {
    const net = await this.network(gemm, backbones, colours, n);
    const inst = this.searchInstance ? await instanceVectors(gemm, this.searchInstance, { backbones, colours }, n) : null;
    return { vectors: this.fuseRows(net, 0, n, colours, inst, metadata), probs: net.probs };
  }

  /**
   * The network's hidden layer and head probabilities of many rows (Gemm). They do not depend on the fusion weights:
   * training's tuning stages run the network once per set of rows and fuse its outputs under each setting (fuseRows).
   */
  async network(gemm: Gemm, backbones: Float32Array, colours: Float32Array, n: number): Promise<NetworkRows> {
    const x = new Float32Array(n * this.inDims);
    const bd = this.header.backboneDims;
    for (let i = 0; i < n; i++) this.input(backbones.subarray(i * bd, (i + 1) * bd), colours.subarray(i * COLOUR_DIMS, (i + 1) * COLOUR_DIMS), x, i * this.inDims);
    const { hidden, probs } = await mlpForward(gemm, this.weights, x, n);
    return { hidden, probs, n };
  }

  /**
   * Search vectors of rows [from, from + count) of `net` (from this model's weights). `colours`, `instance` (the rows'
   * "same product" vectors, when search uses that part) and `metadata` (item vectors; null: query vectors) are indexed
   * by the rows of `net`.
   */
  fuseRows(net: NetworkRows, from: number, count: number, colours: Float32Array, instance: Float32Array | null, metadata: readonly Metadata[] | null): Float32Array {
    const out = new Float32Array(count * this.dims);
    const h = this.header.hidden;
    const id = this.searchInstance?.dims ?? 0;
    if (id > 0 && !instance) throw new Error('Expected the rows\' same-product vectors for a model whose search uses them');
    for (let r = 0; r < count; r++) {
      const i = from + r;
      const colour = colours.subarray(i * COLOUR_DIMS, (i + 1) * COLOUR_DIMS);
      out.set(this.fuse(net.hidden.subarray(i * h, (i + 1) * h), net.probs, i, colour, id > 0 ? instance!.subarray(i * id, (i + 1) * id) : null, metadata ? metadata[i]! : null), r * this.dims);
    }
    return out;
  }

  private fuse(hidden: Float32Array, probs: Float32Array[], row: number, colour: Float32Array, instance: Float32Array | null, metadata: Metadata | null): Float32Array {
    const w = this.header.fusion;
    const out = new Float32Array(this.dims);
    const parts: Array<[Float32Array, number]> = [];
    HEAD_ORDER.forEach((field) => {
      const k = this.header.heads.findIndex((h) => h.field === field);
      const head = this.header.heads[k];
      const c = head?.classes.length ?? 0;
      const v = new Float32Array(c);
      const label = metadata?.[field];
      const known = head && label ? head.classes.indexOf(label) : -1;
      if (known >= 0) v[known] = 1;
      else if (head) v.set(probs[k]!.subarray(row * c, (row + 1) * c));
      parts.push([v, field === 'articleType' ? w.type : field === 'baseColour' ? w.colour : w.gender]);
    });
    const [type, colourHead, gender] = parts;
    let o = 0;
    const all: Array<[Float32Array, number]> = [type!, colourHead!, [colour, w.histogram], [hidden, w.hidden], gender!];
    if (instance) all.push([instance, w.instance ?? 0]);
    for (const [v, weight] of all) {
      putScaled(out, o, v, weight);
      o += v.length;
    }
    return out;
  }

  /** One file: a length-prefixed JSON header, then the weights as float32. */
  async save(path: string): Promise<void> {
    const head = Buffer.from(JSON.stringify({ ...this.header, mlp: { inDims: this.weights.inDims, hidden: this.weights.hidden } }));
    const len = Buffer.alloc(4);
    len.writeUInt32LE(head.length);
    const w = this.weights;
    const inst = this.instance ? [this.instance.mean, this.instance.matrix] : [];
    const arrays = [w.w1, w.b1, w.w2, w.b2, ...inst].map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength));
    const tmp = `${path}.tmp-${process.pid}`;
    await writeFile(tmp, Buffer.concat([len, head, ...arrays]));
    await rename(tmp, path);
  }

  static load(path: string): RefineModel {
    const buf = readFileSync(path);
    const len = buf.readUInt32LE(0);
    const header = JSON.parse(buf.subarray(4, 4 + len).toString('utf8')) as RefineHeader & { mlp: { inDims: number; hidden: number } };
    const d = header.mlp.inDims, h = header.mlp.hidden;
    const out = header.heads.reduce((s, hd) => s + hd.classes.length, 0);
    let off = 4 + len;
    const take = (count: number) => {
      const a = new Float32Array(count);
      new Uint8Array(a.buffer).set(buf.subarray(off, off + count * 4));
      off += count * 4;
      return a;
    };
    const weights: MlpWeights = { inDims: d, hidden: h, heads: header.heads, w1: take(d * h), b1: take(h), w2: take(h * out), b2: take(out) };
    const shape = header.instance;
    const instance = shape
      ? { colourWeight: shape.colourWeight, backboneDims: header.backboneDims, dims: shape.dims, mean: take(d), matrix: take(shape.dims * d) }
      : null;
    return new RefineModel(header, weights, instance);
  }

  static colourVersion(): string {
    return COLOUR_FEATURES_VERSION;
  }
}

/** `v` written into `out` at `offset`, scaled to length `weight` (a zero part stays zero): one part of a fused vector. */
function putScaled(out: Float32Array, offset: number, v: Float32Array, weight: number): void {
  let s = 0;
  for (let j = 0; j < v.length; j++) s += v[j]! * v[j]!;
  const scale = weight / (Math.sqrt(s) || 1);
  for (let j = 0; j < v.length; j++) out[offset + j] = v[j]! * scale;
}
