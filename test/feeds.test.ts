import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import { indexFeed, type IndexFeedOptions, type IndexFeedResult } from '../src/app/indexFeed.js';
import type { IndexEvent } from '../src/app/indexFolder.js';
import { Services } from '../src/app/services.js';
import { catalogFile, openCatalogStore } from '../src/catalog/openCatalog.js';
import type { Config } from '../src/config.js';
import { FashionError } from '../src/errors.js';
import { parseMappings } from '../src/feeds/readFeed.js';
import { INDEX_JOB } from '../src/jobs/indexJob.js';
import type { JobEventAdapter } from '../src/jobs/runAsJob.js';
import { DEMO, makeFixture, pickIds, STYLE_ROWS, TYPES } from './helpers.js';

// Product feeds (catalog service issue): a feed on a loopback HTTP server is indexed, a re-run fetches nothing, a
// changed photo is re-fetched; failures are reported and retried; kill -9 mid-run and a rerun completes the catalog.

const scratch = mkdtempSync(join(tmpdir(), 'fashion-feeds-'));
const made: string[] = [scratch];
after(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

// A feed run reports what a folder run does (the same events, a report with the same counts): the ingest job's adapter
// takes it as it is, e.g. runAsJob(svc.jobs, 'feed', params, INDEX_JOB, (onEvent) => indexFeed(config, file, { onEvent })).
const FEED_JOB: JobEventAdapter<IndexEvent, IndexFeedResult> = INDEX_JOB;
void FEED_JOB;

// ---- the shop's photo server: demo photos with ETag and Last-Modified, every request logged ----

interface Served {
  bytes: Buffer;
  etag: string;
  lastModified: string;
}
const photos = new Map<string, Served>();
const log: Array<{ path: string; status: number; at: number }> = [];
let server: Server;
let base = '';

function servePhoto(path: string, bytes: Buffer, modified = new Date('2025-01-01T00:00:00Z')): void {
  photos.set(path, { bytes, etag: `"${createHash('sha1').update(bytes).digest('hex').slice(0, 20)}"`, lastModified: modified.toUTCString() });
}

before(async () => {
  server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const earlier = log.filter((l) => l.path === path).length;
    const answer = (status: number, headers: Record<string, string | number> = {}, body?: Buffer) => {
      log.push({ path, status, at: performance.now() });
      res.writeHead(status, headers).end(body);
    };
    const reply = () => {
      // 500 on the first request ever, then the photo.
      if (path.startsWith('/flaky/') && earlier === 0) return answer(500);
      const p = photos.get(path.replace(/^\/(flaky|slow)\//, '/p/'));
      if (!p) return answer(404);
      const inm = req.headers['if-none-match'];
      const ims = req.headers['if-modified-since'];
      if (inm ? inm === p.etag : ims !== undefined && Date.parse(ims) >= Date.parse(p.lastModified)) return answer(304, { etag: p.etag });
      answer(200, { 'content-type': 'image/jpeg', 'content-length': p.bytes.length, etag: p.etag, 'last-modified': p.lastModified }, p.bytes);
    };
    // /slow/ photos take a while, so that a run can be killed half way.
    if (path.startsWith('/slow/')) setTimeout(reply, 60);
    else reply();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

const demoPhoto = (id: string) => readFileSync(join(DEMO!.images, `${id}.jpg`));
const photoUrl = (id: string, route = 'p') => `${base}/${route}/${id}.jpg`;
/** This test's requests since `mark` (an index in the log). */
const since = (mark: number) => log.slice(mark);

// ---- the feed ----

const ids = pickIds(TYPES, 3);
const flaky = pickIds(['Shirts'], 1)[0]!;
const missing = 'gone-1';
for (const id of [...ids, flaky]) servePhoto(`/p/${id}.jpg`, demoPhoto(id));

const csvCell = (v: string) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
const HEADER = ['id', 'title', 'image_link', 'additional_image_link', 'availability', 'product_type', 'color', 'gender'];
/** A Merchant Center style row of a demo item: its labels under the shop's column names. */
function feedRow(id: string, url = photoUrl(id), title?: string, others: readonly string[] = []): string[] {
  const m = STYLE_ROWS.get(id) ?? {};
  return [id, title ?? m.productDisplayName ?? 'Lost item', url, others.join(','), 'in stock', m.articleType ?? 'Tshirts', m.baseColour ?? 'Black', m.gender ?? 'Men'];
}
function writeFeed(file: string, rows: readonly string[][], delimiter = ','): string {
  const cell = delimiter === ',' ? csvCell : (v: string) => v;
  writeFileSync(file, [HEADER, ...rows].map((r) => r.map(cell).join(delimiter)).join('\n') + '\n');
  return file;
}
const MAP = parseMappings(['articleType=product_type', 'baseColour=color', 'productDisplayName=title']);
/** The product with two more photos (`additional_image_link`): shots of two products the feed does not list. */
const probe = ids[4]!;
const probeShots = pickIds([STYLE_ROWS.get(probe)!.articleType!], 2, 30);
for (const id of probeShots) servePhoto(`/p/${id}.jpg`, demoPhoto(id));
/** The shop's feed: 18 products, one with three photos, one whose photo fails once, one whose photo is gone, and two malformed rows. */
function shopRows(titles: Record<string, string> = {}): string[][] {
  return [
    ...ids.slice(0, 9).map((id) => feedRow(id, photoUrl(id), titles[id], id === probe ? probeShots.map((s) => photoUrl(s)) : [])),
    feedRow(flaky, photoUrl(flaky, 'flaky')),
    feedRow(missing, `${base}/missing/${missing}.jpg`),
    ['bad-scheme', 'x', 'ftp://cdn.example/x.jpg', '', 'in stock', 'Tshirts', 'Red', 'Men'],
    ['', 'no id', photoUrl(ids[0]!), '', 'in stock', 'Tshirts', 'Red', 'Men'],
    ...ids.slice(9).map((id) => feedRow(id, photoUrl(id), titles[id])),
  ];
}

const shop = makeFixture([], 'feed-shop');
made.push(shop.root);
const config = shop.config({ augment: 0 });
const feedCsv = join(scratch, 'shop.csv');
const run = (file: string, c: Config = config, options: IndexFeedOptions = {}) => indexFeed(c, file, { map: MAP, download: { backoffMs: 100 }, ...options });

function itemIds(data: string): string[] {
  const db = new Database(catalogFile(data), { readonly: true });
  try {
    return (db.prepare('SELECT id FROM items ORDER BY id').all() as Array<{ id: string }>).map((r) => r.id);
  } finally {
    db.close();
  }
}
const sorted = (xs: readonly string[]) => [...xs].sort();
/** Each item's photo state (path, size, mtime): what changes when it is embedded again. */
async function fileStates(data: string) {
  const store = await openCatalogStore(data);
  try {
    return await store.fileStates();
  } finally {
    await store.close();
  }
}

test('a CSV feed on a loopback server is indexed and searchable; a 500 is retried, a 404 and malformed rows are reported', async () => {
  writeFeed(feedCsv, shopRows());
  const mark = log.length;
  const r = await run(feedCsv);
  assert.equal(r.scanned, 20);
  assert.equal(r.added, 19);
  assert.deepEqual(r.failed.map((f) => [f.id, f.line, f.code]), [[missing, 12, 'url/fetch-failed']]);
  assert.match(r.failed[0]!.message, /HTTP 404/);
  assert.equal(r.failed[0]!.url, `${base}/missing/${missing}.jpg`);
  assert.deepEqual(r.problems.map((p) => p.line), [13, 14]);
  assert.match(r.problems[0]!.message, /ftp: scheme/);
  // Retried after a back-off of 50-100 ms (jitter), and then downloaded.
  const tries = since(mark).filter((l) => l.path === `/flaky/${flaky}.jpg`);
  assert.deepEqual(tries.map((t) => t.status), [500, 200]);
  assert.ok(tries[1]!.at - tries[0]!.at >= 45, `retried after ${tries[1]!.at - tries[0]!.at} ms`);
  assert.equal(r.downloads.retries, 1);
  assert.equal(since(mark).filter((l) => l.path.startsWith('/missing/')).length, 1, 'a 404 is not retried within the run');
  assert.equal(r.index?.items, 19);
  assert.deepEqual(r.otherPhotos, { products: 1, embedded: 2, unchanged: 0 });

  const svc = await Services.open(config);
  try {
    assert.equal(svc.catalog.size, 19);
    const res = await svc.pipeline.search({ kind: 'photo', photo: { kind: 'file', path: join(DEMO!.images, `${probe}.jpg`) }, k: 5, metric: 'cosine', filters: {} });
    assert.equal(res.hits[0]?.id, probe);
    const item = svc.catalog.item(probe);
    const labels = STYLE_ROWS.get(probe)!;
    assert.equal(item.metadata.articleType, labels.articleType, '--map articleType=product_type');
    assert.equal(item.metadata.baseColour, labels.baseColour);
    assert.equal(item.metadata.productDisplayName, labels.productDisplayName);
    assert.equal(item.metadata.availability, 'in_stock');
    assert.equal(item.metadata.additional_image_link, probeShots.map((s) => photoUrl(s)).join(' '));
    assert.equal(item.photos?.length, 2);
    // Found by each of its other photos too: first, listed once, with the photo that matched.
    for (const [n, shot] of probeShots.entries()) {
      const by = await svc.pipeline.search({ kind: 'photo', photo: { kind: 'file', path: join(DEMO!.images, `${shot}.jpg`) }, k: 10, metric: 'cosine', filters: {} });
      assert.equal(by.hits[0]?.id, probe, `found by its photo ${n + 1}`);
      assert.equal(by.hits[0]?.photo, n + 1);
      assert.equal(by.hits.filter((h) => h.id === probe).length, 1);
    }
    assert.equal('product_type' in item.metadata, false);
    assert.match(item.path, /^kept\/[0-9a-f]{64}\.jpg$/);
    assert.deepEqual(svc.info().metadataColumns, ['productDisplayName', 'availability', 'articleType', 'baseColour', 'gender', 'additional_image_link'], 'mapped columns where their sources were (in the order rows first give them)');
    // Filters read the mapped labels.
    const shirts = await svc.pipeline.search({ kind: 'item', id: probe, k: 10, metric: 'cosine', filters: { articleType: [labels.articleType!] } });
    assert.ok(shirts.hits.length > 0 && shirts.hits.every((h) => h.metadata.articleType === labels.articleType));
  } finally {
    await svc.close();
  }
});

test('the re-run downloads nothing (304s only) and embeds nothing; the 404 row is tried again and reported again', async () => {
  const before = await fileStates(config.dataDir);
  const mark = log.length;
  const r = await run(feedCsv);
  assert.deepEqual({ added: r.added, updated: r.updated, unchanged: r.unchanged, removed: r.removed, metadataUpdated: r.metadataUpdated }, { added: 0, updated: 0, unchanged: 19, removed: 0, metadataUpdated: 0 });
  const statuses = since(mark).map((l) => `${l.path.startsWith('/missing/') ? 'missing' : 'photo'} ${l.status}`);
  assert.deepEqual([...new Set(statuses)].sort(), ['missing 404', 'photo 304']);
  assert.equal(statuses.length, 22);
  assert.deepEqual({ fetched: r.downloads.fetched, notModified: r.downloads.notModified, bytes: r.downloads.bytes }, { fetched: 0, notModified: 21, bytes: 0 });
  assert.deepEqual(r.otherPhotos, { products: 0, embedded: 0, unchanged: 1 });
  assert.deepEqual(r.failed.map((f) => f.id), [missing]);
  // Nothing re-embedded: every item's state is as it was.
  const after = await fileStates(config.dataDir);
  assert.deepEqual([...after].sort(), [...before].sort());
});

test('a changed photo (new bytes, new ETag) is re-fetched and re-embedded, others not; a changed field updates metadata only', async () => {
  const [changed, renamed] = [ids[2]!, ids[7]!];
  const other = pickIds(['Handbags'], 1, 8)[0]!;
  servePhoto(`/p/${changed}.jpg`, demoPhoto(other), new Date('2025-06-01T00:00:00Z'));
  writeFeed(feedCsv, shopRows({ [renamed]: 'Renamed by the shop' }));
  const states = await fileStates(config.dataDir);
  const mark = log.length;
  const r = await run(feedCsv);
  assert.deepEqual({ added: r.added, updated: r.updated, unchanged: r.unchanged, metadataUpdated: r.metadataUpdated }, { added: 0, updated: 1, unchanged: 18, metadataUpdated: 1 });
  const fetched = since(mark).filter((l) => l.status === 200).map((l) => l.path);
  assert.deepEqual(fetched, [`/p/${changed}.jpg`]);
  const now = await fileStates(config.dataDir);
  assert.notEqual(now.get(changed)!.path, states.get(changed)!.path);
  assert.deepEqual(now.get(renamed), states.get(renamed), 'a metadata change does not re-embed');

  const svc = await Services.open(config);
  try {
    assert.equal(svc.catalog.item(renamed).metadata.productDisplayName, 'Renamed by the shop');
    const res = await svc.pipeline.search({ kind: 'photo', photo: { kind: 'file', path: join(DEMO!.images, `${other}.jpg`) }, k: 3, metric: 'cosine', filters: {} });
    assert.equal(res.hits[0]?.id, changed, 'the new photo is what the item is found by');
  } finally {
    await svc.close();
  }
});

test('the same feed as TSV reads the same; JSON Lines with sku ids and image arrays', async () => {
  const tsv = writeFeed(join(scratch, 'shop.tsv'), shopRows({ [ids[7]!]: 'Renamed by the shop' }), '\t');
  const r = await run(tsv);
  assert.equal(r.unchanged, 19);
  assert.equal(r.added + r.updated + r.metadataUpdated, 0);

  const small = makeFixture([], 'feed-jsonl');
  made.push(small.root);
  const three = pickIds(['Watches', 'Sunglasses', 'Jeans'], 1, 3);
  const backs = pickIds(['Watches', 'Sunglasses', 'Jeans'], 2, 40);
  for (const id of [...three, ...backs]) servePhoto(`/p/${id}.jpg`, demoPhoto(id));
  const jsonl = join(scratch, 'shop.jsonl');
  writeFileSync(
    jsonl,
    three.map((id, i) => JSON.stringify({ sku: `SKU-${id}`, image_url: photoUrl(id), additional_image_link: backs.slice(2 * i, 2 * i + 2).map((b) => photoUrl(b)), availability: i === 0 ? 'out_of_stock' : 'in_stock', category: STYLE_ROWS.get(id)!.articleType, price: 10 + i })).join('\n') + '\n',
  );
  const j = await run(jsonl, small.config({ augment: 0 }), { map: parseMappings(['articleType=category']) });
  assert.equal(j.added, 3);
  assert.deepEqual(j.failed, []);
  assert.deepEqual(j.otherPhotos, { products: 3, embedded: 6, unchanged: 0 });
  const svc = await Services.open(small.config({ augment: 0 }));
  try {
    const item = svc.catalog.item(`SKU-${three[0]}`);
    assert.deepEqual(item.metadata, { additional_image_link: `${photoUrl(backs[0]!)} ${photoUrl(backs[1]!)}`, availability: 'out_of_stock', articleType: STYLE_ROWS.get(three[0]!)!.articleType!, price: '10' });
  } finally {
    await svc.close();
  }
});

test('products that left the feed are removed under the prune guard; a feed without a valid row changes nothing', async () => {
  const all = shopRows();
  const kept = all.filter((row) => !ids.slice(0, 3).includes(row[0]!)); // 3 of 19 products leave: 16%
  const partial = writeFeed(join(scratch, 'partial.csv'), kept);
  const before = itemIds(config.dataDir);
  await assert.rejects(run(partial), (e: unknown) => e instanceof FashionError && e.code === 'catalog/prune-refused' && /--prune/.test(e.message));
  assert.deepEqual(itemIds(config.dataDir), before);

  const empty = writeFeed(join(scratch, 'empty.csv'), [['', 'no id', photoUrl(ids[0]!), '', '', '', '', '']]);
  await assert.rejects(run(empty, config, { prune: true }), (e: unknown) => e instanceof FashionError && e.code === 'input/no-photos' && /none of its 1 rows is valid/.test(e.message));
  assert.deepEqual(itemIds(config.dataDir), before);

  const r = await run(partial, config, { prune: true });
  assert.equal(r.removed, 3);
  assert.deepEqual(itemIds(config.dataDir), sorted(before.filter((id) => !ids.slice(0, 3).includes(id))));
});

// ---- the CLI, as a child process: exit codes, and kill -9 half way ----

const CLI = pathToFileURL(join(import.meta.dirname, '..', 'src', 'cli', 'main.ts')).href;
/** Runs the CLI from the sources (not dist/, which may be stale). A file, not `-e`: worker threads inherit the flags. */
const CLI_ENTRY = join(scratch, 'fashion.mjs');
writeFileSync(CLI_ENTRY, `const { main } = await import(${JSON.stringify(CLI)});\nawait main(process.argv);\n`);
function cli(args: readonly string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI_ENTRY, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done };
}

test('kill -9 during `fashion index --feed`, then a rerun gives the full catalog; a feed whose every photo fails exits non-zero', async () => {
  const fx = makeFixture([], 'feed-kill');
  made.push(fx.root);
  const c = fx.config({ augment: 0 });
  const many = pickIds(TYPES, 9, 3); // 54 products
  for (const id of many) servePhoto(`/p/${id}.jpg`, demoPhoto(id));
  const feed = writeFeed(join(scratch, 'kill.csv'), many.map((id) => feedRow(id, photoUrl(id, 'slow'))));
  const common = ['--data', fx.data, '--cache', c.cacheDir, '--threads', '2', '--augment', '0'];
  const child = cli(['index', '--feed', feed, '--map', 'articleType=product_type', '--batch-size', '4', '--concurrency', '2', '--json', ...common]);
  let mid = 0;
  for (let i = 0; i < 600 && mid < 8; i++) {
    await new Promise((r) => setTimeout(r, 50));
    try {
      mid = itemIds(fx.data).length;
    } catch {
      // not created yet
    }
  }
  child.child.kill('SIGKILL');
  const killed = await child.done;
  assert.equal(killed.signal, 'SIGKILL', killed.stderr);
  const partial = itemIds(fx.data);
  assert.ok(partial.length > 0 && partial.length < many.length, `killed after ${partial.length} of ${many.length}`);

  // The server still answers what the killed run had asked (60 ms late): let those land before counting.
  await new Promise((r) => setTimeout(r, 300));
  const mark = log.length;
  const r = await indexFeed(c, feed, { map: parseMappings(['articleType=product_type']) });
  assert.equal(r.unchanged, partial.length);
  assert.equal(r.added, many.length - partial.length);
  assert.deepEqual(itemIds(fx.data), sorted(many));
  // Photos the killed run had downloaded are not downloaded again, committed or not.
  assert.ok(r.downloads.notModified >= partial.length, JSON.stringify(r.downloads));
  assert.equal(since(mark).filter((l) => l.status === 200).length, r.downloads.fetched);

  // Every photo failing: nothing indexed, a coded error and a non-zero exit, the catalog as it was.
  const broken = writeFeed(join(scratch, 'broken.csv'), many.map((id) => feedRow(id, `${base}/missing/${id}.jpg`)));
  const failed = await cli(['index', '--feed', broken, '--json', ...common]).done;
  assert.equal(failed.code, 4, failed.stderr);
  assert.match(failed.stderr, /error \[input\/no-photos\].*none of its 54 rows' photos could be downloaded/);
  assert.deepEqual(itemIds(fx.data), sorted(many));

  // The CLI's report on a healthy re-run: JSON with the feed's counts.
  const ok = await cli(['index', '--feed', feed, '--map', 'articleType=product_type', '--json', ...common]).done;
  assert.equal(ok.code, 0, ok.stderr);
  const report = JSON.parse(ok.stdout) as { unchanged: number; downloads: { fetched: number } };
  assert.equal(report.unchanged, many.length);
  assert.equal(report.downloads.fetched, 0);
});
