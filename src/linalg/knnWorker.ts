/**
 * One share of weightedPartsKnnPrefixesParallel's queries (parallelKnn.ts) on its own thread, with single-threaded
 * matrix products: answers with its rows or the error, then ends.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { weightedPartsKnnPrefixes } from './batchKnn.js';
import { Gemm } from './gemm.js';
import type { KnnRequest } from './parallelKnn.js';

const { request: r } = workerData as { request: KnnRequest };
const gemm = await Gemm.create(1);
try {
  const outs = await weightedPartsKnnPrefixes(gemm, r.queries, r.nq, r.gallery, r.ends, r.weightings, r.k);
  parentPort!.postMessage({ outs }, outs.flat().map((o) => o.buffer as ArrayBuffer));
} catch (err) {
  parentPort!.postMessage({ error: err instanceof Error ? err.message : String(err) });
} finally {
  await gemm.close();
}
