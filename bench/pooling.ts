/**
 * Which global pooling of the backbone's feature maps holds up on shoppers' photos that no setting was tuned on (issue 21)?
 * The backbone alone (no refinement, no same-product space, nothing to retrain per pooling): the catalog and every query
 * photo are embedded by the default composed backbone once per pooling (src/embedding/headCut.ts: max, avg, GeM at
 * powers 2, 3, 4), and each photo is searched by cosine among the catalog's vectors.
 *
 *   flock /tmp/fashion-heavy.lock node --import tsx bench/pooling.ts [--catalog 6000] [--queries 300] [--items 200]
 *       [--poolings max,avg,gem2,gem3,gem4] [--work /tmp/fashion-generalise] [--seed 1] [--label NAME] [--size PX] [--second-size PX]
 *       [--second-precision float|int8]
 *
 * Samples and photos are bench/generalise.ts's (same seeds, same --work folders, so the sets are shared): the catalog is
 * --catalog training-split items, read as `fashion index` reads them (isolation on); queries are held-back items (clean
 * photos and phone-like copies: P@5 = same articleType in the top 5), and --items catalog items are copied mildly (own item
 * first) and hard (own item in the top 5), each in TUNE and HELD-OUT styles. A copy is read as the query path reads it
 * (src/app/queryPipeline.ts): the isolated product averaged with the as-is crop where isolation replaced a backdrop
 * (the balanced reading, which competes in the same-product space, is left out: there is none here).
 * Choose on TUNE; HELD-OUT says whether it holds. Catalog vectors are cached per pooling in --work.
 * Prints a table; saves it under `pooling-<catalog>` in bench/results.json.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { demoCatalog, embedderOptions, REPO_ROOT, resolveConfig } from '../src/config.js';
import { Embedder } from '../src/embedding/embedder.js';
import { GEM_TUNING, type Pooling } from '../src/embedding/headCut.js';
import { embedProducts } from '../src/embedding/vectorize.js';
import { precisionAtK } from '../src/eval/metrics.js';
import { fitPhoto, type FittedPhoto } from '../src/imaging/decode.js';
import { COPY_SETS, drawRecipe, type CopySetName, type Split } from '../src/imaging/shopperPhoto/recipe.js';
import { renderCopy } from '../src/imaging/shopperPhoto/render.js';
import { batchKnn, l2NormalizeRows } from '../src/linalg/batchKnn.js';
import { Gemm } from '../src/linalg/gemm.js';
import type { Metadata } from '../src/store/catalogStore.js';
import { mulberry32 } from '../src/util/random.js';
import { arg, photoSamples, round, saveResult, seedFrom, writePhotos } from './common.js';

const demo = demoCatalog();
if (!demo) throw new Error('needs the shared catalog');
const work = arg('work', '/tmp/fashion-generalise');
const catalogN = Number(arg('catalog', '6000'));
const queryN = Number(arg('queries', '300'));
const itemN = Number(arg('items', '200'));
const seed = Number(arg('seed', '1'));
const label = arg('label', '');
const poolingNames = arg('poolings', 'max,avg,gem2,gem3,gem4').split(',');
const log = (m: string) => process.stderr.write(`${m}\n`);

/** A pooling by name: 'max', 'avg', or 'gemP' (GeM at power P). */
function parsePooling(name: string): { pooling: Pooling; power: number } {
  if (name === 'max' || name === 'avg') return { pooling: name, power: GEM_TUNING.power };
  const m = /^gem(\d+(?:\.\d+)?)$/.exec(name);
  if (!m) throw new Error(`--poolings: max, avg or gemP (e.g. gem3), not ${name}`);
  return { pooling: 'gem', power: Number(m[1]) };
}

const { styles, catalogIds, queryIds, itemIds, tag } = photoSamples(demo, { catalog: catalogN, queries: queryN, items: itemN }, seed);
const photo = (id: string) => readFileSync(join(demo.images, `${id}.jpg`));
// --size / --second-size: the model input sides (src/embedding/composeBackbones.ts); other than 224 they name the cache
// files and the results key, so that runs of several sides share --work and its photos.
const size = arg('size', '');
const secondSize = arg('second-size', '');
// --second-precision int8: SqueezeNet quantized (src/embedding/int8Graph.ts); names the cache files and the key as a side does.
const secondPrecision = arg('second-precision', '');
const sideTag = `${size || secondSize ? `-side${size || 224}-${secondSize || size || 224}` : ''}${secondPrecision && secondPrecision !== 'float' ? `-${secondPrecision}` : ''}`;
const config = resolveConfig({ isolate: 'on', threads: 2, ...(size ? { size } : {}), ...(secondSize ? { secondSize } : {}), ...(secondPrecision ? { secondPrecision } : {}) }, {}, REPO_ROOT);
const embedders: Embedder[] = [];
for (const name of poolingNames) {
  const { pooling, power } = parsePooling(name);
  GEM_TUNING.power = power; // read when the graph is cut, inside load
  embedders.push(await Embedder.load({ ...embedderOptions(config), pooling }));
}
GEM_TUNING.power = 3;
const preprocess = embedders[0]!.identity.preprocess;
const dims = embedders[0]!.dims;

interface PhotoSet {
  readonly name: string;
  readonly kind: 'queries' | 'items';
  readonly figure: 'p5' | 'first' | 'top5';
  readonly ids: readonly string[];
  readonly set: CopySetName | null;
  readonly split: Split;
}
const SETS: PhotoSet[] = [
  { name: 'queries-clean', kind: 'queries', figure: 'p5', ids: queryIds, set: null, split: 'tune' },
  ...(['tune', 'held-out'] as const).flatMap((split): PhotoSet[] => [
    { name: `queries-phone-${split}`, kind: 'queries', figure: 'p5', ids: queryIds, set: 'phone', split },
    { name: `items-mild-${split}`, kind: 'items', figure: 'first', ids: itemIds, set: 'mild', split },
    { name: `items-phone-${split}`, kind: 'items', figure: 'top5', ids: itemIds, set: 'phone', split },
  ]),
];

/** The set's photos in the folder bench/generalise.ts uses for the same set, made once. */
function materialise(s: PhotoSet): Promise<string> {
  const dir = join(work, 'sets', `${s.name}-${seed}-${s.ids.length}${s.kind === 'items' ? `-${tag}` : ''}`);
  return writePhotos(dir, s.ids, (id) => {
    if (!s.set) return photo(id);
    const spec = COPY_SETS[s.set];
    const recipe = drawRecipe(mulberry32(seedFrom(`${seed}:${s.set}:${s.split}:${id}`)), { families: spec.families, split: s.split, strength: spec.strength });
    const pick = recipe.backdrop?.style === 'photo' ? catalogIds[recipe.backdrop.texture.pick % catalogIds.length]! : null;
    return renderCopy(photo(id), recipe, pick ? photo(pick) : undefined);
  });
}

/**
 * Each photo's backbone vector under every pooling (rows of `dims` per photo): photos are decoded and isolated once and
 * embedded by every embedder; with `query`, the isolated product and the as-is crop are averaged as the query path does.
 */
async function embedAll(paths: readonly string[], query: boolean, what: string): Promise<Float32Array[]> {
  const out = embedders.map(() => new Float32Array(paths.length * dims));
  const t0 = performance.now();
  for (let i = 0; i < paths.length; i += 32) {
    const fitted: FittedPhoto[] = await Promise.all(paths.slice(i, i + 32).map((p) => fitPhoto(readFileSync(p), preprocess, { readings: query ? 'both' : 'one' })));
    const products = fitted.flatMap((f) => (f.asIs && query ? [f.product, f.asIs] : [f.product]));
    for (const [e, embedder] of embedders.entries()) {
      const features = await embedProducts(embedder, products);
      let k = 0;
      fitted.forEach((f, j) => {
        const row = out[e]!.subarray((i + j) * dims, (i + j + 1) * dims);
        const a = features[k++]!.vector;
        if (f.asIs && query) {
          const b = features[k++]!.vector;
          for (let d = 0; d < dims; d++) row[d] = (a[d]! + b[d]!) / 2;
        } else row.set(a);
      });
    }
    if (i % 960 === 0) log(`${what}: ${i + 32} / ${paths.length} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }
  return out;
}

const started = performance.now();
const cacheDir = join(work, 'pooling');
mkdirSync(cacheDir, { recursive: true });
const cacheFile = (name: string) => join(cacheDir, `catalog-${tag}-${seed}-${name}${sideTag}.f32`);
const missing = poolingNames.filter((n) => !existsSync(cacheFile(n)));
const gallery = new Map<string, Float32Array>();
if (missing.length > 0) {
  const all = await embedAll(catalogIds.map((id) => join(demo.images, `${id}.jpg`)), false, 'catalog');
  poolingNames.forEach((n, e) => writeFileSync(cacheFile(n), all[e]!));
}
for (const n of poolingNames) {
  const buf = readFileSync(cacheFile(n));
  gallery.set(n, l2NormalizeRows(new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4).slice(), catalogIds.length, dims));
}
const catalogSeconds = (performance.now() - started) / 1000;

const gemm = await Gemm.create(2);
const rowOf = new Map(catalogIds.map((id, r) => [id, r]));
const rows: Array<Record<string, number | string>> = [];
for (const s of SETS) {
  const t0 = performance.now();
  const dir = await materialise(s);
  const vectors = await embedAll(s.ids.map((id) => join(dir, `${id}.jpg`)), true, s.name);
  const row: Record<string, number | string> = { set: s.name, figure: s.figure };
  for (const [e, name] of poolingNames.entries()) {
    const q = l2NormalizeRows(vectors[e]!, s.ids.length, dims);
    const top = await batchKnn(gemm, q, s.ids.length, gallery.get(name)!, catalogIds.length, dims, 5);
    let total = 0;
    s.ids.forEach((id, r) => {
      const hits = Array.from(top.subarray(r * 5, r * 5 + 5));
      if (s.figure === 'p5') total += precisionAtK(styles.rows.get(id) as Metadata, hits.map((h) => styles.rows.get(catalogIds[h]!) as Metadata), 5).type;
      else if (s.figure === 'first') total += Number(hits[0] === rowOf.get(id));
      else total += Number(hits.includes(rowOf.get(id)!));
    });
    row[name] = round(total / s.ids.length, 3);
  }
  rows.push(row);
  log(`${JSON.stringify(row)} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
}
await gemm.close();
for (const e of embedders) await e.close();

const header = `| set | figure | ${poolingNames.join(' | ')} |`;
console.log([header, `|${'---|'.repeat(poolingNames.length + 2)}`, ...rows.map((r) => `| ${r.set} | ${r.figure} | ${poolingNames.map((n) => r[n]).join(' | ')} |`)].join('\n'));
saveResult(`pooling-${tag}${sideTag}${label ? `-${label}` : ''}`, {
  catalog: catalogIds.length,
  queries: queryIds.length,
  items: itemIds.length,
  seed,
  poolings: poolingNames,
  rows,
  catalogSeconds: Math.round(catalogSeconds),
  seconds: Math.round((performance.now() - started) / 1000),
  command: `node --import tsx bench/pooling.ts --catalog ${catalogN} --queries ${queryN} --items ${itemN} --poolings ${poolingNames.join(',')}${size ? ` --size ${size}` : ''}${secondSize ? ` --second-size ${secondSize}` : ''}${secondPrecision ? ` --second-precision ${secondPrecision}` : ''}`,
});
