import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import Database from 'better-sqlite3';
import PQueue from 'p-queue';
import { isFashionError } from '../errors.js';
import {
  isFinished,
  JOB_STATUSES,
  JobStoppedError,
  type FinishedStatus,
  type Job,
  type JobContext,
  type JobEvent,
  type JobFailure,
  type JobItemError,
  type JobKind,
  type JobProgress,
  type JobQueue,
  type JobRun,
  type JobStatus,
  type JsonValue,
  type ListOptions,
  type SubmitOptions,
} from './jobQueue.js';

/** The job records' file in a catalog folder: apart from catalog.sqlite, which readers (the server) open read-only. */
export const JOBS_FILE = 'jobs.sqlite';

export interface EmbeddedJobQueueOptions {
  /** The SQLite file of the job records, opened (and created) on first use; ':memory:' keeps them in this process only. */
  readonly file: string;
  /** Jobs of a kind run at once (default 1 for every kind: each of them uses both cores, or writes the catalog). */
  readonly concurrency?: Partial<Record<JobKind, number>>;
  /** A running job's progress is written at most this often (default 500 ms). */
  readonly progressIntervalMs?: number;
  /** Finished jobs kept (default 200); older records are deleted. */
  readonly keepFinished?: number;
  /** Item failures a record keeps (default 20; the count goes on). */
  readonly maxItemErrors?: number;
  /** How long `close` waits for running jobs to give up once their signal aborted (default 5 s). */
  readonly closeGraceMs?: number;
}

const MAX_TEXT = 500;
const DEFAULT_LIST_LIMIT = 50;
const MAX_LIST_LIMIT = 1000;

/** A job's record, times in ms. */
interface Rec {
  readonly id: string;
  readonly kind: JobKind;
  status: JobStatus;
  readonly params: JsonValue;
  progress: JobProgress;
  readonly errors: { count: number; readonly first: JobItemError[] };
  result: JsonValue;
  failure: JobFailure | null;
  readonly createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
}

/** A job of this process, queued or running. */
interface Active extends Rec {
  readonly run: JobRun;
  readonly dedupe: string | null;
  readonly controller: AbortController;
  readonly settled: Promise<Job>;
  readonly resolve: (job: Job) => void;
  lastWrite: number;
  timer: NodeJS.Timeout | null;
}

interface Row {
  id: string;
  kind: string;
  status: string;
  params: string;
  progress: string;
  errors: string;
  error_count: number;
  result: string | null;
  failure: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  status TEXT NOT NULL,
  params TEXT NOT NULL,
  progress TEXT NOT NULL,
  errors TEXT NOT NULL,
  error_count INTEGER NOT NULL,
  result TEXT,
  failure TEXT,
  created_at INTEGER NOT NULL,
  started_at INTEGER,
  finished_at INTEGER,
  owner_host TEXT NOT NULL,
  owner_pid INTEGER NOT NULL,
  owner_token TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, seq);
CREATE INDEX IF NOT EXISTS jobs_finished ON jobs (finished_at);
`;

/** The queues open in this process, by token: a record owned by this pid but no open queue was left by a queue that died with its state. */
const OPEN_QUEUES = new Set<string>();

/**
 * The embedded job queue: jobs run in this process, one p-queue per kind (concurrency 1 by default), and their records
 * live in their own SQLite file (WAL), so that history survives a restart and several processes on the catalog (the
 * server, a CLI run) see each other's jobs. A record left queued or running by a process that is gone becomes
 * interrupted when a queue next opens the file. Nothing prints: changes are events (`onChange`).
 *
 * The file is opened on first use, not at construction: commands and servers that never run or read a job leave no
 * file beside the catalog.
 */
export class EmbeddedJobQueue implements JobQueue {
  private db: Database.Database | null = null;
  private closed = false;
  private writeCount = 0;
  private readonly token = randomUUID();
  private readonly host = hostname();
  private readonly active = new Map<string, Active>();
  /** kind + dedupe key -> the active job holding it. */
  private readonly dedupe = new Map<string, string>();
  private readonly queues = new Map<JobKind, PQueue>();
  private readonly listeners = new Set<(event: JobEvent) => void>();
  private readonly progressIntervalMs: number;
  private readonly keepFinished: number;
  private readonly maxItemErrors: number;
  private readonly closeGraceMs: number;

  constructor(private readonly options: EmbeddedJobQueueOptions) {
    this.progressIntervalMs = options.progressIntervalMs ?? 500;
    this.keepFinished = Math.max(1, options.keepFinished ?? 200);
    this.maxItemErrors = Math.max(0, options.maxItemErrors ?? 20);
    this.closeGraceMs = options.closeGraceMs ?? 5_000;
  }

  /** Record writes (inserts and updates) so far: for tests and diagnostics. */
  get writes(): number {
    return this.writeCount;
  }

  async submit(kind: JobKind, params: JsonValue, run: JobRun, options: SubmitOptions = {}): Promise<Job> {
    // Everything up to the p-queue add is synchronous, so two submits with one dedupe key cannot both start a job.
    const key = options.dedupeKey !== undefined ? `${kind}\u0000${options.dedupeKey}` : null;
    const joined = key !== null ? this.active.get(this.dedupe.get(key) ?? '') : undefined;
    if (joined) return toJob(joined);
    const db = this.database();
    let resolve!: (job: Job) => void;
    const settled = new Promise<Job>((r) => (resolve = r));
    const a: Active = {
      id: randomUUID(),
      kind,
      status: 'queued',
      params: toJson(params),
      progress: { done: 0, total: 0 },
      errors: { count: 0, first: [] },
      result: null,
      failure: null,
      createdAt: Date.now(),
      startedAt: null,
      finishedAt: null,
      run,
      dedupe: key,
      controller: new AbortController(),
      settled,
      resolve,
      lastWrite: 0,
      timer: null,
    };
    db.prepare(
      `INSERT INTO jobs (id, kind, status, params, progress, errors, error_count, created_at, owner_host, owner_pid, owner_token)
       VALUES (?, ?, ?, ?, ?, '[]', 0, ?, ?, ?, ?)`,
    ).run(a.id, kind, a.status, JSON.stringify(a.params), JSON.stringify(a.progress), a.createdAt, this.host, process.pid, this.token);
    this.writeCount++;
    this.active.set(a.id, a);
    if (key !== null) this.dedupe.set(key, a.id);
    this.emit({ type: 'submitted', job: toJob(a) });
    // A cancelled job stays in p-queue until its turn and then returns at once: p-queue's own abort support frees the
    // slot as soon as the signal aborts, while the run may still be winding down, and one-at-a-time must hold until it has.
    void this.queueFor(kind).add(() => this.execute(a));
    return toJob(a);
  }

  async get(id: string): Promise<Job | null> {
    const a = this.active.get(id);
    if (a) return toJob(a);
    const row = this.database().prepare('SELECT * FROM jobs WHERE id = ?').get(id) as Row | undefined;
    return row ? fromRow(row) : null;
  }

  async list(options: ListOptions = {}): Promise<Job[]> {
    const limit = Math.max(1, Math.min(MAX_LIST_LIMIT, Math.floor(options.limit ?? DEFAULT_LIST_LIMIT)));
    const rows = this.database()
      .prepare('SELECT * FROM jobs WHERE (@status IS NULL OR status = @status) AND (@kind IS NULL OR kind = @kind) ORDER BY seq DESC LIMIT @limit')
      .all({ status: options.status ?? null, kind: options.kind ?? null, limit }) as Row[];
    // This process's jobs from memory: their progress is written only every progressIntervalMs.
    return rows.map((row) => {
      const a = this.active.get(row.id);
      return a ? toJob(a) : fromRow(row);
    });
  }

  async cancel(id: string, reason = 'Cancelled on request'): Promise<Job | null> {
    const a = this.active.get(id);
    if (!a) return this.get(id);
    this.stop(a, new JobStoppedError('cancelled', reason));
    return toJob(a);
  }

  async wait(id: string): Promise<Job | null> {
    const a = this.active.get(id);
    return a ? a.settled : this.get(id);
  }

  onChange(listener: (event: JobEvent) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const q of this.queues.values()) q.clear();
    const pending = [...this.active.values()];
    for (const a of pending) this.stop(a, new JobStoppedError('interrupted', 'The job queue closed before the job finished'));
    if (pending.length) {
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((r) => (timer = setTimeout(r, this.closeGraceMs)));
      await Promise.race([Promise.all(pending.map((a) => a.settled)), grace]);
      clearTimeout(timer);
    }
    // Runs that ignored their signal: recorded as interrupted now; whatever they do later is not recorded.
    for (const a of [...this.active.values()]) this.finish(a, 'interrupted', { failure: stoppedFailure(a.controller.signal.reason) });
    OPEN_QUEUES.delete(this.token);
    this.db?.close();
    this.db = null;
  }

  private database(): Database.Database {
    if (this.closed) throw new Error('Expected an open job queue but it was closed');
    if (this.db) return this.db;
    const db = new Database(this.options.file);
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.exec(SCHEMA);
      OPEN_QUEUES.add(this.token);
      recoverOrphans(db, this.host, this.keepFinished);
    } catch (err) {
      db.close();
      throw err;
    }
    this.db = db;
    return db;
  }

  private queueFor(kind: JobKind): PQueue {
    let q = this.queues.get(kind);
    if (!q) {
      q = new PQueue({ concurrency: Math.max(1, this.options.concurrency?.[kind] ?? 1) });
      this.queues.set(kind, q);
    }
    return q;
  }

  /** Runs a job when its kind has a slot; never throws (the outcome is the record). */
  private async execute(a: Active): Promise<void> {
    if (this.active.get(a.id) !== a) return; // cancelled while it waited
    const ctx: JobContext = {
      id: a.id,
      signal: a.controller.signal,
      progress: (p) => {
        if (this.active.get(a.id) !== a) return;
        a.progress = cleanProgress(p);
        this.touched(a);
      },
      fail: (item, message) => {
        if (this.active.get(a.id) !== a) return;
        a.errors.count++;
        if (a.errors.first.length < this.maxItemErrors) a.errors.first.push({ ...(item !== undefined ? { item: clip(String(item), 200) } : {}), message: clip(String(message), MAX_TEXT) });
        this.touched(a);
      },
    };
    try {
      a.status = 'running';
      a.startedAt = Date.now();
      this.persist(a);
      this.emit({ type: 'started', job: toJob(a) });
      const value = await a.run(ctx);
      this.finish(a, 'succeeded', { result: toJson(value ?? null) });
    } catch (err) {
      const reason: unknown = a.controller.signal.aborted ? a.controller.signal.reason : null;
      if (reason instanceof JobStoppedError) this.finish(a, reason.status, { failure: stoppedFailure(reason) });
      else this.finish(a, 'failed', { failure: failureOf(err), error: err });
    }
  }

  private stop(a: Active, reason: JobStoppedError): void {
    if (!a.controller.signal.aborted) a.controller.abort(reason);
    // A queued job has no run to wait for.
    if (a.status === 'queued') this.finish(a, reason.status, { failure: stoppedFailure(reason) });
  }

  /** Progress or an item failure: written now if the last write is old enough, else once it is. */
  private touched(a: Active): void {
    if (a.timer) return;
    const wait = a.lastWrite + this.progressIntervalMs - Date.now();
    if (wait <= 0) return this.writeProgress(a);
    a.timer = setTimeout(() => {
      a.timer = null;
      if (this.active.get(a.id) === a) this.writeProgress(a);
    }, wait);
    // A job in flight holds the process open anyway; a pending progress write alone must not.
    a.timer.unref();
  }

  private writeProgress(a: Active): void {
    try {
      this.persist(a);
    } catch {
      // A busy or full disk: the next write (at the latest, the final one) carries this progress too.
      return;
    }
    this.emit({ type: 'progress', job: toJob(a) });
  }

  private persist(rec: Rec): void {
    if (!this.db) return;
    this.db
      .prepare('UPDATE jobs SET status = ?, progress = ?, errors = ?, error_count = ?, result = ?, failure = ?, started_at = ?, finished_at = ? WHERE id = ?')
      .run(
        rec.status,
        JSON.stringify(rec.progress),
        JSON.stringify(rec.errors.first),
        rec.errors.count,
        rec.result === null ? null : JSON.stringify(rec.result),
        rec.failure ? JSON.stringify(rec.failure) : null,
        rec.startedAt,
        rec.finishedAt,
        rec.id,
      );
    this.writeCount++;
    if ('lastWrite' in rec) (rec as Active).lastWrite = Date.now();
  }

  private finish(a: Active, status: FinishedStatus, outcome: { result?: JsonValue; failure?: JobFailure; error?: unknown }): void {
    if (this.active.get(a.id) !== a) return;
    if (a.timer) clearTimeout(a.timer);
    a.timer = null;
    this.active.delete(a.id);
    if (a.dedupe !== null && this.dedupe.get(a.dedupe) === a.id) this.dedupe.delete(a.dedupe);
    a.status = status;
    a.result = outcome.result ?? null;
    a.failure = outcome.failure ?? null;
    a.finishedAt = Date.now();
    let writeError: unknown;
    try {
      this.persist(a);
      if (this.db) prune(this.db, this.keepFinished);
    } catch (err) {
      writeError = err;
    }
    const job = toJob(a);
    const error = outcome.error ?? writeError;
    this.emit({ type: 'finished', job, ...(error !== undefined ? { error } : {}) });
    a.resolve(job);
  }

  private emit(event: JobEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        // A listener's bug must not leave a job half-recorded; it still surfaces, as an uncaught exception.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}

/** Records left queued or running by a process that is gone (killed, crashed, or a queue of this process dropped unclosed) become interrupted. */
function recoverOrphans(db: Database.Database, host: string, keepFinished: number): void {
  const rows = db.prepare("SELECT id, owner_host, owner_pid, owner_token FROM jobs WHERE status IN ('queued', 'running')").all() as Array<{ id: string; owner_host: string; owner_pid: number; owner_token: string }>;
  const interrupt = db.prepare('UPDATE jobs SET status = ?, failure = ?, finished_at = ? WHERE id = ?');
  db.transaction(() => {
    for (const r of rows) {
      const alive = r.owner_host !== host || (r.owner_pid === process.pid ? OPEN_QUEUES.has(r.owner_token) : processAlive(r.owner_pid));
      if (alive) continue;
      const failure: JobFailure = { code: 'job/interrupted', message: 'The process that ran the job ended before it finished' };
      interrupt.run('interrupted', JSON.stringify(failure), Date.now(), r.id);
    }
    prune(db, keepFinished);
  })();
}

/** Whether a process of this host is running (a pid reused by another process reads as alive: its jobs stay as they are). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function prune(db: Database.Database, keep: number): void {
  db.prepare(
    'DELETE FROM jobs WHERE finished_at IS NOT NULL AND seq NOT IN (SELECT seq FROM jobs WHERE finished_at IS NOT NULL ORDER BY finished_at DESC, seq DESC LIMIT ?)',
  ).run(keep);
}

function toJob(rec: Rec): Job {
  return {
    id: rec.id,
    kind: rec.kind,
    status: rec.status,
    params: rec.params,
    progress: { ...rec.progress },
    errors: { count: rec.errors.count, first: rec.errors.first.map((e) => ({ ...e })) },
    result: rec.result,
    failure: rec.failure ? { ...rec.failure } : null,
    createdAt: new Date(rec.createdAt).toISOString(),
    startedAt: rec.startedAt === null ? null : new Date(rec.startedAt).toISOString(),
    finishedAt: rec.finishedAt === null ? null : new Date(rec.finishedAt).toISOString(),
  };
}

function fromRow(row: Row): Job {
  const status = (JOB_STATUSES as readonly string[]).includes(row.status) ? (row.status as JobStatus) : 'failed';
  return toJob({
    id: row.id,
    kind: row.kind as JobKind,
    status,
    params: JSON.parse(row.params) as JsonValue,
    progress: JSON.parse(row.progress) as JobProgress,
    errors: { count: row.error_count, first: JSON.parse(row.errors) as JobItemError[] },
    result: row.result === null ? null : (JSON.parse(row.result) as JsonValue),
    failure: row.failure === null ? (isFinished(status) && status !== 'succeeded' ? { code: 'job/unknown', message: 'No reason was recorded' } : null) : (JSON.parse(row.failure) as JobFailure),
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  });
}

/** A value as JSON would carry it (a copy); throws for what JSON cannot (a BigInt, a cycle). */
function toJson(value: unknown): JsonValue {
  if (value === undefined) return null;
  return JSON.parse(JSON.stringify(value)) as JsonValue;
}

function cleanProgress(p: JobProgress): JobProgress {
  const count = (n: number) => (Number.isFinite(n) && n > 0 ? n : 0);
  return {
    done: count(p.done),
    total: count(p.total),
    ...(p.stage !== undefined ? { stage: clip(String(p.stage), 100) } : {}),
    ...(p.message !== undefined ? { message: clip(String(p.message), MAX_TEXT) } : {}),
  };
}

function clip(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/** A failed run's reason: a product error says what to do and is shown as it is; anything else only in the detail (logs). */
function failureOf(err: unknown): JobFailure {
  const detail = err instanceof Error ? err.message : String(err);
  if (isFashionError(err)) return { code: err.code, message: err.message, detail };
  return { code: 'server/error', message: 'The job failed unexpectedly (the log of the process that ran it says why)', detail };
}

function stoppedFailure(reason: unknown): JobFailure {
  const stopped = reason instanceof JobStoppedError ? reason : new JobStoppedError('interrupted', 'The job queue closed before the job finished');
  return { code: `job/${stopped.status}`, message: stopped.message };
}
