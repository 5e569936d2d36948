/**
 * The duplicates thread's side (see duplicatesThread.ts): gathers the vectors sent in slices, then computes every
 * row's neighbour pairs (HNSW build and searches, or one batched exact search) here, off the main thread, and
 * answers once. The main thread ends this thread after the answer.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { neighbourPairs } from './duplicates.js';
import type { DuplicatesReply, DuplicatesRequest, DuplicatesWorkerData } from './duplicatesThread.js';

const data = workerData as DuplicatesWorkerData;
const port = parentPort!;
const vectors = new Float32Array(data.length);

port.on('message', (req: DuplicatesRequest) => {
  if (req.kind === 'chunk') {
    vectors.set(req.data, req.offset);
    return;
  }
  try {
    const pairs = neighbourPairs(vectors, data.dims, data.options);
    // Transferred, not copied: the arrays were made here (plain ArrayBuffers).
    port.postMessage({ kind: 'done', ...pairs } satisfies DuplicatesReply, [pairs.a, pairs.b, pairs.similarity].map((t) => t.buffer as ArrayBuffer));
  } catch (err) {
    port.postMessage({ kind: 'failed', message: (err as Error).message } satisfies DuplicatesReply);
  }
});
