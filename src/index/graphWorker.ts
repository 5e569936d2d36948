/**
 * One graph of buildGraphsSideBySide (graphBuild.ts) on its own thread: builds it as HnswIndex.build does, saves it to the
 * path given, answers on its port (ok or the error), then marks its state DONE and ends. The calling thread waits on
 * that state (Atomics.wait), so the answer is always given before it, whatever happened.
 */
import { workerData } from 'node:worker_threads';
import { ExactIndex } from './exactIndex.js';
import { GRAPH_WORKER_DONE, GRAPH_WORKER_SPACE, GRAPH_WORKER_STARTED, type GraphWorkerData } from './graphBuild.js';
import { HnswIndex } from './hnswIndex.js';

const d = workerData as GraphWorkerData;
const state = new Int32Array(d.state);
Atomics.store(state, 0, GRAPH_WORKER_STARTED);
Atomics.notify(state, 0);
try {
  HnswIndex.build(new ExactIndex(d.vectors, d.dims), d.keys, d.options).save(d.path, GRAPH_WORKER_SPACE);
  d.port.postMessage({ ok: true });
} catch (err) {
  d.port.postMessage({ error: err instanceof Error ? err.message : String(err) });
} finally {
  // The port is not closed here: its answer stays queued for the calling thread, which closes its end after reading it.
  Atomics.store(state, 0, GRAPH_WORKER_DONE);
  Atomics.notify(state, 0);
}
