/**
 * Ingest rate on the worker queue: the same N photos of the demo catalog (with their labels) queued with
 * `enqueueFolder` (what `fashion index DIR --queue` does) into a fresh PostgreSQL schema, taken by 1 and then 2
 * `fashion worker` processes (the compiled CLI, each with the default threads) on this machine; products/s from the
 * run's creation to its last product, and to its end (finishing: deletions, fields; refinement off so that the
 * figure is the ingest's). Saved as `queue_ingest` in bench/results.json.
 *
 * Usage: FASHION_TEST_DATABASE_URL=postgres://… FASHION_TEST_QUEUE_URL=redis://… npm run build &&
 *   node --import tsx bench/queueIngest.ts [--n 2000] [--workers 1,2] [--concurrency 32]
 * (`scripts/services.sh up` starts both; run it under the CPU lock on a shared machine.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openQueue } from '../src/app/queueHandles.js';
import { enqueueFolder } from '../src/app/queueIngest.js';
import { openCatalogStore } from '../src/catalog/openCatalog.js';
import { readMetadataCsv } from '../src/catalog/metadataCsv.js';
import { demoCatalog, REPO_ROOT, resolveConfig } from '../src/config.js';
import { arg, round, saveResult } from './common.js';

const databaseUrl = arg('database', process.env.FASHION_TEST_DATABASE_URL ?? '');
const queueUrl = arg('queue', process.env.FASHION_TEST_QUEUE_URL ?? '');
if (!databaseUrl || !queueUrl) throw new Error('set FASHION_TEST_DATABASE_URL and FASHION_TEST_QUEUE_URL (scripts/services.sh up; eval "$(scripts/services.sh env)"), or pass --database and --queue');
const n = Number(arg('n', '2000'));
const workerCounts = arg('workers', '1,2').split(',').map(Number);
const concurrency = arg('concurrency', '32');
const demo = demoCatalog();
if (!demo) throw new Error('needs the shared demo catalog');

const root = mkdtempSync(join(tmpdir(), 'fashion-bench-queue-'));
const images = join(root, 'images');
mkdirSync(images);
const names = readdirSync(demo.images).filter((f) => f.endsWith('.jpg')).sort().slice(0, n);
for (const f of names) copyFileSync(join(demo.images, f), join(images, f));
const table = await readMetadataCsv(demo.metadata);
const csv = join(root, 'styles.csv');
const cols = table.columns.filter((c) => c !== 'id');
const cell = (v: string | undefined) => (/[",\n]/.test(v ?? '') ? `"${(v ?? '').replace(/"/g, '""')}"` : v ?? '');
writeFileSync(csv, [['id', ...cols].join(','), ...names.map((f) => f.slice(0, -4)).filter((id) => table.rows.has(id)).map((id) => [id, ...cols.map((c) => cell(table.rows.get(id)![c]))].join(','))].join('\n') + '\n');

const results: Array<Record<string, unknown>> = [];
try {
  for (const workers of workerCounts) {
    const schema = `bench_q_${randomBytes(4).toString('hex')}`;
    const config = resolveConfig({ dataDir: join(root, `data-${workers}`), databaseUrl, queueUrl, databaseSchema: schema });
    await (await openCatalogStore(config, { create: true })).close();
    const children: ChildProcess[] = [];
    const ready: Array<Promise<void>> = [];
    for (let w = 0; w < workers; w++) {
      const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'fashion.js'), 'worker', '--queue', queueUrl, '--database', databaseUrl, '--database-schema', schema, '--data', config.dataDir, '--concurrency', concurrency], { stdio: ['ignore', 'pipe', 'inherit'] });
      children.push(child);
      ready.push(new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (d: Buffer) => d.toString().includes('"type":"ready"') && resolve());
        child.once('exit', (code) => reject(new Error(`worker exited (${code}) before it was ready`)));
      }));
      child.stdout!.resume();
    }
    await Promise.all(ready);
    const handles = openQueue(config);
    try {
      const t0 = performance.now();
      const run = await enqueueFolder(config, handles, images, { metadata: csv, refine: false });
      let lastProduct = 0;
      for (;;) {
        const job = (await handles.runs.get(run.id))!;
        if (!lastProduct && job.progress.total > 0 && job.progress.done >= job.progress.total) lastProduct = performance.now();
        if (job.status !== 'running') {
          if (job.status !== 'succeeded') throw new Error(`run ${job.status}: ${JSON.stringify(job.failure)}`);
          const end = performance.now();
          const products = (job.result as { products: Record<string, number> }).products;
          const toLast = ((lastProduct || end) - t0) / 1000;
          const r = { workers, products: job.progress.total, added: products.added, failed: products.failed, secondsToLastProduct: round(toLast, 1), secondsToEnd: round((end - t0) / 1000, 1), productsPerSecond: round(job.progress.total / toLast, 1) };
          console.log(JSON.stringify(r));
          results.push(r);
          break;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      await handles.queue.obliterate().catch(() => undefined);
      await handles.close();
      await Promise.all(children.map((c) => new Promise((r) => { c.once('exit', r); c.kill('SIGTERM'); })));
      const admin = new pg.Client({ connectionString: databaseUrl });
      await admin.connect();
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end();
    }
  }
  saveResult('queue_ingest', { n: names.length, concurrency: Number(concurrency), threadsPerWorker: resolveConfig({}).threads, note: 'workers on this one machine (its cores shared); PostgreSQL and Redis on the same machine', results });
} finally {
  rmSync(root, { recursive: true, force: true });
}
