/**
 * The background-jobs port and its embedded adapter (src/jobs), with toy runs: no model, no catalog. What a job records,
 * one job at a time per kind, dedupe keys, cancelling, history across a restart and a crash, throttled progress writes,
 * retention, and the adapter that turns a use case's events (IndexEvent) into job progress.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { IndexEvent, IndexResult } from '../../src/app/indexFolder.js';
import { FashionError } from '../../src/errors.js';
import { EmbeddedJobQueue, type EmbeddedJobQueueOptions } from '../../src/jobs/embeddedJobQueue.js';
import { INDEX_JOB } from '../../src/jobs/indexJob.js';
import type { Job, JobContext, JobEvent } from '../../src/jobs/jobQueue.js';
import { runAsJob, submitAsJob } from '../../src/jobs/runAsJob.js';

const root = mkdtempSync(join(tmpdir(), 'fashion-jobs-'));
after(() => rmSync(root, { recursive: true, force: true }));
let files = 0;
const freshFile = () => join(root, `jobs-${files++}.sqlite`);

/** A queue on its own file, closed after the test. */
function queue(t: { after: (fn: () => Promise<void>) => void }, options: Partial<EmbeddedJobQueueOptions> = {}): EmbeddedJobQueue {
  const q = new EmbeddedJobQueue({ file: freshFile(), ...options });
  t.after(() => q.close());
  return q;
}

/** A promise and its resolve, for runs that wait on the test. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

/** Resolves when the signal aborts, rejecting with its reason (how a well-behaved run stops). */
function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

test('a job reports progress and skipped items, and its result is recorded; events follow it', async (t) => {
  const q = queue(t, { maxItemErrors: 2, progressIntervalMs: 0 });
  const events: Array<[JobEvent['type'], Job['status']]> = [];
  const off = q.onChange((e) => events.push([e.type, e.job.status]));
  const job = await q.submit('ingest', { folder: 'spring' }, async (ctx) => {
    ctx.progress({ stage: 'embed', done: 1, total: 4 });
    ctx.fail('a.jpg', 'image/corrupt: truncated');
    ctx.fail('b.jpg', 'image/corrupt: truncated');
    ctx.fail(undefined, 'row 7: no id');
    ctx.progress({ stage: 'embed', done: 4, total: 4, message: 'done' });
    return { added: 1, skipped: 3 };
  });
  assert.equal(job.kind, 'ingest');
  assert.deepEqual(job.params, { folder: 'spring' });
  const done = await q.wait(job.id);
  assert.equal(done?.status, 'succeeded');
  assert.deepEqual(done?.result, { added: 1, skipped: 3 });
  assert.deepEqual(done?.progress, { stage: 'embed', done: 4, total: 4, message: 'done' });
  assert.deepEqual(done?.errors, { count: 3, first: [{ item: 'a.jpg', message: 'image/corrupt: truncated' }, { item: 'b.jpg', message: 'image/corrupt: truncated' }] }, 'the first two kept, all three counted');
  assert.equal(done?.failure, null);
  assert.ok(done?.startedAt && done.finishedAt && done.createdAt <= done.startedAt && done.startedAt <= done.finishedAt);
  assert.deepEqual(await q.get(job.id), done, 'the stored record is the one waited for');
  assert.deepEqual(events[0], ['submitted', 'queued']);
  assert.deepEqual(events[1], ['started', 'running']);
  assert.ok(events.slice(2, -1).every(([type, status]) => type === 'progress' && status === 'running'));
  assert.deepEqual(events.at(-1), ['finished', 'succeeded']);
  off();
  await q.wait((await q.submit('ingest', null, () => null)).id);
  assert.equal(events.at(-1)?.[0], 'finished', 'no event after the listener is removed');
  assert.equal(events.filter(([type]) => type === 'submitted').length, 1);
});

test('a failed run: a product error is shown as it is, anything else only in the detail; what JSON cannot carry fails the job', async (t) => {
  const q = queue(t);
  const finished: JobEvent[] = [];
  q.onChange((e) => e.type === 'finished' && finished.push(e));
  const product = await q.wait((await q.submit('ingest', null, () => {
    throw new FashionError('input/no-photos', 'Expected photos in the folder but it has none');
  })).id);
  assert.equal(product?.status, 'failed');
  assert.deepEqual(product?.failure, { code: 'input/no-photos', message: 'Expected photos in the folder but it has none', detail: 'Expected photos in the folder but it has none' });
  const internal = await q.wait((await q.submit('train', null, async () => {
    throw new Error('ENOSPC at /var/lib/fashion/model.bin');
  })).id);
  assert.equal(internal?.failure?.code, 'server/error');
  assert.doesNotMatch(internal?.failure?.message ?? '', /var\/lib/);
  assert.match(internal?.failure?.detail ?? '', /ENOSPC/);
  assert.match(String((finished[1]?.error as Error).message), /ENOSPC/, 'the event carries the error for the log');
  const notJson = await q.wait((await q.submit('feed', null, () => ({ n: 1n }) as never)).id);
  assert.equal(notJson?.status, 'failed');
  assert.match(notJson?.failure?.detail ?? '', /BigInt/);
});

test('jobs of one kind run one at a time, in order; other kinds run beside them; a kind can be given more', async (t) => {
  const q = queue(t, { concurrency: { feed: 2 } });
  let running = 0;
  let most = 0;
  const order: string[] = [];
  const gates = [gate(), gate(), gate()];
  const heavy = (i: number) => async () => {
    running++;
    most = Math.max(most, running);
    order.push(`start ${i}`);
    await gates[i]!.promise;
    order.push(`end ${i}`);
    running--;
    return i;
  };
  const jobs = await Promise.all([0, 1, 2].map((i) => q.submit('ingest', { i }, heavy(i))));
  assert.deepEqual(jobs.map((j) => j.status), ['running', 'queued', 'queued']);
  // Another kind is not held up by the ingest queue.
  const other = await q.submit('duplicates', null, () => 'beside');
  assert.equal((await q.wait(other.id))?.status, 'succeeded');
  assert.equal((await q.get(jobs[1]!.id))?.status, 'queued');
  for (const g of gates) g.open();
  const results = await Promise.all(jobs.map((j) => q.wait(j.id)));
  assert.deepEqual(results.map((j) => j?.result), [0, 1, 2]);
  assert.equal(most, 1, 'one ingest at a time');
  assert.deepEqual(order, ['start 0', 'end 0', 'start 1', 'end 1', 'start 2', 'end 2']);

  const feedGate = gate();
  let feeds = 0;
  const feedJobs = await Promise.all([0, 1].map(() => q.submit('feed', null, async () => {
    feeds++;
    await feedGate.promise;
  })));
  assert.equal(feeds, 2, 'concurrency 2 for feeds');
  assert.deepEqual(feedJobs.map((j) => j.status), ['running', 'running']);
  feedGate.open();
  await Promise.all(feedJobs.map((j) => q.wait(j.id)));
});

test('a dedupe key joins the active job: the second submit returns it and its run never runs; once finished, the key starts anew', async (t) => {
  const q = queue(t);
  const g = gate();
  let runs = 0;
  const run = async () => {
    runs++;
    await g.promise;
    return runs;
  };
  const [a, b] = await Promise.all([q.submit('duplicates', { v: 1 }, run, { dedupeKey: 'generation:1' }), q.submit('duplicates', { v: 1 }, run, { dedupeKey: 'generation:1' })]);
  assert.equal(b.id, a.id, 'two submits at once, one job');
  const c = await q.submit('duplicates', { v: 2 }, run, { dedupeKey: 'generation:2' });
  assert.notEqual(c.id, a.id, 'another key, another job');
  const sameKeyOtherKind = await q.submit('train', null, () => 0, { dedupeKey: 'generation:1' });
  assert.notEqual(sameKeyOtherKind.id, a.id, 'keys are per kind');
  g.open();
  await q.wait(c.id);
  assert.equal(runs, 2);
  const again = await q.submit('duplicates', { v: 1 }, run, { dedupeKey: 'generation:1' });
  assert.notEqual(again.id, a.id, 'a finished job is not joined');
  await q.wait(again.id);
  assert.equal(runs, 3);
});

test('cancel: a running job stops through its signal and holds its slot until it has; a queued one never runs', async (t) => {
  const q = queue(t);
  let windingDown = false;
  const first = await q.submit('ingest', null, async (ctx: JobContext) => {
    try {
      await aborted(ctx.signal);
    } finally {
      // Cleaning up after the abort: the next job of this kind must not start meanwhile.
      windingDown = true;
      await sleep(50);
      windingDown = false;
    }
  });
  let secondRan = false;
  const second = await q.submit('ingest', null, () => {
    secondRan = true;
  });
  let thirdSawWindingDown: boolean | null = null;
  const third = await q.submit('ingest', null, () => {
    thirdSawWindingDown = windingDown;
    return 'third';
  });
  const cancelledQueued = await q.cancel(second.id);
  assert.equal(cancelledQueued?.status, 'cancelled', 'a queued job is cancelled at once');
  assert.equal(cancelledQueued?.failure?.code, 'job/cancelled');
  const asked = await q.cancel(first.id, 'The operator stopped it');
  assert.equal(asked?.status, 'running', 'a running job stops when its run gives up');
  const stopped = await q.wait(first.id);
  assert.equal(stopped?.status, 'cancelled');
  assert.deepEqual(stopped?.failure, { code: 'job/cancelled', message: 'The operator stopped it' });
  assert.equal((await q.wait(third.id))?.result, 'third');
  assert.equal(thirdSawWindingDown, false, 'the slot was held until the cancelled run ended');
  assert.equal(secondRan, false);
  assert.equal((await q.cancel(third.id))?.status, 'succeeded', 'a finished job stays as it is');
  assert.equal(await q.cancel('no-such-job'), null);
  assert.equal(await q.get('no-such-job'), null);
  assert.equal(await q.wait('no-such-job'), null);
});

test('the file is opened on first use: a queue that ran and read nothing leaves no file', async () => {
  const file = freshFile();
  const q = new EmbeddedJobQueue({ file });
  q.onChange(() => {});
  await q.close();
  assert.equal(existsSync(file), false);
  const used = new EmbeddedJobQueue({ file });
  assert.deepEqual(await used.list(), []);
  await used.close();
  assert.equal(existsSync(file), true);
});

test('history survives a reopen; jobs still active at close are interrupted, and a run that ignores its signal is not waited for long', async () => {
  const file = freshFile();
  const q1 = new EmbeddedJobQueue({ file, closeGraceMs: 100 });
  const done = await q1.wait((await q1.submit('train', { seed: 1 }, () => ({ accuracy: 0.9 }))).id);
  const polite = await q1.submit('ingest', null, (ctx) => aborted(ctx.signal));
  const queued = await q1.submit('ingest', null, () => 'never');
  const stubborn = await q1.submit('feed', null, () => sleep(2_000));
  const t0 = performance.now();
  await q1.close();
  assert.ok(performance.now() - t0 < 1_500, 'close waited the grace period, not the stubborn run');
  await assert.rejects(q1.submit('ingest', null, () => null), /closed/);

  const q2 = new EmbeddedJobQueue({ file });
  try {
    assert.deepEqual(await q2.get(done!.id), done);
    for (const id of [polite.id, queued.id, stubborn.id]) {
      const j = await q2.get(id);
      assert.equal(j?.status, 'interrupted', id);
      assert.equal(j?.failure?.code, 'job/interrupted');
      assert.ok(j?.finishedAt);
    }
  } finally {
    await q2.close();
  }
});

test('a crashed process\'s jobs become interrupted at the next start-up; a live queue\'s jobs are left alone', async () => {
  const file = freshFile();
  const script = join(root, 'crash.mts');
  const queueModule = fileURLToPath(new URL('../../src/jobs/embeddedJobQueue.ts', import.meta.url));
  writeFileSync(script, `
    import { EmbeddedJobQueue } from ${JSON.stringify(queueModule)};
    const q = new EmbeddedJobQueue({ file: ${JSON.stringify(file)} });
    const running = await q.submit('ingest', { n: 1 }, () => new Promise(() => {}));
    const queued = await q.submit('ingest', { n: 2 }, () => null);
    console.log(JSON.stringify([running.id, queued.id]));
    setInterval(() => {}, 1000);
  `);
  const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const ids = await new Promise<string[]>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      if (out.includes('\n')) resolve(JSON.parse(out) as string[]);
    });
    child.on('exit', (code) => reject(new Error(`the child exited (${code}) before it answered`)));
  });
  // While the child lives, opening the file elsewhere leaves its jobs running.
  const live = new EmbeddedJobQueue({ file });
  assert.equal((await live.get(ids[0]!))?.status, 'running');
  assert.equal((await live.get(ids[1]!))?.status, 'queued');
  await live.close();
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));

  const q = new EmbeddedJobQueue({ file });
  try {
    for (const id of ids) {
      const j = await q.get(id);
      assert.equal(j?.status, 'interrupted');
      assert.match(j?.failure?.message ?? '', /process that ran the job ended/);
    }
    assert.deepEqual((await q.list({ status: 'interrupted' })).map((j) => j.id).sort(), [...ids].sort());
  } finally {
    await q.close();
  }

  // The same for two queues of one process: the second leaves the first's running job as it is.
  const a = new EmbeddedJobQueue({ file });
  const g = gate();
  const held = await a.submit('ingest', null, () => g.promise);
  const b = new EmbeddedJobQueue({ file });
  assert.equal((await b.get(held.id))?.status, 'running');
  g.open();
  assert.equal((await a.wait(held.id))?.status, 'succeeded');
  await Promise.all([a.close(), b.close()]);
});

test('progress writes are throttled: thousands of updates cost a few writes, and the last progress is the one stored', async (t) => {
  const file = freshFile();
  const q = queue(t, { file, progressIntervalMs: 100 });
  const burst = await q.submit('ingest', null, (ctx) => {
    for (let i = 1; i <= 10_000; i++) ctx.progress({ done: i, total: 10_000 });
  });
  await q.wait(burst.id);
  assert.ok(q.writes <= 4, `${q.writes} writes for 10,000 updates (insert, start, at most one progress, finish)`);
  assert.deepEqual((await q.get(burst.id))?.progress, { done: 10_000, total: 10_000 });

  const before = q.writes;
  const progressEvents: number[] = [];
  q.onChange((e) => e.type === 'progress' && progressEvents.push(e.job.progress.done));
  const paced = await q.submit('ingest', null, async (ctx) => {
    for (let i = 1; i <= 60; i++) {
      ctx.progress({ done: i, total: 60 });
      await sleep(10);
    }
  });
  const mid = await (async () => {
    await sleep(350);
    // Another queue reads the file: what it sees lags the run by at most the interval.
    const reader = new EmbeddedJobQueue({ file });
    try {
      return (await reader.get(paced.id))?.progress.done ?? 0;
    } finally {
      await reader.close();
    }
  })();
  assert.ok(mid > 0, 'progress reaches the file while the job runs');
  await q.wait(paced.id);
  const writes = q.writes - before;
  // 600+ ms of updates every 10 ms: about one write per 100 ms, plus the insert, the start and the finish.
  assert.ok(writes >= 4 && writes <= 15, `${writes} writes for 60 updates over ~700 ms`);
  assert.ok(progressEvents.length <= writes, 'progress events come at the write cadence');
  assert.deepEqual((await q.get(paced.id))?.progress, { done: 60, total: 60 });
});

test('list: newest first, filtered by status and kind, limited; only the newest finished jobs are kept', async (t) => {
  const q = queue(t, { keepFinished: 5 });
  const ids: string[] = [];
  for (let i = 0; i < 8; i++) {
    const kind = i % 2 ? 'feed' : 'ingest';
    const j = await q.submit(kind, { i }, () => {
      if (i === 6) throw new Error('boom');
      return i;
    });
    ids.push(j.id);
    await q.wait(j.id);
  }
  const all = await q.list();
  assert.deepEqual(all.map((j) => j.id), ids.slice(3).reverse(), 'the five newest, newest first');
  assert.deepEqual((await q.list({ limit: 2 })).map((j) => j.id), [ids[7], ids[6]]);
  assert.deepEqual((await q.list({ status: 'failed' })).map((j) => j.id), [ids[6]]);
  assert.deepEqual((await q.list({ kind: 'feed' })).map((j) => j.params), [{ i: 7 }, { i: 5 }, { i: 3 }]);
  assert.equal(await q.get(ids[0]!), null, 'pruned');
  // Active jobs are never pruned, and list shows their latest progress from memory.
  const g = gate();
  const live = await q.submit('train', null, async (ctx) => {
    ctx.progress({ done: 1, total: 2 });
    ctx.progress({ done: 2, total: 2, stage: 'fit' });
    await g.promise;
  });
  const [first] = await q.list({ status: 'running' });
  assert.equal(first?.id, live.id);
  assert.deepEqual(first?.progress, { done: 2, total: 2, stage: 'fit' });
  g.open();
  await q.wait(live.id);
});

/** A use case shaped like indexFolder: events as it goes, a report at the end. */
function fakeIndex(fail?: Error) {
  return async (onEvent: (e: IndexEvent) => void, signal: AbortSignal): Promise<IndexResult> => {
    onEvent({ kind: 'embed', progress: { phase: 'scan', done: 0, total: 0, failed: 0 } });
    for (let i = 1; i <= 3; i++) onEvent({ kind: 'embed', progress: { phase: 'embed', done: i, total: 3, failed: i === 3 ? 1 : 0 } });
    onEvent({ kind: 'embed', progress: { phase: 'done', done: 3, total: 3, failed: 1 } });
    if (fail) throw fail;
    onEvent({ kind: 'copies', done: 1, total: 2 });
    onEvent({ kind: 'refinement', message: 'fit 3 epochs' });
    signal.throwIfAborted();
    return {
      scanned: 3, added: 2, updated: 0, removed: 0, unchanged: 0, metadataUpdated: 0,
      failed: [{ id: 'c', path: 'c.jpg', code: 'image/corrupt', message: 'Expected a whole JPEG but it is truncated' }],
      duplicates: [], warnings: ['row 4: no id'], seconds: 1.5, imagesPerSecond: 2,
      refinement: { trained: null, updated: 0, skipped: '2 labelled items; the refinement needs 200' },
    };
  };
}

test('runAsJob: an index run\'s events become job progress by stage while the CLI still gets every event; its report the result', async (t) => {
  const q = queue(t, { progressIntervalMs: 0 });
  const progress: Array<string> = [];
  q.onChange((e) => e.type === 'progress' && progress.push(`${e.job.progress.stage} ${e.job.progress.done}/${e.job.progress.total}${e.job.progress.message ? ` ${e.job.progress.message}` : ''}`));
  const seen: IndexEvent[] = [];
  const report = await runAsJob(q, 'ingest', { folder: 'spring' }, INDEX_JOB, fakeIndex(), { onEvent: (e) => seen.push(e) });
  assert.equal(report.added, 2, 'the use case\'s own value, typed');
  assert.equal(seen.length, 7, 'every event reached the bars');
  assert.deepEqual(progress, [
    'scan 0/0',
    'embed 1/3',
    'embed 2/3',
    'embed 3/3 1 photos could not be read',
    'embed 3/3 1 photos could not be read',
    'copies 1/2',
    'refinement 0/0 fit 3 epochs',
    'refinement 0/0 fit 3 epochs', // the skipped photo, reported from the report: the record changed, its progress did not
  ]);
  const [job] = await q.list({ kind: 'ingest' });
  assert.equal(job?.status, 'succeeded');
  assert.deepEqual(job?.errors, { count: 1, first: [{ item: 'c.jpg', message: 'image/corrupt: Expected a whole JPEG but it is truncated' }] });
  assert.deepEqual(job?.result, {
    scanned: 3, added: 2, updated: 0, removed: 0, unchanged: 0, metadataUpdated: 0, failed: 1, duplicates: 0, warnings: 1, seconds: 1.5, imagesPerSecond: 2,
    refinement: { trained: false, updated: 0, skipped: '2 labelled items; the refinement needs 200' }, index: null,
  });

  // A failure is thrown as the use case threw it, and recorded.
  const boom = new FashionError('input/no-photos', 'Expected photos in spring/ but found none');
  await assert.rejects(runAsJob(q, 'ingest', null, INDEX_JOB, fakeIndex(boom)), (err) => err === boom);
  const [failed] = await q.list({ status: 'failed' });
  assert.equal(failed?.failure?.code, 'input/no-photos');
  assert.equal(failed?.progress.stage, 'embed');

  // A server answers at once with the job, and a second submit with its key joins it.
  const g = gate();
  const slow = async (onEvent: (e: IndexEvent) => void, signal: AbortSignal) => {
    await Promise.race([g.promise, aborted(signal)]);
    return fakeIndex()(onEvent, signal);
  };
  const submitted = await submitAsJob(q, 'ingest', { folder: 'summer' }, INDEX_JOB, slow, { dedupeKey: 'summer' });
  assert.equal(submitted.status, 'running');
  assert.equal((await submitAsJob(q, 'ingest', { folder: 'summer' }, INDEX_JOB, slow, { dedupeKey: 'summer' })).id, submitted.id);
  g.open();
  assert.equal((await q.wait(submitted.id))?.status, 'succeeded');
});
