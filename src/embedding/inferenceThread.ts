import { EventEmitter } from 'node:events';
import type { Worker } from 'node:worker_threads';
import type * as ort from 'onnxruntime-node';
import { FashionError } from '../errors.js';
import { startWorker } from '../workers/start.js';

export interface InferenceWorkerData {
  readonly entry: string;
  readonly model: Uint8Array;
  readonly options: ort.InferenceSession.SessionOptions;
}

export type InferenceRequest =
  | { kind: 'run'; id: number; input: Float32Array; shape: number[]; inputName: string; outputName: string }
  /** A real crash, for tests: obeyed only when the worker's environment has FASHION_INFERENCE_CRASH=allow. */
  | { kind: 'crash' };

export type InferenceReply =
  | { kind: 'ready' }
  | { kind: 'failed'; message: string }
  | { kind: 'result'; id: number; data: Float32Array; dims: number[] }
  /** A run the session refused; its input comes back (moved, not copied) so that the caller can retry it another way. */
  | { kind: 'error'; id: number; message: string; input: Float32Array };

/** A run that onnxruntime refused (the thread itself is fine), with the input it was given. */
export class InferenceRunError extends Error {
  constructor(message: string, readonly input: Float32Array) {
    super(message);
    this.name = 'InferenceRunError';
  }
}

/**
 * How a crashed thread comes back: after `firstDelayMs`, doubled for each restart in a row that did not lead to
 * a successful run (up to `maxDelayMs`), and not after `maxRestarts` of them, so that a model that crashes on
 * load or on every run does not spin; the health check then stays degraded until the process is restarted.
 */
export interface RestartPolicy {
  readonly firstDelayMs: number;
  readonly maxDelayMs: number;
  readonly maxRestarts: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = Object.freeze({ firstDelayMs: 250, maxDelayMs: 8000, maxRestarts: 5 });

/** Whether the thread can run the model now, and why not. */
export type InferenceHealth =
  | { readonly state: 'up' }
  | { readonly state: 'restarting' | 'failed' | 'closed'; readonly reason: string };

/** What the thread reports (core code never prints; the server or a test listens). */
export interface InferenceEvents {
  /** A run is being handed to the worker: `batch` images. */
  run: [{ id: number; batch: number }];
  /** The worker died (crash, or a restart that failed); `restart` is the attempt it will make next, in `delayMs`. */
  down: [{ error: Error; restart: number; delayMs: number }];
  /** A restarted worker loaded the model. */
  up: [{ restart: number }];
  /** Too many restarts in a row: no more are tried. */
  'gave-up': [{ error: Error; restarts: number }];
}

interface Waiting {
  resolve: (r: { data: Float32Array; dims: number[] }) => void;
  reject: (e: Error) => void;
}

interface Starting {
  resolve: (w: Worker) => void;
  reject: (e: Error) => void;
}

/**
 * An onnxruntime session on its own worker thread, restarted when it dies. onnxruntime-node's `run` blocks the
 * calling thread for the whole inference (~100 ms for a batch of 32 photos here); on the main thread that stalls
 * the decoding of the next batch and every HTTP request. The worker is unref'd while idle, so it never keeps a
 * finished process alive, and ref'd while a run is in flight or waits for a restart, so an awaited run is never
 * cut short.
 *
 * A worker that exits or throws (a native crash in the runtime, memory) takes its in-flight runs with it: they are
 * rejected with server/unavailable (503, "retry"), and the thread starts a new worker from the model bytes and
 * session options it keeps. Runs asked for meanwhile wait for that worker (or get the 503 if it gives up).
 */
export class InferenceThread extends EventEmitter<InferenceEvents> {
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();
  /** The live worker; null while down. */
  private worker: Worker | null;
  /** A worker loading the model for a restart. */
  private loading: Worker | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly starting: Starting[] = [];
  private status: InferenceHealth = { state: 'up' };
  /** Restarts in a row since the last successful run. */
  private restarts = 0;

  private constructor(
    worker: Worker,
    private readonly model: Uint8Array,
    private readonly options: ort.InferenceSession.SessionOptions,
    private readonly policy: RestartPolicy,
  ) {
    super();
    this.worker = worker;
    this.adopt(worker);
  }

  /** Loads the model on a new thread; rejects when it cannot (no restart: the model itself is refused). */
  static async start(model: Uint8Array, options: ort.InferenceSession.SessionOptions, policy: RestartPolicy = DEFAULT_RESTART_POLICY): Promise<InferenceThread> {
    const { ready } = spawn(model, options);
    return new InferenceThread(await ready, model, options, policy);
  }

  get health(): InferenceHealth {
    return this.status;
  }

  /**
   * Runs the model on `input` of `shape`. With `transfer`, when `input` spans its whole buffer, the buffer
   * moves to the worker without a copy (~20 MB for a batch of 32) and is detached here; otherwise it is copied.
   * A refused run rejects with InferenceRunError (its input back); a dead worker with server/unavailable.
   */
  async run(
    input: Float32Array,
    shape: number[],
    inputName: string,
    outputName: string,
    options: { transfer?: boolean } = {},
  ): Promise<{ data: Float32Array; dims: number[] }> {
    const whole = input.byteOffset === 0 && input.byteLength === input.buffer.byteLength && input.buffer instanceof ArrayBuffer;
    // Copied before any wait for a restart: the caller may reuse its array once this call has returned.
    const sent = options.transfer && whole ? input : input.slice();
    const worker = this.worker ?? (await this.whenUp());
    const id = this.nextId++;
    const result = new Promise<{ data: Float32Array; dims: number[] }>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
    });
    this.holdIfBusy();
    // Before the message: whatever a listener sends the worker now (a test's crash) reaches it before this run.
    this.emit('run', { id, batch: shape[0] ?? 1 });
    worker.postMessage({ kind: 'run', id, input: sent, shape, inputName, outputName } satisfies InferenceRequest, [sent.buffer as ArrayBuffer]);
    return result;
  }

  /**
   * For tests: makes the worker crash for real (process.exit(1) on its thread), as a native fault would. The
   * worker obeys only when its environment has FASHION_INFERENCE_CRASH=allow; otherwise nothing happens.
   */
  crash(): void {
    this.worker?.postMessage({ kind: 'crash' } satisfies InferenceRequest);
  }

  async close(): Promise<void> {
    const closed = new Error('the inference thread was closed');
    this.status = { state: 'closed', reason: closed.message };
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const w of this.waiting.values()) w.reject(closed);
    this.waiting.clear();
    for (const s of this.starting.splice(0)) s.reject(closed);
    const workers = [this.worker, this.loading].filter((w): w is Worker => w !== null);
    this.worker = null;
    this.loading = null;
    await Promise.all(workers.map((w) => w.terminate()));
  }

  private adopt(worker: Worker): void {
    worker.on('message', (reply: InferenceReply) => {
      if (worker !== this.worker || (reply.kind !== 'result' && reply.kind !== 'error')) return;
      const w = this.waiting.get(reply.id);
      if (!w) return;
      this.waiting.delete(reply.id);
      this.holdIfBusy();
      if (reply.kind === 'result') {
        // A run that works proves the thread: a later crash starts the backoff afresh.
        this.restarts = 0;
        w.resolve({ data: reply.data, dims: reply.dims });
      } else {
        w.reject(new InferenceRunError(reply.message, reply.input));
      }
    });
    // An uncaught error is followed by 'exit'; whichever comes first takes the worker down, the other finds it gone.
    worker.on('error', (err) => this.died(worker, err));
    worker.on('exit', (code) => this.died(worker, new Error(`exit code ${code}`)));
  }

  private died(worker: Worker, error: Error): void {
    if (worker !== this.worker) return;
    this.worker = null;
    const lost = new FashionError(
      'server/unavailable',
      `Expected the inference thread to embed the photo but it stopped (${error.message}); it is being restarted: retry in a few seconds`,
      { cause: error },
    );
    for (const w of this.waiting.values()) w.reject(lost);
    this.waiting.clear();
    this.scheduleRestart(error);
  }

  private scheduleRestart(error: Error): void {
    if (this.restarts >= this.policy.maxRestarts) {
      this.status = {
        state: 'failed',
        reason: `the inference thread stopped ${this.restarts + 1} times without a successful run in between and is no longer restarted (last: ${error.message}); restart the server`,
      };
      const gaveUp = new FashionError('server/unavailable', `Expected a running inference thread but ${this.status.reason}, then retry`, { cause: error });
      for (const s of this.starting.splice(0)) s.reject(gaveUp);
      this.emit('gave-up', { error, restarts: this.restarts });
      return;
    }
    const delayMs = Math.min(this.policy.maxDelayMs, this.policy.firstDelayMs * 2 ** this.restarts);
    this.restarts++;
    this.status = { state: 'restarting', reason: `the inference thread stopped (${error.message}); restart ${this.restarts} of at most ${this.policy.maxRestarts} is under way` };
    this.timer = setTimeout(() => this.restart(), delayMs);
    this.holdIfBusy();
    this.emit('down', { error, restart: this.restarts, delayMs });
  }

  private restart(): void {
    this.timer = null;
    const { worker, ready } = spawn(this.model, this.options);
    this.loading = worker;
    this.holdIfBusy();
    ready.then(
      (w) => {
        if (this.loading !== w) return; // closed meanwhile: close() terminated it
        this.loading = null;
        this.worker = w;
        this.status = { state: 'up' };
        this.adopt(w);
        this.holdIfBusy();
        for (const s of this.starting.splice(0)) s.resolve(w);
        this.emit('up', { restart: this.restarts });
      },
      (err: Error) => {
        if (this.loading !== worker) return;
        this.loading = null;
        this.scheduleRestart(err);
      },
    );
  }

  /** The live worker once a restart under way brings one up; server/unavailable once it gives up. */
  private whenUp(): Promise<Worker> {
    const s = this.status;
    if (s.state === 'closed') return Promise.reject(new Error(s.reason));
    if (s.state === 'failed') return Promise.reject(new FashionError('server/unavailable', `Expected a running inference thread but ${s.reason}, then retry`));
    return new Promise((resolve, reject) => {
      this.starting.push({ resolve, reject });
      this.holdIfBusy();
    });
  }

  /** Keeps the process alive exactly while a run is in flight or waits for a restart. */
  private holdIfBusy(): void {
    const busy = this.waiting.size > 0 || this.starting.length > 0;
    for (const handle of [this.worker, this.loading, this.timer]) {
      if (busy) handle?.ref();
      else handle?.unref();
    }
  }
}

/** Starts a worker that loads the model; `ready` resolves once the session is made (the worker then unref'd). */
function spawn(model: Uint8Array, options: ort.InferenceSession.SessionOptions): { worker: Worker; ready: Promise<Worker> } {
  // workerData is cloned: the model bytes stay here for the next restart.
  const worker = startWorker(import.meta.url, './inferenceWorker', { model, options } satisfies Omit<InferenceWorkerData, 'entry'>);
  const ready = new Promise<Worker>((resolve, reject) => {
    const settle = (err: Error | null) => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
      if (err) {
        void worker.terminate();
        reject(err);
      } else {
        worker.unref();
        resolve(worker);
      }
    };
    const onMessage = (reply: InferenceReply) => {
      if (reply.kind === 'ready') settle(null);
      else if (reply.kind === 'failed') settle(new Error(reply.message));
    };
    const onError = (err: Error) => settle(err);
    const onExit = (code: number) => settle(new Error(`exit code ${code} while loading the model`));
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
  return { worker, ready };
}
