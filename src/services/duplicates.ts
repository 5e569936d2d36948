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
  readonly scanner?: NeighbourScanner;
}

type Job =
  | { readonly state: 'running'; readonly startedAt: number; readonly stop: AbortController; readonly settled: Promise<void> }
  | { readonly state: 'done'; readonly startedAt: number; readonly finishedAt: number; readonly pairs: NeighbourPairs }
  | { readonly state: 'failed'; readonly startedAt: number; readonly finishedAt: number; readonly message: string };

/**
 * Exact duplicates (same decoded pixels) and near-duplicate groups (backbone cosine >= threshold) of the catalog.
 * The near-duplicate scan (each row's nearest neighbours through an HNSW graph, and their similarities) costs
 * minutes of both cores on a 40,000-item catalog and does not depend on the threshold, so it runs once per catalog
 * version as a background job on a worker thread (`start`; a second start while it runs joins it); any threshold
 * is then a filter of its pairs and a union-find, milliseconds on the caller's thread (`find`).
 */
export class DuplicatesService {
  private job: Job | null = null;
  private scanCount = 0;
  private readonly scanner: NeighbourScanner;

  constructor(
    private readonly catalog: CatalogService,
    /** The backbone vectors as stored, rows in the catalog's order. */
    private readonly backbone: { readonly vectors: Float32Array; readonly dims: number },
    private readonly options: DuplicatesOptions,
  ) {
    this.scanner = options.scanner ?? neighbourPairsOnWorker;
  }

  /** Near-duplicate scans begun so far (one per catalog version unless one failed or was stopped). */
  get scans(): number {
    return this.scanCount;
  }

  status(): DuplicatesScanStatus {
    const base = { generation: this.options.generation, items: this.catalog.size };
    const job = this.job;
    if (!job) return { status: 'idle', ...base };
    const startedAt = new Date(job.startedAt).toISOString();
    switch (job.state) {
      case 'running':
        return { status: 'running', ...base, startedAt, elapsedMs: Date.now() - job.startedAt };
      case 'done':
        return { status: 'done', ...summary(base, job) };
      case 'failed':
        return { status: 'failed', ...base, startedAt, finishedAt: new Date(job.finishedAt).toISOString(), message: job.message };
    }
  }

  /**
   * Starts the near-duplicate scan of this catalog version in the background, unless it runs (then this joins it)
   * or is done; a failed scan is started again. Never throws for the scan's failure: `status()` reports it.
   */
  start(): DuplicatesScanStatus {
    if (this.job?.state === 'running' || this.job?.state === 'done') return this.status();
    const startedAt = Date.now();
    const stop = new AbortController();
    this.scanCount++;
    const { vectors, dims } = this.backbone;
    const settled = Promise.resolve()
      .then(() => this.scanner(vectors, dims, this.pairOptions(), stop.signal))
      .then(
        (pairs) => {
          if (this.job === running) this.job = { state: 'done', startedAt, finishedAt: Date.now(), pairs };
        },
        (err: unknown) => {
          if (this.job === running) this.job = { state: 'failed', startedAt, finishedAt: Date.now(), message: err instanceof Error ? err.message : String(err) };
        },
      );
    const running: Job = { state: 'running', startedAt, stop, settled };
    this.job = running;
    return this.status();
  }

  /** Starts or joins the scan and waits for it (the CLI, which has nothing else to serve); throws when it fails. */
  async scan(): Promise<DuplicatesScanSummary> {
    this.start();
    if (this.job?.state === 'running') await this.job.settled;
    const st = this.status();
    if (st.status === 'done') return st;
    if (st.status === 'failed') throw new FashionError('server/error', `The duplicates scan failed: ${st.message}`);
    throw new FashionError('server/error', 'The duplicates scan was stopped before it finished');
  }

  /** Ends a running scan (the server closing); the next `start` begins anew. */
  async stop(): Promise<void> {
    const job = this.job;
    if (job?.state !== 'running') return;
    this.job = null;
    job.stop.abort();
    await job.settled;
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
    const done = this.job?.state === 'done' ? this.job : this.scanHere();
    const near = groupPairsAtLeast(items.length, done.pairs, threshold).map((g) => ({
      kind: 'near' as const,
      ids: g.rows.map((r) => items[r]!.id).sort(),
      similarity: Math.round(g.similarity * 1e6) / 1e6,
    }));
    return { exact, near, threshold, scan: summary({ generation: this.options.generation, items: items.length }, done) };
  }

  private scanHere(): Extract<Job, { state: 'done' }> {
    if (this.job?.state === 'running') this.job.stop.abort();
    const startedAt = Date.now();
    this.scanCount++;
    const pairs = neighbourPairs(this.backbone.vectors, this.backbone.dims, this.pairOptions());
    const job = { state: 'done' as const, startedAt, finishedAt: Date.now(), pairs };
    this.job = job;
    return job;
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

function summary(base: { generation: number; items: number }, job: Extract<Job, { state: 'done' }>): DuplicatesScanSummary {
  return {
    ...base,
    startedAt: new Date(job.startedAt).toISOString(),
    finishedAt: new Date(job.finishedAt).toISOString(),
    durationMs: job.finishedAt - job.startedAt,
    pairs: job.pairs.similarity.length,
  };
}
