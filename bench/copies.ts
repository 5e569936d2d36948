/**
 * How fast seeded copies of catalog photos are made: the shopper-photo generator (src/imaging/shopperPhoto/) for
 * training copies (TUNE styles, `trainingRecipe`) and for the benchmark's phone-like sets on either side of the split,
 * against the older generator (src/imaging/rephotograph.ts) with the training conditions it was used with.
 *
 *   flock /tmp/fashion-heavy.lock node --import tsx bench/copies.ts [--photos 400] [--concurrency 8]
 *
 * Copies are made in memory (nothing written), `--concurrency` in flight at once, on worker threads as training makes
 * them (src/imaging/shopperPhoto/copyPool.ts) or on the calling thread (libvips works on its own threads meanwhile). Reports copies/s (wall) and CPU ms per copy (user + system, all threads) per generator;
 * saves them under `copies` in bench/results.json.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { demoCatalog } from '../src/config.js';
import { rephotograph } from '../src/imaging/rephotograph.js';
import { drawRecipe, trainingRecipe, FAMILIES, type CopyRecipe } from '../src/imaging/shopperPhoto/recipe.js';
import { CopyPool } from '../src/imaging/shopperPhoto/copyPool.js';
import { renderCopy } from '../src/imaging/shopperPhoto/render.js';
import { copyConditions } from '../src/refine/augment.js';
import { mulberry32, sample } from '../src/util/random.js';
import { arg, round, saveResult } from './common.js';

const demo = demoCatalog();
if (!demo) throw new Error('needs the shared catalog');
const n = Number(arg('photos', '400'));
const concurrency = Number(arg('concurrency', '8'));
const ids = sample(readdirSync(demo.images).filter((f) => f.endsWith('.jpg')).sort(), n, 11);
const photos = ids.map((f) => readFileSync(join(demo.images, f)));

type Make = (i: number) => Promise<Buffer>;
const texture = (i: number) => photos[(i * 7 + 3) % photos.length]!;
const shopper = (recipeOf: (rng: () => number) => CopyRecipe): Make => (i) => {
  const rng = mulberry32(1000 + i);
  return renderCopy(photos[i]!, recipeOf(rng), texture(i));
};
const workers = Math.min(2, availableParallelism());
const pool = CopyPool.create(workers);
const generators: Record<string, Make> = {
  [`shopper-photo, training copies, ${workers} worker threads (as training makes them)`]: (i) => {
    const rng = mulberry32(1000 + i);
    return pool.render(photos[i]!, trainingRecipe(rng), texture(i));
  },
  'shopper-photo, training copies (TUNE styles), calling thread': shopper(trainingRecipe),
  'shopper-photo, phone-like, TUNE styles': shopper((rng) => drawRecipe(rng, { families: FAMILIES, split: 'tune' })),
  'shopper-photo, phone-like, HELD-OUT styles': shopper((rng) => drawRecipe(rng, { families: FAMILIES, split: 'held-out' })),
  'rephotograph (older), training copies': (i) => {
    const rng = mulberry32(1000 + i);
    return rephotograph(photos[i]!, copyConditions(rng), rng);
  },
};

// One untimed pass over a few photos: module loading, the noise tile and libvips' first calls are not the copies' cost.
for (const make of Object.values(generators)) await Promise.all([0, 1, 2, 3].map((i) => make(i)));

const rows: Array<{ generator: string; copies: number; copiesPerSecond: number; cpuMsPerCopy: number; meanBytes: number }> = [];
for (const [name, make] of Object.entries(generators)) {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  let bytes = 0;
  for (let i = 0; i < n; i += concurrency) {
    const outs = await Promise.all(Array.from({ length: Math.min(concurrency, n - i) }, (_, j) => make(i + j)));
    for (const o of outs) bytes += o.length;
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(c0);
  rows.push({ generator: name, copies: n, copiesPerSecond: round(n / seconds, 1), cpuMsPerCopy: round((cpu.user + cpu.system) / 1000 / n, 2), meanBytes: Math.round(bytes / n) });
  process.stderr.write(`${name}: ${rows.at(-1)!.copiesPerSecond} copies/s, ${rows.at(-1)!.cpuMsPerCopy} CPU ms a copy\n`);
}
await pool.close();
console.table(rows);
saveResult('copies', { photos: n, concurrency, rows });
