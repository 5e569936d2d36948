import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import usearch from 'usearch';
import { indexFolder } from '../src/app/indexFolder.js';
import { trainCatalogFolder } from '../src/app/refineCatalog.js';
import { Services } from '../src/app/services.js';
import { catalogFile, openCatalogStore } from '../src/catalog/openCatalog.js';
import type { Config } from '../src/config.js';
import { FashionError } from '../src/errors.js';
import { DEFAULT_HNSW } from '../src/index/hnswIndex.js';
import { Gemm } from '../src/linalg/gemm.js';
import { loadCatalogRefinement } from '../src/refine/loadRefinement.js';
import { RefineModel } from '../src/refine/refineModel.js';
import { startServer } from '../src/server/start.js';
import { makeFixture as makeTempFixture, pickIds, TYPES, type Fixture } from './helpers.js';

// Catalog safety (hardening issue): refusals that keep the catalog, one writer at a time, and kill -9 at the moments
// that matter (mid-ingest, mid-training, between an HNSW graph and its sidecar) leaving a catalog a rerun completes.
// Modules and exports added by the fix are imported inside the tests that need them, so that each test can be run
// against the code before it and fail there on its own.

/** Fixtures in temporary folders, removed when the file's tests are done. */
const made: string[] = [];
function makeFixture(ids: readonly string[], name: string): Fixture {
  const fx = makeTempFixture(ids, name);
  made.push(fx.root);
  return fx;
}
after(() => {
  for (const dir of [...made, scratch]) rmSync(dir, { recursive: true, force: true });
});

const CLI = pathToFileURL(join(import.meta.dirname, '..', 'src', 'cli', 'main.ts')).href;
const scratch = mkdtempSync(join(tmpdir(), 'fashion-safety-'));

/**
 * Loaded into a CLI child to kill it with SIGKILL (no handler, no cleanup: kill -9) at the first file operation whose
 * target matches CRASH_PATTERN, after letting CRASH_SKIP of them through. Renames, whole-file writes and removals.
 */
const CRASH_PRELOAD = join(scratch, 'crash-preload.mjs');
writeFileSync(
  CRASH_PRELOAD,
  `import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
const pattern = new RegExp(process.env.CRASH_PATTERN);
let skip = Number(process.env.CRASH_SKIP ?? '0');
const hit = (target) => typeof target === 'string' && pattern.test(target) && skip-- <= 0;
const wrap = (obj, name, arg) => {
  const original = obj[name];
  obj[name] = function (...args) {
    if (hit(args[arg])) process.kill(process.pid, 'SIGKILL');
    return original.apply(this, args);
  };
};
wrap(fs, 'renameSync', 1);
wrap(fs, 'writeFileSync', 0);
wrap(fs, 'rmSync', 0);
wrap(fs, 'unlinkSync', 0);
wrap(fs.promises, 'rename', 1);
syncBuiltinESMExports();
`,
);

interface CliRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly pid: number;
}

/** Runs the CLI from the sources (not dist/, which may be stale). A file, not `-e`: worker threads inherit the flags. */
const CLI_ENTRY = join(scratch, 'fashion.mjs');
writeFileSync(CLI_ENTRY, `const { main } = await import(${JSON.stringify(CLI)});\nawait main(process.argv);\n`);

/** `fashion <args>` in a child process. */
function cli(args: readonly string[], options: { env?: Record<string, string>; crash?: { pattern: string; skip?: number } } = {}) {
  const preload = options.crash ? ['--import', pathToFileURL(CRASH_PRELOAD).href] : [];
  const env: Record<string, string> = { ...(process.env as Record<string, string>), ...options.env };
  if (options.crash) Object.assign(env, { CRASH_PATTERN: options.crash.pattern, CRASH_SKIP: String(options.crash.skip ?? 0) });
  const child = spawn(process.execPath, ['--import', 'tsx', ...preload, CLI_ENTRY, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise<CliRun>((resolve) => child.once('close', (c, signal) => resolve({ code: c, signal, stdout, stderr, pid: child.pid! })));
  return { child, done };
}

const common = (fx: Fixture, config: Config) => ['--data', fx.data, '--cache', config.cacheDir, '--threads', '2'];

/** What must not change when a run is refused: the items (with their files' state) and the photos' folder. */
function fingerprint(fx: Fixture): string {
  const db = new Database(catalogFile(fx.data), { readonly: true });
  try {
    const items = db.prepare('SELECT id, path, size, mtime_ms, metadata FROM items ORDER BY id').all();
    const root = db.prepare("SELECT value FROM settings WHERE key = 'imagesRoot'").get();
    return JSON.stringify({ items, root });
  } finally {
    db.close();
  }
}

function itemIds(fx: Fixture): string[] {
  const db = new Database(catalogFile(fx.data), { readonly: true });
  try {
    return (db.prepare('SELECT id FROM items ORDER BY id').all() as Array<{ id: string }>).map((r) => r.id);
  } finally {
    db.close();
  }
}

const sorted = (ids: readonly string[]) => [...ids].sort();

function isError(code: string, pattern?: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof FashionError, String(e));
    assert.equal(e.code, code, e.message);
    if (pattern) assert.match(e.message, pattern);
    return true;
  };
}

/**
 * The catalog's refinement model and refined vectors are one generation: the loaded model, applied to every item's
 * backbone vector and colour, gives the stored refined vectors. Returns the model's trainedAt (null: no refinement).
 */
async function agreedGeneration(fx: Fixture): Promise<string | null> {
  const store = await openCatalogStore(fx.data);
  const gemm = await Gemm.create(1);
  try {
    const { items, vectors } = await store.loadAll();
    const ids = items.map((it) => it.id);
    const r = await loadCatalogRefinement(store, fx.data, ids);
    if (!r.model || !r.vectors) return null;
    const colours = (await store.loadFeatures('colour', ids))!;
    const expected = (await r.model.vectors(gemm, vectors, colours, ids.length, items.map((it) => it.metadata))).vectors;
    let worst = 0;
    for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(expected[i]! - r.vectors[i]!));
    assert.ok(worst < 1e-3, `the refined vectors are not the loaded model's (max difference ${worst}): a mixed generation`);
    return r.model.header.trainedAt;
  } finally {
    await gemm.close();
    await store.close();
  }
}

async function indexed(ids: readonly string[], name: string, overrides: Record<string, string | number> = {}): Promise<{ fx: Fixture; config: Config }> {
  const fx = makeFixture(ids, name);
  const config = fx.config({ augment: 0, ...overrides });
  await indexFolder(config, fx.images, { metadata: fx.csv });
  return { fx, config };
}

test('index refuses a missing, empty or unreadable folder, exits non-zero and keeps the catalog', async () => {
  const { fx, config } = await indexed(pickIds(TYPES, 2), 'safety-refuse');
  const before = fingerprint(fx);
  assert.equal(itemIds(fx).length, fx.ids.length);

  await assert.rejects(indexFolder(config, join(fx.root, 'not-mounted')), isError('input/not-found'));
  assert.equal(fingerprint(fx), before);

  const empty = join(fx.root, 'empty');
  mkdirSync(empty);
  await assert.rejects(indexFolder(config, empty, { metadata: fx.csv }), isError('input/no-photos', /mounted/));
  assert.equal(fingerprint(fx), before, 'an empty folder deleted items');

  // Every photo a link leading out of the folder: each is skipped, so the folder has nothing to index.
  const links = join(fx.root, 'links');
  mkdirSync(links);
  for (const id of fx.ids) symlinkSync(join(fx.images, `${id}.jpg`), join(links, `${id}.jpg`));
  await assert.rejects(indexFolder(config, links, { metadata: fx.csv }), isError('input/no-photos', /outside/));
  assert.equal(fingerprint(fx), before, 'a folder of outward links deleted items');

  // Photos that are all unreadable: every one is skipped after an attempt, and the run fails having changed nothing.
  const broken = join(fx.root, 'broken');
  mkdirSync(broken);
  for (const id of fx.ids) writeFileSync(join(broken, `${id}.jpg`), 'not a photo');
  await assert.rejects(indexFolder(config, broken, { metadata: fx.csv }), isError('input/no-photos', /could be read/));
  assert.equal(fingerprint(fx), before, 'a folder of unreadable photos changed the catalog');

  // The CLI maps the refusal to a non-zero exit with the coded message.
  const r = await cli(['index', empty, ...common(fx, config)]).done;
  assert.notEqual(r.code, 0, r.stdout);
  assert.match(r.stderr, /error \[input\/no-photos\]/);
  assert.equal(fingerprint(fx), before);
});

test('index refuses to delete more than a tenth of the catalog without --prune, and deletes with it', async () => {
  const { fx, config } = await indexed(pickIds(TYPES, 2), 'safety-prune');
  const before = fingerprint(fx);
  const gone = fx.ids.slice(0, 3); // 3 of 12: 25%
  const aside = join(fx.root, 'aside');
  mkdirSync(aside);
  for (const id of gone) renameSync(join(fx.images, `${id}.jpg`), join(aside, `${id}.jpg`));
  await assert.rejects(indexFolder(config, fx.images, { metadata: fx.csv }), isError('catalog/prune-refused', /--prune/));
  assert.equal(fingerprint(fx), before);

  const r = await cli(['index', fx.images, '--metadata', fx.csv, '--prune', '--json', ...common(fx, config)]).done;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).removed, gone.length);
  assert.deepEqual(itemIds(fx), sorted(fx.ids.slice(3)));
});

test('a second writer gets catalog/locked naming the holder; a lock left by a dead process is taken over', async () => {
  const { acquireWriterLock, WRITER_LOCK, WRITER_HOLDER } = await import('../src/catalog/writerLock.js');
  const { fx, config } = await indexed(pickIds(TYPES, 1), 'safety-lock');
  const lock = await acquireWriterLock(fx.data, 'fashion index /mnt/elsewhere');
  try {
    const naming = new RegExp(`pid ${process.pid} on ${hostname()}.*fashion index /mnt/elsewhere.*since ${lock.holder.since}`);
    await assert.rejects(indexFolder(config, fx.images, { metadata: fx.csv }), isError('catalog/locked', naming));
    await assert.rejects(trainCatalogFolder(config, { epochs: 1, seed: 1 }), isError('catalog/locked', naming));
    const r = await cli(['train', '--epochs', '1', ...common(fx, config)]).done;
    assert.equal(r.code, 9, r.stderr);
    assert.match(r.stderr, /error \[catalog\/locked\]/);
    assert.match(r.stderr, naming);
  } finally {
    await lock.release();
  }
  await indexFolder(config, fx.images, { metadata: fx.csv });

  // A lock whose holder died without releasing it (its pid no longer runs) does not block the next writer.
  const dead = spawnSync(process.execPath, ['-e', '']).pid!;
  mkdirSync(join(fx.data, WRITER_LOCK));
  writeFileSync(join(fx.data, WRITER_HOLDER), JSON.stringify({ pid: dead, host: hostname(), command: 'fashion index (killed)', since: new Date().toISOString() }));
  const report = await indexFolder(config, fx.images, { metadata: fx.csv });
  assert.equal(report.unchanged, fx.ids.length);
});

test('kill -9 during index: the running writer holds the lock, and the rerun takes it over and completes the catalog', async () => {
  const fx = makeFixture(pickIds(TYPES, 7), 'safety-kill-index');
  const config = fx.config({ augment: 0 });
  // Small batches: many commits, so that the run is still going when the second writer knocks.
  const run = cli(['index', fx.images, '--metadata', fx.csv, '--batch-size', '2', '--json', ...common(fx, config)]);
  let mid = 0;
  for (let i = 0; i < 600 && mid < 8; i++) {
    await new Promise((r) => setTimeout(r, 100));
    try {
      const db = new Database(catalogFile(fx.data), { readonly: true, fileMustExist: true });
      mid = (db.prepare('SELECT COUNT(*) AS n FROM items').get() as { n: number }).n;
      db.close();
    } catch {
      // not created yet
    }
  }
  // A second writer meanwhile is refused, and told who writes.
  await assert.rejects(indexFolder(config, fx.images, { metadata: fx.csv }), isError('catalog/locked', new RegExp(`pid ${run.child.pid}\\b`)));
  run.child.kill('SIGKILL');
  const killed = await run.done;
  assert.equal(killed.signal, 'SIGKILL');
  const partial = itemIds(fx);
  assert.ok(partial.length > 0 && partial.length < fx.ids.length, `killed after ${partial.length} of ${fx.ids.length}`);

  const report = await indexFolder(config, fx.images, { metadata: fx.csv });
  assert.equal(report.unchanged, partial.length);
  assert.equal(report.added, fx.ids.length - partial.length);
  assert.deepEqual(itemIds(fx), sorted(fx.ids));
  const svc = await Services.open(config);
  try {
    assert.equal(svc.catalog.size, fx.ids.length);
  } finally {
    await svc.close();
  }
});

test('kill -9 during training: the model and the refined vectors stay one generation, and a rerun completes', async () => {
  const { fx, config } = await indexed(pickIds(TYPES, 7), 'safety-kill-train');
  await trainCatalogFolder(config, { epochs: 2, seed: 1 });
  const first = await agreedGeneration(fx);
  assert.ok(first, 'expected a refinement');
  const train = (seed: number, skip: number) => cli(['train', '--epochs', '2', '--seed', String(seed), '--augment', '0', ...common(fx, config)], { crash: { pattern: 'refine-model(-[0-9a-f]{64})?\\.bin$', skip } }).done;

  // Killed as the new model's file is put in place (the old code had committed the new vectors by then).
  const a = await train(2, 0);
  assert.equal(a.signal, 'SIGKILL', a.stderr);
  assert.equal(await agreedGeneration(fx), first, 'the previous generation is kept whole');

  // Killed after the new generation is committed, as the old model's file is removed: the new generation is whole.
  const b = await train(3, 1);
  assert.equal(b.signal, 'SIGKILL', b.stderr);
  const second = await agreedGeneration(fx);
  assert.ok(second && second !== first, `expected the new generation, got ${second}`);

  // The rerun takes over the dead writer's lock, trains, and leaves one model file beside the catalog.
  await trainCatalogFolder(config, { epochs: 2, seed: 4 });
  const third = await agreedGeneration(fx);
  assert.ok(third && third !== second);
  assert.equal(readdirSync(fx.data).filter((f) => f.startsWith('refine-model')).length, 1, readdirSync(fx.data).join(', '));
  assert.deepEqual(itemIds(fx), sorted(fx.ids));
});

test('the loader refuses a refinement model that is not the one the refined vectors were computed with', async () => {
  const { fx, config } = await indexed(pickIds(TYPES, 7), 'safety-mismatch');
  await trainCatalogFolder(config, { epochs: 2, seed: 1 });
  assert.ok(await agreedGeneration(fx));
  // Another model of the same backbone put in place of the catalog's (a crash of the old code, or a copied file).
  const store = await openCatalogStore(fx.data);
  const model = (await loadCatalogRefinement(store, fx.data, (await store.loadAll()).items.map((it) => it.id))).model!;
  await store.close();
  const other = new RefineModel({ ...model.header, trainedAt: 'another training' }, { ...model.weights, w1: model.weights.w1.map((v) => v * 0.5) }, model.instance);
  for (const f of readdirSync(fx.data).filter((f) => /^refine-model.*\.bin$/.test(f))) await other.save(join(fx.data, f));

  const svc = await Services.open(config);
  try {
    assert.equal(svc.refinement.model, null, 'a mismatched model was used with the refined vectors');
    assert.match(svc.info().refinementNote ?? '', /fashion train/);
    // Search falls back to the backbone vectors, never mixing the two.
    assert.equal(svc.spaces.search, svc.spaces.backbone);
    const hits = await svc.pipeline.search({ kind: 'item', id: fx.ids[0]!, k: 3, metric: 'cosine', filters: {} });
    assert.equal(hits.hits.length, 3);
  } finally {
    await svc.close();
  }
  await trainCatalogFolder(config, { epochs: 2, seed: 1 });
  assert.ok(await agreedGeneration(fx));
});

test('kill -9 between an HNSW graph and its sidecar: the graph is rebuilt, not trusted, and holds every item', async () => {
  const { fx, config } = await indexed(pickIds(TYPES, 2), 'safety-kill-hnsw', { index: 'hnsw' });
  const graph = join(fx.data, 'ann-raw.usearch');
  statSync(graph);
  // One photo leaves (1 of 12, within the share an index run deletes), and the run that drops it from the graph is
  // killed after the new graph is in place but before its sidecar is.
  const id = fx.ids[4]!;
  const aside = join(fx.root, `${id}.jpg`);
  renameSync(join(fx.images, `${id}.jpg`), aside);
  const r = await cli(['index', fx.images, '--metadata', fx.csv, ...common(fx, config)], { env: { FASHION_INDEX: 'hnsw' }, crash: { pattern: '\\.usearch\\.json$' } }).done;
  assert.equal(r.signal, 'SIGKILL', r.stderr);
  // The photo comes back (same file, same mtime: the same key the old sidecar lists), and the next run indexes it.
  renameSync(aside, join(fx.images, `${id}.jpg`));
  const report = await indexFolder(config, fx.images, { metadata: fx.csv });
  assert.equal(report.added, 1);

  const svc = await Services.open(config);
  try {
    assert.equal(svc.spaces.search.kind, 'hnsw');
    for (const item of fx.ids) {
      const top = await svc.spaces.search.search(svc.spaces.search.vectorOf(item)!, { k: 1, metric: 'cosine' });
      assert.equal(top[0]?.id, item, `the graph does not hold item ${item}`);
    }
  } finally {
    await svc.close();
  }
  // The saved sidecar describes the saved graph: the same rows.
  const saved = JSON.parse(readFileSync(`${graph}.json`, 'utf8')) as { keys: string[]; dims: number };
  const g = new usearch.Index({ dimensions: saved.dims, metric: usearch.MetricKind.Cos, quantization: usearch.ScalarKind.F16, connectivity: DEFAULT_HNSW.connectivity, expansion_add: DEFAULT_HNSW.expansionAdd, expansion_search: DEFAULT_HNSW.expansionSearch, multi: false });
  g.load(graph);
  assert.equal(g.size(), fx.ids.length);
  assert.equal(saved.keys.length, fx.ids.length);
});

test('server start-up writes nothing beside the catalog: graphs are opened or built in memory, never saved', async () => {
  const { fx, config } = await indexed(pickIds(TYPES, 2), 'safety-server');
  // SQLite's own -wal/-shm files are its shared memory, touched by any reader; everything else must stay as it is.
  const files = () => new Map(readdirSync(fx.data).filter((f) => !/-(wal|shm)$/.test(f)).map((f) => [f, `${statSync(join(fx.data, f)).mtimeMs}/${statSync(join(fx.data, f)).size}`]));
  const serve = async (c: Config) => {
    const before = files();
    const server = await startServer({ ...c, index: 'hnsw', port: 0, logLevel: 'warn' });
    try {
      const info = (await (await fetch(`${server.url}/api/info`)).json()) as { index: string; items: number };
      assert.equal(info.index, 'hnsw');
      return info.items;
    } finally {
      await server.close();
      assert.deepEqual(files(), before, 'server start-up wrote beside the catalog');
    }
  };
  // No saved graph (indexed for exact search): the server builds one in memory.
  assert.equal(await serve(config), fx.ids.length);
  // A saved graph the catalog has moved on from: patched in memory, its files left as they are.
  const hnsw = fx.config({ augment: 0, index: 'hnsw' });
  await indexFolder(hnsw, fx.images, { metadata: fx.csv });
  renameSync(join(fx.images, `${fx.ids[0]}.jpg`), join(fx.root, 'moved.jpg'));
  await indexFolder(config, fx.images, { metadata: fx.csv });
  assert.equal(await serve(config), fx.ids.length - 1);
});
