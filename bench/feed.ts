// Feed ingest throughput: N shared catalog photos served by a loopback HTTP server (its own thread, with ETag and
// Last-Modified) as a Merchant Center style CSV feed, indexed into a fresh temporary catalog end to end (download,
// keep, decode, embed, commit; no refinement, as bench/ingest.ts), then indexed again (every photo a 304). Also the
// downloader alone (download, keep, cache) on another fresh catalog. Prints one JSON line; --save merges it into
// bench/results.json. Usage: tsx bench/feed.ts [--n 500] [--batch 32] [--threads 2] [--concurrency 8] [--latency 0] [--save]
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { indexFeed } from '../src/app/indexFeed.js';
import { readMetadataCsv } from '../src/catalog/metadataCsv.js';
import { demoCatalog, resolveConfig } from '../src/config.js';
import { DEFAULT_DOWNLOAD, PhotoDownloader } from '../src/feeds/downloader.js';
import { PhotoCache } from '../src/feeds/photoCache.js';
import { parseMappings } from '../src/feeds/readFeed.js';
import { arg, round, saveResult } from './common.js';

const n = Number(arg('n', '500'));
const batch = Number(arg('batch', '32'));
const threads = Number(arg('threads', '2'));
const concurrency = Number(arg('concurrency', String(DEFAULT_DOWNLOAD.concurrency)));
/** Extra time the server takes per photo (ms), to play a remote CDN; 0: loopback as it is. */
const latency = Number(arg('latency', '0'));
const demo = demoCatalog()!;
const root = mkdtempSync(join(tmpdir(), 'fashion-bench-feed-'));
const files = readdirSync(demo.images).filter((f) => f.endsWith('.jpg')).sort().slice(0, n);
const styles = await readMetadataCsv(demo.metadata);

// The shop's photo server on its own thread, so that it does not share the ingest's event loop.
const server = new Worker(
  `
  const { parentPort, workerData } = require('node:worker_threads');
  const { createServer } = require('node:http');
  const { readFileSync } = require('node:fs');
  const { createHash } = require('node:crypto');
  const photos = new Map(workerData.files.map((f) => {
    const bytes = readFileSync(workerData.dir + '/' + f);
    return ['/p/' + f, { bytes, etag: '"' + createHash('sha1').update(bytes).digest('hex') + '"' }];
  }));
  const lastModified = new Date('2025-01-01T00:00:00Z').toUTCString();
  const server = createServer((req, res) => {
    const reply = () => {
      const p = photos.get(req.url);
      if (!p) return res.writeHead(404).end();
      if (req.headers['if-none-match'] === p.etag) return res.writeHead(304, { etag: p.etag }).end();
      res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': p.bytes.length, etag: p.etag, 'last-modified': lastModified }).end(p.bytes);
    };
    workerData.latency > 0 ? setTimeout(reply, workerData.latency) : reply();
  });
  server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
  `,
  { eval: true, workerData: { files, dir: demo.images, latency } },
);
const port = await new Promise<number>((resolve) => server.once('message', resolve));
const base = `http://127.0.0.1:${port}`;

const cell = (v: string) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
const feed = join(root, 'feed.csv');
const rows = files.map((f) => {
  const id = f.replace(/\.jpg$/, '');
  const m = styles.rows.get(id) ?? {};
  return [id, m.productDisplayName ?? '', `${base}/p/${f}`, 'in stock', m.articleType ?? '', m.baseColour ?? '', m.gender ?? ''].map(cell).join(',');
});
writeFileSync(feed, ['id,title,image_link,availability,product_type,color,gender', ...rows].join('\n') + '\n');
const map = parseMappings(['articleType=product_type', 'baseColour=color', 'productDisplayName=title']);

try {
  // The downloader alone: download, sniff, keep (written and synced), cache row.
  const dlData = join(root, 'download-only');
  const cache = PhotoCache.open(dlData);
  const downloader = new PhotoDownloader(dlData, cache, { ...DEFAULT_DOWNLOAD, concurrency, maxBytes: 10 * 2 ** 20 });
  const t0 = performance.now();
  const results = await Promise.all(files.map((f) => downloader.photo(`${base}/p/${f}`)));
  const downloadSeconds = (performance.now() - t0) / 1000;
  cache.close();
  const downloadFailed = results.filter((r) => !r.ok).length;

  const config = resolveConfig({ dataDir: join(root, 'data'), threads, batchSize: batch, augment: 0 });
  const t1 = performance.now();
  const first = await indexFeed(config, feed, { map, refine: false, download: { concurrency } });
  const firstWall = (performance.now() - t1) / 1000;
  const t2 = performance.now();
  const second = await indexFeed(config, feed, { map, refine: false, download: { concurrency } });
  const secondWall = (performance.now() - t2) / 1000;

  const result = {
    rows: n,
    batch,
    threads,
    concurrency,
    latencyMs: latency,
    photoKiB: round(first.downloads.bytes / 1024 / Math.max(first.downloads.fetched, 1), 1),
    endToEnd: { added: first.added, failed: first.failed.length, seconds: round(first.seconds), rowsPerSecond: round(first.rowsPerSecond, 1), wallSecondsWithModelLoad: round(firstWall) },
    rerun: { unchanged: second.unchanged, fetched: second.downloads.fetched, notModified: second.downloads.notModified, seconds: round(second.seconds), rowsPerSecond: round(second.rowsPerSecond, 1), wallSecondsWithModelLoad: round(secondWall) },
    downloadOnly: { photos: n - downloadFailed, failed: downloadFailed, seconds: round(downloadSeconds), photosPerSecond: round(n / downloadSeconds, 1), MiBPerSecond: round(downloader.stats.bytes / 2 ** 20 / downloadSeconds, 2) },
  };
  console.log(JSON.stringify(result));
  if (process.argv.includes('--save')) saveResult(`feed_loopback_${n}`, result);
} finally {
  await server.terminate();
  rmSync(root, { recursive: true, force: true });
}
