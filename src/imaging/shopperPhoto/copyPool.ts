import type { Worker } from 'node:worker_threads';
import { startWorker } from '../../workers/start.js';
import type { Preprocess } from '../preprocess.js';
import type { CopyReply, CopyRequest } from './copyWorker.js';
import type { FittedCopy } from './fitCopy.js';
import type { CopyRecipe } from './recipe.js';

/** Copies a copy worker makes at a time by default (CopyPool.create). */
export const COPIES_AT_ONCE = 2;

/** A copy worker stopped: every copy after it would fail too, unlike one photo that cannot be copied. */
export class CopyWorkerStopped extends Error {}

/**
 * Renders copies on worker threads (src/imaging/shopperPhoto/copyWorker.ts), each request to the thread with the
 * fewest in flight. The same recipe gives the same bytes as `renderCopy` on the calling thread, and `renderFitted`
 * the same model input as `fitCopy` of those bytes there.
 */
export class CopyPool {
  private readonly pending = new Map<number, { resolve: (r: Buffer | FittedCopy) => void; reject: (e: Error) => void; worker: number }>();
  private readonly load: number[];
  private next = 0;

  private constructor(private readonly workers: Worker[]) {
    this.load = workers.map(() => 0);
    workers.forEach((w, k) => {
      w.on('message', (reply: CopyReply) => {
        const p = this.pending.get(reply.id);
        if (!p) return;
        this.pending.delete(reply.id);
        this.load[k]!--;
        if ('error' in reply) p.reject(new Error(reply.error));
        else if ('fitted' in reply) p.resolve(reply.fitted);
        else p.resolve(Buffer.from(reply.bytes.buffer, reply.bytes.byteOffset, reply.bytes.byteLength));
      });
      w.on('error', (err) => this.failAll(k, new CopyWorkerStopped(`a copy worker failed: ${err.message}`, { cause: err })));
      w.on('exit', (code) => this.failAll(k, new CopyWorkerStopped(`a copy worker stopped (exit code ${code})`)));
    });
  }

  /**
   * `size` threads, each making at most `atOnce` copies at a time (the rest wait on the thread, in order): two keep a
   * thread busy while libvips works for one of them, without every queued copy holding its buffers at once.
   */
  static create(size: number, atOnce = COPIES_AT_ONCE): CopyPool {
    return new CopyPool(Array.from({ length: Math.max(1, size) }, () => startWorker(import.meta.url, './copyWorker', { atOnce })));
  }

  render(photo: Uint8Array, recipe: CopyRecipe, texture?: Uint8Array): Promise<Buffer> {
    return this.send({ id: 0, photo, recipe, ...(texture ? { texture } : {}) }) as Promise<Buffer>;
  }

  /** The copy decoded, isolated and fitted for a model with preprocessing `p` (fitCopy) on the worker: its input row and colour evidence. */
  renderFitted(photo: Uint8Array, recipe: CopyRecipe, texture: Uint8Array | undefined, p: Preprocess): Promise<FittedCopy> {
    return this.send({ id: 0, photo, recipe, ...(texture ? { texture } : {}), fit: p }) as Promise<FittedCopy>;
  }

  private send(req: CopyRequest): Promise<Buffer | FittedCopy> {
    if (this.stopped) return Promise.reject(new CopyWorkerStopped('the copy workers were stopped'));
    const k = this.load.indexOf(Math.min(...this.load));
    const id = this.next++;
    this.load[k]!++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, worker: k });
      this.workers[k]!.postMessage({ ...req, id } satisfies CopyRequest);
    });
  }

  private stopped = false;

  async close(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private failAll(k: number, err: Error): void {
    this.stopped = true;
    for (const [id, p] of this.pending) {
      if (p.worker !== k) continue;
      this.pending.delete(id);
      p.reject(err);
    }
  }
}
