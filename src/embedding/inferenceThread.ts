import { Worker } from 'node:worker_threads';
import type * as ort from 'onnxruntime-node';

export interface InferenceWorkerData {
  readonly entry: string;
  readonly model: Uint8Array;
  readonly options: ort.InferenceSession.SessionOptions;
}

export type InferenceRequest = { kind: 'run'; id: number; input: Float32Array; shape: number[]; inputName: string; outputName: string };

export type InferenceReply =
  | { kind: 'ready' }
  | { kind: 'failed'; message: string }
  | { kind: 'result'; id: number; data: Float32Array; dims: number[] }
  | { kind: 'error'; id: number; message: string };

interface Waiting {
  resolve: (r: { data: Float32Array; dims: number[] }) => void;
  reject: (e: Error) => void;
}

/**
 * An onnxruntime session on its own worker thread. onnxruntime-node's `run` blocks the calling thread for
 * the whole inference (~100 ms for a batch of 32 photos here); on the main thread that stalls the decoding
 * of the next batch and every HTTP request. The worker is unref'd while idle, so it never keeps a finished
 * process alive, and ref'd while a run is in flight, so an awaited run is never cut short.
 */
export class InferenceThread {
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();
  private failure: Error | null = null;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (reply: InferenceReply) => {
      if (reply.kind !== 'result' && reply.kind !== 'error') return;
      const w = this.waiting.get(reply.id);
      if (!w) return;
      this.waiting.delete(reply.id);
      if (this.waiting.size === 0) worker.unref();
      if (reply.kind === 'result') w.resolve({ data: reply.data, dims: reply.dims });
      else w.reject(new Error(reply.message));
    });
    worker.on('error', (err) => this.fail(err));
    worker.on('exit', (code) => this.fail(new Error(`the inference thread stopped (exit code ${code})`)));
  }

  static start(model: Uint8Array, options: ort.InferenceSession.SessionOptions): Promise<InferenceThread> {
    // Compiled (dist/): the worker is plain JavaScript next to this file. From the TypeScript sources (tests and
    // benches under `node --import tsx`): a worker starts without its parent's loader, so boot.mjs registers tsx
    // first and then imports the .ts entry. dist/ has no boot.mjs and never needs tsx.
    const fromSources = new URL(import.meta.url).pathname.endsWith('.ts');
    const entry = new URL(fromSources ? './inferenceWorker.ts' : './inferenceWorker.js', import.meta.url);
    const script = fromSources ? new URL('../workers/boot.mjs', import.meta.url) : entry;
    const worker = new Worker(script, {
      workerData: { entry: entry.href, model, options } satisfies InferenceWorkerData,
    });
    return new Promise((resolve, reject) => {
      const onMessage = (reply: InferenceReply) => {
        if (reply.kind === 'ready') {
          worker.off('message', onMessage);
          worker.unref();
          resolve(new InferenceThread(worker));
        } else if (reply.kind === 'failed') {
          void worker.terminate();
          reject(new Error(reply.message));
        }
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`the inference thread stopped while loading (exit code ${code})`)));
    });
  }

  /**
   * Runs the model on `input` of `shape`. With `transfer`, when `input` spans its whole buffer, the buffer
   * moves to the worker without a copy (~20 MB for a batch of 32) and is detached here; otherwise it is copied.
   */
  run(
    input: Float32Array,
    shape: number[],
    inputName: string,
    outputName: string,
    options: { transfer?: boolean } = {},
  ): Promise<{ data: Float32Array; dims: number[] }> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const whole = input.byteOffset === 0 && input.byteLength === input.buffer.byteLength && input.buffer instanceof ArrayBuffer;
    const sent = options.transfer && whole ? input : input.slice();
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.ref();
      this.worker.postMessage({ kind: 'run', id, input: sent, shape, inputName, outputName } satisfies InferenceRequest, [sent.buffer as ArrayBuffer]);
    });
  }

  async close(): Promise<void> {
    this.failure ??= new Error('the inference thread was closed');
    await this.worker.terminate();
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
  }
}
