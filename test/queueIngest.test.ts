/**
 * Ingest workers on the queue (issue 20, part 3), with a real Redis (BullMQ) and a real PostgreSQL: two
 * `bin/fashion.js worker` processes share a product feed that a queue-configured server took through POST /api/imports
 * (its photos on a local HTTP server, held to the server's fetch guards); one worker is killed with SIGKILL mid-run.
 * Every product ends up in the catalog, each written by exactly one transaction (counted from the store's change log),
 * the run's progress and its failed rows (by product id) are read through GET /api/jobs/:id, and a job delivered again
 * after its write committed writes nothing. Then a folder is queued with `fashion index DIR --queue` and followed to
 * its end. Skipped unless FASHION_TEST_QUEUE_URL and FASHION_TEST_DATABASE_URL are set (`scripts/services.sh up` and
 * `eval "$(scripts/services.sh env)"`); needs `npm run build` (the workers are the compiled CLI).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { ProductIngester } from '../src/app/ingestProduct.js';
import { Services } from '../src/app/services.js';
import { openCatalogStore } from '../src/catalog/openCatalog.js';
import type { Config } from '../src/config.js';
import { IngestQueue } from '../src/jobs/ingestQueue.js';
import type { Job } from '../src/jobs/jobQueue.js';
import { buildApp } from '../src/server/app.js';
import { DEMO, makeFixture, multipart, pickIds, STYLE_ROWS, TYPES } from './helpers.js';

const QUEUE_URL = process.env.FASHION_TEST_QUEUE_URL;
const DATABASE_URL = process.env.FASHION_TEST_DATABASE_URL;
const SKIP = (!QUEUE_URL || !DATABASE_URL) && 'FASHION_TEST_QUEUE_URL and FASHION_TEST_DATABASE_URL not set: run `scripts/services.sh up` and `eval "$(scripts/services.sh env)"` first';
const CLI = fileURLToPath(new URL('../bin/fashion.js', import.meta.url));
const KEY = 'test-queue-key-0123456789abcdef';
const auth = { authorization: `Bearer ${KEY}` };

describe('ingest workers on a BullMQ queue', { skip: SKIP, timeout: 900_000 }, () => {
  // 60 products (FASHION_TEST_QUEUE_PER_TYPE sets how many of each of the 6 types, for a quicker check).
  const ids = pickIds(TYPES, Number(process.env.FASHION_TEST_QUEUE_PER_TYPE ?? 10));
  const fx = makeFixture(ids, 'queue');
  const schema = `q_${randomBytes(5).toString('hex')}`;
  let photos: Server;
  let base = '';
  let config: Config;
  let svc: Services;
  let app: Awaited<ReturnType<typeof buildApp>>;
  const workers: ChildProcess[] = [];
  const logs: string[][] = [];

  /** `bin/fashion.js worker` on the test's catalog: its JSON lines kept, its exit awaited at the end. */
  const startWorker = (n: number): ChildProcess => {
    const child = spawn(process.execPath, [CLI, 'worker', ...common(), '--concurrency', '4', '--lock-ms', '3000'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = (logs[n] = []);
    let rest = '';
    child.stdout!.on('data', (d: Buffer) => {
      const parts = (rest + d.toString()).split('\n');
      rest = parts.pop()!;
      lines.push(...parts);
    });
    child.stderr!.on('data', (d: Buffer) => lines.push(`stderr: ${d.toString()}`));
    workers[n] = child;
    return child;
  };
  const common = () => ['--queue', QUEUE_URL!, '--database', DATABASE_URL!, '--database-schema', schema, '--data', fx.data, '--cache', config.cacheDir, '--threads', '1', '--batch-size', '8'];
  /** `fashion index` of the fixture folder through the queue, followed to the end: its last JSON line, the finished run. */
  const indexQueued = (): Job => {
    const out = spawnSync(process.execPath, [CLI, 'index', fx.images, '--metadata', fx.csv, ...common(), '--json'], { encoding: 'utf8', timeout: 600_000 });
    assert.equal(out.status, 0, out.stderr);
    return JSON.parse(out.stdout.trim().split('\n').at(-1)!) as Job;
  };
  const getJob = async (id: string): Promise<Job> => {
    const res = await app.inject({ method: 'GET', url: `/api/jobs/${id}` });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as Job;
  };
  /** Transactions that changed each product, from the change log (a write with its other photos is one). */
  const writesPerProduct = async (): Promise<Map<string, number>> => {
    const client = new pg.Client({ connectionString: DATABASE_URL });
    await client.connect();
    try {
      const { rows } = await client.query<{ id: string; n: string }>(`SELECT id, count(DISTINCT xact) AS n FROM ${schema}.changes GROUP BY id`);
      return new Map(rows.map((r) => [r.id, Number(r.n)]));
    } finally {
      await client.end();
    }
  };

  before(async () => {
    photos = createServer((req, res) => {
      const m = /^\/p\/(\d+)\.jpg$/.exec(req.url ?? '');
      if (!m || !ids.includes(m[1]!)) return void res.writeHead(404).end('not here');
      res.writeHead(200, { 'content-type': 'image/jpeg' }).end(readFileSync(join(DEMO!.images, `${m[1]}.jpg`)));
    });
    await new Promise<void>((r) => photos.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(photos.address() as AddressInfo).port}`;
    config = { ...fx.config({ apiKeys: KEY, fetchAllow: '127.0.0.1', augment: 0 }), databaseUrl: DATABASE_URL!, databaseSchema: schema, queueUrl: QUEUE_URL!, followMs: 0 };
    // The catalog exists before the server reads it (empty: the workers fill it).
    await (await openCatalogStore(config, { create: true })).close();
    svc = await Services.open(config);
    app = await buildApp(svc, config, { logger: false });
  });
  after(async () => {
    for (const w of workers) if (w && w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
    await app?.close();
    await svc?.close();
    const q = new IngestQueue(QUEUE_URL!, schema);
    await q.obliterate().catch(() => undefined);
    await q.close();
    const client = new pg.Client({ connectionString: DATABASE_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client.end();
    await new Promise((r) => photos?.close(r));
    rmSync(fx.root, { recursive: true, force: true });
  });

  test('POST /api/imports queues a feed; two workers share it, one is killed mid-run; every product is written once, progress and failures read through GET /api/jobs/:id', async (t) => {
    const header = 'id,image_link,articleType,baseColour,gender,productDisplayName';
    const cell = (v: string | undefined) => (/[",]/.test(v ?? '') ? `"${(v ?? '').replace(/"/g, '""')}"` : v ?? '');
    const rows = ids.map((id) => {
      const m = STYLE_ROWS.get(id)!;
      return [id, `${base}/p/${id}.jpg`, m.articleType, m.baseColour, m.gender, m.productDisplayName].map(cell).join(',');
    });
    // A row whose photo is not there (404), and a malformed row (no photo URL): reported by id, skipped, the run goes on.
    rows.push(['90000001', `${base}/p/90000001.jpg`, 'Tshirts', 'Red', 'Men', 'Gone'].join(','));
    rows.push(['90000002', '', 'Tshirts', 'Red', 'Men', 'No photo'].join(','));
    const form = multipart([{ name: 'feed', value: [header, ...rows].join('\n') + '\n', filename: 'feed.csv', type: 'text/csv' }]);

    startWorker(0);
    startWorker(1);
    const res = await app.inject({ method: 'POST', url: '/api/imports', payload: form.payload, headers: { ...form.headers, ...auth } });
    assert.equal(res.statusCode, 202, res.body);
    const run = res.json() as Job;
    assert.equal(res.headers.location, `/api/jobs/${run.id}`);
    assert.equal(run.kind, 'feed');
    assert.equal(run.progress.total, ids.length + 1, 'one job per valid row');

    // Mid-run: the first worker is killed without a chance to hand its jobs back.
    let seen = await getJob(run.id);
    const progress: number[] = [];
    while (seen.progress.done < Math.floor(ids.length / 5) && seen.status === 'running') {
      await sleep(100);
      seen = await getJob(run.id);
      progress.push(seen.progress.done);
    }
    assert.equal(seen.status, 'running', 'the run is not over when the worker is killed');
    workers[0]!.kill('SIGKILL');
    t.diagnostic(`worker 0 killed at ${seen.progress.done}/${seen.progress.total}`);

    const deadline = Date.now() + 600_000;
    while (seen.status === 'running' && Date.now() < deadline) {
      await sleep(250);
      seen = await getJob(run.id);
      progress.push(seen.progress.done);
    }
    assert.equal(seen.status, 'succeeded', JSON.stringify({ job: seen, worker1: logs[1]?.slice(-5) }));
    assert.deepEqual([...progress].sort((a, b) => a - b), progress, 'progress only grows');
    assert.equal(seen.progress.done, seen.progress.total, 'done/total at the end');
    const products = (seen.result as { products: Record<string, number> }).products;
    // A product whose worker was killed after its commit, before it told Redis, counts as `repeated` when delivered again.
    assert.equal((products.added ?? 0) + (products.repeated ?? 0), ids.length, JSON.stringify(products));
    assert.equal(products.failed, 1);
    const failedItems = seen.errors.first.map((e) => e.item).sort();
    assert.deepEqual(failedItems, ['90000001', '90000002'], 'the 404 row and the malformed row, by product id');
    assert.match(seen.errors.first.find((e) => e.item === '90000001')!.message, /url\/fetch-failed/);
    assert.ok(logs[1]!.some((l) => l.includes('"type":"product"')), 'the surviving worker logs JSON lines');

    // Every product in the catalog, each written by one transaction.
    const store = await openCatalogStore(config, { readonly: true });
    try {
      assert.deepEqual((await store.loadAll()).items.map((it) => it.id).sort(), [...ids].sort());
      const item = await store.getItem(ids[0]!);
      assert.equal(item?.metadata.articleType, STYLE_ROWS.get(ids[0]!)!.articleType);
      assert.equal(JSON.parse((await store.getSetting('metadataColumns'))!).includes('articleType'), true, 'the feed\'s fields recorded when the run finished');
    } finally {
      await store.close();
    }
    const writes = await writesPerProduct();
    assert.deepEqual([...writes.keys()].sort(), [...ids].sort());
    const twice = [...writes].filter(([, n]) => n !== 1);
    assert.deepEqual(twice, [], 'no product written twice');
    const redelivered = logs[1]!.filter((l) => l.includes('"outcome":"repeated"')).length;
    t.diagnostic(`products the surviving worker found already written (delivered again after the kill): ${redelivered}`);

    // The list shows the run too (any replica reads it from Redis).
    const list = await app.inject({ method: 'GET', url: '/api/jobs?kind=feed' });
    assert.ok((list.json() as { jobs: Job[] }).jobs.some((j) => j.id === run.id), 'GET /api/jobs lists the run');

    // SIGTERM: the surviving worker finishes what it holds and exits cleanly.
    const exited = new Promise<number | null>((r) => workers[1]!.once('exit', (code) => r(code)));
    workers[1]!.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.ok(logs[1]!.some((l) => l.includes('"type":"stopped"')), 'it says it stopped');

    // A job delivered once more, after its write committed: acknowledged, nothing written.
    const ingester = await ProductIngester.open({ ...config, threads: 1 });
    try {
      const id = ids[3]!;
      const m = STYLE_ROWS.get(id)!;
      const job = {
        runId: run.id,
        id,
        source: { kind: 'feed' as const, line: 5, imageUrl: `${base}/p/${id}.jpg`, additionalImageUrls: [], metadata: rowMetadata(m) },
        guard: { allow: ['127.0.0.1'] },
      };
      // The job as the server queued it (its feed row: line 5 is the fourth product), delivered once more.
      const again = await ingester.ingest(job);
      assert.equal(again.outcome, 'repeated', 'its key is in the catalog: acknowledged without fetching or writing');
      assert.equal((await writesPerProduct()).get(id), 1, 'still one write');
    } finally {
      await ingester.close();
    }
  });

  test('`fashion index DIR --queue` queues a folder, prints its run and follows it to the end; a bad photo is reported by id and skipped', async () => {
    writeFileSync(join(fx.images, '99999999.jpg'), 'not an image');
    startWorker(2);
    try {
      const done = indexQueued();
      assert.equal(done.status, 'succeeded');
      assert.equal(done.kind, 'ingest');
      assert.equal(done.progress.total, ids.length + 1);
      const products = (done.result as { products: Record<string, number> }).products;
      // The feed's products are the folder's too: their photos now come from the folder, so each is written again.
      assert.equal(products.updated, ids.length, JSON.stringify(products));
      assert.equal(products.failed, 1);
      assert.deepEqual(done.errors.first.map((e) => e.item), ['99999999']);
      assert.match(done.errors.first[0]!.message, /image\/unsupported-type/);
      const writes = await writesPerProduct();
      assert.deepEqual([...writes].filter(([, n]) => n !== 2), [], 'each product written once more, by this run');
    } finally {
      workers[2]!.kill('SIGTERM');
      rmSync(join(fx.images, '99999999.jpg'), { force: true });
    }
  });

  test('a folder queued again after every photo was touched (extracted again: same bytes, new mtimes) embeds nothing: the pixels are compared, each product is unchanged and its new mtime recorded', async () => {
    const later = new Date(Date.now() + 3_600_000);
    for (const id of ids) utimesSync(join(fx.images, `${id}.jpg`), later, later);
    const before = await writesPerProduct();
    startWorker(3);
    try {
      const done = indexQueued();
      assert.equal(done.status, 'succeeded');
      const products = (done.result as { products: Record<string, number> }).products;
      assert.equal(products.unchanged, ids.length, JSON.stringify(products));
      assert.equal(products.updated ?? 0, 0, JSON.stringify(products));
      assert.deepEqual(await writesPerProduct(), before, 'no product written to search again');
      const store = await openCatalogStore(config);
      try {
        const states = await store.fileStates();
        assert.deepEqual(ids.filter((id) => states.get(id)?.mtimeMs !== Math.floor(statSync(join(fx.images, `${id}.jpg`)).mtimeMs)), [], 'every new mtime recorded');
      } finally {
        await store.close();
      }
    } finally {
      workers[3]!.kill('SIGTERM');
    }
  });
});

/** A styles.csv row's fields as the test feed carries them. */
function rowMetadata(m: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of ['articleType', 'baseColour', 'gender', 'productDisplayName']) if (m[k]) out[k] = m[k];
  return out;
}

test('a queue needs a PostgreSQL catalog: the worker, a queued index and a queue-configured server refuse SQLite with a clear error (no Redis needed)', () => {
  for (const args of [['worker'], ['index', 'photos'], ['serve']]) {
    const out = spawnSync(process.execPath, [CLI, ...args, '--queue', 'redis://127.0.0.1:1', '--data', '/nonexistent-fashion-data'], { encoding: 'utf8', timeout: 60_000 });
    assert.notEqual(out.status, 0, `${args[0]} refuses`);
    assert.match(out.stderr, /\[input\/invalid\].*--database postgres:\/\/.*SQLite/, out.stderr);
  }
  const bad = spawnSync(process.execPath, [CLI, 'worker', '--queue', 'http://queue', '--database', 'postgres://db/x'], { encoding: 'utf8', timeout: 60_000 });
  assert.match(bad.stderr, /Expected a redis:\/\/ or rediss:\/\/ URL for queueUrl/);
});

describe('run records in Redis', { skip: !QUEUE_URL && 'FASHION_TEST_QUEUE_URL not set: run `scripts/services.sh up` and `eval "$(scripts/services.sh env)"` first' }, () => {
  test('a product finished twice (its job delivered again) counts once, its errors once; the run completes at its total; a finished run stays finished', async () => {
    const { RunRecords } = await import('../src/jobs/runRecords.js');
    const runs = new RunRecords(QUEUE_URL!, `t_${randomBytes(4).toString('hex')}`);
    try {
      const id = await runs.create({ kind: 'feed', params: { feed: 'x' }, plan: null });
      assert.deepEqual(await runs.finishItem(id, 'a', 'added'), { done: 1, total: -1 }, 'no total while products are still being queued');
      assert.equal(await runs.setTotal(id, 2), 1);
      assert.deepEqual(await runs.finishItem(id, 'b', 'failed', [{ item: 'b', message: 'line 3: url/fetch-failed: 404' }]), { done: 2, total: 2 });
      assert.deepEqual(await runs.finishItem(id, 'b', 'repeated', [{ item: 'b', message: 'again' }]), { done: 2, total: 2 }, 'delivered again: nothing more');
      const job = (await runs.get(id))!;
      assert.deepEqual([job.progress.done, job.progress.total, job.status], [2, 2, 'running']);
      assert.deepEqual(job.errors, { count: 1, first: [{ item: 'b', message: 'line 3: url/fetch-failed: 404' }] });
      assert.deepEqual((job.result as { products: Record<string, number> }).products, { added: 1, updated: 0, unchanged: 0, metadata: 0, failed: 1, repeated: 0, skipped: 0 });
      assert.equal(await runs.finish(id, 'succeeded', { result: { done: true } }), true);
      assert.equal(await runs.finish(id, 'failed'), false, 'finished once');
      assert.equal((await runs.get(id))!.status, 'succeeded');
      assert.deepEqual((await runs.list({ kind: 'feed' })).map((j) => j.id), [id]);
    } finally {
      await runs.close();
    }
  });
  test('a run whose finishing step failed for good, every product finished, is reopened and its finish queued again (fashion index --queue --retry); other runs are refused, saying why', async () => {
    const { RunRecords } = await import('../src/jobs/runRecords.js');
    const { retryRun } = await import('../src/app/queueIngest.js');
    const { queueName } = await import('../src/jobs/ingestQueue.js');
    const { UnrecoverableError, Worker } = await import('bullmq');
    const ns = `t_${randomBytes(4).toString('hex')}`;
    const runs = new RunRecords(QUEUE_URL!, ns);
    const queue = new IngestQueue(QUEUE_URL!, ns);
    const handles = { runs, queue, close: async () => undefined };
    try {
      const id = await runs.create({ kind: 'ingest', params: { folder: 'x' }, plan: null });
      await assert.rejects(retryRun(handles, id), /Expected a failed run .* but it is running; nothing was queued/);
      await runs.setTotal(id, 2);
      await runs.finishItem(id, 'a', 'added');
      await runs.finishItem(id, 'b', 'failed', [{ item: 'b', message: 'bad photo' }]);
      // Its finish job fails for good (as the demo's did on a fault since fixed), and the worker fails the run.
      await queue.addFinish(id);
      const worker = new Worker(queueName(ns), async () => {
        throw new UnrecoverableError('Expected 0 ids for the rows of the space but received 2');
      }, { connection: { url: QUEUE_URL!, maxRetriesPerRequest: null } });
      await new Promise<void>((resolve) => worker.once('failed', () => resolve()));
      await worker.close();
      await runs.finish(id, 'failed', { failure: { code: 'server/error', message: 'Finishing the run failed' } });
      await queue.addFinish(id);
      assert.deepEqual([(await queue.counts()).waiting, (await queue.counts()).failed], [0, 1], 'a failed finish job keeps its id: adding it again adds nothing');

      const reopened = await retryRun(handles, id);
      assert.deepEqual([reopened.status, reopened.progress.stage, reopened.progress.done, reopened.progress.total], ['running', 'finish', 2, 2]);
      assert.equal(reopened.failure, null);
      assert.equal(reopened.finishedAt, null);
      assert.deepEqual(reopened.errors, { count: 1, first: [{ item: 'b', message: 'bad photo' }] }, 'its counts and errors stay');
      assert.deepEqual([(await queue.counts()).waiting, (await queue.counts()).failed], [1, 0], 'its finish is queued again');
      await assert.rejects(retryRun(handles, id), /but it is running/, 'reopened once');

      // A failed run with products still unfinished (its workers still have them) is not finished early.
      const partial = await runs.create({ kind: 'feed', params: { feed: 'y' }, plan: null });
      await runs.setTotal(partial, 3);
      await runs.finishItem(partial, 'a', 'added');
      await runs.finish(partial, 'failed');
      await assert.rejects(retryRun(handles, partial), /some of its products have not finished/);
      await assert.rejects(retryRun(handles, 'no-such-run'), (e: Error & { code?: string }) => e.code === 'input/not-found');
    } finally {
      await queue.obliterate().catch(() => undefined);
      await queue.close();
      await runs.close();
    }
  });
  test('a product whose job BullMQ fails for stalling too often (its workers kept dying with it) is a failure of its run, so the run can finish', async () => {
    const { startQueueWorker, queueName } = await import('../src/jobs/ingestQueue.js');
    const { Redis } = await import('ioredis');
    const ns = `t_${randomBytes(4).toString('hex')}`;
    const queue = new IngestQueue(QUEUE_URL!, ns);
    const redis = new Redis(QUEUE_URL!);
    let processed = 0;
    let worker: { close(force?: boolean): Promise<void> } | null = null;
    try {
      const job = { runId: 'r1', id: '1163', source: { kind: 'feed' as const, line: 2, imageUrl: 'http://127.0.0.1:1/p.jpg', additionalImageUrls: [], metadata: {} } };
      await queue.addProducts([job]);
      // The state BullMQ's stalled check (moveStalledJobsToWait) leaves a job found stalled more than maxStalledCount
      // times: back in wait with a deferred failure, which the next worker to take it raises as an UnrecoverableError
      // after one attempt (attemptsMade 1 of 5).
      assert.equal(await redis.hset(`bull:${queueName(ns)}:r1.1163`, 'defa', 'job stalled more than allowable limit'), 1);
      const failed = new Promise<[string, string]>((resolve) => {
        worker = startQueueWorker(QUEUE_URL!, ns, async () => void processed++, {
          concurrency: 1,
          lockMs: 1000,
          onFailedForGood: async (data, err) => resolve([data.kind === 'product' ? data.job.id : data.runId, err.message]),
        });
      });
      const got = await Promise.race([failed, sleep(15_000).then(() => null)]);
      assert.deepEqual(got, ['1163', 'job stalled more than allowable limit'], 'reported as failed for good (the run counts it)');
      assert.equal(processed, 0);
    } finally {
      await (worker as { close(force?: boolean): Promise<void> } | null)?.close(true);
      await queue.obliterate().catch(() => undefined);
      await queue.close();
      redis.disconnect();
    }
  });
  test('a run whose enqueuer stopped before queueing all its products (killed) is ended as interrupted by the next run queued, once quiet long enough; a sealed or live run is left alone', async () => {
    const { RunRecords } = await import('../src/jobs/runRecords.js');
    const runs = new RunRecords(QUEUE_URL!, `t_${randomBytes(4).toString('hex')}`);
    try {
      const abandoned = await runs.create({ kind: 'ingest', params: { folder: 'x' }, plan: null });
      await runs.enqueued(abandoned, 1000);
      const sealed = await runs.create({ kind: 'feed', params: { feed: 'y' }, plan: null });
      await runs.setTotal(sealed, 5);
      assert.deepEqual(await runs.endAbandoned(60_000), [], 'heard from within the minute: still being queued');
      assert.deepEqual(await runs.endAbandoned(0), [abandoned]);
      const job = (await runs.get(abandoned))!;
      assert.equal(job.status, 'interrupted');
      assert.equal(job.failure?.code, 'job/interrupted');
      assert.match(job.failure!.message, /stopped after queueing 1000 products.*queue the folder or feed again/);
      assert.equal((await runs.get(sealed))!.status, 'running', 'all its products queued: its workers finish it');
      assert.deepEqual(await runs.endAbandoned(0), [], 'ended once');
    } finally {
      await runs.close();
    }
  });
});
