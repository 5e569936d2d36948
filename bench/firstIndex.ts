/**
 * The first full index of a photo folder from an EMPTY catalog, as `npm start` runs it in its background child
 * (src/app/indexFolder.ts: embed every photo, make and embed the training copies, train the refinement, save the search
 * graphs), each stage timed, and the total.
 *
 *   flock /tmp/fashion-heavy.lock node --import tsx bench/firstIndex.ts [--images DIR --metadata CSV] [--limit N] [--save] [--label -NAME] [--keep DIR]
 *
 * Defaults to the shared demo catalog (../shared/datasets/fashion-product-images-small). `--limit N` indexes N of its
 * photos (a seeded sample, copied into a temporary folder first, outside the timing) instead of all of them: a subset,
 * which the saved row says. The catalog is made in a temporary folder and removed afterwards (`--keep DIR`: made there
 * instead, and kept, for looking at or for bench/train.ts). `--save` records the row under `fullIndex` in
 * bench/results.json (docs/bench.md's "first full index" row); `--label -NAME` records it under `fullIndex-NAME` instead (a
 * branch's run beside the shipped row, which it never overwrites).
 *
 * The stages are indexFolder's own steps, called here in the same order with the same arguments (so that each can be
 * timed; indexFolder itself reports no event between training and the graphs): ingestFolder, refineIngested (its
 * copies reported by their progress events, training the rest), prepareSearch.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ingestFolder } from '../src/catalog/ingest.js';
import { withWriterLock } from '../src/catalog/writerLock.js';
import { demoCatalog, resolveConfig } from '../src/config.js';
import { prepareSearch, refineIngested, withIngestTools } from '../src/app/indexFolder.js';
import type { InstalledRefinement } from '../src/app/services.js';
import { sample } from '../src/util/random.js';
import { arg, round, saveResult } from './common.js';

const demo = demoCatalog();
const images = arg('images', demo?.images ?? '');
const metadata = arg('metadata', demo?.metadata ?? '');
if (!images || !existsSync(images)) throw new Error('Expected --images DIR or the shared demo catalog');
const limit = Number(arg('limit', '0'));
const keep = arg('keep', '');
const label = arg('label', '');
const gitCommit = () => execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();

const all = readdirSync(images).filter((f) => /\.(jpe?g|png|webp)$/i.test(f)).sort();
let folder = images;
let subsetDir: string | null = null;
if (limit > 0 && limit < all.length) {
  subsetDir = mkdtempSync(join(tmpdir(), 'fashion-bench-first-index-photos-'));
  for (const f of sample(all, limit, 23)) {
    // A hard link where the folders share a file system (instant), else a copy; never a symlink (the scan skips
    // links that lead outside the folder).
    try {
      linkSync(join(images, f), join(subsetDir, f));
    } catch {
      copyFileSync(join(images, f), join(subsetDir, f));
    }
  }
  folder = subsetDir;
}
const photos = limit > 0 ? Math.min(limit, all.length) : all.length;

const dataDir = keep || mkdtempSync(join(tmpdir(), 'fashion-bench-first-index-'));
if (keep) {
  if (existsSync(keep) && readdirSync(keep).length > 0) throw new Error(`Expected --keep ${keep} to be empty or absent: the benchmark starts from an empty catalog`);
  mkdirSync(keep, { recursive: true });
}
const config = resolveConfig({ dataDir });
const log = (m: string) => process.stderr.write(`${m}\n`);
try {
  const t0 = performance.now();
  const at = () => (performance.now() - t0) / 1000;
  const marks: Record<string, number> = {};
  // CPU time of the whole process (every thread: workers, onnxruntime's, usearch's) at each mark: a stage whose CPU
  // time is well under its wall time x cores leaves a core idle, which another stage could use.
  const cpu: Record<string, number> = {};
  const cpuNow = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  const cpuAt = (mark: string) => (cpu[mark] ??= cpuNow());
  cpuAt('start');
  let copies = 0;
  let lastShown = 0;
  const result = await withWriterLock(dataDir, `bench/firstIndex.ts ${folder}`, async (lock) => {
    // What training committed: prepareSearch builds the graphs from it, as indexFolder does.
    let installed: InstalledRefinement | null = null;
    const report = await withIngestTools(config, false, async (store, embedder) => {
      const ingested = await ingestFolder(store, embedder, {
        imagesDir: folder,
        metadataCsv: metadata || undefined,
        batchSize: config.batchSize,
        reembed: false,
        prune: false,
        limits: { maxBytes: config.maxUploadBytes, maxPixels: config.maxPixels },
        onProgress: (p) => {
          if (p.phase === 'embed' && at() - lastShown > 30) {
            lastShown = at();
            log(`embedding ${p.done}/${p.total} at ${round(at(), 1)} s`);
          }
        },
      });
      marks.embedded = at();
      cpuAt('embedded');
      log(`embedded ${ingested.added} photos in ${round(marks.embedded, 1)} s`);
      const refinement = await refineIngested(config, store, embedder, lock, (e) => {
        if (e.kind === 'copies') {
          marks.copiesStart ??= at();
          copies = e.total;
          if (e.done >= e.total) {
            marks.copiesEnd = at();
            cpuAt('copiesEnd');
          }
          if (at() - lastShown > 30) {
            lastShown = at();
            log(`copies ${e.done}/${e.total} at ${round(at(), 1)} s`);
          }
        } else if (e.kind === 'refinement' && e.message.startsWith('training on')) {
          marks.fitStart ??= at();
          log(`${e.message} at ${round(at(), 1)} s`);
        }
      }, (rows) => (installed = rows));
      marks.trained = at();
      cpuAt('trained');
      log(`refinement done at ${round(marks.trained, 1)} s`);
      return { ...ingested, refinement };
    });
    return { ...report, index: await prepareSearch(config, lock, installed) };
  });
  const seconds = at();
  const cpuEnd = cpuNow();
  // The copies stage runs from the end of embedding (colour evidence of items without it first: none on a fresh
  // catalog) to its last progress event; training is everything after it up to the refined vectors' commit.
  const copiesEnd = marks.copiesEnd ?? marks.embedded!;
  const stages = {
    embedSeconds: round(marks.embedded!, 1),
    copiesSeconds: round(copiesEnd - marks.embedded!, 1),
    trainSeconds: round(marks.trained! - copiesEnd, 1),
    searchGraphSeconds: round(seconds - marks.trained!, 1),
  };
  // Share of the machine's cores busy in each stage (1: every core all the time).
  const cores = availableParallelism();
  const busy = (cpu0: number, cpu1: number, wall: number) => (wall > 0 ? round((cpu1 - cpu0) / (wall * cores), 2) : null);
  const copiesCpuEnd = cpu.copiesEnd ?? cpu.embedded!;
  const cpuBusy = {
    embed: busy(cpu.start!, cpu.embedded!, stages.embedSeconds),
    copies: busy(cpu.embedded!, copiesCpuEnd, stages.copiesSeconds),
    train: busy(copiesCpuEnd, cpu.trained!, stages.trainSeconds),
    searchGraph: busy(cpu.trained!, cpuEnd, stages.searchGraphSeconds),
    cores,
  };
  const row = {
    photos,
    subset: photos < all.length,
    added: result.added,
    failed: result.failed.length,
    copies,
    seconds: round(seconds, 1),
    minutes: round(seconds / 60, 1),
    ...stages,
    embedPerSecond: round(result.added / marks.embedded!, 1),
    copiesPerSecond: stages.copiesSeconds > 0 ? round(copies / stages.copiesSeconds, 1) : null,
    trained: !!result.refinement?.trained,
    epochs: result.refinement?.trained?.epochs ?? null,
    validation: result.refinement?.trained?.validation ?? null,
    index: result.index?.kind ?? null,
    cpuBusy,
  };
  console.log(JSON.stringify(row));
  if (label) saveResult(`fullIndex${label}`, { ...row, commit: gitCommit() });
  else if (process.argv.includes('--save')) saveResult('fullIndex', row);
} finally {
  if (!keep) rmSync(dataDir, { recursive: true, force: true });
  if (subsetDir) rmSync(subsetDir, { recursive: true, force: true });
}
