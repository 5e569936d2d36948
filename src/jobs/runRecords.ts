import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Job, JobFailure, JobItemError, JobKind, JobStatus, JsonValue, ListOptions } from './jobQueue.js';
import { isFinished, JOB_STATUSES } from './jobQueue.js';

/**
 * The records of ingest runs on the worker queue, in Redis beside BullMQ's jobs: one hash per run (the parent record:
 * what was asked, status, stage, counts), the set of its products that have finished, and the list of its item
 * errors. Every process that can reach Redis reads the same record, so any API replica answers GET /api/jobs/:id for a
 * run that another started, and workers on any machine move its progress.
 *
 * A product counts once whatever happens to its job: `finishItem` adds it to the run's set and, only when it was not
 * there yet, counts its outcome and appends its errors, in one Lua script (atomic in Redis). A job delivered again
 * after its worker died (BullMQ's stalled-job retry) finishes its product a second time and changes nothing.
 */
export const RUN_KEEP_SECONDS = 7 * 24 * 60 * 60;
/** Runs listed at most (GET /api/jobs); older ones are dropped from the list, their records expire. */
const KEEP_RUNS = 500;
const FIRST_ERRORS = 20;
const MAX_TEXT = 500;

/** What a product's job came to. `repeated`: delivered again after its write had committed (nothing written). */
export const PRODUCT_OUTCOMES = ['added', 'updated', 'unchanged', 'metadata', 'failed', 'repeated', 'skipped'] as const;
export type ProductOutcome = (typeof PRODUCT_OUTCOMES)[number];

export interface NewRun {
  readonly kind: Extract<JobKind, 'ingest' | 'feed'>;
  /** What the job record shows it was asked (no server path, no secret). */
  readonly params: JsonValue;
  /** What finishing the run needs (src/app/queueIngest.ts): settings to write, whether to refine. Not shown to clients. */
  readonly plan: JsonValue;
}

const FINISH_ITEM = `
local added = redis.call('SADD', KEYS[2], ARGV[1])
if added == 1 then
  redis.call('HINCRBY', KEYS[1], 'n:' .. ARGV[2], 1)
  for i = 3, #ARGV do redis.call('RPUSH', KEYS[3], ARGV[i]) end
end
local total = redis.call('HGET', KEYS[1], 'total')
if not total then total = '-1' end
return {redis.call('SCARD', KEYS[2]), tonumber(total)}
`;

// A failed run whose every product finished (its finishing step failed) runs again; its record keeps everything else.
const REOPEN = `
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'unknown' end
if status ~= 'failed' then return status end
local total = tonumber(redis.call('HGET', KEYS[1], 'total') or '-1')
if total < 0 or redis.call('SCARD', KEYS[2]) < total then return 'unfinished' end
redis.call('HSET', KEYS[1], 'status', 'running', 'stage', 'finish', 'message', ARGV[1])
redis.call('HDEL', KEYS[1], 'finishedAt', 'result', 'failure')
for i = 1, #KEYS do redis.call('PERSIST', KEYS[i]) end
return 'reopened'
`;

/** What reopening a run found: `reopened`, or why not (its status, `unfinished`: not all its products finished, `unknown`). */
export type ReopenOutcome = 'reopened' | 'unfinished' | 'unknown' | JobStatus;

type RedisWithScripts = Redis & {
  finishItem(run: string, done: string, errors: string, ...args: string[]): Promise<[number, number]>;
  reopen(run: string, done: string, errors: string, remove: string, message: string): Promise<ReopenOutcome>;
};

export class RunRecords {
  private readonly redis: RedisWithScripts;
  private readonly prefix: string;

  /** `namespace`: one catalog's runs (its PostgreSQL schema), so that catalogs can share a Redis. */
  constructor(url: string, namespace: string) {
    // Reads answer a client: a Redis that is down fails the request instead of queueing it for ever.
    // Connected on first use: a command that never reads a run opens no connection.
    const redis = new Redis(url, { maxRetriesPerRequest: 3, lazyConnect: true });
    redis.on('error', () => undefined); // reconnects by itself; each command reports its own failure
    redis.defineCommand('finishItem', { numberOfKeys: 3, lua: FINISH_ITEM });
    redis.defineCommand('reopen', { numberOfKeys: 4, lua: REOPEN });
    this.redis = redis as RedisWithScripts;
    this.prefix = `fashion:${namespace}`;
  }

  private key(id: string, part = ''): string {
    return `${this.prefix}:run:${id}${part}`;
  }

  /** A new run, running from now (enqueuing its products is its first stage). */
  async create(run: NewRun): Promise<string> {
    const id = randomUUID();
    const now = Date.now();
    await this.redis
      .multi()
      .hset(this.key(id), {
        id,
        kind: run.kind,
        status: 'running',
        params: JSON.stringify(run.params),
        plan: JSON.stringify(run.plan),
        stage: 'enqueue',
        enqueued: 0,
        enqueuedAt: now,
        createdAt: now,
        startedAt: now,
      })
      .zadd(`${this.prefix}:runs`, now, id)
      .zremrangebyrank(`${this.prefix}:runs`, 0, -KEEP_RUNS - 1)
      .exec();
    return id;
  }

  /** Items the enqueuer itself skipped (malformed feed rows): errors of the run, not products. */
  async addErrors(id: string, errors: readonly JobItemError[]): Promise<void> {
    if (errors.length === 0) return;
    await this.redis.rpush(this.key(id, ':errors'), ...errors.map(errorJson));
  }

  /** Products enqueued so far (progress while the enqueuer still reads the feed); also the enqueuer's sign of life. */
  async enqueued(id: string, count: number): Promise<void> {
    await this.redis.hset(this.key(id), { enqueued: count, enqueuedAt: Date.now() });
  }

  /**
   * Ends as interrupted the runs whose enqueuer stopped before it had queued them all (killed, its machine gone): still
   * at the enqueue stage, no total, no sign of life for `quietMs`. Without a total such a run could never finish, and
   * it would show as running for ever. Their products not yet written are skipped by the workers; queueing the folder
   * or feed again writes them (what was written is found unchanged). Returns the runs ended.
   */
  async endAbandoned(quietMs: number): Promise<string[]> {
    const ended: string[] = [];
    const now = Date.now();
    for (const id of await this.redis.zrevrange(`${this.prefix}:runs`, 0, KEEP_RUNS - 1)) {
      const [status, stage, total, enqueued, at] = await this.redis.hmget(this.key(id), 'status', 'stage', 'total', 'enqueued', 'enqueuedAt');
      if (status !== 'running' || stage !== 'enqueue' || total !== null || now - Number(at ?? 0) < quietMs) continue;
      const message = `Its enqueuer stopped after queueing ${enqueued ?? 0} products, before the rest (killed?); the products not written yet are skipped: queue the folder or feed again`;
      if (await this.finish(id, 'interrupted', { failure: { code: 'job/interrupted', message } })) ended.push(id);
    }
    return ended;
  }

  /** The products that leave the catalog when the run finishes (those no longer in the feed or folder). */
  async setRemovals(id: string, ids: readonly string[]): Promise<void> {
    for (let i = 0; i < ids.length; i += 5000) await this.redis.sadd(this.key(id, ':remove'), ...ids.slice(i, i + 5000));
  }

  async removals(id: string): Promise<string[]> {
    return this.redis.smembers(this.key(id, ':remove'));
  }

  /** All products are enqueued: the run is complete once `total` have finished. Returns how many have already. */
  async setTotal(id: string, total: number): Promise<number> {
    const [, done] = (await this.redis.multi().hset(this.key(id), { total, enqueued: total, stage: 'embed' }).scard(this.key(id, ':done')).exec()) ?? [];
    return Number(done?.[1] ?? 0);
  }

  /** A product's job has finished (see the class comment); returns how many of the run's have, and its total (-1: not known yet). */
  async finishItem(id: string, product: string, outcome: ProductOutcome, errors: readonly JobItemError[] = []): Promise<{ done: number; total: number }> {
    const [done, total] = await this.redis.finishItem(this.key(id), this.key(id, ':done'), this.key(id, ':errors'), product, outcome, ...errors.map(errorJson));
    return { done, total };
  }

  async setStage(id: string, stage: string, message?: string): Promise<void> {
    await this.redis.hset(this.key(id), { stage, message: clip(message ?? '', MAX_TEXT) });
  }

  /** The run's status, or null when unknown. */
  async status(id: string): Promise<JobStatus | null> {
    return (await this.redis.hget(this.key(id), 'status')) as JobStatus | null;
  }

  /** What finishing the run needs (NewRun.plan). */
  async plan(id: string): Promise<JsonValue> {
    const raw = await this.redis.hget(this.key(id), 'plan');
    return raw ? (JSON.parse(raw) as JsonValue) : null;
  }

  /**
   * Ends the run (once: a run already finished stays as it was, and false is returned). Its records expire after a week.
   */
  async finish(id: string, status: Exclude<JobStatus, 'queued' | 'running'>, outcome: { result?: JsonValue; failure?: JobFailure } = {}): Promise<boolean> {
    const current = await this.status(id);
    if (current === null || isFinished(current)) return false;
    const keys = ['', ':done', ':errors', ':remove'].map((p) => this.key(id, p));
    const m = this.redis.multi().hset(this.key(id), {
      status,
      finishedAt: Date.now(),
      result: JSON.stringify(outcome.result ?? null),
      failure: outcome.failure ? JSON.stringify(outcome.failure) : '',
    });
    for (const k of keys) m.expire(k, RUN_KEEP_SECONDS);
    await m.exec();
    return true;
  }

  /**
   * A run that failed after all its products finished (its finishing step threw: a fault since fixed, a database that
   * was down) is running again, at its finishing stage, so that its finish can be queued once more; its counts and
   * errors stay, and its records no longer expire. Atomic; any other run is left as it is and the reason returned.
   */
  async reopen(id: string): Promise<ReopenOutcome> {
    return this.redis.reopen(this.key(id), this.key(id, ':done'), this.key(id, ':errors'), this.key(id, ':remove'), 'finishing again');
  }

  /** Counts of the run's product outcomes so far. */
  async counts(id: string): Promise<Record<ProductOutcome, number>> {
    const h = await this.redis.hgetall(this.key(id));
    return Object.fromEntries(PRODUCT_OUTCOMES.map((o) => [o, Number(h[`n:${o}`] ?? 0)])) as Record<ProductOutcome, number>;
  }

  async get(id: string): Promise<Job | null> {
    const [[, h], [, done], [, count], [, first]] = ((await this.redis
      .multi()
      .hgetall(this.key(id))
      .scard(this.key(id, ':done'))
      .llen(this.key(id, ':errors'))
      .lrange(this.key(id, ':errors'), 0, FIRST_ERRORS - 1)
      .exec()) ?? []) as Array<[unknown, unknown]> as [[unknown, Record<string, string>], [unknown, number], [unknown, number], [unknown, string[]]];
    if (!h || !h.id) return null;
    return toJob(h, done, count, first);
  }

  async list(options: ListOptions = {}): Promise<Job[]> {
    const limit = Math.max(1, Math.min(1000, Math.floor(options.limit ?? 50)));
    const ids = await this.redis.zrevrange(`${this.prefix}:runs`, 0, KEEP_RUNS - 1);
    const out: Job[] = [];
    for (const id of ids) {
      if (out.length >= limit) break;
      const job = await this.get(id);
      if (!job) continue;
      if (options.status && job.status !== options.status) continue;
      if (options.kind && job.kind !== options.kind) continue;
      out.push(job);
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.redis.status === 'wait' || this.redis.status === 'end') return this.redis.disconnect();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

function toJob(h: Record<string, string>, done: number, errorCount: number, first: readonly string[]): Job {
  const status = (JOB_STATUSES as readonly string[]).includes(h.status ?? '') ? (h.status as JobStatus) : 'failed';
  const total = h.total !== undefined ? Number(h.total) : Number(h.enqueued ?? 0);
  const counts = Object.fromEntries(PRODUCT_OUTCOMES.map((o) => [o, Number(h[`n:${o}`] ?? 0)]));
  const failed = counts.failed ?? 0;
  const stage = h.stage ?? 'embed';
  const iso = (ms: string | undefined) => (ms ? new Date(Number(ms)).toISOString() : null);
  return {
    id: h.id!,
    kind: h.kind as JobKind,
    status,
    params: JSON.parse(h.params ?? 'null') as JsonValue,
    progress: {
      done,
      total,
      stage,
      ...(h.message ? { message: h.message } : failed > 0 && (stage === 'embed' || stage === 'enqueue') ? { message: `${failed} products could not be indexed` } : {}),
    },
    errors: { count: errorCount, first: first.map((e) => JSON.parse(e) as JobItemError) },
    // While it runs: the counts so far; once finished, what finishing it reported, with the counts.
    result: h.result && h.result !== 'null' ? (JSON.parse(h.result) as JsonValue) : isFinished(status) ? null : { products: counts },
    failure: h.failure ? (JSON.parse(h.failure) as JobFailure) : null,
    createdAt: iso(h.createdAt)!,
    startedAt: iso(h.startedAt),
    finishedAt: iso(h.finishedAt),
  };
}

function errorJson(e: JobItemError): string {
  return JSON.stringify({ ...(e.item !== undefined ? { item: clip(String(e.item), 200) } : {}), message: clip(String(e.message), MAX_TEXT) });
}

function clip(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}
