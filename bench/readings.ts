/**
 * Which query-time readings of a shopper's photo win back what the HELD-OUT styles lose (issue 21)? On a catalog that
 * bench/generalise.ts trained and cached (same --work, --catalog and --copies), the query side only: each photo is
 * decoded and isolated as the query path does (src/imaging/decode.ts fitPhoto), read in several ways (the isolated
 * product, the balanced reading, the photo as it is, and the candidate readings below), embedded by the catalog's backbone,
 * and each VARIANT (which readings, and how they are combined: the one the same-product space explains best, as
 * src/services/search.ts chooseReading does, or their vectors averaged) is searched with the catalog's refinement and
 * same-product pin, as a photo search is. Variant `shipped` is the query path as it is now (the isolated product and the
 * as-is crop averaged, the balanced reading competing: src/app/queryPipeline.ts); `before` the one it replaced (the best of
 * the isolated product, the balanced reading and the whole photo as it is), which results saved before the change name
 * `shipped` (readings-6000-families, -variants1, -variants2, -variants3 in bench/results.json). Reading `asIs` is the whole
 * photo, `crop` the as-is reading fitPhoto now gives. Variants `rr<beta>d<depth>` add the re-rank by backbone similarity
 * (src/search/backboneRerank.ts) to `shipped`'s readings; since it shipped (beta 2, depth 100) the query path is `rr2d100`,
 * and `shipped` is the query path without the re-rank (this bench searches without passing the backbone vector, as
 * readings-6000-rerank and the results before it did). Variant `live` is the query path as it is now: `shipped`'s readings
 * re-ranked off a backdrop only (src/search/backboneRerank.ts offBackdrop). A variant named `<variant>@<side>` makes its
 * readings with isolation's product found at that working side (0 = the decoded size; without it, QUERY_ISOLATION's, the
 * query path's): `--variants live@0,live@120` compares query-time working sides on the same catalog.
 *
 *   flock /tmp/fashion-heavy.lock node --import tsx bench/readings.ts --catalog 6000
 *       [--queries 300] [--items 200] [--work /tmp/fashion-generalise] [--families [--family-items 150]] [--one-held-out] [--variants shipped,before,...]
 *       [--sets phone,mild,queries] [--label NAME] [--pooling max] [--strict]
 *
 * Sets (same seeds and folders as bench/generalise.ts, so their photos are shared): clean held-back photos and their
 * phone-like copies (P@5), mild and hard (phone-like) copies of catalog items (own item first / in the top 5), each in
 * TUNE and HELD-OUT styles. --families adds, per family, hard copies of the same items (the first --family-items of the
 * sample) with that family alone on, in TUNE and in HELD-OUT styles; --one-held-out: phone-like copies in TUNE styles
 * with that one family in its HELD-OUT style (what each held-out style costs alone and within a phone photo). Choose on TUNE; HELD-OUT says whether it holds.
 * Prints a table; saves it under `readings-<catalog>` in bench/results.json.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Services } from '../src/app/services.js';
import { demoCatalog, REPO_ROOT, resolveConfig } from '../src/config.js';
import { embedProducts, type PhotoFeatures } from '../src/embedding/vectorize.js';
import { precisionAtK } from '../src/eval/metrics.js';
import { decodeRgb, DECODE_MAX_SIDE } from '../src/imaging/decode.js';
import { balancedReading, isolateProduct, QUERY_ISOLATION, type IsolateTuning } from '../src/imaging/isolateProduct.js';
import { cropAsIs, flipped, sharpened, shadesOfGrey } from '../src/imaging/readingTransforms.js';
import type { DecodedRgb } from '../src/imaging/rgb.js';
import { COPY_SETS, drawRecipe, FAMILIES, type CopyRecipe, type CopySetName, type Family, type Split } from '../src/imaging/shopperPhoto/recipe.js';
import { renderCopy } from '../src/imaging/shopperPhoto/render.js';
import type { Metadata } from '../src/store/catalogStore.js';
import { rerankByBackbone } from '../src/search/backboneRerank.js';
import { mulberry32 } from '../src/util/random.js';
import { arg, photoSamples, saveResult, seedFrom, writePhotos } from './common.js';

const demo = demoCatalog();
if (!demo) throw new Error('needs the shared catalog');
const work = arg('work', '/tmp/fashion-generalise');
const catalogN = Number(arg('catalog', '6000'));
const queryN = Number(arg('queries', '300'));
const itemN = Number(arg('items', '200'));
const seed = Number(arg('seed', '1'));
const copies = arg('copies', 'shopper');
const augment = Number(arg('augment', '0.25'));
const families = process.argv.includes('--families');
/** How many of the item sample the per-family sets copy (the first of the same sample). */
const familyItems = Number(arg('family-items', arg('items', '200')));
const setKinds = arg('sets', 'queries,mild,phone').split(',');
const label = arg('label', '');
/** --strict: P@5 counts only results of the query's kind and colour (strict P@5), not of its kind alone. */
const strict = process.argv.includes('--strict');
const log = (m: string) => process.stderr.write(`${m}\n`);

const { styles, catalogIds, queryIds, itemIds, tag } = photoSamples(demo, { catalog: catalogN, queries: queryN, items: itemN }, seed);
/** The catalog bench/generalise.ts trained with this --pooling (its folders carry the pooling unless it is max). */
const pooling = arg('pooling', 'max');
const data = join(work, `data-${tag}${pooling === 'max' ? '' : `-${pooling}`}-${copies}${copies !== 'none' ? `-${augment}` : ''}`);
if (!existsSync(join(data, 'catalog.sqlite'))) throw new Error(`no trained catalog in ${data}: run bench/generalise.ts with the same --work, --catalog and --copies first`);
const photo = (id: string) => readFileSync(join(demo.images, `${id}.jpg`));

/** The readings a variant may use, by name; each made from the decoded photo and its isolation. */
type ReadingName = 'iso' | 'balanced' | 'asIs' | 'crop' | 'sharp' | 'grey' | 'flip' | 'isoFine' | 'isoCoarse' | 'isoWide' | 'cropWide';
interface Variant {
  readonly readings: readonly ReadingName[];
  /** 'best': the reading whose nearest item in the same-product space is nearest (the query path's rule); 'mean': vectors averaged. */
  readonly combine: 'best' | 'mean';
  /** With 'mean': the readings averaged; the average and `readings` then compete as under 'best'. */
  readonly mean?: readonly ReadingName[];
  /**
   * How the backbone vectors are averaged: 'unit' (the default) scales each to length 1 first, so the average is shorter than
   * a backbone vector (whose two parts have length 1 each, √2 in all); 'raw' averages them as they are (each √2 long).
   */
  readonly scale?: 'unit' | 'raw';
  /**
   * The refined nearest `depth` items ordered again by refined similarity + beta x the chosen reading's backbone cosine to
   * each item's stored backbone vector (src/search/backboneRerank.ts), the same-product pin kept first.
   */
  readonly rerank?: { readonly beta: number; readonly depth: number };
  /** With `rerank`: only for a photo taken off a backdrop (isolation replaced one, or the balanced reading won), as the query path does. */
  readonly offBackdrop?: boolean;
}
const VARIANTS: Record<string, Variant> = {
  shipped: { readings: ['balanced'], combine: 'mean', mean: ['iso', 'crop'], scale: 'raw' },
  before: { readings: ['iso', 'balanced', 'asIs'], combine: 'best' },
  isoOnly: { readings: ['iso'], combine: 'best' },
  crop: { readings: ['iso', 'balanced', 'asIs', 'crop'], combine: 'best' },
  cropForAsIs: { readings: ['iso', 'balanced', 'crop'], combine: 'best' },
  sharp: { readings: ['iso', 'balanced', 'asIs', 'sharp'], combine: 'best' },
  grey: { readings: ['iso', 'balanced', 'asIs', 'grey'], combine: 'best' },
  flipMean: { readings: ['balanced', 'asIs'], combine: 'mean', mean: ['iso', 'flip'] },
  isoAsIsMean: { readings: ['balanced'], combine: 'mean', mean: ['iso', 'asIs'] },
  isoCropMean: { readings: ['balanced', 'asIs'], combine: 'mean', mean: ['iso', 'crop'] },
  isoSharpMean: { readings: ['balanced', 'asIs'], combine: 'mean', mean: ['iso', 'sharp'] },
  isoCropMeanOrCrop: { readings: ['balanced', 'crop'], combine: 'mean', mean: ['iso', 'crop'] },
  isoCropMeanOrIsoCrop: { readings: ['iso', 'balanced', 'crop'], combine: 'mean', mean: ['iso', 'crop'] },
  isoCropMeanOnly: { readings: ['balanced'], combine: 'mean', mean: ['iso', 'crop'] },
  isoCropAsIsMean: { readings: ['balanced'], combine: 'mean', mean: ['iso', 'crop', 'asIs'] },
  isoCropGreyMean: { readings: ['balanced', 'asIs'], combine: 'mean', mean: ['iso', 'crop', 'grey'] },
  isoCropMeanOnlyRaw: { readings: ['balanced'], combine: 'mean', mean: ['iso', 'crop'], scale: 'raw' },
  isoCropGreyMeanRaw: { readings: ['balanced', 'asIs'], combine: 'mean', mean: ['iso', 'crop', 'grey'], scale: 'raw' },
  isoCropGreyMeanOnlyRaw: { readings: ['balanced'], combine: 'mean', mean: ['iso', 'crop', 'grey'], scale: 'raw' },
  /** The isolated product's vector alone at the length a 'unit' average has: does the shorter vector do it? */
  isoUnit: { readings: ['balanced', 'asIs'], combine: 'mean', mean: ['iso'] },
  // Multi-scale (issue 21): the shipped average with one more reading of the product at another detail or framing.
  msFine: { readings: ['balanced'], combine: 'mean', mean: ['iso', 'crop', 'isoFine'], scale: 'raw' },
  msCoarse: { readings: ['balanced'], combine: 'mean', mean: ['iso', 'crop', 'isoCoarse'], scale: 'raw' },
  msIsoWide: { readings: ['balanced'], combine: 'mean', mean: ['iso', 'crop', 'isoWide'], scale: 'raw' },
  msCropWide: { readings: ['balanced'], combine: 'mean', mean: ['iso', 'crop', 'cropWide'], scale: 'raw' },
  msCoarseFine: { readings: ['balanced'], combine: 'mean', mean: ['iso', 'crop', 'isoCoarse', 'isoFine'], scale: 'raw' },
  /** The query path as it is now (src/app/queryPipeline.ts): `shipped`'s readings, re-ranked (beta 2, depth 100) off a backdrop only. */
  live: { readings: ['balanced'], combine: 'mean', mean: ['iso', 'crop'], scale: 'raw', rerank: { beta: 2, depth: 100 }, offBackdrop: true },
  // Re-ranking by backbone similarity (issue 21): the shipped readings, the refined top `depth` ordered again.
  ...Object.fromEntries(
    [0.1, 0.25, 0.5, 1, 2, 4].flatMap((beta) =>
      [50, 100].map((depth) => [`rr${beta}d${depth}`, { readings: ['balanced'], combine: 'mean', mean: ['iso', 'crop'], scale: 'raw', rerank: { beta, depth } } as Variant]),
    ),
  ),
};
/**
 * The multi-scale readings, made where isolation replaced a backdrop (a studio shot has one reading): isolation again with
 * the product brought to another detail (`canonicalSide` 120 or 56 against 80: what the model sees of a soft, small product
 * then differs) or with a wider white margin (0.2 against 0.08: the product smaller in the model's frame), and the as-is crop
 * with 15% of the box's longer side more context on every side.
 */
const MULTI_SCALE = { fine: 120, coarse: 56, wideMargin: 0.2, cropContext: 0.15 };
const variantNames = arg('variants', Object.keys(VARIANTS).join(',')).split(',');
/**
 * A variant's name may end in `@<side>`: its readings are made with isolation's product found at that working side
 * (ISOLATE_TUNING.workingSide; 0 = the decoded size); without it, at the query path's (QUERY_ISOLATION).
 */
const specOf = (v: string): { spec: Variant; side: number } => {
  const [name, side] = v.split('@');
  const spec = VARIANTS[name!];
  if (!spec || (side !== undefined && !/^\d+$/.test(side))) throw new Error(`--variants: one of ${Object.keys(VARIANTS).join(', ')}, each optionally with @<working side>`);
  return { spec, side: side === undefined ? QUERY_ISOLATION.workingSide : Number(side) };
};
/** The readings needed at each working side. */
const neededAt = new Map<number, Set<ReadingName>>();
for (const v of variantNames) {
  const { spec, side } = specOf(v);
  const set = neededAt.get(side) ?? new Set<ReadingName>();
  for (const r of [...spec.readings, ...(spec.mean ?? [])]) set.add(r);
  neededAt.set(side, set);
}

interface PhotoSet {
  readonly name: string;
  readonly kind: 'queries' | 'items';
  /** What is reported: P@5 (queries), own item first (mild) or own item in the top 5 (hard). */
  readonly figure: 'p5' | 'first' | 'top5';
  readonly ids: readonly string[];
  readonly recipe: ((id: string) => CopyRecipe) | null;
}
const recipeOf = (set: CopySetName, split: Split) => (id: string) => {
  const spec = COPY_SETS[set];
  return drawRecipe(mulberry32(seedFrom(`${seed}:${set}:${split}:${id}`)), { families: spec.families, split, strength: spec.strength });
};
const shopperSet = (set: CopySetName, split: Split, kind: 'queries' | 'items', figure: PhotoSet['figure']): PhotoSet => ({
  name: `${kind}-${set}-${split}`,
  kind,
  figure,
  ids: kind === 'queries' ? queryIds : itemIds,
  recipe: recipeOf(set, split),
});
/** Phone-like copies in TUNE styles with one family drawn in its HELD-OUT style (the same draws as the two phone sets). */
const oneHeldOut = (family: Family): PhotoSet => ({
  name: `items-phone-tune-but-${family}`,
  kind: 'items',
  figure: 'top5',
  ids: itemIds.slice(0, familyItems),
  recipe: (id) => ({ ...recipeOf('phone', 'tune')(id), [family]: recipeOf('phone', 'held-out')(id)[family] }),
});

const SETS: PhotoSet[] = [
  ...(setKinds.includes('queries') ? [{ name: 'queries-clean', kind: 'queries', figure: 'p5', ids: queryIds, recipe: null } as PhotoSet, shopperSet('phone', 'tune', 'queries', 'p5'), shopperSet('phone', 'held-out', 'queries', 'p5')] : []),
  ...(setKinds.includes('mild') ? [shopperSet('mild', 'tune', 'items', 'first'), shopperSet('mild', 'held-out', 'items', 'first')] : []),
  ...(setKinds.includes('phone') ? [shopperSet('phone', 'tune', 'items', 'top5'), shopperSet('phone', 'held-out', 'items', 'top5')] : []),
  ...(families ? FAMILIES.flatMap((f) => [shopperSet(f, 'tune', 'items', 'top5'), shopperSet(f, 'held-out', 'items', 'top5')].map((s) => ({ ...s, ids: s.ids.slice(0, familyItems) }))) : []),
  ...(process.argv.includes('--one-held-out') ? FAMILIES.map(oneHeldOut) : []),
];

/** The set's photos in <work>/sets/ (the folder bench/generalise.ts uses for the same set), made once. */
function materialise(s: PhotoSet): Promise<string> {
  const dir = join(work, 'sets', `${s.name}-${seed}-${s.ids.length}${s.kind === 'items' ? `-${tag}` : ''}`);
  return writePhotos(dir, s.ids, (id) => {
    if (!s.recipe) return photo(id);
    const recipe = s.recipe(id);
    const pick = recipe.backdrop?.style === 'photo' ? catalogIds[recipe.backdrop.texture.pick % catalogIds.length]! : null;
    return renderCopy(photo(id), recipe, pick ? photo(pick) : undefined);
  });
}

const svc = await Services.open(resolveConfig({ dataDir: data, isolate: 'on', threads: 2 }, {}, REPO_ROOT));
const embedder = await svc.embedding.load();
const background = embedder.identity.preprocess.background;

/** Every needed reading of one photo at a working side (null where the photo has none, as fitPhoto gives none). */
function readingsOf(img: DecodedRgb, side: number, needed: ReadonlySet<ReadingName>): { readings: Partial<Record<ReadingName, DecodedRgb | null>>; replaced: boolean } {
  const tuning: IsolateTuning = { ...QUERY_ISOLATION, workingSide: side };
  const iso = isolateProduct(img, tuning);
  const out: Partial<Record<ReadingName, DecodedRgb | null>> = { iso: iso.image };
  if (needed.has('balanced')) out.balanced = balancedReading(img, iso, tuning)?.image ?? null;
  const replaced = iso.method === 'replaced';
  if (needed.has('asIs')) out.asIs = replaced ? img : null;
  if (needed.has('crop')) out.crop = replaced ? cropAsIs(img, iso.box) : null;
  if (needed.has('sharp')) out.sharp = iso.method === 'studio' ? null : sharpened(iso.image);
  if (needed.has('grey')) out.grey = iso.method === 'studio' ? null : shadesOfGrey(iso.image);
  if (needed.has('flip')) out.flip = flipped(iso.image);
  const again = (other: Partial<IsolateTuning>) => (replaced ? isolateProduct(img, { ...tuning, ...other }).image : null);
  if (needed.has('isoFine')) out.isoFine = again({ canonicalSide: MULTI_SCALE.fine });
  if (needed.has('isoCoarse')) out.isoCoarse = again({ canonicalSide: MULTI_SCALE.coarse });
  if (needed.has('isoWide')) out.isoWide = again({ margin: MULTI_SCALE.wideMargin });
  if (needed.has('cropWide')) {
    const b = iso.box, grow = Math.round(Math.max(b.width, b.height) * MULTI_SCALE.cropContext);
    out.cropWide = replaced ? cropAsIs(img, { left: b.left - grow, top: b.top - grow, width: b.width + 2 * grow, height: b.height + 2 * grow }) : null;
  }
  return { readings: out, replaced };
}

const mean = (fs: readonly PhotoFeatures[], scale: 'unit' | 'raw'): PhotoFeatures => {
  const avg = (key: 'vector' | 'colour') => {
    const out = new Float32Array(fs[0]![key].length);
    for (const f of fs) {
      let norm = 0;
      for (const x of f[key]) norm += x * x;
      const s = key === 'vector' && scale === 'unit' ? 1 / Math.sqrt(norm || 1) : 1;
      for (let j = 0; j < out.length; j++) out[j]! += (f[key][j]! * s) / fs.length;
    }
    return out;
  };
  return { vector: avg('vector'), colour: avg('colour') };
};

interface Row {
  set: string;
  figure: PhotoSet['figure'];
  [variant: string]: number | string;
}
const rows: Row[] = [];
const started = performance.now();
for (const s of SETS) {
  const t0 = performance.now();
  const dir = await materialise(s);
  const totals = Object.fromEntries(variantNames.map((v) => [v, 0]));
  const chosen = Object.fromEntries(variantNames.map((v) => [v, {} as Record<string, number>]));
  for (let i = 0; i < s.ids.length; i += 16) {
    const ids = s.ids.slice(i, i + 16);
    const imgs = await Promise.all(ids.map((id) => decodeRgb(readFileSync(join(dir, `${id}.jpg`)), { background, maxSide: DECODE_MAX_SIDE })));
    // Each reading is keyed `<reading>@<working side>`.
    const flat: Array<{ p: number; name: string; img: DecodedRgb }> = [];
    const replacedAt = imgs.map(() => new Set<number>());
    imgs.forEach((img, p) => {
      for (const [side, needed] of neededAt) {
        const r = readingsOf(img, side, needed);
        if (r.replaced) replacedAt[p]!.add(side);
        (Object.entries(r.readings) as Array<[ReadingName, DecodedRgb | null]>).forEach(([name, r]) => r && flat.push({ p, name: `${name}@${side}`, img: r }));
      }
    });
    const features = await embedProducts(embedder, flat.map((f) => f.img));
    const byPhoto = imgs.map(() => new Map<string, PhotoFeatures>());
    flat.forEach((f, k) => byPhoto[f.p]!.set(f.name, features[k]!));
    for (let p = 0; p < ids.length; p++) {
      const id = ids[p]!;
      const meta = styles.rows.get(id) as Metadata;
      const have = byPhoto[p]!;
      // Per reading (or average of readings): its nearest item's similarity in the same-product space (what chooseReading
      // compares) and its search figure; computed once per photo, whichever variants share it.
      const sims = new Map<string, number>();
      const figures = new Map<string, number>();
      const space = svc.search.spaces.sameProduct;
      const similarity = async (name: string, f: PhotoFeatures) => {
        if (!sims.has(name)) {
          const v = svc.refinement.sameProductVectors([f])[0];
          const nearest = v && space ? (await space.search(v, { k: 1, metric: 'cosine' }))[0] : undefined;
          sims.set(name, nearest ? 1 - nearest.distance : -Infinity);
        }
        return sims.get(name)!;
      };
      const figure = async (name: string, f: PhotoFeatures, rerank?: Variant['rerank']) => {
        const key = rerank ? `${name}|rr${rerank.beta}d${rerank.depth}` : name;
        if (!figures.has(key)) {
          const a = await svc.refinement.analyse(f);
          const res = await svc.search.nearest(a.searchVector, { k: rerank?.depth ?? 10, metric: 'cosine', sameProduct: a.sameProductVector });
          let hits = res.hits;
          if (rerank) {
            const bb = await svc.spaces.backbone.distances(f.vector, hits.map((h) => h.id), 'cosine');
            const sim = new Map(bb.map((d) => [d.id, 1 - d.distance]));
            hits = rerankByBackbone(hits, hits.map((h) => sim.get(h.id) ?? null), rerank.beta);
          }
          hits = hits.slice(0, 10);
          const rank = hits.findIndex((h) => h.id === id);
          figures.set(key, s.figure === 'p5' ? precisionAtK(meta, hits.map((h) => h.metadata), 5)[strict ? 'strict' : 'type'] : s.figure === 'first' ? Number(rank === 0) : Number(rank >= 0 && rank < 5));
        }
        return figures.get(key)!;
      };
      for (const v of variantNames) {
        const { spec, side } = specOf(v);
        const at = (n: ReadingName) => `${n}@${side}`;
        const cands: Array<{ name: string; f: PhotoFeatures }> = [];
        if (spec.combine === 'mean') {
          const names = spec.mean!.filter((n) => have.has(at(n))).map(at);
          const parts = names.map((n) => have.get(n)!);
          const scale = spec.scale ?? 'unit';
          // One part alone is averaged too (a 'unit' average of one is that vector made shorter), except where it is the reading as it is.
          const single = names.length === 1 && (spec.mean!.length > 1 || scale === 'raw');
          cands.push({ name: single ? names[0]! : `${scale}-mean(${names.join('+')})`, f: single ? parts[0]! : mean(parts, scale) });
        }
        for (const n of spec.readings) if (have.has(at(n))) cands.push({ name: at(n), f: have.get(at(n))! });
        // As chooseReading: the first reading with the highest similarity (the first alone without a same-product space).
        let pick = cands[0]!;
        if (cands.length > 1 && space) {
          let best = await similarity(pick.name, pick.f);
          for (const c of cands.slice(1)) {
            const sim = await similarity(c.name, c.f);
            if (sim > best) [pick, best] = [c, sim];
          }
        }
        chosen[v]![pick.name] = (chosen[v]![pick.name] ?? 0) + 1;
        const rerank = spec.offBackdrop && !(replacedAt[p]!.has(side) || pick.name.startsWith('balanced@')) ? undefined : spec.rerank;
        totals[v]! += await figure(pick.name, pick.f, rerank);
      }
    }
  }
  const row: Row = { set: s.name, figure: s.figure };
  for (const v of variantNames) row[v] = Math.round((totals[v]! / s.ids.length) * 1000) / 1000;
  rows.push(row);
  log(`${JSON.stringify(row)} (${((performance.now() - t0) / 1000).toFixed(0)} s) chosen: ${JSON.stringify(chosen)}`);
}
await svc.close();

const header = `| set | figure | ${variantNames.join(' | ')} |`;
console.log([header, `|${'---|'.repeat(variantNames.length + 2)}`, ...rows.map((r) => `| ${r.set} | ${r.figure} | ${variantNames.map((v) => r[v]).join(' | ')} |`)].join('\n'));
const key = `readings-${tag}${label ? `-${label}` : ''}`;
saveResult(key, {
  catalog: data,
  queries: queryIds.length,
  items: itemIds.length,
  seed,
  variants: Object.fromEntries(variantNames.map((v) => [v, specOf(v)])),
  rows,
  seconds: Math.round((performance.now() - started) / 1000),
  command: `node --import tsx bench/readings.ts --catalog ${catalogN} --queries ${queryN} --items ${itemN}${families ? ` --families --family-items ${familyItems}` : ''}${process.argv.includes('--one-held-out') ? ' --one-held-out' : ''} --sets ${setKinds.join(',')}${strict ? ' --strict' : ''} --variants ${variantNames.join(',')}`,
});
