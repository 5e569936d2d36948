import { FashionError, invalid } from '../errors.js';
import {
  exactDuplicateGroups,
  groupPairsAtLeast,
  neighbourPairs,
  NEAR_DUPLICATE_THRESHOLD,
  type DuplicateGroup,
  type NeighbourPairOptions,
  type NeighbourPairs,
} from '../search/duplicates.js';
import { neighbourPairsOnWorker } from '../search/duplicatesThread.js';
import type { Job, JobContext, JobQueue, JsonValue } from '../jobs/jobQueue.js';
import type { CatalogService } from './catalog.js';

/** What the scan reports, as the API shows it: timestamps are ISO strings. */
export interface DuplicatesScanSummary {
  /** The catalog version scanned (the store's generation when this snapshot was read). */
  readonly generation: number;
  readonly items: number;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly durationMs: number;
  /** Neighbour pairs measured (every threshold filters these). */
  readonly pairs: number;
}

export type DuplicatesScanStatus =
  | { readonly status: 'idle'; readonly generation: number; readonly items: number }
  | { readonly status: 'running'; readonly generation: number; readonly items: number; readonly startedAt: string; readonly elapsedMs: number }
  | ({ readonly status: 'done' } & DuplicatesScanSummary)
  | { readonly status: 'failed'; readonly generation: number; readonly items: number; readonly startedAt: string; readonly finishedAt: string; readonly message: string };

export interface DuplicatesReport {
  readonly exact: DuplicateGroup[];
  readonly near: DuplicateGroup[];
  readonly threshold: number;
  /** The scan the near-duplicate groups come from (absent when only exact duplicates were asked for). */
  readonly scan?: DuplicatesScanSummary;
}

/** Computes the neighbour pairs of a matrix (a worker thread by default; tests count or fail scans with their own). */
export type NeighbourScanner = (vectors: Float32Array, dims: number, options: NeighbourPairOptions, signal: AbortSignal) => Promise<NeighbourPairs>;

export interface DuplicatesOptions extends NeighbourPairOptions {
  /** The catalog version the vectors are a snapshot of (the store's generation): the scan is kept for it. */
  readonly generation: number;
  /** Where the scan runs, as a job of kind 'duplicates' (its id, status and progress are what GET /api/jobs shows). */
  readonly jobs: JobQueue;
  readonly scanner?: NeighbourScanner;
}

/** This service's scan. `job` resolves once the queue has taken it; `settled` once the job has finished, whatever the outcome. */
type Scan =
  | { readonly state: 'running'; readonly startedAt: number; job: Promise<Job>; settled: Promise<void>; found: { pairs: NeighbourPairs; finishedAt: number } | null }
  | { readonly state: 'done'; readonly jobId: string | null; readonly startedAt: number; readonly finishedAt: number; readonly pairs: NeighbourPairs }
  | { readonly state: 'failed'; readonly jobId: string | null; readonly startedAt: number; readonly finishedAt: number; readonly message: string };

/**
 * Exact duplicates (same decoded pixels) and near-duplicate groups (backbone cosine >= threshold) of the catalog.
 * The near-duplicate scan (each row's nearest neighbours through an HNSW graph, and their similarities) costs
 * minutes of both cores on a 40,000-item catalog and does not depend on the threshold, so it runs once per catalog
 * version as a background job ('duplicates', on a worker thread; `start`; a second start while it runs joins it, also
 * through the queue's dedupe key); any threshold is then a filter of its pairs and a union-find, milliseconds on the
 * caller's thread (`find`). The pairs are far too large for a job's JSON result, so they stay here, in memory, with
 * the scan's state; the job record carries the summary.
 */
export class DuplicatesService {
  private current: Scan | null = null;
  private scanCount = 0;
  private readonly scanner: NeighbourScanner;
  private readonly jobs: JobQueue;

  constructor(
    private readonly catalog: CatalogService,
    /** The backbone vectors as stored, rows in the catalog's order. */
    private readonly backbone: { readonly vectors: Float32Array; readonly dims: number },
    private readonly options: DuplicatesOptions,
  ) {
    this.scanner = options.scanner ?? neighbourPairsOnWorker;
    this.jobs = options.jobs;
  }

  /** Near-duplicate scans begun so far (one per catalog version unless one failed or was stopped). */
  get scans(): number {
    return this.scanCount;
  }

  status(): DuplicatesScanStatus {
    const base = this.base();
    const scan = this.current;
    if (!scan) return { status: 'idle', ...base };
    const startedAt = new Date(scan.startedAt).toISOString();
    switch (scan.state) {
      case 'running':
        return { status: 'running', ...base, startedAt, elapsedMs: Date.now() - scan.startedAt };
      case 'done':
        return { status: 'done', ...summary(base, scan) };
      case 'failed':
        return { status: 'failed', ...base, startedAt, finishedAt: new Date(scan.finishedAt).toISOString(), message: scan.message };
    }
  }

  /**
   * Starts the near-duplicate scan of this catalog version as a job, unless it runs (then this joins it) or is done; a
   * failed scan is started again. Answers the scan's status and its job (null for a scan `find` made on the spot).
   * Never throws for the scan's failure (`status()` reports it); throws when the queue cannot take the job.
   */
  async start(): Promise<{ status: DuplicatesScanStatus; job: Job | null }> {
    const scan = this.current;
    if (scan?.state !== 'running' && scan?.state !== 'done') this.submit();
    const job = await this.job();
    return { status: this.status(), job };
  }

  /** The job of the scan running or done (its record as the queue has it now), or null. */
  async job(): Promise<Job | null> {
    const scan = this.current;
    if (!scan) return null;
    const id = scan.state === 'running' ? (await scan.job).id : scan.jobId;
    return id ? this.jobs.get(id) : null;
  }

  /** Starts or joins the scan and waits for it (the CLI, which has nothing else to serve); throws when it fails. */
  async scan(): Promise<DuplicatesScanSummary> {
    await this.start();
    if (this.current?.state === 'running') await this.current.settled;
    const st = this.status();
    if (st.status === 'done') return st;
    if (st.status === 'failed') throw new FashionError('server/error', `The duplicates scan failed: ${st.message}`);
    throw new FashionError('server/error', 'The duplicates scan was stopped before it finished');
  }

  /** The scan's status once the one running now (if any) has ended; never starts one, never throws. */
  async settled(): Promise<DuplicatesScanStatus> {
    const scan = this.current;
    if (scan?.state === 'running') await scan.settled;
    return this.status();
  }

  /** Ends a running scan (the server closing): its job is cancelled, and the next `start` begins anew. */
  async stop(): Promise<void> {
    const scan = this.current;
    if (scan?.state !== 'running') return;
    this.current = null;
    const job = await scan.job.catch(() => null);
    if (job) await this.jobs.cancel(job.id, 'Stopped: the catalog it scanned was closed');
    await scan.settled;
  }

  /**
   * Exact duplicate groups, and near-duplicate groups at `threshold` from this catalog version's scan. Synchronous:
   * when no scan has finished it scans here, blocking (scripts and the Recommender facade); the server calls it only
   * once `status()` says done, so a request never waits on the scan.
   */
  find(options: { threshold?: number; near?: boolean } = {}): DuplicatesReport {
    const threshold = nearThreshold(options.threshold);
    const items = this.catalog.items;
    const exact = exactDuplicateGroups(items);
    if (options.near === false) return { exact, near: [], threshold };
    const done = this.current?.state === 'done' ? this.current : this.scanHere();
    const near = groupPairsAtLeast(items.length, done.pairs, threshold).map((g) => ({
      kind: 'near' as const,
      ids: g.rows.map((r) => items[r]!.id).sort(),
      similarity: Math.round(g.similarity * 1e6) / 1e6,
    }));
    return { exact, near, threshold, scan: summary(this.base(), done) };
  }

  /** Queues the scan's job; the scan's state follows the job to its end. */
  private submit(): void {
    const base = this.base();
    // The state first: the queue may start the run before submit returns.
    const running: Extract<Scan, { state: 'running' }> = { state: 'running', startedAt: Date.now(), job: Promise.resolve(null as never), settled: Promise.resolve(), found: null };
    this.current = running;
    running.job = this.jobs.submit('duplicates', { ...base }, (ctx) => this.run(ctx, running), { dedupeKey: `generation:${base.generation}` });
    running.settled = running.job
      .then((j) => this.jobs.wait(j.id))
      .then(
        (final) => {
          if (this.current !== running) return;
          const jobId = final?.id ?? null;
          if (final?.status === 'succeeded' && running.found) this.current = { state: 'done', jobId, startedAt: running.startedAt, ...running.found };
          else if (final?.status === 'failed') this.current = { state: 'failed', jobId, startedAt: running.startedAt, finishedAt: Date.now(), message: final.failure?.detail ?? final.failure?.message ?? 'failed' };
          // Cancelled or interrupted (or another service's job with this key, whose pairs are not here): nothing scanned.
          else this.current = null;
        },
        (err: unknown) => {
          if (this.current === running) this.current = { state: 'failed', jobId: null, startedAt: running.startedAt, finishedAt: Date.now(), message: err instanceof Error ? err.message : String(err) };
        },
      );
  }

  /** The job's work: the scan on its thread, stopped by the job's signal. Progress is coarse: the worker reports no rows. */
  private async run(ctx: JobContext, running: Extract<Scan, { state: 'running' }>): Promise<JsonValue> {
    this.scanCount++;
    const base = this.base();
    ctx.progress({ stage: 'scan', done: 0, total: base.items });
    const pairs = await this.scanner(this.backbone.vectors, this.backbone.dims, this.pairOptions(), ctx.signal);
    running.found = { pairs, finishedAt: Date.now() };
    ctx.progress({ stage: 'scan', done: base.items, total: base.items });
    return { ...summary(base, { startedAt: running.startedAt, ...running.found }) };
  }

  private scanHere(): Extract<Scan, { state: 'done' }> {
    const scan = this.current;
    if (scan?.state === 'running') void scan.job.then((j) => this.jobs.cancel(j.id, 'Replaced by a scan on the caller\'s thread'), () => {});
    const startedAt = Date.now();
    this.scanCount++;
    const pairs = neighbourPairs(this.backbone.vectors, this.backbone.dims, this.pairOptions());
    const done = { state: 'done' as const, jobId: null, startedAt, finishedAt: Date.now(), pairs };
    this.current = done;
    return done;
  }

  /** The version scanned and its rows (the snapshot's: items written since are not in the vectors). */
  private base(): { generation: number; items: number } {
    return { generation: this.options.generation, items: this.catalog.items.length };
  }

  private pairOptions(): NeighbourPairOptions {
    const { neighbours, exactUpTo } = this.options;
    return { ...(neighbours !== undefined ? { neighbours } : {}), ...(exactUpTo !== undefined ? { exactUpTo } : {}) };
  }
}

/** The near-duplicate threshold asked for, checked (above 0, at most 1), or the product's default. */
export function nearThreshold(threshold: number | undefined): number {
  const t = threshold ?? NEAR_DUPLICATE_THRESHOLD;
  if (!(t > 0 && t <= 1)) throw invalid('threshold', 'a number above 0, at most 1', t);
  return t;
}

function summary(base: { generation: number; items: number }, job: { startedAt: number; finishedAt: number; pairs: NeighbourPairs }): DuplicatesScanSummary {
  return {
    ...base,
    startedAt: new Date(job.startedAt).toISOString(),
    finishedAt: new Date(job.finishedAt).toISOString(),
    durationMs: job.finishedAt - job.startedAt,
    pairs: job.pairs.similarity.length,
  };
}
