import { Queue, Worker, type Job as BullJob } from 'bullmq';
import type { ProductJob } from './productJob.js';

/**
 * The ingest workers' queue on Redis (BullMQ): one job per product of a run, and one `finish` job per run once all its
 * products have finished (prune, refinement, search indexes: src/app/queueIngest.ts). The only module that imports
 * BullMQ. One queue per catalog (its PostgreSQL schema), so that workers of one catalog never take another's products.
 *
 * Delivery is at least once: a worker killed mid-job holds the job's lock until it expires (`lockMs`), and then
 * another worker's stalled-job check hands the job out again. Each product's write is therefore idempotent (its job's
 * key is committed with the write: src/jobs/productJob.ts); a job that throws (the database unreachable) is retried
 * with back-off, and after its last attempt its product is a failure of the run.
 */
export type QueueJobData = { readonly kind: 'product'; readonly job: ProductJob } | { readonly kind: 'finish'; readonly runId: string };

export const ATTEMPTS = 5;
/** A killed worker's jobs are handed out again after this long (BullMQ's lock duration). */
export const DEFAULT_LOCK_MS = 30_000;
/** How many times a job may be found stalled (its worker died) and handed out again before it fails. */
const MAX_STALLED = 3;
/** Products added per Redis round trip. */
const ADD_CHUNK = 500;

export function queueName(namespace: string): string {
  return `fashion-ingest-${namespace}`;
}

const JOB_OPTIONS = {
  attempts: ATTEMPTS,
  backoff: { type: 'exponential', delay: 2_000 },
  // Completed jobs are forgotten soon (the run's record in runRecords keeps what matters); failed ones for a week.
  removeOnComplete: { age: 3_600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3_600 },
} as const;

/** The enqueuing side: `fashion index --queue`, a server's POST /api/imports, and the worker that completes a run. */
export class IngestQueue {
  private opened: Queue | null = null;

  constructor(
    private readonly url: string,
    private readonly namespace: string,
  ) {}

  /** Connected on first use: a process that never enqueues (a server that is never sent a feed) opens no connection. */
  private get queue(): Queue {
    if (!this.opened) {
      this.opened = new Queue(queueName(this.namespace), { connection: { url: this.url, maxRetriesPerRequest: 3 } });
      this.opened.on('error', () => undefined);
    }
    return this.opened;
  }

  /** Adds products' jobs; each job's id is its run and product, so adding one twice (an enqueuer retried) adds it once. */
  async addProducts(jobs: readonly ProductJob[]): Promise<void> {
    for (let i = 0; i < jobs.length; i += ADD_CHUNK) {
      await this.queue.addBulk(
        jobs.slice(i, i + ADD_CHUNK).map((job) => ({ name: 'product', data: { kind: 'product', job } satisfies QueueJobData, opts: { ...JOB_OPTIONS, jobId: `${job.runId}.${job.id}` } })),
      );
    }
  }

  /** Queues the run's finishing step; however many workers ask (each that saw the last product finish), it is queued once. */
  async addFinish(runId: string): Promise<void> {
    await this.queue.add('finish', { kind: 'finish', runId } satisfies QueueJobData, { ...JOB_OPTIONS, jobId: `finish.${runId}` });
  }

  /**
   * Queues the run's finishing step again after it failed for good (its failed job, kept a week, would make addFinish
   * a no-op: a job id is added once). False when that job is running now (it was not failed).
   */
  async retryFinish(runId: string): Promise<boolean> {
    const id = `finish.${runId}`;
    const state = await this.queue.getJobState(id);
    if (state === 'active') return false;
    if (state !== 'unknown') await this.queue.remove(id);
    await this.addFinish(runId);
    return true;
  }

  /** Jobs waiting, running, delayed (retries) and failed: for tests and benches. */
  async counts(): Promise<Record<string, number>> {
    return this.queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed');
  }

  /** Removes every job of the queue (tests and benches on a queue of their own). */
  async obliterate(): Promise<void> {
    await this.queue.obliterate({ force: true });
  }

  async close(): Promise<void> {
    await this.opened?.close();
    this.opened = null;
  }
}

export interface QueueWorkerOptions {
  readonly concurrency: number;
  /** BullMQ's lock duration: how long a killed worker's jobs wait before another takes them (default 30 s). */
  readonly lockMs?: number;
  /** A job failed for good (its last attempt threw): the processor's caller records it with its run. */
  readonly onFailedForGood?: (data: QueueJobData, error: Error) => Promise<void>;
  readonly onError?: (error: Error) => void;
}

export interface QueueWorker {
  /** Stops taking jobs and waits for those in hand; with `force`, abandons them (BullMQ hands them out again). */
  close(force?: boolean): Promise<void>;
}

/** Starts taking jobs: `process` is called with each, up to `concurrency` at once. */
export function startQueueWorker(url: string, namespace: string, process: (data: QueueJobData, job: BullJob) => Promise<unknown>, options: QueueWorkerOptions): QueueWorker {
  const lockMs = options.lockMs ?? DEFAULT_LOCK_MS;
  const worker = new Worker(queueName(namespace), (job: BullJob) => process(job.data as QueueJobData, job), {
    connection: { url, maxRetriesPerRequest: null },
    concurrency: options.concurrency,
    lockDuration: lockMs,
    stalledInterval: Math.max(1_000, Math.floor(lockMs / 2)),
    maxStalledCount: MAX_STALLED,
  });
  worker.on('error', (err) => options.onError?.(err));
  worker.on('failed', (job, err) => {
    if (!job || !failedForGood(job, err)) return;
    void options.onFailedForGood?.(job.data as QueueJobData, err).catch((e: unknown) => options.onError?.(e as Error));
  });
  return { close: (force = false) => worker.close(force) };
}

/**
 * Whether a failed job is failed for good (no retry follows): its last attempt threw, or BullMQ failed it without a
 * retry: an UnrecoverableError, which is how a job found stalled more than MAX_STALLED times (its workers kept dying
 * with it) fails, on the next worker that takes it, after one attempt. Counting only spent attempts left such a
 * product out of its run's progress, and the run never finished.
 */
export function failedForGood(job: Pick<BullJob, 'attemptsMade' | 'opts'>, err: Error): boolean {
  return err.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1);
}
