/**
 * The near-duplicate scan as a background job, on a synthetic catalog (4,000 random 256-d backbone vectors with
 * planted near copies; no photos, no model, no ../shared): large enough that the scan takes a moment and goes
 * through the HNSW graph. It runs on a worker thread once per catalog version, PUT starts it, GET reads it
 * (202 while it runs, 200 after, at any threshold), and /api/health answers all along.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { Services } from '../src/app/services.js';
import { openCatalogStore } from '../src/catalog/openCatalog.js';
import { resolveConfig } from '../src/config.js';
import { groupPairs, nearDuplicatePairs } from '../src/search/duplicates.js';
import { neighbourPairsOnWorker } from '../src/search/duplicatesThread.js';
import { buildApp } from '../src/server/app.js';
import { DuplicatesService, type NeighbourScanner } from '../src/services/duplicates.js';
import { mulberry32 } from '../src/util/random.js';

const N = 4000;
const DIMS = 256;
/** Planted copies: [original row, relative noise]; cosine to the original ~ 1 / sqrt(1 + noise^2). */
const PLANTED: Array<[number, number]> = [
  [10, 0.05], [10, 0.1], // a group of three, ~0.99
  [200, 0.2], // ~0.98
  [1500, 0.3], // ~0.96
  [2500, 0.45], // ~0.91: in at 0.9001, out at 0.95
];
const root = mkdtempSync(join(tmpdir(), 'fashion-dupjob-'));
const config = resolveConfig({ dataDir: join(root, 'data'), cacheDir: join(root, 'cache') }, {}, root);
let svc: Services;
let app: FastifyInstance;
let vectors: Float32Array;

/** The synthetic catalog: rows 0..N-1 random, then the planted copies, ids "i00000".. in row order. */
function syntheticVectors(): Float32Array {
  const rand = mulberry32(5);
  const g = () => rand() - 0.5;
  const rows: Float32Array[] = Array.from({ length: N - PLANTED.length }, () => Float32Array.from({ length: DIMS }, () => g()));
  for (const [of, noise] of PLANTED) rows.push(rows[of]!.map((v) => v + g() * noise));
  const out = new Float32Array(N * DIMS);
  rows.forEach((r, i) => out.set(r, i * DIMS));
  return out;
}

const idOf = (row: number) => `i${String(row).padStart(5, '0')}`;

before(async () => {
  vectors = syntheticVectors();
  const store = await openCatalogStore(config.dataDir, { create: true });
  await store.putItems(Array.from({ length: N }, (_, r) => ({
    id: idOf(r),
    path: `${idOf(r)}.jpg`,
    size: 1,
    mtimeMs: 0,
    metadata: { productDisplayName: `Item ${r}` },
    vector: vectors.subarray(r * DIMS, (r + 1) * DIMS),
  })));
  await store.close();
  svc = await Services.open(config);
  app = await buildApp(svc, config, { logger: false });
  await app.ready();
});
after(async () => {
  await app?.close();
  await svc?.close();
  rmSync(root, { recursive: true, force: true });
});

async function timed(request: InjectOptions, on = app): Promise<{ res: Awaited<ReturnType<FastifyInstance['inject']>>; ms: number }> {
  const t = performance.now();
  const res = await on.inject(request);
  return { res, ms: performance.now() - t };
}

/** The groups the synchronous per-threshold scan gives (what GET /api/duplicates answered before the job). */
function synchronousGroups(threshold: number, exactUpTo?: number) {
  const pairs = nearDuplicatePairs(vectors, DIMS, { threshold, ...(exactUpTo !== undefined ? { exactUpTo } : {}) });
  return groupPairs(N, pairs).map((g) => ({ kind: 'near', ids: g.rows.map(idOf).sort(), similarity: Math.round(g.similarity * 1e6) / 1e6 }));
}

const HEALTH = { method: 'GET', url: '/api/health' } as const;
/** Generous for two shared cores: the synchronous scan held the event loop for seconds. */
const RESPONSIVE_MS = 400;

test('a duplicates GET never holds up /api/health: the scan runs once, on a worker thread, started by PUT; a new threshold does not rescan', async (t) => {
  // The filed fault: a GET at a threshold never asked before scanned on the event loop, and health waited for it.
  const first = app.inject({ method: 'GET', url: '/api/duplicates?threshold=0.9001' });
  const health = await timed(HEALTH);
  assert.equal(health.res.statusCode, 200);
  assert.ok(health.ms < RESPONSIVE_MS, `health answered in ${health.ms.toFixed(0)} ms beside a duplicates GET`);
  const notYet = await first;
  assert.equal(notYet.statusCode, 404, 'a GET never starts the scan');
  assert.equal(notYet.json().error.code, 'input/not-found');
  assert.match(notYet.json().error.message, /PUT \/api\/duplicates\/scan/);
  assert.equal(svc.duplicates.scans, 0);

  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  const put = await app.inject({ method: 'PUT', url: '/api/duplicates/scan' });
  assert.equal(put.statusCode, 202, put.body);
  const started = put.json();
  assert.equal(started.status, 'running');
  assert.equal(started.items, N);
  assert.equal(typeof started.generation, 'number');
  assert.ok(Number(put.headers['retry-after']) >= 1);
  // The scan is a job: its record comes with the answer, and Location says where to follow it.
  assert.equal(started.job.kind, 'duplicates');
  assert.ok(['queued', 'running'].includes(started.job.status), started.job.status);
  assert.deepEqual(started.job.params, { generation: started.generation, items: N });
  assert.equal(put.headers.location, `/api/jobs/${started.job.id}`);
  const joined = await app.inject({ method: 'PUT', url: '/api/duplicates/scan' });
  assert.equal(joined.statusCode, 202);
  assert.equal(joined.json().startedAt, started.startedAt, 'a second PUT joins the running scan');
  assert.equal(joined.json().job.id, started.job.id, 'and its job');

  let slowestHealth = 0;
  let running = 0;
  let done;
  const t0 = performance.now();
  for (;;) {
    const h = await timed(HEALTH);
    assert.equal(h.res.statusCode, 200);
    slowestHealth = Math.max(slowestHealth, h.ms);
    const g = await app.inject({ method: 'GET', url: '/api/duplicates?threshold=0.9001' });
    if (g.statusCode !== 202) {
      done = g;
      break;
    }
    running++;
    assert.equal(g.json().status, 'running');
    assert.equal(g.json().job.id, started.job.id);
    assert.equal(g.headers.location, `/api/jobs/${started.job.id}`);
    assert.ok(Number(g.headers['retry-after']) >= 1, 'a 202 says when to ask again');
    await sleep(25);
  }
  const scanMs = performance.now() - t0;
  lag.disable();
  assert.ok(running >= 3, `the scan took a moment (${running} polls answered 202 over ${scanMs.toFixed(0)} ms)`);
  assert.ok(slowestHealth < RESPONSIVE_MS, `health answered in at most ${slowestHealth.toFixed(0)} ms while the scan ran (${scanMs.toFixed(0)} ms)`);
  const lagMs = lag.max / 1e6;
  t.diagnostic(`scan ${scanMs.toFixed(0)} ms, ${running} polls answered 202, slowest health ${slowestHealth.toFixed(1)} ms, event loop held ${lagMs.toFixed(1)} ms at most`);
  assert.ok(lagMs < RESPONSIVE_MS, `the event loop was held ${lagMs.toFixed(0)} ms at most during a ${scanMs.toFixed(0)} ms scan`);

  assert.equal(done.statusCode, 200, done.body);
  const body = done.json();
  const planted = PLANTED.map(([of], i) => [idOf(of), idOf(N - PLANTED.length + i)]);
  const grouped = (b: { near: Array<{ ids: string[] }> }, pair: string[]) => b.near.some((g) => pair.every((id) => g.ids.includes(id)));
  assert.ok(planted.every((pair) => grouped(body, pair)), JSON.stringify(body.near.map((g: { ids: string[] }) => g.ids)));
  assert.equal(body.near.length, 4, 'the planted groups, nothing else');
  assert.equal(body.scan.generation, started.generation);
  assert.equal(body.scan.items, N);
  assert.ok(body.scan.pairs >= N, 'every row\'s neighbours were measured');

  // Another threshold is a filter of the same pairs: answered at once, no second scan.
  const strict = await timed({ method: 'GET', url: '/api/duplicates?threshold=0.95' });
  assert.equal(strict.res.statusCode, 200);
  assert.equal(strict.res.json().near.length, 3, 'the ~0.91 copy drops out at 0.95');
  assert.ok(!grouped(strict.res.json(), planted[4]!));
  assert.ok(strict.ms < RESPONSIVE_MS, `a new threshold answered in ${strict.ms.toFixed(0)} ms`);
  assert.equal((await app.inject({ method: 'GET', url: '/api/duplicates?threshold=0.9002' })).statusCode, 200);
  assert.equal(svc.duplicates.scans, 1, 'one scan for every threshold');
  const again = await app.inject({ method: 'PUT', url: '/api/duplicates/scan' });
  assert.equal(again.statusCode, 200, 'PUT once done: nothing to start');
  assert.equal(again.json().status, 'done');
  assert.equal(again.json().job.id, started.job.id);
  assert.equal(svc.duplicates.scans, 1);

  const csv = await app.inject({ method: 'GET', url: '/api/duplicates?format=csv&threshold=0.9001' });
  assert.equal(csv.statusCode, 200);
  assert.match(csv.headers['content-type'] as string, /text\/csv/);
  const lines = csv.body.trim().split('\n');
  assert.equal(lines[0], 'group,kind,similarity,id,name');
  assert.equal(lines.length, 1 + 2 * 4 + 1, 'one row per member: three pairs and a group of three');
  assert.ok(lines.includes(`1,near,${body.near[0].similarity},${idOf(10)},Item 10`), lines.join('\n'));

  // The scan as a job: GET /api/jobs/:id says it succeeded, with the scan's summary as its result.
  const job = await app.inject({ method: 'GET', url: `/api/jobs/${started.job.id}` });
  assert.equal(job.statusCode, 200, job.body);
  const record = job.json();
  assert.equal(record.id, started.job.id);
  assert.equal(record.kind, 'duplicates');
  assert.equal(record.status, 'succeeded');
  assert.deepEqual(record.progress, { stage: 'scan', done: N, total: N });
  assert.deepEqual(record.errors, { count: 0, first: [] });
  assert.equal(record.failure, null);
  assert.equal(record.result.pairs, body.scan.pairs);
  assert.equal(record.result.generation, started.generation);
  assert.ok(Date.parse(record.createdAt) <= Date.parse(record.startedAt) && Date.parse(record.startedAt) <= Date.parse(record.finishedAt));
  const list = await app.inject({ method: 'GET', url: '/api/jobs' });
  assert.equal(list.statusCode, 200);
  assert.deepEqual(list.json().jobs.map((j: { id: string }) => j.id), [started.job.id], 'one scan, one job');
  assert.equal((await app.inject({ method: 'GET', url: '/api/jobs?status=succeeded&kind=duplicates&limit=5' })).json().jobs.length, 1);
  assert.deepEqual((await app.inject({ method: 'GET', url: '/api/jobs?status=failed' })).json().jobs, []);
});

test('GET /api/jobs checks its input: an unknown job is 404, a bad filter 400, and the routes are in the OpenAPI document', async () => {
  const missing = await app.inject({ method: 'GET', url: '/api/jobs/no-such-job' });
  assert.equal(missing.statusCode, 404);
  assert.equal(missing.json().error.code, 'input/not-found');
  for (const url of ['/api/jobs?limit=0', '/api/jobs?limit=201', '/api/jobs?status=done', '/api/jobs?kind=mining', '/api/jobs?sort=id']) {
    const res = await app.inject({ method: 'GET', url });
    assert.equal(res.statusCode, 400, `${url}: ${res.body}`);
    assert.equal(res.json().error.code, 'input/invalid');
  }
  const doc = (await app.inject({ method: 'GET', url: '/api/openapi.json' })).json();
  assert.ok(doc.paths['/api/jobs']?.get?.responses['200'], 'GET /api/jobs documented');
  assert.ok(doc.paths['/api/jobs/{id}']?.get?.responses['200'], 'GET /api/jobs/{id} documented');
  assert.ok(doc.paths['/api/duplicates/scan'].put.responses['202'].content['application/json'].schema.properties.job, 'PUT answers the job');
});

test('the scan on its worker gives the synchronous scan\'s groups at every threshold, through the graph and the exact search', async () => {
  // exactUpTo 100: the 4,000 rows go through the HNSW graph (each synchronous reference builds one: two thresholds);
  // 10,000: one batched exact search.
  for (const [exactUpTo, thresholds] of [[100, [0.9001, 0.95]], [10_000, [0.5, 0.9001, 0.99]]] as const) {
    const dup = new DuplicatesService(svc.catalog, { vectors, dims: DIMS }, { generation: 0, exactUpTo, jobs: svc.jobs });
    const scan = await dup.scan();
    assert.equal(scan.items, N);
    for (const threshold of thresholds) {
      assert.deepEqual(dup.find({ threshold }).near, synchronousGroups(threshold, exactUpTo), `threshold ${threshold}, exact search up to ${exactUpTo} rows`);
    }
    assert.equal(dup.scans, 1);
  }
});

test('the threshold stays checked, exact duplicates need no scan, and no cross-site request can start one', async () => {
  const fresh = new DuplicatesService(svc.catalog, { vectors, dims: DIMS }, { generation: 0, jobs: svc.jobs });
  const other = Object.create(svc, { duplicates: { value: fresh } }) as Services;
  const app2 = await buildApp(other, config, { logger: false });
  try {
    for (const url of ['/api/duplicates?threshold=0', '/api/duplicates?threshold=1.5', '/api/duplicates?threshold=-1&near=false']) {
      const res = await app2.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 400, url);
      assert.match(res.json().error.message, /above 0, at most 1 for threshold/);
    }
    const exact = await app2.inject({ method: 'GET', url: '/api/duplicates?near=false' });
    assert.equal(exact.statusCode, 200);
    assert.deepEqual(exact.json().near, []);
    // Forms and <img> tags can only GET or POST; neither starts a scan.
    assert.equal((await app2.inject({ method: 'POST', url: '/api/duplicates/scan', payload: {} })).statusCode, 404);
    assert.equal((await app2.inject({ method: 'POST', url: '/api/duplicates' })).statusCode, 404);
    assert.equal(fresh.scans, 0);
    assert.equal(fresh.status().status, 'idle');
  } finally {
    await app2.close();
  }
});

test('a failed scan answers a clear error without its internals, and PUT runs it again; closing the server stops a running scan', async () => {
  let calls = 0;
  const flaky: NeighbourScanner = async (v, d, o, signal) => {
    calls++;
    if (calls === 1) throw new Error('secret internal failure at /var/lib/x');
    return neighbourPairsOnWorker(v, d, o, signal);
  };
  const dup = new DuplicatesService(svc.catalog, { vectors, dims: DIMS }, { generation: 3, scanner: flaky, jobs: svc.jobs });
  const other = Object.create(svc, { duplicates: { value: dup } }) as Services;
  const app2 = await buildApp(other, config, { logger: false });
  try {
    assert.equal((await app2.inject({ method: 'PUT', url: '/api/duplicates/scan' })).statusCode, 202);
    while (dup.status().status === 'running') await sleep(5);
    const failed = await app2.inject({ method: 'GET', url: '/api/duplicates' });
    assert.equal(failed.statusCode, 500);
    assert.equal(failed.json().error.code, 'server/error');
    assert.match(failed.json().error.message, /scan .* failed.*PUT \/api\/duplicates\/scan runs it again/);
    assert.doesNotMatch(failed.body, /secret|var\/lib/);
    const retry = await app2.inject({ method: 'PUT', url: '/api/duplicates/scan' });
    assert.equal(retry.statusCode, 202);
    let res;
    do {
      await sleep(50);
      res = await app2.inject({ method: 'GET', url: '/api/duplicates?threshold=0.9001' });
    } while (res.statusCode === 202);
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().near.length, 4);
    assert.equal(res.json().scan.generation, 3);
    assert.equal(dup.scans, 2);
    // Both runs are jobs: the first failed (its record says so without the internal message), the second succeeded.
    const jobs = (await app2.inject({ method: 'GET', url: '/api/jobs?kind=duplicates&limit=200' })).json().jobs as Array<{ id: string; status: string; params: { generation: number }; failure: { code: string; message: string } | null }>;
    const mine = jobs.filter((j) => j.params.generation === 3);
    assert.deepEqual(mine.map((j) => j.status), ['succeeded', 'failed'], 'newest first');
    assert.equal(mine[1]!.failure?.code, 'server/error');
    const failedJob = await app2.inject({ method: 'GET', url: `/api/jobs/${mine[1]!.id}` });
    assert.equal(failedJob.json().status, 'failed');
    assert.doesNotMatch(failedJob.body, /secret|var\/lib/);
    assert.equal(retry.json().job.id, mine[0]!.id);
  } finally {
    await app2.close();
  }

  const slow = new DuplicatesService(svc.catalog, { vectors, dims: DIMS }, { generation: 0, exactUpTo: 100, jobs: svc.jobs });
  const app3 = await buildApp(Object.create(svc, { duplicates: { value: slow } }) as Services, config, { logger: false });
  const slowPut = await app3.inject({ method: 'PUT', url: '/api/duplicates/scan' });
  assert.equal(slowPut.statusCode, 202);
  const t = performance.now();
  await app3.close();
  assert.ok(performance.now() - t < 1000, 'closing did not wait for the scan');
  assert.equal(slow.status().status, 'idle', 'the next PUT starts anew');
  const stopped = await svc.jobs.get(slowPut.json().job.id);
  assert.equal(stopped?.status, 'cancelled', 'its job says it was stopped');
});

test('job history survives a restart: a server opened again on the catalog lists the scans of the one before', async () => {
  const [scan] = (await app.inject({ method: 'GET', url: '/api/jobs?kind=duplicates&status=succeeded' })).json().jobs as Array<{ id: string }>;
  assert.ok(scan);
  const svc2 = await Services.open(config);
  const app2 = await buildApp(svc2, config, { logger: false });
  try {
    const res = await app2.inject({ method: 'GET', url: `/api/jobs/${scan.id}` });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().status, 'succeeded');
    // The scan's pairs were in the other server's memory: this one has not scanned yet, and says so.
    assert.equal((await app2.inject({ method: 'GET', url: '/api/duplicates' })).statusCode, 404);
  } finally {
    await app2.close();
    await svc2.close();
  }
});
