import type { Worker } from 'node:worker_threads';
import type { NeighbourPairOptions, NeighbourPairs } from './duplicates.js';
import { startWorker } from '../workers/start.js';

export interface DuplicatesWorkerData {
  readonly entry: string;
  /** Floats of the row-major matrix the chunks fill. */
  readonly length: number;
  readonly dims: number;
  readonly options: NeighbourPairOptions;
}

export type DuplicatesRequest = { kind: 'chunk'; offset: number; data: Float32Array } | { kind: 'end' };

export type DuplicatesReply =
  | { kind: 'done'; a: Int32Array; b: Int32Array; similarity: Float64Array }
  | { kind: 'failed'; message: string };

/**
 * Floats per message (4 MiB). The vectors go over in transferred slices rather than one structured clone: copying
 * the 290 MB of a 40,000-item catalog at once would stall the event loop for a good part of a second, a slice costs
 * a millisecond or two and the loop turns between slices. (A SharedArrayBuffer would spare the copy, but usearch's
 * native code refuses arrays over one.)
 */
const CHUNK = 1 << 20;

/**
 * `neighbourPairs` of `vectors` on a worker thread of its own, so that the minute it takes on a large catalog
 * never blocks the caller's event loop. The thread is started like the inference thread: from the TypeScript
 * sources through ../workers/boot.mjs (which registers tsx), from dist/ directly. It holds the process open while
 * it works (an awaited scan is never cut short) and is ended once it has answered, failed or `signal` aborts.
 */
export function neighbourPairsOnWorker(vectors: Float32Array, dims: number, options: NeighbourPairOptions = {}, signal?: AbortSignal): Promise<NeighbourPairs> {
  if (signal?.aborted) return Promise.reject(new Error('the duplicates scan was stopped'));
  const worker = startWorker(import.meta.url, './duplicatesWorker', { length: vectors.length, dims, options } satisfies Omit<DuplicatesWorkerData, 'entry'>);
  return new Promise((resolve, reject) => {
    let settled = false;
    const onAbort = () => finish(new Error('the duplicates scan was stopped'));
    function finish(err: Error | null, pairs?: NeighbourPairs): void {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      void worker.terminate();
      if (err) reject(err);
      else resolve(pairs!);
    }
    worker.on('message', (reply: DuplicatesReply) => {
      if (reply.kind === 'done') finish(null, { a: reply.a, b: reply.b, similarity: reply.similarity });
      else finish(new Error(reply.message));
    });
    worker.on('error', (err) => finish(err));
    worker.on('exit', (code) => finish(new Error(`the duplicates thread stopped (exit code ${code}) before it answered`)));
    signal?.addEventListener('abort', onAbort, { once: true });
    const send = async () => {
      for (let offset = 0; offset < vectors.length && !settled; offset += CHUNK) {
        const data = vectors.slice(offset, offset + CHUNK);
        worker.postMessage({ kind: 'chunk', offset, data } satisfies DuplicatesRequest, [data.buffer]);
        await new Promise<void>((r) => setImmediate(r));
      }
      if (!settled) worker.postMessage({ kind: 'end' } satisfies DuplicatesRequest);
    };
    void send();
  });
}
