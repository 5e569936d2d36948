import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';
import { REPO_ROOT } from '../src/config.js';
import { PHOTO_CONDITIONS, rephotograph, type PhotoConditionName } from '../src/imaging/rephotograph.js';
import { COPY_SETS, drawRecipe, type CopySetName, type Split } from '../src/imaging/shopperPhoto/recipe.js';
import { renderCopy } from '../src/imaging/shopperPhoto/render.js';
import { isHeldBack } from '../src/catalog/split.js';
import { parseMetadataCsv } from '../src/catalog/metadataCsv.js';
import { mulberry32, sample } from '../src/util/random.js';

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

export function machine() {
  return { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', memoryGiB: round(totalmem() / 2 ** 30, 1), node: process.version };
}

const RESULTS_FILE = join(REPO_ROOT, 'bench', 'results.json');

/** Every benchmark's figures, by key, as bench/results.json holds them. */
export function loadResults(): Record<string, unknown> {
  return existsSync(RESULTS_FILE) ? (JSON.parse(readFileSync(RESULTS_FILE, 'utf8')) as Record<string, unknown>) : {};
}

/** Merges one benchmark's figures into bench/results.json (each script owns its key). */
export function saveResult(key: string, value: unknown): void {
  mkdirSync(join(REPO_ROOT, 'bench'), { recursive: true });
  const all = loadResults();
  all[key] = { ...(value as object), measuredAt: new Date().toISOString(), machine: machine() };
  writeFileSync(RESULTS_FILE, JSON.stringify(all, null, 2) + '\n');
}

export function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
}

/**
 * Copies a catalog's SQLite file with what its write-ahead log still holds: a plain file copy misses the batches
 * not yet checkpointed (the last ~100 items of an ingest that was stopped, which a copy once lost silently).
 */
export async function copyCatalogFile(from: string, to: string): Promise<void> {
  const db = new Database(from, { fileMustExist: true });
  try {
    await db.backup(to);
  } finally {
    db.close();
  }
}

/** A seed for a seeded generator, from any text (the same text, the same seed). */
export function seedFrom(text: string): number {
  return createHash('sha256').update(text).digest().readUInt32BE(0);
}

/**
 * Re-photographed copies (src/imaging/rephotograph.ts) of the photos `ids` in `images`, one `<id>.jpg` per item in `dir`, each
 * drawn with `seedOf(id)`; 'clean' copies the photo as it is. Copies already there are kept, so reruns reuse them.
 */
export async function makeCopies(images: string, dir: string, ids: readonly string[], cond: PhotoConditionName, seedOf: (id: string) => number): Promise<void> {
  await writePhotos(dir, ids, async (id) => {
    const src = readFileSync(join(images, `${id}.jpg`));
    return cond === 'clean' ? src : rephotograph(src, PHOTO_CONDITIONS[cond], mulberry32(seedOf(id)));
  });
}

/**
 * `make(id)` written as `<id>.jpg` in `dir` for each of `ids`, 8 at a time; photos already there are kept, and a folder
 * that holds as many photos as `ids` is taken as made, so reruns (and other benches naming the same folder) reuse them.
 */
export async function writePhotos(dir: string, ids: readonly string[], make: (id: string) => Promise<Uint8Array> | Uint8Array): Promise<string> {
  mkdirSync(dir, { recursive: true });
  if (readdirSync(dir).length >= ids.length) return dir;
  for (let i = 0; i < ids.length; i += 8) {
    await Promise.all(
      ids.slice(i, i + 8).map(async (id) => {
        const out = join(dir, `${id}.jpg`);
        if (!existsSync(out)) writeFileSync(out, await make(id));
      }),
    );
  }
  return dir;
}

/**
 * Shopper-photo copies (src/imaging/shopperPhoto/) of the photos `ids` in `images`: the named set (COPY_SETS) with styles
 * from one side of the split, each drawn with `seedOf(id)`; a 'photo' backdrop is cut from a photo of `texturePool`
 * (ids in `images`). Written as `<id>.jpg` in `dir`; copies already there are kept.
 */
export async function makeShopperCopies(
  images: string,
  dir: string,
  ids: readonly string[],
  set: CopySetName,
  split: Split,
  seedOf: (id: string) => number,
  texturePool: readonly string[],
): Promise<void> {
  const spec = COPY_SETS[set];
  const photo = (id: string) => readFileSync(join(images, `${id}.jpg`));
  await writePhotos(dir, ids, (id) => {
    const recipe = drawRecipe(mulberry32(seedOf(id)), { families: spec.families, split, strength: spec.strength });
    const pick = recipe.backdrop?.style === 'photo' ? texturePool[recipe.backdrop.texture.pick % texturePool.length]! : null;
    return renderCopy(photo(id), recipe, pick ? photo(pick) : undefined);
  });
}

/**
 * The compiled server (`fashion serve`, as `npm start` runs it; `npm run bench` builds it first) on a catalog, in a
 * process of its own so that the bench's clients do not share its event loop; resolves once it listens, with its URL
 * and a stop that waits for it to exit.
 */
export async function startServerProcess(dataDir: string, env: Record<string, string> = {}): Promise<{ url: string; stop: () => Promise<void> }> {
  const server = spawn(process.execPath, ['bin/fashion.js', 'serve', '--data', dataDir, '--port', '0'], {
    // The "listening" line is at info level.
    env: { ...process.env, FASHION_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: server.stdout! }).on('line', (line) => {
      try {
        const entry = JSON.parse(line) as { url?: string; msg?: string };
        if (entry.url && entry.msg?.includes('listening')) resolve(entry.url);
      } catch {
        // not a log line
      }
    });
    server.once('exit', (code) => reject(new Error(`the server stopped before listening (exit code ${code})`)));
  });
  const stop = async () => {
    if (server.exitCode !== null) return;
    const exited = new Promise((r) => server.once('exit', r));
    server.kill('SIGTERM');
    await exited;
  };
  return { url, stop };
}

/**
 * The photo benchmarks' samples of the shared photos (bench/conditions.ts, bench/generalise.ts): the labelled items
 * with a photo, split by src/catalog/split.ts; `catalog` training items (0 = all of them), `queries` held-back items
 * and `items` catalog items to copy, each sampled with its own offset of `seed`. `tag` names the catalog size.
 */
export function photoSamples(demo: { readonly images: string; readonly metadata: string }, n: { readonly catalog: number; readonly queries: number; readonly items: number }, seed: number) {
  const styles = parseMetadataCsv(readFileSync(demo.metadata, 'utf8'));
  const available = new Set(readdirSync(demo.images).filter((f) => f.endsWith('.jpg')).map((f) => f.slice(0, -4)));
  const labelled = [...styles.rows].filter(([id, m]) => m.articleType && available.has(id)).map(([id]) => id).sort();
  const train = labelled.filter((id) => !isHeldBack(id));
  const held = labelled.filter((id) => isHeldBack(id));
  const catalogIds = n.catalog > 0 ? sample(train, n.catalog, seed) : train;
  return {
    styles,
    catalogIds,
    queryIds: sample(held, n.queries, seed + 1),
    itemIds: sample(catalogIds, n.items, seed + 2),
    tag: n.catalog > 0 ? String(n.catalog) : 'all',
  };
}

/**
 * `each(id, bytes)` for every photo of a set folder (files named <item id>.jpg, in name order), 16 at a time as
 * bench/generalise.ts queries them (the embedding queue batches them alike); the results in that order.
 */
export async function forEachSetPhoto<T>(dir: string, each: (id: string, bytes: Buffer) => Promise<T>): Promise<T[]> {
  const files = readdirSync(dir).filter((f) => f.endsWith('.jpg')).sort();
  const rows: T[] = [];
  for (let i = 0; i < files.length; i += 16) rows.push(...(await Promise.all(files.slice(i, i + 16).map((f) => each(f.slice(0, -4), readFileSync(join(dir, f)))))));
  return rows;
}
