// Ingest throughput: embeds N shared catalog photos into a fresh temporary catalog, end to end
// (read, decode, fit, infer, write), and prints images/s. Usage: tsx bench/ingest.ts [--n 4000] [--batch 32] [--threads 2]
// [--isolate on|off] [--second-model none] (MobileNetV2 alone: the reference's work, bench/ingestVsReference.ts) [--no-save]
// [--spinning on|off] (onnxruntime's threads spinning while they wait; an ingest turns it off, src/app/indexFolder.ts)
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ingestFolder } from '../src/catalog/ingest.js';
import { openCatalogStore } from '../src/catalog/openCatalog.js';
import { ingestEmbedderOptions } from '../src/app/indexFolder.js';
import { demoCatalog, resolveConfig } from '../src/config.js';
import { Embedder } from '../src/embedding/embedder.js';
import { arg, round, saveResult } from './common.js';

const n = Number(arg('n', '4000'));
const batch = Number(arg('batch', '32'));
const threads = Number(arg('threads', '2'));
const size = Number(arg('size', '224'));
const isolate = arg('isolate', 'on');
const secondModel = arg('second-model', '');
const spinning = arg('spinning', '');
const demo = demoCatalog()!;
const root = mkdtempSync(join(tmpdir(), 'fashion-bench-ingest-'));
const images = join(root, 'images');
mkdirSync(images);
for (const f of readdirSync(demo.images).sort().slice(0, n)) copyFileSync(join(demo.images, f), join(images, f));

const config = resolveConfig({ dataDir: join(root, 'data'), threads, batchSize: batch, size, isolate, ...(secondModel ? { secondModel } : {}) });
// The embedder an ingest loads (src/app/indexFolder.ts).
const embedder = await Embedder.load({ ...ingestEmbedderOptions(config, null), ...(spinning ? { spinning: spinning === 'on' } : {}) });
const store = await openCatalogStore(config.dataDir, { create: true });
const rss: number[] = [];
const timer = setInterval(() => rss.push(process.memoryUsage().rss), 500);
const report = await ingestFolder(store, embedder, { imagesDir: images, metadataCsv: demo.metadata, batchSize: batch });
clearInterval(timer);
await store.close();
await embedder.close();
const result = {
  images: report.added,
  seconds: round(report.seconds),
  imagesPerSecond: round(report.imagesPerSecond, 1),
  batch,
  threads,
  size,
  isolate,
  model: embedder.identity.modelName,
  peakRssMiB: round(Math.max(...rss, process.memoryUsage().rss) / 2 ** 20, 0),
  failed: report.failed.length,
};
console.log(JSON.stringify(result));
if (!process.argv.includes('--no-save')) saveResult(`ingest_${size}px_isolate-${isolate}${secondModel === 'none' ? '_first-model-alone' : ''}`, result);
rmSync(root, { recursive: true, force: true });
