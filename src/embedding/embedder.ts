import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { FashionError } from '../errors.js';
import type { Preprocess } from '../imaging/preprocess.js';
import { InferenceRunError, InferenceThread } from './inferenceThread.js';
import { headCutModel, poolingKey, type HeadCutModel, type Pooling } from './headCut.js';
import { resolveModelFile } from './modelSource.js';
import { composeBackbones, COMPOSED_INPUT, COMPOSED_OUTPUT, type Trunk } from './composeBackbones.js';
import { activationRanges, int8CalibrationFor } from './int8Calibration.js';
import { INT8_QUANTIZER_VERSION, quantizeInt8 } from './int8Graph.js';

export interface EmbedderOptions {
  /** Path or http(s) URL of an ONNX ImageNet classifier. */
  readonly model: string;
  readonly pooling: Pooling;
  readonly cutAt?: string | undefined;
  readonly preprocess: Preprocess;
  /** onnxruntime intra-op threads. */
  readonly threads: number;
  readonly cacheDir: string;
  /**
   * A second classifier whose features are joined to the first's (a composed backbone, src/embedding/composeBackbones.ts),
   * run in float32 or, with `precision: 'int8'`, quantized (src/embedding/int8Graph.ts).
   */
  readonly second?: { readonly model: string; readonly preprocess: Preprocess; readonly cutAt?: string | undefined; readonly precision?: SecondPrecision | undefined } | undefined;
  /** Features of the photo and of its mirror image, summed, for every model. */
  readonly mirror?: boolean | undefined;
  /**
   * Whether onnxruntime's threads spin while they wait for work (default: off; onnxruntime's own default is on). Off for
   * an ingest: on a machine whose cores also decode the next photos, spinning threads take the time the decoding needs,
   * between the model's operators and between batches. Off for a query too: after a run the threads spin on while the
   * main thread refines, searches and answers, and libvips encodes the view; on 2 cores that put the answer behind them
   * (catalog photos over HTTP, 2 x 300 queries in one lock hold: p95 21.3 / 23.4 ms spinning, 20.3 / 20.0 not; the
   * inference itself ~0.8 ms slower at p50, the answer no slower; bench/query.ts, docs/bench.md).
   */
  readonly spinning?: boolean | undefined;
  /**
   * onnxruntime sessions, each on its own thread, sharing `threads` between them (default 1). An ingest keeps two
   * batches in inference at once: two sessions of one thread each run them side by side with no synchronisation between
   * threads inside an operator, which costs less CPU per photo than one session of two threads (MobileNetV2-int8 at
   * batch 32: 4.2 against 4.95 core-ms, bench/modelCeiling.ts), CPU that the decoding of the next photos then has.
   * A query wants the latency of one batch, so the server keeps one session.
   */
  readonly sessions?: number | undefined;
}

/** The second model's arithmetic: its weights in float32, or quantized to int8 with calibrated activation ranges. */
export type SecondPrecision = 'float' | 'int8';
export const SECOND_PRECISIONS: readonly SecondPrecision[] = ['float', 'int8'];

/**
 * What made a vector. Two vectors are comparable only when their identities are equal, so the catalog
 * stores it and refuses queries embedded by anything else.
 */
export interface ModelIdentity {
  readonly modelName: string;
  readonly modelSha256: string;
  readonly featureTensor: string;
  readonly pooling: Pooling;
  readonly preprocess: Preprocess;
  readonly dims: number;
  /**
   * The second model's input side where it is not `preprocess.size` (`--second-size`); absent otherwise, so the identity of
   * a catalog embedded before the setting existed is unchanged. Already part of `modelSha256` (the composition's hash):
   * recorded so that queries and later indexing can follow the catalog's side (config.ts `backboneFor`) and an error can name it.
   */
  readonly secondSize?: number;
  /**
   * 'int8' where the second model ran quantized (`--second-precision int8`); absent for float, so the identity of a catalog
   * embedded before the setting existed is unchanged. Part of `modelSha256` too (the quantized trunk has its own hash):
   * recorded so that queries and later indexing follow the catalog's precision (config.ts `backboneFor`).
   */
  readonly secondPrecision?: 'int8';
}

export function identityKey(id: ModelIdentity): string {
  return JSON.stringify([id.modelSha256, id.featureTensor, id.pooling, id.preprocess, id.dims]);
}

const JOIN_MARK = ' + ';
const MIRROR_MARK = ' (photo + mirror)';

/** Whether vectors came from a composed backbone (a second model or the mirror), not from one classifier as it is. */
export function isComposed(id: ModelIdentity): boolean {
  const made = composition(id);
  return made.second || made.mirror;
}

/** How a composed backbone was made, as far as its identity says (the second model's file and pixels are in the sha only). */
export function composition(id: ModelIdentity): { second: boolean; mirror: boolean } {
  return { second: id.modelName.includes(JOIN_MARK), mirror: id.featureTensor.endsWith(MIRROR_MARK) };
}

export function describeIdentity(id: ModelIdentity): string {
  const second = id.secondSize !== undefined ? `, the second model at ${id.secondSize}px` : '';
  const precision = id.secondPrecision !== undefined ? `, the second model in ${id.secondPrecision}` : '';
  return `${id.modelName} (sha256 ${id.modelSha256.slice(0, 12)}), ${id.pooling} pooling of ${id.featureTensor}, ${id.dims}-d, ${id.preprocess.size}px ${id.preprocess.fit}${second}${precision}`;
}

/** An onnxruntime session over a head-cut classifier, on its own thread: tensors in, one feature vector per image out. */
export class Embedder {
  /** Set once a batched run fails on a graph whose source pinned the batch at one: from then on, one image at a time. */
  private oneAtATime = false;
  /** Set once a batched run has worked: the graph takes batches, so a later failure is that batch's alone. */
  private batchesWork = false;

  /** Runs in flight on each of `threads`. */
  private readonly inFlight: number[];

  private constructor(
    /** The inference threads, one session each (restarted after a crash; their health and events say how they are doing). */
    private readonly threads: readonly InferenceThread[],
    private readonly cut: Pick<HeadCutModel, 'inputName' | 'outputName' | 'sourceBatchFixed'>,
    readonly identity: ModelIdentity,
  ) {
    this.inFlight = threads.map(() => 0);
  }

  /** The (first) inference thread: its health and events are the server's (which runs one session). */
  get thread(): InferenceThread {
    return this.threads[0]!;
  }

  static async load(options: EmbedderOptions): Promise<Embedder> {
    const first = await cutTrunk(options.model, options.pooling, options.cutAt, options.cacheDir);
    let bytes = first.bytes;
    let cut: Pick<HeadCutModel, 'inputName' | 'outputName' | 'sourceBatchFixed'> = first;
    let made: Pick<ModelIdentity, 'modelName' | 'modelSha256' | 'featureTensor' | 'secondSize' | 'secondPrecision'> = { modelName: first.fileName, modelSha256: first.sha, featureTensor: first.featureTensor };
    if (options.second || options.mirror) {
      const trunks = [{ cut: first, preprocess: options.preprocess }];
      const int8 = options.second?.precision === 'int8';
      const second = options.second ? await cutTrunk(options.second.model, options.pooling, options.second.cutAt, options.cacheDir, int8 ? 'int8' : 'float') : null;
      if (second && options.second) trunks.push({ cut: second, preprocess: options.second.preprocess });
      bytes = await composedGraph(trunks, options);
      cut = { inputName: COMPOSED_INPUT, outputName: COMPOSED_OUTPUT, sourceBatchFixed: !!second?.sourceBatchFixed || first.sourceBatchFixed };
      const mirror = options.mirror ? MIRROR_MARK : '';
      made = {
        modelName: second ? `${first.fileName}${JOIN_MARK}${second.fileName}` : first.fileName,
        // The composition is part of what made the vectors: the second model's pixels and the mirror change them.
        modelSha256: createHash('sha256').update(JSON.stringify([first.sha, second?.sha ?? null, options.second?.preprocess ?? null, !!options.mirror])).digest('hex'),
        featureTensor: `${second ? `${first.featureTensor}${JOIN_MARK}${second.featureTensor}` : first.featureTensor}${mirror}`,
        ...(options.second && options.second.preprocess.size !== options.preprocess.size ? { secondSize: options.second.preprocess.size } : {}),
        ...(second && int8 ? { secondPrecision: 'int8' as const } : {}),
      };
    }
    const sessions = Math.max(1, Math.min(Math.floor(options.sessions ?? 1), options.threads));
    const started = await Promise.allSettled(
      Array.from({ length: sessions }, () =>
        InferenceThread.start(bytes, {
          intraOpNumThreads: Math.max(1, Math.floor(options.threads / sessions)),
          interOpNumThreads: 1,
          executionMode: 'sequential',
          graphOptimizationLevel: 'all',
          ...(options.spinning === true ? {} : { extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } } }),
        }),
      ),
    );
    const threads = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const refused = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (refused) {
      await Promise.all(threads.map((t) => t.close()));
      const err = refused.reason as Error;
      throw new FashionError('model/unsupported', `Expected onnxruntime to load the head-cut ${made.modelName} but it failed: ${err.message}`, { cause: err });
    }
    const probe = new Float32Array(3 * options.preprocess.size * options.preprocess.size);
    const tmp = new Embedder(threads, cut, { ...made, pooling: options.pooling, preprocess: options.preprocess, dims: 0 });
    const dims = (await tmp.embedBatch(probe, 1)).length;
    return new Embedder(threads, cut, { ...tmp.identity, dims });
  }

  get dims(): number {
    return this.identity.dims;
  }

  /**
   * Embeds `count` images laid out one after another in `batch` (NCHW float32); returns count x dims floats.
   * The batch is handed over: its buffer may be moved to the inference thread (detached), so do not reuse it.
   * A dead inference thread rejects with server/unavailable (the photos can be sent again).
   */
  async embedBatch(batch: Float32Array, count: number): Promise<Float32Array> {
    const side = this.identity.preprocess.size;
    const per = 3 * side * side;
    if (batch.length < count * per) throw new FashionError('input/invalid', `Expected ${count * per} floats for ${count} images but received ${batch.length}`);
    const images = batch.subarray(0, count * per);
    if (count > 1 && this.oneAtATime) return this.oneByOne(images, count, per);
    if (count > 1 && this.threads.length > 1 && !this.cut.sourceBatchFixed && this.inFlight.every((n) => n === 0)) {
      // A batch alone (a caller that embeds one batch at a time: training copies, a queue worker) is split between the
      // idle sessions, so that it still has every thread. The first part travels in the batch's own buffer (the worker
      // reads the rows its shape asks for); the others are copied out of it.
      const rows = Math.ceil(count / this.threads.length);
      // Every copy is made before the first part's run moves the buffer away.
      const parts: Array<{ input: Float32Array; n: number }> = [];
      for (let at = 0; at < count; at += rows) parts.push({ input: at === 0 ? images : images.slice(at * per, Math.min(count, at + rows) * per), n: Math.min(rows, count - at) });
      const outs = await Promise.all(parts.map((p, k) => this.runOn(k, p.input, p.n, per)));
      const out = new Float32Array(outs.reduce((s, o) => s + o.length, 0));
      outs.reduce((at, o) => (out.set(o, at), at + o.length), 0);
      return out;
    }
    // Otherwise the session with the fewest runs in flight (the first on a tie): two batches in flight run side by side.
    let k = 0;
    for (let i = 1; i < this.threads.length; i++) if (this.inFlight[i]! < this.inFlight[k]!) k = i;
    return this.runOn(k, images, count, per);
  }

  /** Runs the first `count` images of `images` on session `k`; `images` is handed over (moved to the thread when whole). */
  private async runOn(k: number, images: Float32Array, count: number, per: number): Promise<Float32Array> {
    const side = this.identity.preprocess.size;
    this.inFlight[k]!++;
    try {
      const out = await this.threads[k]!.run(images, [count, 3, side, side], this.cut.inputName, this.cut.outputName, { transfer: true });
      if (count > 1) this.batchesWork = true;
      return out.data;
    } catch (err) {
      // Only a run the session refused is retried; a crashed thread (server/unavailable) is no fault of the batch.
      if (count === 1 || !(err instanceof InferenceRunError)) throw err;
      // A graph whose reshapes pin the batch at one still works one image at a time: this batch is retried so, from
      // the input the thread handed back. Only a graph that declared a batch of one and has never run a batch stays so
      // for ever; any other failure (one odd batch, memory) says nothing about the next batch.
      const out = await this.oneByOne(err.input, count, per);
      if (this.cut.sourceBatchFixed && !this.batchesWork) this.oneAtATime = true;
      return out;
    } finally {
      this.inFlight[k]!--;
    }
  }

  private async oneByOne(images: Float32Array, count: number, per: number): Promise<Float32Array> {
    const side = this.identity.preprocess.size;
    const parts: Float32Array[] = [];
    for (let i = 0; i < count; i++) {
      const one = await this.thread.run(images.subarray(i * per, (i + 1) * per), [1, 3, side, side], this.cut.inputName, this.cut.outputName);
      parts.push(one.data);
    }
    const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.close()));
  }
}

/**
 * A classifier with its head cut (cached under the cache folder), and where it came from. With `precision` 'int8' the cut
 * graph is quantized (src/embedding/int8Graph.ts) with the model's committed calibration, and named apart: its `sha`
 * hashes the file's with the ranges, and its file name says int8, so that its vectors are never taken for the float ones.
 */
async function cutTrunk(model: string, pooling: Pooling, cutAt: string | undefined, cacheDir: string, precision: SecondPrecision = 'float'): Promise<HeadCutModel & { sha: string; fileName: string }> {
  const file = await resolveModelFile(model, { cacheDir });
  const source = await readFile(file);
  const fileSha = createHash('sha256').update(source).digest('hex');
  const ranges = precision === 'int8' ? activationRanges(int8CalibrationFor(fileSha, basename(file))) : null;
  const sha = ranges ? createHash('sha256').update(JSON.stringify([fileSha, 'int8', INT8_QUANTIZER_VERSION, ranges])).digest('hex') : fileSha;
  const fileName = ranges ? `${basename(file)} (int8)` : basename(file);
  const cutFile = ranges ? headCutCacheFile(cacheDir, sha, pooling, cutAt).replace(/\.onnx$/, '-int8.onnx') : headCutCacheFile(cacheDir, sha, pooling, cutAt);
  const cutMetaFile = `${cutFile}.json`;
  try {
    const meta = JSON.parse(await readFile(cutMetaFile, 'utf8')) as Omit<HeadCutModel, 'bytes'>;
    return { ...meta, bytes: await readFile(cutFile), sha, fileName };
  } catch {
    const cut = headCutModel(source, { pooling, cutAt });
    const made = ranges ? { ...cut, bytes: quantizeInt8(cut.bytes, ranges) } : cut;
    const { bytes, ...meta } = made;
    await writeAtomic(cutFile, bytes).catch(() => undefined);
    await writeAtomic(cutMetaFile, JSON.stringify(meta)).catch(() => undefined);
    return { ...made, sha, fileName };
  }
}

/**
 * Where the head-cut graph of a model file (by its sha256) is cached. v3: a float16 graph is widened to float32
 * (src/embedding/float32Graph.ts), so a v2 file cut before that is not reused.
 */
export function headCutCacheFile(cacheDir: string, sha: string, pooling: Pooling, cutAt: string | undefined): string {
  return join(cacheDir, 'headcut', `${sha.slice(0, 16)}-${poolingKey(pooling)}-${safe(cutAt ?? 'auto')}-v3.onnx`);
}

/** The composed graph of these trunks (cached under the cache folder: composing decodes and encodes ~9 MB of protobuf). */
async function composedGraph(trunks: Trunk[], options: EmbedderOptions): Promise<Uint8Array> {
  const hash = createHash('sha256').update(JSON.stringify([trunks.map((t) => t.preprocess), options.preprocess, !!options.mirror, 'v1']));
  for (const t of trunks) hash.update(t.cut.bytes);
  const key = hash.digest('hex');
  const file = join(options.cacheDir, 'composed', `${key.slice(0, 24)}.onnx`);
  try {
    return await readFile(file);
  } catch {
    const bytes = composeBackbones(trunks, options.preprocess, { mirror: !!options.mirror });
    await writeAtomic(file, bytes).catch(() => undefined);
    return bytes;
  }
}

function safe(s: string): string {
  return s.replace(/[^A-Za-z0-9_.-]+/g, '_').slice(0, 60);
}

async function writeAtomic(path: string, data: Uint8Array | string): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}
