import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MessageChannel, receiveMessageOnPort, type MessagePort, type Worker } from 'node:worker_threads';
import { startWorker } from '../workers/start.js';
import type { ExactIndex } from './exactIndex.js';
import { HnswIndex, type HnswOptions } from './hnswIndex.js';

/** One graph to build: HnswIndex.build's arguments. */
export interface GraphJob {
  readonly exact: ExactIndex;
  readonly keys: BigUint64Array;
  readonly options: HnswOptions;
}

/** What a graph worker (graphWorker.ts) is given; it answers on `port` and then sets `state` to DONE. */
export interface GraphWorkerData {
  readonly vectors: Float32Array;
  readonly dims: number;
  readonly keys: BigUint64Array;
  readonly options: HnswOptions;
  /** Where the worker saves the graph (a temporary folder of the caller's), for the calling thread to load. */
  readonly path: string;
  /** Int32Array(1) over it: STARTED once the worker's module runs, DONE once it has answered. */
  readonly state: SharedArrayBuffer;
  readonly port: MessagePort;
}

export const GRAPH_WORKER_STARTED = 1;
export const GRAPH_WORKER_DONE = 2;
/** The space name a worker saves under: the calling thread only loads the file, so any name that both sides use. */
export const GRAPH_WORKER_SPACE = 'graph-worker';
/** A worker whose module has not started by then (it failed to load) is given up on. */
const START_TIMEOUT_MS = 120_000;

/**
 * Builds the graphs side by side and returns them in the order given: the first on the calling thread, each other on a
 * worker thread of its own, which saves it to a temporary file that the calling thread then loads (a usearch index
 * cannot be handed between threads). Each graph is HnswIndex.build's, with its own options' threads, so built with one
 * thread it is the very graph (the same bytes) that a build in series makes. After training the refined graph (the
 * largest) was built and then the same-product one, on the calling thread: ~18 s of the demo catalog's first index,
 * in which the small graph's build (usearch on 2 threads there was slower than on 1) left a core idle. Synchronous,
 * like HnswIndex.build (the calling thread waits with Atomics.wait), so every caller of a graph build stays as it is.
 */
export function buildGraphsSideBySide(jobs: readonly GraphJob[]): HnswIndex[] {
  if (jobs.length === 0) return [];
  if (jobs.length === 1) return [HnswIndex.build(jobs[0]!.exact, jobs[0]!.keys, jobs[0]!.options)];
  const dir = mkdtempSync(join(tmpdir(), 'fashion-graphs-'));
  try {
    const started = jobs.slice(1).map((job, i) => startGraphWorker(job, join(dir, `graph-${i}.usearch`)));
    let first: HnswIndex;
    try {
      first = HnswIndex.build(jobs[0]!.exact, jobs[0]!.keys, jobs[0]!.options);
    } catch (err) {
      for (const w of started) void w.worker.terminate();
      throw err;
    }
    // Every worker is waited for before the first failure is thrown: none is left writing into the folder removed below.
    const outcomes = started.map((w, i) => {
      try {
        return { index: finishGraphWorker(w, jobs[i + 1]!) };
      } catch (err) {
        return { error: err as Error };
      }
    });
    const failed = outcomes.find((o) => 'error' in o);
    if (failed && 'error' in failed) throw failed.error;
    return [first, ...outcomes.map((o) => (o as { index: HnswIndex }).index)];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface StartedGraphWorker {
  readonly worker: Worker;
  readonly state: Int32Array;
  readonly port: MessagePort;
  readonly path: string;
}

function startGraphWorker(job: GraphJob, path: string): StartedGraphWorker {
  const shared = new SharedArrayBuffer(4);
  const { port1, port2 } = new MessageChannel();
  const d = job.exact.dims;
  // Cloned for the worker, so the caller's matrix stays its own: exactly the rows (a view would take its whole buffer along).
  const v = job.exact.vectors;
  const vectors = v.byteOffset === 0 && v.byteLength === v.buffer.byteLength ? v : v.slice(0, job.exact.size * d);
  const data: GraphWorkerData = { vectors, dims: d, keys: job.keys, options: job.options, path, state: shared, port: port2 };
  const worker = startWorker(import.meta.url, './graphWorker', data, [port2]);
  // The build ends the worker; a worker must not keep the process alive on its own.
  worker.unref();
  return { worker, state: new Int32Array(shared), port: port1, path };
}

function finishGraphWorker(w: StartedGraphWorker, job: GraphJob): HnswIndex {
  const since = Date.now();
  for (;;) {
    const now = Atomics.load(w.state, 0);
    if (now === GRAPH_WORKER_DONE) break;
    if (now !== GRAPH_WORKER_STARTED && Date.now() - since > START_TIMEOUT_MS) {
      void w.worker.terminate();
      throw new Error(`Expected a graph worker to start within ${START_TIMEOUT_MS / 1000} s but it did not`);
    }
    Atomics.wait(w.state, 0, now, 1000);
  }
  const answer = receiveMessageOnPort(w.port)?.message as { ok: true } | { error: string } | undefined;
  w.port.close();
  if (!answer || 'error' in answer) throw new Error(`Expected a graph built on a worker thread but it failed: ${answer ? answer.error : 'no answer'}`);
  const opened = HnswIndex.openSaved(w.path, GRAPH_WORKER_SPACE, job.exact, job.keys, job.options);
  if (!opened || opened.changed) throw new Error('Expected the graph a worker thread saved to hold every row');
  return opened.index;
}
