/**
 * Tunes product isolation (ISOLATE_TUNING in src/imaging/isolateProduct.ts) on photos the reported figures never use:
 * re-photographed copies of training-split items outside the item sample of bench/conditions.ts, scored on the
 * backbone alone (no refinement to retrain per setting) against the training split of a full catalog.
 *
 *   node --import tsx bench/isolation.ts --from DIR [--field spreadFactor] [--values 0.3,0.5,0.8,1]
 *                                        [--conditions background,all] [--items 400] [--work /tmp/fashion-isolation]
 *
 * --conditions: the older generator's conditions (src/imaging/rephotograph.ts: background, all, ...) or shopper-photo
 * sets as SET/SPLIT (src/imaging/shopperPhoto/: phone/tune, backdrop/held-out, ...). Choose on TUNE sets; the
 * HELD-OUT ones show whether the choice holds on styles it was not made on.
 *
 * DIR: a catalog of the shared photos, isolation on (`fashion index`). Catalog photos are studio shots, which take
 * the studio path of isolation, so their vectors do not depend on the backdrop settings swept here.
 * Per setting: itemHit@1 / @5 (the copy's own item first / in the top 5) and P@5 (same articleType among the
 * top 5 other items). Prints a table; saves it under `isolation-<field>` in bench/results.json.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openCatalogStore } from '../src/catalog/openCatalog.js';
import { storedIdentity } from '../src/catalog/identity.js';
import { isHeldBack } from '../src/catalog/split.js';
import { demoCatalog, embedderOptions, REPO_ROOT, resolveConfig } from '../src/config.js';
import { Embedder } from '../src/embedding/embedder.js';
import { Gemm } from '../src/linalg/gemm.js';
import { embedProducts } from '../src/embedding/vectorize.js';
import { decodeRgb, DECODE_MAX_SIDE } from '../src/imaging/decode.js';
import { ISOLATE_TUNING, isolateProduct } from '../src/imaging/isolateProduct.js';
import type { PhotoConditionName } from '../src/imaging/rephotograph.js';
import { precisionAtK } from '../src/eval/metrics.js';
import { sample } from '../src/util/random.js';
import { batchKnn, l2NormalizeRows } from '../src/linalg/batchKnn.js';
import { COPY_SETS, type CopySetName, type Split } from '../src/imaging/shopperPhoto/recipe.js';
import { arg, makeCopies, makeShopperCopies, round, saveResult, seedFrom } from './common.js';

const demo = demoCatalog();
if (!demo) throw new Error('needs the shared catalog');
const from = arg('from', '');
if (!from || !existsSync(join(from, 'catalog.sqlite'))) throw new Error('--from DIR: a full catalog of the shared photos (fashion index, isolation on)');
const field = arg('field', 'spreadFactor') as keyof typeof ISOLATE_TUNING;
if (typeof ISOLATE_TUNING[field] !== 'number') throw new Error(`--field: one of ${Object.keys(ISOLATE_TUNING).join(', ')}`);
const values = arg('values', '0.3,0.5,0.8,1').split(',').map(Number);
const conditions = arg('conditions', 'background,all').split(',');
const itemN = Number(arg('items', '400'));
const work = arg('work', '/tmp/fashion-isolation');

const store = await openCatalogStore(from);
const { items, vectors, dims } = await store.loadAll();
const identity = await storedIdentity(store);
await store.close();
const gallery = items.map((_, i) => i).filter((i) => items[i]!.metadata.articleType && !isHeldBack(items[i]!.id));
// bench/conditions.ts reports on sample(training items, --items, seed + 2) (seed 1, --catalog 0): a thousand of that shuffle stay out.
const reported = new Set(sample(gallery.map((i) => items[i]!.id), 1000, 3));
const tuneIds = sample(gallery.map((i) => items[i]!.id).filter((id) => !reported.has(id)), itemN, 7);

const G = new Float32Array(gallery.length * dims);
gallery.forEach((i, r) => G.set(vectors.subarray(i * dims, (i + 1) * dims), r * dims));
l2NormalizeRows(G, gallery.length, dims);
const rowOf = new Map(gallery.map((i, r) => [items[i]!.id, r]));
const metadataOf = (r: number) => items[gallery[r]!]!.metadata;
const dot = (a: Float32Array, ra: number, b: Float32Array, rb: number, d: number) => {
  let s = 0;
  for (let j = 0; j < d; j++) s += a[ra * d + j]! * b[rb * d + j]!;
  return s;
};

const embedder = await Embedder.load(embedderOptions(resolveConfig({ dataDir: from }, process.env, REPO_ROOT), identity));
const gemm = await Gemm.create(2);
const p = embedder.identity.preprocess;
const rows: Array<Record<string, string | number>> = [];
for (const cond of conditions) {
  const dir = join(work, cond.replace('/', '-'));
  if (cond.includes('/')) {
    const [set, split] = cond.split('/') as [CopySetName, Split];
    if (!(set in COPY_SETS) || (split !== 'tune' && split !== 'held-out')) throw new Error(`--conditions: ${cond} is not SET/SPLIT (sets: ${Object.keys(COPY_SETS).join(', ')})`);
    await makeShopperCopies(demo.images, dir, tuneIds, set, split, (id) => seedFrom(`tune:${cond}:${id}`), gallery.map((i) => items[i]!.id));
  } else await makeCopies(demo.images, dir, tuneIds, cond as PhotoConditionName, (id) => seedFrom(`tune:${cond}:${id}`));
  // Decoded as fitPhoto decodes (src/imaging/decode.ts), then isolated with the setting under test instead of the default.
  const photos = await Promise.all(tuneIds.map((id) => decodeRgb(readFileSync(join(dir, `${id}.jpg`)), { background: p.background, maxSide: DECODE_MAX_SIDE })));
  for (const value of values) {
    const tuning = { ...ISOLATE_TUNING, [field]: value };
    const products = photos.map((img) => isolateProduct(img, tuning).image);
    const Q = new Float32Array(tuneIds.length * dims);
    for (let i = 0; i < products.length; i += 16) (await embedProducts(embedder, products.slice(i, i + 16))).forEach((f, j) => Q.set(f.vector, (i + j) * dims));
    // The own item and the five nearest others: enough for itemHit@1 / @5 and P@5.
    const top = await batchKnn(gemm, l2NormalizeRows(Q, tuneIds.length, dims), tuneIds.length, G, gallery.length, dims, 6);
    let hit1 = 0, hit5 = 0, p5 = 0;
    tuneIds.forEach((id, q) => {
      const own = rowOf.get(id)!;
      const found = Array.from(top.subarray(q * 6, (q + 1) * 6));
      // A twin listing with the very same photo ties with the own item: a tie counts as a hit, whichever of the two came first.
      const score = (r: number) => dot(Q, q, G, r, dims);
      if (score(own) >= score(found[0]!)) hit1++;
      if (score(own) >= score(found[4]!)) hit5++;
      p5 += precisionAtK(metadataOf(own), found.filter((r) => r !== own).slice(0, 5).map(metadataOf), 5).type;
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
saveResult(`isolation-${field}${conditions.some((c) => c.includes('/')) ? '-shopper' : ''}`, { catalog: from, items: tuneIds.length, conditions, rows, command: `node --import tsx bench/isolation.ts --from <full catalog> --field ${field} --values ${values.join(',')} --items ${itemN}` });

