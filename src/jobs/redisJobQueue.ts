import type { Job, JobEvent, JobKind, JobQueue, JobRun, JsonValue, ListOptions, SubmitOptions } from './jobQueue.js';
import { isFinished } from './jobQueue.js';
import { RunRecords } from './runRecords.js';

/**
 * The job port of a server configured with a queue (`fashion serve --queue`): ingest runs live in Redis
 * (src/jobs/runRecords.ts), started by any replica and moved by workers on any machine, so every replica answers
 * GET /api/jobs/:id and GET /api/jobs for them; jobs that run in this process (the duplicates scan, a training) keep
 * their records in `local` (the embedded queue's jobs.sqlite) as before. Lists merge both, newest first.
 *
 * `onChange` reports this process's own jobs only: a run moves in workers, not here (poll its record).
 */
export class RedisJobQueue implements JobQueue {
  constructor(
    readonly runs: RunRecords,
    private readonly local: JobQueue,
    private readonly pollMs = 500,
  ) {}

  submit(kind: JobKind, params: JsonValue, run: JobRun, options?: SubmitOptions): Promise<Job> {
    return this.local.submit(kind, params, run, options);
  }

  async get(id: string): Promise<Job | null> {
    return (await this.runs.get(id)) ?? this.local.get(id);
  }

  async list(options: ListOptions = {}): Promise<Job[]> {
    const limit = options.limit ?? 50;
    const [runs, local] = await Promise.all([this.runs.list(options), this.local.list(options)]);
    return [...runs, ...local].sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0)).slice(0, limit);
  }

  async cancel(id: string, reason = 'Cancelled on request'): Promise<Job | null> {
    // A run's products not yet taken are skipped by the workers; those in hand finish.
    if (await this.runs.finish(id, 'cancelled', { failure: { code: 'job/cancelled', message: reason } })) return this.runs.get(id);
    return (await this.runs.get(id)) ?? this.local.cancel(id, reason);
  }

  async wait(id: string): Promise<Job | null> {
    for (;;) {
      const job = await this.runs.get(id);
      if (!job) return this.local.wait(id);
      if (isFinished(job.status)) return job;
      await new Promise((r) => setTimeout(r, this.pollMs));
    }
  }

  onChange(listener: (event: JobEvent) => void): () => void {
    return this.local.onChange(listener);
  }

  async close(): Promise<void> {
    await Promise.all([this.runs.close(), this.local.close()]);
  }
}
