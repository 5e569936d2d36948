import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { Gemm } from '../linalg/gemm.js';
import { startWorker } from '../workers/start.js';
import type { AdamScalars } from './adam.js';
import { FirstLayerShare } from './firstLayerShare.js';

/** First layers with at least this many weights are split (the demo catalog's is 1906 x 1024). */
export const SPLIT_FIRST_LAYER_FROM = 1 << 20;

/** What the worker is told at start (see firstLayerWorker.ts). */
export interface FirstLayerWorkerData {
  readonly entry: string;
  /** [sequence number of the last command, of the last one done, the command: 1 forward, 2 backward, 3 copy out, -1 stop]. */
  readonly control: SharedArrayBuffer;
  /** [batch size, step, eps, decay]. */
  readonly scalars: SharedArrayBuffer;
  /** The batch's row numbers (Int32). */
  readonly rows: SharedArrayBuffer;
  /** The worker's features of every row (rows x dims), its part of z1 (out), dh (in), its weights (out, on copy out). */
  readonly x: SharedArrayBuffer;
  readonly z: SharedArrayBuffer;
  readonly dh: SharedArrayBuffer;
  readonly wOut: SharedArrayBuffer;
  /** Its rows of W1 at start (dims x hidden). */
  readonly w: Float32Array;
  readonly dims: number;
  readonly hidden: number;
  readonly maxBatch: number;
}

type WaitAsync = (buf: Int32Array, index: number, value: number) => { async: boolean; value: Promise<string> | string };

/** The second share run by a worker thread, driven through shared memory. */
class WorkerShare {
  private readonly control: Int32Array;
  private readonly scalars: Float64Array;
  private readonly rows: Int32Array;
  private readonly z: Float32Array;
  private readonly dh: Float32Array;
  private readonly wOut: Float32Array;
  private seq = 0;
  private failure: Error | null = null;
  private onFailure: ((err: Error) => void) | null = null;
  private closing = false;
  private readonly exited: Promise<void>;

  private constructor(private readonly worker: Worker, data: Omit<FirstLayerWorkerData, 'entry' | 'w'>) {
    this.control = new Int32Array(data.control);
    this.scalars = new Float64Array(data.scalars);
    this.rows = new Int32Array(data.rows);
    this.z = new Float32Array(data.z);
    this.dh = new Float32Array(data.dh);
    this.wOut = new Float32Array(data.wOut);
    const fail = (err: Error) => {
      this.failure ??= err;
      this.onFailure?.(this.failure);
    };
    worker.on('error', fail);
    this.exited = new Promise((resolve) => {
      worker.on('exit', (code) => {
        if (!this.closing) fail(new Error(`the first layer's thread stopped (exit code ${code})`));
        resolve();
      });
    });
  }

  static start(x: Float32Array, n: number, stride: number, offset: number, dims: number, w: Float32Array, hidden: number, maxBatch: number): WorkerShare {
    const xs = new SharedArrayBuffer(n * dims * 4);
    const xv = new Float32Array(xs);
    for (let r = 0; r < n; r++) xv.set(x.subarray(r * stride + offset, r * stride + offset + dims), r * dims);
    const data = {
      control: new SharedArrayBuffer(12),
      scalars: new SharedArrayBuffer(32),
      rows: new SharedArrayBuffer(maxBatch * 4),
      x: xs,
      z: new SharedArrayBuffer(maxBatch * hidden * 4),
      dh: new SharedArrayBuffer(maxBatch * hidden * 4),
      wOut: new SharedArrayBuffer(w.length * 4),
      dims,
      hidden,
      maxBatch,
    };
    return new WorkerShare(startWorker(import.meta.url, './firstLayerWorker', { ...data, w }), data);
  }

  async forward(rows: ArrayLike<number>, bs: number): Promise<Float32Array> {
    for (let i = 0; i < bs; i++) this.rows[i] = rows[i]!;
    this.scalars[0] = bs;
    await this.run(1);
    return this.z.subarray(0, bs * (this.z.length / this.rows.length));
  }

  async backward(dh: Float32Array, s: AdamScalars): Promise<void> {
    this.dh.set(dh);
    this.scalars.set([s.step, s.eps, s.decay], 1);
    await this.run(2);
  }

  async copyOut(into: Float32Array): Promise<void> {
    await this.run(3);
    into.set(this.wOut);
  }

  private async run(command: number): Promise<void> {
    if (this.failure) throw this.failure;
    const seq = ++this.seq;
    Atomics.store(this.control, 2, command);
    Atomics.store(this.control, 0, seq);
    Atomics.notify(this.control, 0);
    const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;
    for (;;) {
      const done = Atomics.load(this.control, 1);
      if (done === seq) return;
      if (this.failure) throw this.failure;
      const w = waitAsync(this.control, 1, done);
      if (!w.async) continue;
      const failed = new Promise<never>((_, reject) => (this.onFailure = reject));
      try {
        await Promise.race([w.value, failed]);
      } finally {
        this.onFailure = null;
      }
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    Atomics.store(this.control, 2, -1);
    Atomics.store(this.control, 0, ++this.seq);
    Atomics.notify(this.control, 0);
    // The thread releases its onnxruntime session and ends by itself. Terminating it while it is inside onnxruntime
    // aborts the whole process ("terminate called after throwing an instance of 'Napi::Error'", seen once in CI), so
    // terminate() is only the fallback for a thread that does not end.
    const timer = setTimeout(() => void this.worker.terminate(), 10_000);
    try {
      await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * The first layer of the network trained by two threads: W1's rows (input features) in two shares, one here and one
 * on a worker thread, each with its own single-threaded matrix products and Adam update. Both shares' products of a
 * step run at once, the worker's while this thread's onnxruntime call blocks it. One onnxruntime call on two threads
 * per product scaled poorly on this 2-core machine (59 ms for a step's products against 42 ms on one thread, measured
 * by a script while other work ran), and the weight update was one thread's work.
 * Deterministic: z1 is always the first share's product plus the second's; without a worker (`threads` 1) the second
 * share runs here with the same arithmetic, which gives byte-identical weights.
 */
export class SplitFirstLayer {
  private constructor(
    /** Single-threaded products, for the rest of the step too (a second onnxruntime thread would spin against the worker). */
    readonly gemm: Gemm,
    private readonly w1: Float32Array,
    private readonly a: FirstLayerShare,
    private readonly b: FirstLayerShare | WorkerShare,
    private readonly bOffset: number,
  ) {}

  /** The weights of W1 this thread updates: the first share (the worker's come back through `gather`). */
  static async start(x: Float32Array, n: number, d: number, w1: Float32Array, hidden: number, maxBatch: number, threads: number): Promise<SplitFirstLayer> {
    const gemm = await Gemm.create(1);
    const dA = d >> 1;
    const dB = d - dA;
    const a = new FirstLayerShare(gemm, x, d, 0, dA, w1.subarray(0, dA * hidden), hidden, maxBatch);
    const wB = w1.subarray(dA * hidden);
    const b = threads >= 2 && availableParallelism() >= 2 ? WorkerShare.start(x, n, d, dA, dB, wB.slice(), hidden, maxBatch) : new FirstLayerShare(gemm, x, d, dA, dB, wB, hidden, maxBatch);
    return new SplitFirstLayer(gemm, w1, a, b, dA * hidden);
  }

  /** z1 = x W1 for the batch of rows (bs x hidden, before the bias). */
  async forward(rows: ArrayLike<number>, bs: number): Promise<Float32Array> {
    const zb = this.b.forward(rows, bs);
    const z = await this.a.forward(rows, bs);
    const other = await zb;
    for (let i = 0; i < z.length; i++) z[i]! += other[i]!;
    return z;
  }

  /** W1's gradient for the last batch from dh, and its Adam step, in both shares. */
  async backward(dh: Float32Array, s: AdamScalars): Promise<void> {
    const b = this.b.backward(dh, s);
    await this.a.backward(dh, s);
    await b;
  }

  /** Makes W1 whole (the worker's rows copied back), for a validation pass or the end of training. */
  async gather(): Promise<void> {
    if (this.b instanceof WorkerShare) await this.b.copyOut(this.w1.subarray(this.bOffset));
  }

  async close(): Promise<void> {
    if (this.b instanceof WorkerShare) await this.b.close();
    await this.gemm.close();
  }
}
