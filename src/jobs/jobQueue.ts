/**
 * The background-jobs port: work that takes seconds to hours (ingest, feeds, training, the duplicates scan) runs as
 * a job with an id, a status, progress, the items it had to skip and a JSON result, so that a client can start it,
 * poll it (GET /api/jobs/:id) and read its history after a restart. The embedded adapter (src/jobs/embeddedJobQueue.ts)
 * runs jobs in this process and keeps their records in SQLite; a Redis (BullMQ) or PostgreSQL adapter implements the
 * same interface, which is why every method is asynchronous even where SQLite is not.
 *
 * What a job records (params, progress, item errors, result) is shown to API clients as it is: never put a server
 * folder or a secret in them. A job's own failure keeps its internal message apart (`failure.detail`), for logs only.
 */

/**
 * The kinds of job the product runs. Add a kind here (one line) when a new use case runs as a job; the HTTP schema's
 * `kind` filter lists the same values.
 */
export const JOB_KINDS = ['duplicates', 'ingest', 'feed', 'train'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'interrupted', 'cancelled'] as const;
/**
 * queued: waiting for its kind's turn; running; then one of succeeded, failed (the run threw), cancelled (`cancel`),
 * interrupted (the process that ran it closed its queue or ended before it finished: found so at the next start-up).
 */
export type JobStatus = (typeof JOB_STATUSES)[number];
export type FinishedStatus = Exclude<JobStatus, 'queued' | 'running'>;

export function isFinished(status: JobStatus): status is FinishedStatus {
  return status !== 'queued' && status !== 'running';
}

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface JobProgress {
  readonly done: number;
  /** 0 while unknown. */
  readonly total: number;
  /** The phase of a job with several (ingest: scan, embed, copies, refinement). */
  readonly stage?: string;
  readonly message?: string;
}

/** An item the job skipped, as its run reported it (`ctx.fail`): a bad photo, a malformed feed row. */
export interface JobItemError {
  readonly item?: string;
  readonly message: string;
}

/** Why a job did not succeed. */
export interface JobFailure {
  /** A product error code (src/errors.ts) for a failed run, or job/cancelled, job/interrupted. */
  readonly code: string;
  /** Safe to show to any client: a FashionError's message, or a generic one for an unexpected error. */
  readonly message: string;
  /** The thrown error's own message, which may name files or internals: for logs, never for API answers. */
  readonly detail?: string;
}

export interface Job {
  readonly id: string;
  readonly kind: JobKind;
  readonly status: JobStatus;
  /** What the job was asked to do, as given to `submit`. */
  readonly params: JsonValue;
  readonly progress: JobProgress;
  /** The first item failures (up to the queue's limit) and how many there were in all. */
  readonly errors: { readonly count: number; readonly first: readonly JobItemError[] };
  /** What the run returned, once succeeded. */
  readonly result: JsonValue;
  readonly failure: JobFailure | null;
  /** ISO timestamps. */
  readonly createdAt: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
}

/** What a running job is given. */
export interface JobContext {
  readonly id: string;
  /**
   * Aborted when the job is cancelled or its queue closes: stop soon and throw (the reason is a JobStoppedError).
   * A run that ignores it finishes normally, but the queue no longer waits for it once closed.
   */
  readonly signal: AbortSignal;
  /** Where the job stands; cheap to call for every item (the record is written at most every few hundred ms). */
  progress(progress: JobProgress): void;
  /** An item the job skips and goes on without. */
  fail(item: string | undefined, message: string): void;
}

/** A job's work: returns its JSON result (nothing: null), throws when it fails. */
export type JobRun = (ctx: JobContext) => Promise<JsonValue | void> | JsonValue | void;

export interface SubmitOptions {
  /**
   * At most one queued or running job of this kind with this key: a second submit returns the first job instead of
   * starting another (e.g. the duplicates scan of one catalog version, whoever asks for it).
   */
  readonly dedupeKey?: string;
}

export interface ListOptions {
  /** Newest first, at most this many (default 50). */
  readonly limit?: number;
  readonly status?: JobStatus;
  readonly kind?: JobKind;
}

/** A job's record changed: what the server logs, what a CLI could draw. Progress events come at the write cadence. */
export interface JobEvent {
  readonly type: 'submitted' | 'started' | 'progress' | 'finished';
  readonly job: Job;
  /** What the run threw, with a `finished` event of a failed job (for the log; the record keeps its message). */
  readonly error?: unknown;
}

export interface JobQueue {
  /** Queues a job (it starts when its kind has a free slot) or, with a dedupeKey already active, returns that job. */
  submit(kind: JobKind, params: JsonValue, run: JobRun, options?: SubmitOptions): Promise<Job>;
  get(id: string): Promise<Job | null>;
  list(options?: ListOptions): Promise<Job[]>;
  /**
   * Asks a job to stop: a queued one is cancelled at once, a running one when its run gives up (its signal aborts).
   * A finished or unknown job is returned as it is (null when unknown).
   */
  cancel(id: string, reason?: string): Promise<Job | null>;
  /** The job's record once it has finished (at once when it has, or when it is not this queue's to wait on); null when unknown. */
  wait(id: string): Promise<Job | null>;
  /** Calls `listener` on every change; returns the function that stops it. */
  onChange(listener: (event: JobEvent) => void): () => void;
  /** Stops the jobs still active (they become interrupted) and releases the queue. */
  close(): Promise<void>;
}

/** The reason a job's signal aborts with. */
export class JobStoppedError extends Error {
  constructor(
    readonly status: 'cancelled' | 'interrupted',
    message: string,
  ) {
    super(message);
    this.name = 'JobStoppedError';
  }
}
