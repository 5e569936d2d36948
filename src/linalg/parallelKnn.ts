import type { Worker } from 'node:worker_threads';
import { startWorker } from '../workers/start.js';
import { weightedPartsKnnPrefixes, type VectorPart } from './batchKnn.js';
import { Gemm } from './gemm.js';

/** What a knn worker (knnWorker.ts) is asked: weightedPartsKnnPrefixes of its share of the queries. */
export interface KnnRequest {
  readonly queries: VectorPart[];
  readonly nq: number;
  readonly gallery: VectorPart[];
  readonly ends: number[];
  readonly weightings: number[][];
  readonly k: number;
}

/** Fewer queries than this are scored on the calling thread alone (a worker's start and the gallery's copy cost more). */
const PARALLEL_FROM = 2000;

/**
 * weightedPartsKnnPrefixes with the queries in two halves, the second on a worker thread with its own single-threaded
 * matrix products: onnxruntime runs a product on the calling thread (its pool adds the others), and the scans are
 * JavaScript on that thread, so one call kept one core busy through its scans. Each query's rows come from its own
 * row of each product and its own scan, so the halves give the same rows as one call (checked against it, bit for bit,
 * on random parts). `threads` below 2, or few queries: one call on `gemm`.
 */
export async function weightedPartsKnnPrefixesParallel(
  gemm: Gemm,
  queries: readonly VectorPart[],
  nq: number,
  gallery: readonly VectorPart[],
  ends: readonly number[],
  weightings: ReadonlyArray<readonly number[]>,
  k: number,
  threads: number,
): Promise<Int32Array[][]> {
  if (threads < 2 || nq < PARALLEL_FROM) return weightedPartsKnnPrefixes(gemm, queries, nq, gallery, ends, weightings, k);
  const half = Math.ceil(nq / 2);
  const rest = nq - half;
  const rows = (parts: readonly VectorPart[], from: number, n: number) => parts.map((p) => ({ data: p.data.slice(from * p.dims, (from + n) * p.dims), dims: p.dims }));
  const ng = ends.at(-1) ?? 0;
  // Copied for the worker: exactly the gallery's rows (a view would take its whole buffer along).
  const request: KnnRequest = { queries: rows(queries, half, rest), nq: rest, gallery: rows(gallery, 0, ng), ends: [...ends], weightings: weightings.map((w) => [...w]), k };
  const worker = startWorker(import.meta.url, './knnWorker', { request });
  const second = answerOf(worker);
  second.catch(() => undefined);
  // This thread's half on one onnxruntime thread: the other core is the worker's.
  const own = await Gemm.create(1);
  let first: Int32Array[][];
  try {
    first = await weightedPartsKnnPrefixes(own, queries.map((p) => ({ data: p.data.subarray(0, half * p.dims), dims: p.dims })), half, gallery, ends, weightings, k);
  } finally {
    await own.close();
  }
  const other = await second;
  return first.map((byWeighting, e) =>
    byWeighting.map((top, wi) => {
      const out = new Int32Array(nq * k);
      out.set(top, 0);
      out.set(other[e]![wi]!, half * k);
      return out;
    }),
  );
}

function answerOf(worker: Worker): Promise<Int32Array[][]> {
  return new Promise((resolve, reject) => {
    let settled = false;
    worker.once('message', (m: { outs: Int32Array[][] } | { error: string }) => {
      settled = true;
      if ('error' in m) reject(new Error(`a knn worker failed: ${m.error}`));
      else resolve(m.outs);
    });
    worker.once('error', (err) => {
      settled = true;
      reject(err);
    });
    worker.once('exit', (code) => {
      if (!settled) reject(new Error(`a knn worker stopped (exit code ${code})`));
    });
  });
}
