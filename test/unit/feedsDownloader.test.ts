import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { keptPhotoFile } from '../../src/catalog/photoStore.js';
import { backoff, DEFAULT_DOWNLOAD, PhotoDownloader, retryAfterMs, type DownloadSettings, type PhotoResult } from '../../src/feeds/downloader.js';
import { PhotoCache } from '../../src/feeds/photoCache.js';

// The feed downloader against a loopback server (feeds are operator input: loopback is allowed, unlike the server's
// guarded fetch). Toy photos made here; no ../shared.

let server: Server;
let base: string;
let red: Buffer;
let blue: Buffer;
const dirs: string[] = [];
/** Requests by path, with their time and conditional headers. */
const log: Array<{ path: string; at: number; ifNoneMatch?: string; ifModifiedSince?: string }> = [];
/** Per-path behaviour, set by each test. */
const routes = new Map<string, (req: IncomingMessage, res: ServerResponse, n: number) => void>();

const etagOf = (b: Buffer) => `"${createHash('sha1').update(b).digest('hex').slice(0, 16)}"`;
/** Serves `bytes` with validators, answering 304 when the client's match. */
function photoRoute(get: () => Buffer, lastModified = 'Wed, 01 Jan 2025 00:00:00 GMT', validators = true) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const b = get();
    if (validators && req.headers['if-none-match'] === etagOf(b)) return void res.writeHead(304, { etag: etagOf(b) }).end();
    res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': b.length, ...(validators ? { etag: etagOf(b), 'last-modified': lastModified } : {}) }).end(b);
  };
}

before(async () => {
  red = await sharp({ create: { width: 24, height: 32, channels: 3, background: { r: 200, g: 30, b: 30 } } }).jpeg().toBuffer();
  blue = await sharp({ create: { width: 24, height: 32, channels: 3, background: { r: 20, g: 30, b: 220 } } }).png().toBuffer();
  server = createServer((req, res) => {
    const path = req.url ?? '/';
    const n = log.filter((l) => l.path === path).length;
    log.push({ path, at: performance.now(), ...(req.headers['if-none-match'] ? { ifNoneMatch: String(req.headers['if-none-match']) } : {}), ...(req.headers['if-modified-since'] ? { ifModifiedSince: String(req.headers['if-modified-since']) } : {}) });
    const route = routes.get(path);
    if (route) route(req, res, n);
    else res.writeHead(404).end('not here');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server.closeAllConnections();
  server.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function catalogDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'fashion-feed-dl-'));
  dirs.push(d);
  return d;
}

/** One run: a downloader over the catalog's cache, closed after `use`. */
async function run<T>(data: string, use: (d: PhotoDownloader) => Promise<T>, settings: Partial<DownloadSettings> = {}): Promise<T> {
  const cache = PhotoCache.open(data);
  try {
    return await use(new PhotoDownloader(data, cache, { ...DEFAULT_DOWNLOAD, backoffMs: 40, maxBytes: 1 << 20, ...settings }));
  } finally {
    cache.close();
  }
}

const requests = (path: string) => log.filter((l) => l.path === path);
const ok = (r: PhotoResult) => {
  assert.ok(r.ok, r.ok ? '' : `${r.code}: ${r.message}`);
  return r;
};

test('a photo is kept by content and remembered; the next run asks with its validators and a 304 reuses it', async () => {
  const data = catalogDir();
  let bytes = red;
  routes.set('/a.jpg', photoRoute(() => bytes));
  const first = ok(await run(data, (d) => d.photo(`${base}/a.jpg`)));
  assert.equal(first.how, 'fetched');
  assert.match(first.path, /^kept\/[0-9a-f]{64}\.jpg$/);
  assert.ok(existsSync(keptPhotoFile(data, first.path)!));
  assert.equal(first.size, red.length);

  const second = await run(data, async (d) => {
    const r = ok(await d.photo(`${base}/a.jpg`));
    assert.deepEqual({ notModified: d.stats.notModified, fetched: d.stats.fetched, bytes: d.stats.bytes }, { notModified: 1, fetched: 0, bytes: 0 });
    return r;
  });
  assert.equal(second.how, 'not-modified');
  assert.equal(second.path, first.path);
  assert.equal(second.fetchedAtMs, first.fetchedAtMs, 'the item state stays the same');
  const asked = requests('/a.jpg').at(-1)!;
  assert.equal(asked.ifNoneMatch, etagOf(red));
  assert.equal(asked.ifModifiedSince, 'Wed, 01 Jan 2025 00:00:00 GMT');

  // New bytes (a new ETag): downloaded again, kept under their own name.
  bytes = blue;
  const third = ok(await run(data, (d) => d.photo(`${base}/a.jpg`)));
  assert.equal(third.how, 'fetched');
  assert.match(third.path, /\.png$/);
  assert.notEqual(third.path, first.path);
  assert.ok(third.fetchedAtMs >= first.fetchedAtMs);
});

test('a server without validators: the same bytes again are the same photo; a deleted kept file is fetched unconditionally', async () => {
  const data = catalogDir();
  routes.set('/plain.jpg', photoRoute(() => red, undefined, false));
  const first = ok(await run(data, (d) => d.photo(`${base}/plain.jpg`)));
  const second = ok(await run(data, (d) => d.photo(`${base}/plain.jpg`)));
  assert.equal(second.how, 'same');
  assert.equal(second.path, first.path);
  assert.equal(second.fetchedAtMs, first.fetchedAtMs);

  routes.set('/v.jpg', photoRoute(() => red));
  const v = ok(await run(data, (d) => d.photo(`${base}/v.jpg`)));
  rmSync(keptPhotoFile(data, v.path)!);
  const again = ok(await run(data, (d) => d.photo(`${base}/v.jpg`)));
  assert.equal(requests('/v.jpg').at(-1)!.ifNoneMatch, undefined, 'validators for a photo no longer on disk');
  assert.equal(again.how, 'same');
  assert.ok(existsSync(keptPhotoFile(data, v.path)!));
});

test('5xx and network errors are retried with back-off; 404 and non-images are not, and the failure is kept for the next run', async () => {
  const data = catalogDir();
  routes.set('/flaky.jpg', (req, res, n) => (n === 0 ? res.writeHead(500).end() : photoRoute(() => red)(req, res)));
  routes.set('/reset.jpg', (req, res, n) => (n === 0 ? req.socket.destroy() : photoRoute(() => red)(req, res)));
  routes.set('/gone.jpg', (_req, res) => res.writeHead(404).end());
  routes.set('/page.jpg', (_req, res) => res.writeHead(200, { 'content-type': 'image/jpeg' }).end('<html>login</html>'));
  routes.set('/down.jpg', (_req, res) => res.writeHead(503).end());
  const cache = PhotoCache.open(data);
  try {
    const d = new PhotoDownloader(data, cache, { ...DEFAULT_DOWNLOAD, backoffMs: 60, retries: 2, maxBytes: 1 << 20 });
    const [flaky, reset, gone, page, down] = await Promise.all(['/flaky.jpg', '/reset.jpg', '/gone.jpg', '/page.jpg', '/down.jpg'].map((p) => d.photo(`${base}${p}`)));
    assert.equal(ok(flaky!).attempts, 2);
    const [a, b] = requests('/flaky.jpg');
    assert.ok(b!.at - a!.at >= 30, `waited ${b!.at - a!.at} ms; the back-off is 30-60 ms`);
    assert.equal(ok(reset!).attempts, 2);
    assert.ok(!gone!.ok && gone!.code === 'url/fetch-failed' && /HTTP 404/.test(gone!.message) && gone!.attempts === 1);
    assert.ok(!page!.ok && page!.code === 'image/unsupported-type' && page!.attempts === 1);
    assert.ok(!down!.ok && /HTTP 503 \(3 tries\)/.test(down!.message) && down!.attempts === 3);
    assert.equal(d.stats.retries, 4);
    assert.match(cache.get(`${base}/gone.jpg`)!.failure!, /404/);
    assert.equal(cache.get(`${base}/gone.jpg`)!.failures, 1);
  } finally {
    cache.close();
  }
  // The next run asks again; a success clears the failure.
  routes.set('/gone.jpg', photoRoute(() => red));
  ok(await run(data, (d) => d.photo(`${base}/gone.jpg`)));
  assert.equal(requests('/gone.jpg').length, 2);
  const cache2 = PhotoCache.open(data);
  assert.equal(cache2.get(`${base}/gone.jpg`)!.failure, null);
  cache2.close();
});

test('429 waits as long as Retry-After says; one asking for longer than the longest back-off fails at once', async () => {
  const data = catalogDir();
  routes.set('/busy.jpg', (req, res, n) => (n === 0 ? res.writeHead(429, { 'retry-after': '1' }).end() : photoRoute(() => red)(req, res)));
  routes.set('/later.jpg', (_req, res) => res.writeHead(503, { 'retry-after': '3600' }).end());
  const [busy, later] = await run(data, (d) => Promise.all([d.photo(`${base}/busy.jpg`), d.photo(`${base}/later.jpg`)]));
  ok(busy!);
  const [a, b] = requests('/busy.jpg');
  assert.ok(b!.at - a!.at >= 950, `retried after ${b!.at - a!.at} ms, before the 1 s asked`);
  assert.ok(!later!.ok && /asks to wait 3600 s/.test(later!.message));
  assert.equal(requests('/later.jpg').length, 1);
});

test('time and byte limits: a silent server times out (retried), a photo over the cap is refused', async () => {
  const data = catalogDir();
  routes.set('/silent.jpg', () => {
    // never answers
  });
  routes.set('/big.jpg', (_req, res) => res.writeHead(200, { 'content-type': 'image/jpeg' }).end(Buffer.concat([red, Buffer.alloc(4096)])));
  routes.set('/big-chunked.jpg', (_req, res) => {
    res.writeHead(200, { 'content-type': 'image/jpeg' });
    res.write(red);
    res.end(Buffer.alloc(4096));
  });
  const settings = { timeoutMs: 150, retries: 1, maxBytes: red.length + 100 };
  const [silent, big, chunked] = await run(data, (d) => Promise.all([d.photo(`${base}/silent.jpg`), d.photo(`${base}/big.jpg`), d.photo(`${base}/big-chunked.jpg`)]), settings);
  assert.ok(!silent!.ok && /no answer within 0.15 s \(2 tries\)/.test(silent!.message), silent!.ok ? '' : silent!.message);
  assert.ok(!big!.ok && big!.code === 'image/too-large' && big!.attempts === 1);
  assert.ok(!chunked!.ok && chunked!.code === 'image/too-large');
});

test('a URL is downloaded once per run however many rows name it; at most `concurrency` at once', async () => {
  const data = catalogDir();
  // Counted from a request's arrival until its answer is written: a client cannot have sent more than that.
  let inFlight = 0;
  let maxInFlight = 0;
  for (let i = 0; i < 12; i++) {
    routes.set(`/slow${i}.jpg`, (req, res) => {
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      setTimeout(() => {
        inFlight--;
        photoRoute(() => red)(req, res);
      }, 40);
    });
  }
  const results = await run(data, (d) => Promise.all([...Array.from({ length: 12 }, (_, i) => d.photo(`${base}/slow${i}.jpg`)), d.photo(`${base}/slow0.jpg`)]), { concurrency: 3 });
  assert.ok(results.every((r) => r.ok));
  assert.equal(requests('/slow0.jpg').length, 1);
  assert.ok(maxInFlight <= 3, `${maxInFlight} requests at once`);
  // All twelve are the same bytes: one kept file.
  assert.equal(new Set(results.map((r) => (r.ok ? r.path : ''))).size, 1);
});

test('Retry-After and back-off arithmetic', () => {
  assert.equal(retryAfterMs('7'), 7000);
  assert.equal(retryAfterMs(null), undefined);
  assert.equal(retryAfterMs('soon'), undefined);
  const now = Date.parse('Wed, 01 Jan 2025 00:00:00 GMT');
  assert.equal(retryAfterMs('Wed, 01 Jan 2025 00:00:30 GMT', now), 30_000);
  assert.equal(retryAfterMs('Tue, 31 Dec 2024 00:00:00 GMT', now), 0);
  for (let attempt = 1; attempt <= 10; attempt++) {
    const ceiling = Math.min(1000, 100 * 2 ** (attempt - 1));
    const d = backoff({ backoffMs: 100, maxBackoffMs: 1000 }, attempt);
    assert.ok(d >= ceiling / 2 && d <= ceiling, `attempt ${attempt}: ${d}`);
  }
});

// ---- guarded: a feed that came through the API (POST /api/imports) is untrusted input ----

test('guarded: a loopback photo is refused without a request and not retried; allowed, it is fetched, and the next run\'s validators get a 304', async () => {
  const data = catalogDir();
  routes.set('/g.jpg', photoRoute(() => red));
  const refused = await run(data, async (d) => {
    const r = await d.photo(`${base}/g.jpg`);
    assert.equal(d.stats.retries, 0);
    return r;
  }, { guard: { allow: [] } });
  assert.ok(!refused.ok && refused.code === 'url/not-allowed' && refused.attempts === 1, JSON.stringify(refused));
  assert.match(refused.message, /not a public one.*FASHION_FETCH_ALLOW/);
  assert.equal(requests('/g.jpg').length, 0, 'nothing was requested');

  const allow = { guard: { allow: ['127.0.0.1'] } };
  const first = ok(await run(data, (d) => d.photo(`${base}/g.jpg`), allow));
  assert.equal(first.how, 'fetched');
  const second = ok(await run(data, (d) => d.photo(`${base}/g.jpg`), allow));
  assert.equal(second.how, 'not-modified');
  assert.equal(second.path, first.path);
  const asked = requests('/g.jpg').at(-1)!;
  assert.equal(asked.ifNoneMatch, etagOf(red), 'If-None-Match through the guarded request');
  assert.equal(asked.ifModifiedSince, 'Wed, 01 Jan 2025 00:00:00 GMT');
});

test('guarded: every redirect hop is checked; 5xx is retried, 404 not, and the byte cap holds', async () => {
  const data = catalogDir();
  routes.set('/g-to-private.jpg', (_req, res) => res.writeHead(302, { location: 'http://10.0.0.1/x.jpg' }).end());
  routes.set('/g-to-photo.jpg', (_req, res) => res.writeHead(301, { location: '/g-photo.jpg' }).end());
  routes.set('/g-photo.jpg', photoRoute(() => red));
  routes.set('/g-flaky.jpg', (req, res, n) => (n === 0 ? res.writeHead(503).end() : photoRoute(() => red)(req, res)));
  routes.set('/g-gone.jpg', (_req, res) => res.writeHead(404).end());
  routes.set('/g-big.jpg', (_req, res) => res.writeHead(200, { 'content-type': 'image/jpeg' }).end(Buffer.concat([red, Buffer.alloc(4096)])));
  const urls = ['/g-to-private.jpg', '/g-to-photo.jpg', '/g-flaky.jpg', '/g-gone.jpg', '/g-big.jpg'].map((p) => `${base}${p}`);
  const [toPrivate, toPhoto, flaky, gone, big] = await run(data, (d) => Promise.all(urls.map((u) => d.photo(u))), { guard: { allow: ['127.0.0.1'] }, maxBytes: red.length + 100 });
  assert.ok(!toPrivate!.ok && toPrivate!.code === 'url/not-allowed' && toPrivate!.attempts === 1, JSON.stringify(toPrivate));
  assert.equal(ok(toPhoto!).how, 'fetched');
  assert.equal(ok(flaky!).attempts, 2);
  assert.ok(!gone!.ok && gone!.code === 'url/fetch-failed' && /HTTP 404/.test(gone!.message) && gone!.attempts === 1);
  assert.ok(!big!.ok && big!.code === 'image/too-large');
});
