import type { Job, JobKind, JobProgress, JobQueue, JsonValue, SubmitOptions } from './jobQueue.js';

/**
 * How a use case that reports progress as events (IndexEvent and the like) becomes a job: each event maps to the job's
 * progress, and the use case's return value to the job's JSON result and the items it skipped.
 */
export interface JobEventAdapter<E, R> {
  /** The job's progress after `event` (`previous`: where it stood); null when the event says nothing about it. */
  progress(event: E, previous: JobProgress): JobProgress | null;
  /** The job's result (what API clients read: counts, never server paths); skipped items go to `fail`. */
  result(value: R, fail: (item: string | undefined, message: string) => void): JsonValue;
}

/** A use case given its event sink and the job's abort signal. */
export type EventfulWork<E, R> = (onEvent: (event: E) => void, signal: AbortSignal) => Promise<R>;

export interface AsJobOptions<E> extends SubmitOptions {
  /** Also called with every event, as the use case emits it (the CLI's progress bars). */
  readonly onEvent?: (event: E) => void;
}

/**
 * Submits the use case as a job and answers at once with its record (a server's 202): its events become the job's
 * progress while it runs. With a dedupe key already active, the running job is returned and `work` is not run.
 */
export function submitAsJob<E, R>(
  queue: JobQueue,
  kind: JobKind,
  params: JsonValue,
  adapter: JobEventAdapter<E, R>,
  work: EventfulWork<E, R>,
  options: AsJobOptions<E> = {},
): Promise<Job> {
  return start(queue, kind, params, adapter, work, options).job;
}

/**
 * Runs the use case as a job and waits for it (a CLI command, a script): the job's record follows its events while
 * `options.onEvent` still gets each of them, and what `work` returned (or threw) is returned (or thrown) here, as if it
 * had been called directly. A job cancelled before it ran throws its reason.
 */
export async function runAsJob<E, R>(
  queue: JobQueue,
  kind: JobKind,
  params: JsonValue,
  adapter: JobEventAdapter<E, R>,
  work: EventfulWork<E, R>,
  options: Omit<AsJobOptions<E>, 'dedupeKey'> = {},
): Promise<R> {
  const { job, outcome } = start(queue, kind, params, adapter, work, options);
  const final = await queue.wait((await job).id);
  const o = outcome();
  if (o?.ok) return o.value;
  if (o) throw o.error;
  throw new Error(final?.failure?.message ?? `The ${kind} job ended (${final?.status ?? 'unknown'}) before it ran`);
}

function start<E, R>(queue: JobQueue, kind: JobKind, params: JsonValue, adapter: JobEventAdapter<E, R>, work: EventfulWork<E, R>, options: AsJobOptions<E>) {
  // The run's own outcome, kept typed for runAsJob (the job record has only its JSON).
  let outcome: { ok: true; value: R } | { ok: false; error: unknown } | null = null;
  const { onEvent, ...submit } = options;
  const job = queue.submit(
    kind,
    params,
    async (ctx) => {
      let at: JobProgress = { done: 0, total: 0 };
      const emit = (event: E) => {
        const next = adapter.progress(event, at);
        if (next) ctx.progress((at = next));
        onEvent?.(event);
      };
      try {
        const value = await work(emit, ctx.signal);
        outcome = { ok: true, value };
        return adapter.result(value, (item, message) => ctx.fail(item, message));
      } catch (error) {
        outcome = { ok: false, error };
        throw error;
      }
    },
    submit,
  );
  return { job, outcome: () => outcome };
}
