/**
 * POST /api/imports: a product feed, uploaded or by URL, becomes a 'feed' job that indexes it in a child process; its
 * products are searchable once the job has succeeded. An API feed is untrusted input: the feed URL and every photo URL
 * in it are held to the server's fetch guards (public addresses only unless FASHION_FETCH_ALLOW allows).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { Services } from '../src/app/services.js';
import { openCatalogStore } from '../src/catalog/openCatalog.js';
import type { Config } from '../src/config.js';
import { IMPORTS_DIR } from '../src/feeds/feedImport.js';
import { buildApp } from '../src/server/app.js';
import { DEMO, makeFixture, multipart, pickIds, STYLE_ROWS, type Fixture } from './helpers.js';

const KEY = 'test-import-key-0123456789';
const auth = { authorization: `Bearer ${KEY}` };

// ---- the shop's server: demo photos (with ETags) and feed files, every request logged ----

const photos = new Map<string, Buffer>();
const feeds = new Map<string, { body: string; type: string }>();
const log: Array<{ host: string; path: string; status: number }> = [];
let server: Server;
let port = 0;

before(async () => {
  server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const answer = (status: number, headers: Record<string, string | number> = {}, body?: Buffer | string) => {
      log.push({ host: String(req.headers.host), path, status });
      res.writeHead(status, headers).end(body);
    };
    if (path === '/to-loopback') return answer(302, { location: `http://127.0.0.1:${port}/feeds/latest` });
    const feed = feeds.get(path);
    if (feed) return answer(200, { 'content-type': feed.type }, feed.body);
    const photo = photos.get(path);
    if (!photo) return answer(404);
    const etag = `"${createHash('sha1').update(photo).digest('hex').slice(0, 20)}"`;
    if (req.headers['if-none-match'] === etag) return answer(304, { etag });
    answer(200, { 'content-type': 'image/jpeg', 'content-length': photo.length, etag }, photo);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

const photoOf = (id: string) => readFileSync(join(DEMO!.images, `${id}.jpg`));
function servePhotos(ids: readonly string[]): void {
  for (const id of ids) photos.set(`/p/${id}.jpg`, photoOf(id));
}
const photoUrl = (id: string, host = `127.0.0.1:${port}`) => `http://${host}/p/${id}.jpg`;
const requested = (id: string) => log.filter((l) => l.path === `/p/${id}.jpg`);

// ---- feeds: a Merchant Center style CSV and JSON Lines of demo products ----

const HEADER = ['id', 'title', 'image_link', 'product_type', 'color', 'gender'];
function csvRow(id: string, url = photoUrl(id)): string[] {
  const m = STYLE_ROWS.get(id) ?? {};
  return [id, m.productDisplayName ?? 'Lost item', url, m.articleType ?? 'Tshirts', m.baseColour ?? 'Black', m.gender ?? 'Men'];
}
const csv = (rows: readonly string[][], sep = ',') => [HEADER, ...rows].map((r) => r.map((v) => (sep === ',' && /[",]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v)).join(sep)).join('\n') + '\n';
const jsonl = (ids: readonly string[]) =>
  ids.map((id) => JSON.stringify({ id, title: STYLE_ROWS.get(id)!.productDisplayName, image_link: photoUrl(id), product_type: STYLE_ROWS.get(id)!.articleType })).join('\n') + '\n';

// ---- two served catalogs, empty at first: one whose fetches may reach loopback, one whose may not ----

interface Served {
  fx: Fixture;
  config: Config;
  svc: Services;
  app: FastifyInstance;
}
const served: Served[] = [];
async function serve(name: string, fetchAllow: string, overrides: Record<string, string | number> = {}): Promise<Served> {
  const fx = makeFixture([], name);
  const config = fx.config({ apiKeys: KEY, fetchAllow, augment: 0, ...overrides });
  await (await openCatalogStore(config.dataDir, { create: true })).close();
  const svc = await Services.open(config);
  const app = await buildApp(svc, config, { logger: false });
  const s = { fx, config, svc, app };
  served.push(s);
  return s;
}
after(async () => {
  for (const s of served) {
    await s.app.close();
    await s.svc.close();
    rmSync(s.fx.root, { recursive: true, force: true });
  }
});

function upload(file: string, body: string, fields: Array<{ name: string; value: string }> = [], headers: Record<string, string> = auth): InjectOptions {
  const form = multipart([{ name: 'feed', value: Buffer.from(body), filename: file, type: 'text/plain' }, ...fields]);
  return { method: 'POST', url: '/api/imports', payload: form.payload, headers: { ...form.headers, ...headers } };
}
const byUrl = (body: Record<string, unknown>): InjectOptions => ({ method: 'POST', url: '/api/imports', payload: body, headers: auth });

interface JobBody {
  id: string;
  kind: string;
  status: string;
  params: Record<string, unknown>;
  progress: { done: number; total: number; stage?: string };
  errors: { count: number; first: Array<{ item?: string; message: string }> };
  result: Record<string, unknown> & { added: number; unchanged: number; failed: number; problems: number; downloads: Record<string, number> };
  failure: { code: string; message: string } | null;
  startedAt: string | null;
  finishedAt: string | null;
}
/** Polls GET /api/jobs/:id until the job has finished. */
async function finished(app: FastifyInstance, id: string): Promise<JobBody> {
  for (let i = 0; i < 900; i++) {
    const res = await app.inject({ url: `/api/jobs/${id}` });
    assert.equal(res.statusCode, 200, res.body);
    const job = res.json() as JobBody;
    if (job.status !== 'queued' && job.status !== 'running') return job;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`job ${id} did not finish`);
}
const importsLeft = (s: Served) => (existsSync(join(s.config.dataDir, IMPORTS_DIR)) ? readdirSync(join(s.config.dataDir, IMPORTS_DIR)) : []);
/** The import files are removed once their job has ended (just after: give it a moment). */
async function importsCleared(s: Served): Promise<void> {
  for (let i = 0; i < 50 && importsLeft(s).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(importsLeft(s), []);
}
async function searchFirst(app: FastifyInstance, id: string): Promise<string | undefined> {
  const res = await app.inject({ method: 'POST', url: '/api/search', ...multipart([{ name: 'image', value: photoOf(id), filename: 'q.jpg' }]) });
  assert.equal(res.statusCode, 200, res.body);
  return (res.json() as { results: Array<{ id: string }> }).results[0]?.id;
}

const first = pickIds(['Tshirts', 'Watches', 'Handbags'], 1);
const more = pickIds(['Jeans', 'Sunglasses'], 1);
const late = pickIds(['Casual Shoes'], 1);
servePhotos([...first, ...more, ...late]);

let open: Served;
let guarded: Served;
before(async () => {
  open = await serve('imports-open', '127.0.0.1');
  // A host name alone: http://localhost/… passes, a loopback address (127.0.0.1, ::1) does not.
  guarded = await serve('imports-guarded', 'localhost');
});

test('an import needs a write key: none is 401 auth/missing-key, a wrong one auth/invalid-key; nothing is kept', async () => {
  const none = await open.app.inject(upload('shop.csv', csv(first.map((id) => csvRow(id))), [], {}));
  assert.equal(none.statusCode, 401, none.body);
  assert.equal(none.json().error.code, 'auth/missing-key');
  const wrong = await open.app.inject({ ...byUrl({ url: `http://127.0.0.1:${port}/feeds/x.csv` }), headers: { authorization: 'Bearer not-the-key-at-all-000' } });
  assert.equal(wrong.statusCode, 401);
  assert.equal(wrong.json().error.code, 'auth/invalid-key');
  assert.deepEqual(importsLeft(open), []);
  assert.deepEqual((await open.app.inject({ url: '/api/jobs?kind=feed' })).json().jobs, []);
  assert.equal(log.length, 0, 'nothing was downloaded');
});

test('an uploaded CSV feed is a job: 202 + Location, then succeeded; its products are searchable; a missing photo and a malformed row are the job\'s errors', async () => {
  const rows = [...first.map((id) => csvRow(id)), csvRow('gone-1', `http://127.0.0.1:${port}/missing/gone-1.jpg`), ['bad-scheme', 'x', 'ftp://cdn.example/x.jpg', 'Tshirts', 'Red', 'Men']];
  const res = await open.app.inject(upload('shop.csv', csv(rows), [{ name: 'map', value: 'articleType=product_type, productDisplayName=title' }, { name: 'map', value: 'baseColour=color' }]));
  assert.equal(res.statusCode, 202, res.body);
  const submitted = res.json() as JobBody;
  assert.equal(res.headers.location, `/api/jobs/${submitted.id}`);
  assert.equal(submitted.kind, 'feed');
  assert.ok(['queued', 'running'].includes(submitted.status), submitted.status);
  assert.deepEqual(submitted.params, { upload: 'shop.csv', format: 'csv', map: ['articleType=product_type', 'productDisplayName=title', 'baseColour=color'], prune: false, bytes: Buffer.byteLength(csv(rows)) });

  const job = await finished(open.app, submitted.id);
  assert.equal(job.status, 'succeeded', JSON.stringify(job));
  assert.deepEqual(Object.keys(job).sort(), Object.keys(submitted).sort(), 'the same view as GET /api/jobs/:id');
  assert.equal(job.result.added, 3);
  assert.equal(job.result.failed, 1);
  assert.equal(job.result.problems, 1);
  assert.equal(job.errors.count, 2);
  assert.equal(job.errors.first[0]!.item, 'gone-1');
  assert.match(job.errors.first[0]!.message, /^line 5: url\/fetch-failed: .*HTTP 404/);
  assert.equal(job.errors.first[1]!.item, 'bad-scheme');
  assert.match(job.errors.first[1]!.message, /^line 6: .*ftp: scheme/);
  assert.ok(job.progress.total > 0 && job.progress.stage, JSON.stringify(job.progress));

  for (const id of first) {
    const item = await open.app.inject({ url: `/api/items/${id}` });
    assert.equal(item.statusCode, 200, item.body);
    assert.equal(item.json().metadata.articleType, STYLE_ROWS.get(id)!.articleType, 'map articleType=product_type');
    assert.equal(item.json().metadata.baseColour, STYLE_ROWS.get(id)!.baseColour, 'the repeated map field');
  }
  assert.equal(await searchFirst(open.app, first[1]!), first[1]);
  await importsCleared(open);
});

test('a feed by URL is downloaded, then indexed (photos seen before are 304s); a second import while it runs is queued and runs after it', async () => {
  feeds.set('/feeds/latest', { body: jsonl([...first, ...more]), type: 'application/x-ndjson' });
  const a = await open.app.inject(byUrl({ url: `http://127.0.0.1:${port}/feeds/latest?token=secret-123`, map: ['articleType=product_type'] }));
  assert.equal(a.statusCode, 202, a.body);
  const jobA = a.json() as JobBody;
  assert.equal(jobA.params.url, `http://127.0.0.1:${port}/feeds/latest`, 'shown without its query (a token)');
  assert.equal(jobA.params.format, 'jsonl', 'by its content type');
  assert.doesNotMatch(JSON.stringify(jobA), /secret-123/);

  // The same products and one more, as TSV (sniffed: the name says nothing), sent while the first job runs.
  const tsv = csv([...first, ...more, ...late].map((id) => csvRow(id)), '\t');
  const b = await open.app.inject(upload('export.txt', tsv, [{ name: 'map', value: 'articleType=product_type' }]));
  assert.equal(b.statusCode, 202, b.body);
  const jobB = b.json() as JobBody;
  assert.equal(jobB.status, 'queued', 'one feed job at a time');
  assert.equal(jobB.params.format, 'tsv');

  const doneA = await finished(open.app, jobA.id);
  assert.equal(doneA.status, 'succeeded', JSON.stringify(doneA));
  assert.deepEqual([doneA.result.added, doneA.result.unchanged, doneA.result.failed], [2, 3, 0]);
  assert.equal(doneA.result.downloads.notModified, 3, 'the first feed\'s photos: 304 through the guarded request');
  const doneB = await finished(open.app, jobB.id);
  assert.equal(doneB.status, 'succeeded', JSON.stringify(doneB));
  assert.deepEqual([doneB.result.added, doneB.result.unchanged], [1, 5]);
  assert.ok(doneB.startedAt! >= doneA.finishedAt!, `B started ${doneB.startedAt}, A finished ${doneA.finishedAt}`);

  for (const id of [...more, ...late]) {
    assert.equal((await open.app.inject({ url: `/api/items/${id}` })).statusCode, 200);
    assert.equal(await searchFirst(open.app, id), id);
  }
  await importsCleared(open);
});

test('without loopback in FASHION_FETCH_ALLOW: a loopback feed URL is refused at once (also through a redirect), nothing fetched, no job', async () => {
  const mark = log.length;
  const direct = await guarded.app.inject(byUrl({ url: `http://127.0.0.1:${port}/feeds/latest` }));
  assert.equal(direct.statusCode, 403, direct.body);
  assert.equal(direct.json().error.code, 'url/not-allowed');
  assert.match(direct.json().error.message, /not a public one.*FASHION_FETCH_ALLOW/);
  const ipv6 = await guarded.app.inject(byUrl({ url: `http://[::1]:${port}/feeds/latest` }));
  assert.equal(ipv6.json().error.code, 'url/not-allowed');
  assert.deepEqual(log.slice(mark), [], 'nothing was requested');

  // An allowed name that redirects to a loopback address: the hop is checked like the first request.
  const hop = await guarded.app.inject(byUrl({ url: `http://localhost:${port}/to-loopback` }));
  assert.equal(hop.statusCode, 403, hop.body);
  assert.equal(hop.json().error.code, 'url/not-allowed');
  assert.deepEqual(log.slice(mark).map((l) => l.path), ['/to-loopback'], 'the feed behind the redirect was not requested');

  const scheme = await guarded.app.inject(byUrl({ url: 'file:///etc/passwd' }));
  assert.equal(scheme.statusCode, 400);
  assert.equal(scheme.json().error.code, 'input/invalid');
  assert.deepEqual(importsLeft(guarded), []);
  assert.deepEqual((await guarded.app.inject({ url: '/api/jobs?kind=feed' })).json().jobs, []);
});

test('without loopback in FASHION_FETCH_ALLOW: photo URLs on loopback addresses are failed rows (url/not-allowed), never requested', async () => {
  const [blockedA, blockedB, okA, okB] = pickIds(['Tshirts', 'Watches'], 2, 5);
  servePhotos([blockedA!, blockedB!, okA!, okB!]);
  const mark = log.length;

  // Every photo refused: the job fails (input/no-photos) saying why, naming the feed by its label, not its file.
  const blocked = [csvRow(blockedA!), csvRow(blockedB!, `http://[::1]:${port}/p/${blockedB}.jpg`)];
  const all = await guarded.app.inject(upload('blocked.csv', csv(blocked)));
  assert.equal(all.statusCode, 202, all.body);
  const failed = await finished(guarded.app, (all.json() as JobBody).id);
  assert.equal(failed.status, 'failed', JSON.stringify(failed));
  assert.equal(failed.failure?.code, 'input/no-photos');
  assert.match(failed.failure!.message, /from the feed "blocked\.csv" but .*url\/not-allowed/);
  assert.ok(!failed.failure!.message.includes(guarded.config.dataDir), failed.failure!.message);

  // Some allowed (by the name localhost), some not: the allowed are indexed, the others are the job's errors.
  const mixed = [csvRow(okA!, photoUrl(okA!, `localhost:${port}`)), ...blocked, csvRow(okB!, photoUrl(okB!, `localhost:${port}`))];
  const res = await guarded.app.inject(upload('mixed.csv', csv(mixed), [{ name: 'map', value: 'articleType=product_type' }]));
  assert.equal(res.statusCode, 202, res.body);
  const job = await finished(guarded.app, (res.json() as JobBody).id);
  assert.equal(job.status, 'succeeded', JSON.stringify(job));
  assert.equal(job.result.added, 2);
  assert.equal(job.result.failed, 2);
  assert.deepEqual(job.errors.first.map((e) => e.item), [blockedA, blockedB]);
  for (const e of job.errors.first) assert.match(e.message, /url\/not-allowed: Refusing to download http:\/\/(127\.0\.0\.1|\[::1\]):\d+\/p\/.*not a public one/);
  assert.deepEqual([...requested(blockedA!), ...requested(blockedB!)], [], 'no request to a refused address');
  assert.deepEqual(log.slice(mark).map((l) => `${l.host} ${l.path}`).sort(), [`localhost:${port} /p/${okA}.jpg`, `localhost:${port} /p/${okB}.jpg`]);

  assert.equal((await guarded.app.inject({ url: `/api/items/${okA}` })).statusCode, 200);
  assert.equal((await guarded.app.inject({ url: `/api/items/${blockedA}` })).statusCode, 404);
  assert.equal(await searchFirst(guarded.app, okB!), okB);
  await importsCleared(guarded);
});

test('refused before any job: a feed over FASHION_MAX_FEED_BYTES (413), an empty one, a file in another field, a bad map', async () => {
  const small = await serve('imports-small', '127.0.0.1', { maxFeedBytes: 2048 });
  const big = csv(Array.from({ length: 60 }, (_, i) => csvRow(`big-${i}`)));
  assert.ok(big.length > 2048);
  const over = await small.app.inject(upload('big.csv', big));
  assert.equal(over.statusCode, 413, over.body);
  assert.equal(over.json().error.code, 'input/too-large');
  assert.match(over.json().error.message, /at most 2048 bytes.*FASHION_MAX_FEED_BYTES/);
  feeds.set('/feeds/big.csv', { body: big, type: 'text/csv' });
  const overUrl = await small.app.inject(byUrl({ url: `http://127.0.0.1:${port}/feeds/big.csv` }));
  assert.equal(overUrl.statusCode, 413, overUrl.body);
  assert.equal(overUrl.json().error.code, 'input/too-large');
  const empty = await small.app.inject(upload('empty.csv', ''));
  assert.equal(empty.statusCode, 400, empty.body);
  assert.match(empty.json().error.message, /empty/);
  const form = multipart([{ name: 'image', value: Buffer.from('id,image_link\n'), filename: 'x.csv' }]);
  const wrongField = await small.app.inject({ method: 'POST', url: '/api/imports', payload: form.payload, headers: { ...form.headers, ...auth } });
  assert.equal(wrongField.statusCode, 400);
  assert.match(wrongField.json().error.message, /multipart field "feed"/);
  const badMap = await small.app.inject(byUrl({ url: `http://127.0.0.1:${port}/feeds/latest`, map: ['no-equals-sign'] }));
  assert.equal(badMap.statusCode, 400);
  assert.match(badMap.json().error.message, /for map but received "no-equals-sign"/);
  const missing = await small.app.inject(byUrl({ url: `http://127.0.0.1:${port}/feeds/none.csv` }));
  assert.equal(missing.statusCode, 502);
  assert.match(missing.json().error.message, /could not: its server answered HTTP 404/);
  assert.deepEqual(importsLeft(small), []);
  assert.deepEqual((await small.app.inject({ url: '/api/jobs?kind=feed' })).json().jobs, []);
});
