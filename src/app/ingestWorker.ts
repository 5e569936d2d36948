import type { Config } from '../config.js';
import { isFashionError } from '../errors.js';
import { startQueueWorker, type QueueJobData, type QueueWorker } from '../jobs/ingestQueue.js';
import type { ProductOutcome } from '../jobs/runRecords.js';
import { ProductIngester } from './ingestProduct.js';
import { openQueue, requireQueue } from './queueHandles.js';
import { finishRun } from './queueIngest.js';

export interface WorkerOptions {
  /** Products in hand at once (their photos are embedded together, in batches of config.batchSize). */
  readonly concurrency: number;
  /** How long a killed worker's jobs wait before another worker takes them (BullMQ's lock; default 30 s). */
  readonly lockMs?: number;
}

/** What a worker does, as events: the CLI writes each as a JSON log line. */
export type WorkerEvent =
  | { readonly type: 'ready'; readonly concurrency: number; readonly queue: string }
  | { readonly type: 'product'; readonly run: string; readonly id: string; readonly outcome: ProductOutcome; readonly ms: number; readonly errors?: readonly string[] }
  | { readonly type: 'finished-run'; readonly run: string; readonly status: string; readonly ms: number }
  | { readonly type: 'job-failed'; readonly run: string; readonly id?: string; readonly code: string; readonly message: string }
  | { readonly type: 'error'; readonly message: string }
  | { readonly type: 'stopping'; readonly force: boolean }
  | { readonly type: 'stopped' };

export interface RunningWorker {
  /** Stops taking jobs, finishes those in hand (with `force`, hands them back to the queue) and closes everything. */
  stop(force?: boolean): Promise<void>;
}

/**
 * `fashion worker`: a long-running process that takes ingest jobs from the catalog's queue (src/jobs/ingestQueue.ts)
 * and writes products into the PostgreSQL catalog (src/app/ingestProduct.ts), and finishes runs whose products have
 * all finished (src/app/queueIngest.ts). Any number of them, on any number of machines, share the work.
 */
export async function startIngestWorker(config: Config, options: WorkerOptions, onEvent: (e: WorkerEvent) => void): Promise<RunningWorker> {
  const url = requireQueue(config);
  const ingester = await ProductIngester.open(config);
  const handles = openQueue(config);
  const ac = new AbortController();
  const process = async (data: QueueJobData): Promise<unknown> => {
    const t0 = performance.now();
    if (data.kind === 'finish') {
      const job = await finishRun(config, handles.runs, data.runId);
      onEvent({ type: 'finished-run', run: data.runId, status: job?.status ?? 'unknown', ms: Math.round(performance.now() - t0) });
      return job?.status ?? null;
    }
    const { job } = data;
    // A cancelled (or already finished) run's products are skipped, not written.
    const status = await handles.runs.status(job.runId);
    const result = status === 'running' ? await ingester.ingest(job, ac.signal) : { outcome: 'skipped' as const, errors: [] };
    const { done, total } = await handles.runs.finishItem(job.runId, job.id, result.outcome, result.errors);
    onEvent({ type: 'product', run: job.runId, id: job.id, outcome: result.outcome, ms: Math.round(performance.now() - t0), ...(result.errors.length ? { errors: result.errors.map((e) => e.message) } : {}) });
    if (total >= 0 && done >= total) await handles.queue.addFinish(job.runId);
    return result.outcome;
  };
  const worker: QueueWorker = startQueueWorker(url, config.databaseSchema, process, {
    concurrency: options.concurrency,
    ...(options.lockMs !== undefined ? { lockMs: options.lockMs } : {}),
    onError: (err) => onEvent({ type: 'error', message: err.message }),
    // Its last attempt threw (not a bad photo, which is an outcome): the product is a failure of its run, which can
    // still finish; a finishing step that keeps failing fails the run.
    onFailedForGood: async (data, err) => {
      const code = isFashionError(err) ? err.code : 'server/error';
      if (data.kind === 'finish') {
        onEvent({ type: 'job-failed', run: data.runId, code, message: err.message });
        await handles.runs.finish(data.runId, 'failed', { failure: { code, message: isFashionError(err) ? err.message : 'Finishing the run failed (the worker\'s log says why)', detail: err.message } });
        return;
      }
      const { job } = data;
      onEvent({ type: 'job-failed', run: job.runId, id: job.id, code, message: err.message });
      const { done, total } = await handles.runs.finishItem(job.runId, job.id, 'failed', [{ item: job.id, message: `${code}: ${isFashionError(err) ? err.message : 'the worker failed to write it (its log says why)'}` }]);
      if (total >= 0 && done >= total) await handles.queue.addFinish(job.runId);
    },
  });
  onEvent({ type: 'ready', concurrency: options.concurrency, queue: config.databaseSchema });
  let stopping: Promise<void> | null = null;
  return {
    stop(force = false) {
      if (stopping && !force) return stopping;
      onEvent({ type: 'stopping', force });
      if (force) ac.abort();
      stopping = (async () => {
        await worker.close(force);
        await handles.close();
        await ingester.close();
        onEvent({ type: 'stopped' });
      })();
      return stopping;
    },
  };
}
