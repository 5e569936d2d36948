/**
 * Tunes product isolation (ISOLATE_TUNING in src/imaging/isolateProduct.ts) on photos the reported figures never use:
 * re-photographed copies of training-split items outside the item sample of bench/conditions.ts, scored on the
 * backbone alone (no refinement to retrain per setting) against the training split of a full catalog.
 *
 *   node --import tsx bench/isolation.ts --from DIR [--field spreadFactor] [--values 0.3,0.5,0.8,1]
 *                                        [--conditions background,all] [--items 400] [--work /tmp/fashion-isolation]
 *
 * DIR: a catalog of the shared photos, isolation on (`fashion index`). Catalog photos are studio shots, which take
 * the studio path of isolation, so their vectors do not depend on the backdrop settings swept here.
 * Per setting: itemHit@1 / @5 (the copy's own item first / in the top 5) and P@5 (same articleType among the
 * top 5 other items). Prints a table; saves it under `isolation-<field>` in bench/results.json.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { openCatalogStore } from '../src/catalog/openCatalog.js';
import { storedIdentity } from '../src/catalog/ingest.js';
import { isHeldBack } from '../src/catalog/split.js';
import { demoCatalog, embedderOptions, REPO_ROOT, resolveConfig } from '../src/config.js';
import { Embedder } from '../src/embedding/embedder.js';
import { Gemm } from '../src/embedding/gemm.js';
import { embedProducts } from '../src/embedding/vectorize.js';
import { decodeRgb, DECODE_MAX_SIDE } from '../src/imaging/decode.js';
import { ISOLATE_TUNING, isolateProduct } from '../src/imaging/isolateProduct.js';
import { PHOTO_CONDITIONS, rephotograph, type PhotoConditionName } from '../src/imaging/rephotograph.js';
import { mulberry32, sample } from '../src/recommend/evaluate.js';
import { arg, round, saveResult } from './common.js';

const demo = demoCatalog();
if (!demo) throw new Error('needs the shared catalog');
const from = arg('from', '');
if (!from || !existsSync(join(from, 'catalog.sqlite'))) throw new Error('--from DIR: a full catalog of the shared photos (fashion index, isolation on)');
const field = arg('field', 'spreadFactor') as keyof typeof ISOLATE_TUNING;
if (typeof ISOLATE_TUNING[field] !== 'number') throw new Error(`--field: one of ${Object.keys(ISOLATE_TUNING).join(', ')}`);
const values = arg('values', '0.3,0.5,0.8,1').split(',').map(Number);
const conditions = arg('conditions', 'background,all').split(',') as PhotoConditionName[];
const itemN = Number(arg('items', '400'));
const work = arg('work', '/tmp/fashion-isolation');

const store = openCatalogStore(from);
const { items, vectors, dims } = store.loadAll();
const identity = storedIdentity(store);
store.close();
const gallery = items.map((_, i) => i).filter((i) => items[i]!.metadata.articleType && !isHeldBack(items[i]!.id));
// bench/conditions.ts reports on sample(training items, --items, seed + 2) (seed 1, --catalog 0): a thousand of that shuffle stay out.
const reported = new Set(sample(gallery.map((i) => items[i]!.id), 1000, 3));
const tuneIds = sample(gallery.map((i) => items[i]!.id).filter((id) => !reported.has(id)), itemN, 7);

const unitRows = (v: Float32Array, d: number) => {
  for (let r = 0; r < v.length / d; r++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += v[r * d + j]! ** 2;
    s = Math.sqrt(s) || 1;
    for (let j = 0; j < d; j++) v[r * d + j]! /= s;
  }
  return v;
};
const G = new Float32Array(gallery.length * dims);
gallery.forEach((i, r) => G.set(vectors.subarray(i * dims, (i + 1) * dims), r * dims));
unitRows(G, dims);
const rowOf = new Map(gallery.map((i, r) => [items[i]!.id, r]));
const typeOf = (r: number) => items[gallery[r]!]!.metadata.articleType;

const embedder = await Embedder.load(embedderOptions(resolveConfig({ dataDir: from }, process.env, REPO_ROOT), identity));
const gemm = await Gemm.create(2);
const p = embedder.identity.preprocess;
const seedOf = (s: string) => createHash('sha256').update(s).digest().readUInt32BE(0);
const rows: Array<Record<string, string | number>> = [];
for (const cond of conditions) {
  const dir = join(work, cond);
  mkdirSync(dir, { recursive: true });
  for (const id of tuneIds) {
    const out = join(dir, `${id}.jpg`);
    if (!existsSync(out)) writeFileSync(out, await rephotograph(readFileSync(join(demo.images, `${id}.jpg`)), PHOTO_CONDITIONS[cond], mulberry32(seedOf(`tune:${cond}:${id}`))));
  }
  const photos = await Promise.all(tuneIds.map((id) => decodeRgb(readFileSync(join(dir, `${id}.jpg`)), { background: p.background, maxSide: DECODE_MAX_SIDE })));
  for (const value of values) {
    const tuning = { ...ISOLATE_TUNING, [field]: value };
    const products = photos.map((img) => isolateProduct(img, tuning).image);
    const Q = new Float32Array(tuneIds.length * dims);
    for (let i = 0; i < products.length; i += 16) (await embedProducts(embedder, products.slice(i, i + 16))).forEach((f, j) => Q.set(f.vector, (i + j) * dims));
    const S = await gemm.mul(unitRows(Q, dims), tuneIds.length, dims, G, gallery.length, dims, false, true);
    let hit1 = 0, hit5 = 0, p5 = 0;
    tuneIds.forEach((id, q) => {
      const s = S.subarray(q * gallery.length, (q + 1) * gallery.length);
      const own = rowOf.get(id)!;
      let rank = 0;
      for (let r = 0; r < s.length; r++) if (s[r]! > s[own]!) rank++;
      if (rank < 1) hit1++;
      if (rank < 5) hit5++;
      const top = Array.from(s.keys()).filter((r) => r !== own).sort((a, b) => s[b]! - s[a]!).slice(0, 5);
      p5 += top.filter((r) => typeOf(r) === typeOf(own)).length / 5;
    });
    const row = { condition: cond, [field]: value, itemHitAt1: round(hit1 / tuneIds.length, 3), itemHitAt5: round(hit5 / tuneIds.length, 3), precisionAt5: round(p5 / tuneIds.length, 3) };
    rows.push(row);
    process.stderr.write(`${JSON.stringify(row)}\n`);
  }
}
await embedder.close();
await gemm.close();
console.log(`| condition | ${field} | itemHit@1 | itemHit@5 | P@5 |\n|---|---|---|---|---|`);
for (const r of rows) console.log(`| ${r.condition} | ${r[field]}${r[field] === ISOLATE_TUNING[field] ? ' (current)' : ''} | ${r.itemHitAt1} | ${r.itemHitAt5} | ${r.precisionAt5} |`);
saveResult(`isolation-${field}`, { catalog: from, items: tuneIds.length, conditions, rows, command: `node --import tsx bench/isolation.ts --from <full catalog> --field ${field} --values ${values.join(',')} --items ${itemN}` });

