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
 * readings-6000-rerank and the results before it did).
 *
 *   flock /tmp/fashion-heavy.lock node --import tsx bench/readings.ts --catalog 6000
 *       [--queries 300] [--items 200] [--work /tmp/fashion-generalise] [--families [--family-items 150]] [--one-held-out] [--variants shipped,before,...]
 *       [--sets phone,mild,queries] [--splits tune,held-out] [--label NAME] [--pooling max] [--strict]
 *
 * Sets (same seeds and folders as bench/generalise.ts, so their photos are shared): clean held-back photos and their
 * phone-like copies (P@5), mild and hard (phone-like) copies of catalog items (own item first / in the top 5), each in
 * TUNE and HELD-OUT styles. --families adds, per family, hard copies of the same items (the first --family-items of the
 * sample) with that family alone on, in TUNE and in HELD-OUT styles; --one-held-out: phone-like copies in TUNE styles
 * with that one family in its HELD-OUT style (what each held-out style costs alone and within a phone photo). Choose on TUNE; HELD-OUT says whether it holds.
 * Prints a table; saves it under `readings-<catalog>` in bench/results.json.
 */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
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
import type { SearchHit } from '../src/search/types.js';
import { offBackdrop, rerankByBackbone } from '../src/search/backboneRerank.js';
import { mixKinds, neighbourKindShares } from '../src/search/kindPrior.js';
import { voteByKind, type KindVoteOptions } from './kindVote.js';
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
/**
 * Isolation as the query path does it (QUERY_ISOLATION: the product found at a working side); --working-side N tries another
 * side (0 = the decoded size, as catalog photos and training copies are isolated). bench/readings.ts on branch querylat
 * (afd3b8d) compared sides in one run (`<variant>@<side>`); this flag compares them one run each.
 */
const QUERY_TUNING: IsolateTuning = { ...QUERY_ISOLATION, workingSide: Number(arg('working-side', String(QUERY_ISOLATION.workingSide))) };
/** --strict: P@5 counts only results of the query's kind and colour (strict P@5), not of its kind alone. */
const strict = process.argv.includes('--strict');
const log = (m: string) => process.stderr.write(`${m}\n`);
/**
 * --dump FILE: per photo of every set, for the first variant's chosen reading, its refined nearest 100 (no re-rank, the
 * same-product pin first) with each one's refined similarity, backbone cosine and labels, and the network's articleType
 * probabilities of every reading made (their 8 most likely classes): JSON lines, to study orderings of the candidates
 * without embedding the photos again.
 */
const dumpFile = arg('dump', '');

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
  readonly rerank?: { readonly beta: number; readonly depth: number; readonly offBackdrop?: boolean };
  /**
   * After the re-rank, the neighbourhood vote on the kind (src/search/kindVote.ts) over the first `depth` hits; `scope`
   * 'offBackdrop': for photos taken off a backdrop only (as the re-rank with `offBackdrop`), 'all': every photo.
   */
  readonly vote?: KindVoteOptions & { readonly scope: 'offBackdrop' | 'all' };
  /**
   * Before the search, the query's kind probabilities mixed with the kinds of its `k` nearest catalog items by backbone
   * cosine (src/search/kindPrior.ts): softmax(cosine / temperature) shares, `weight` of the mix; `scope` as the vote's.
   */
  readonly kindPrior?: { readonly k: number; readonly temperature: number; readonly weight: number; readonly scope: 'offBackdrop' | 'all'; readonly from?: 'backbone' | 'sameProduct' };
  /**
   * The kind evidence of the query path's prior (issue 21, "the kind of product in phone photos"), spelled out: `kind`
   * replaces `kindPrior` when given. The network's kind probabilities come from the chosen reading (`net` 'chosen') or are
   * fused over the photo's readings (`over` 'cands': the readings that competed; 'all': those and every embedded reading
   * apart): 'mean', 'maxconf' (the reading whose top kind is surest), 'entropy' (weighted by exp(-entropy)). `power`
   * raises them to a power and scales them back to sum 1 (below 1 flattens an over-sure guess). The neighbours (k, softmax
   * temperature, same-product space) are the chosen reading's (`neighbours` 'chosen') or their shares averaged over the
   * same readings ('all'); `backbone` mixes in that share of the backbone neighbours' shares (same k and 0.02). `weight`:
   * the neighbours' share for photos taken off a backdrop, `weightStudio` for studio shots (default the same);
   * `geometric`: the two opinions multiplied (weights as exponents) instead of added.
   */
  readonly kind?: KindEvidence;
}
interface KindEvidence {
  readonly k: number;
  readonly temperature: number;
  readonly weight: number;
  readonly weightStudio?: number;
  readonly net?: 'chosen' | 'mean' | 'maxconf' | 'entropy';
  readonly over?: 'cands' | 'all';
  readonly neighbours?: 'chosen' | 'all';
  readonly power?: number;
  readonly backbone?: number;
  /** That share of the kinds of the nearest items in the refined space with the query's kind part left out (same k, temperature). */
  readonly noKind?: number;
  readonly geometric?: boolean;
  /** With `geometric`: the floor each opinion is kept above (default 1e-3). */
  readonly floor?: number;
}
const MAIN: Variant = { readings: ['balanced'], combine: 'mean', mean: ['iso', 'crop'], scale: 'raw', rerank: { beta: 2, depth: 100, offBackdrop: true } };
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
  // Re-ranking by backbone similarity (issue 21): the shipped readings, the refined top `depth` ordered again.
  ...Object.fromEntries(
    [0.1, 0.25, 0.5, 1, 2, 4].flatMap((beta) =>
      [50, 100].map((depth) => [`rr${beta}d${depth}`, { readings: ['balanced'], combine: 'mean', mean: ['iso', 'crop'], scale: 'raw', rerank: { beta, depth } } as Variant]),
    ),
  ),
  /**
   * The query path from 9322d59 to 1795eb0: `rr2d100` for photos taken off a backdrop only (offBackdrop), studio shots in the
   * refined order. From 704c07b the query path was `kp-k20-t0.02-w0.5-all` (the kind from the photo's backbone neighbours), since 5aaf779 `sp-k20-t0.05-w0.5-all` (its neighbours in the same-product space).
   */
  main: MAIN,
  // The same, the neighbours taken in the same-product space (which has a graph on a large catalog; the backbone space does not).
  ...Object.fromEntries(
    [0.02, 0.05, 0.1].map((temperature) => [`sp-k20-t${temperature}-w0.5-all`, { ...MAIN, kindPrior: { k: 20, temperature, weight: 0.5, scope: 'all', from: 'sameProduct' } } as Variant]),
  ),
  // The kind evidence (issue 21, task kindacc): `ke-base` is `main` with the shipped prior (sp-k20-t0.05-w0.5-all) written
  // as `kind`; the others change one thing of it (see Variant.kind).
  ...kindEvidenceVariants(),
  // Kind from the photo's backbone neighbours (issue 21): `main` searched with the kind probabilities mixed with the kinds of
  // the k nearest catalog items by backbone cosine (temperature t, weight w); `-all`: studio shots too.
  ...Object.fromEntries(
    [10, 20, 50].flatMap((k) =>
      [0.01, 0.02, 0.05].flatMap((temperature) =>
        [0.35, 0.5, 0.65].flatMap((weight) =>
          (['offBackdrop', 'all'] as const).map((scope) => [
            `kp-k${k}-t${temperature}-w${weight}${scope === 'all' ? '-all' : ''}`,
            { ...MAIN, kindPrior: { k, temperature, weight, scope } } as Variant,
          ]),
        ),
      ),
    ),
  ),
  // The neighbourhood vote on the kind (issue 21): `main`, then the first n hits vote for their kind, weighted by softmax of
  // their refined similarity at temperature t (0: equal votes); `vt` by articleType, `vc` by articleType and baseColour;
  // `g`: every voted kind by its weight, `w`: the winning kind first; `-all`: studio shots too, else off a backdrop only;
  // `-s<share>`: only when the winning kind holds that share of the vote.
  ...Object.fromEntries(
    (['type', 'typeColour'] as const).flatMap((by) =>
      (['groups', 'winner'] as const).flatMap((mode) =>
        [10, 20, 50].flatMap((depth) =>
          [0, 0.02, 0.05, 0.1].flatMap((temperature) =>
            (['offBackdrop', 'all'] as const).flatMap((scope) =>
              [0, 0.5].map((minShare) => [
                `${by === 'type' ? 'vt' : 'vc'}-${mode[0]}-n${depth}-t${temperature}${scope === 'all' ? '-all' : ''}${minShare ? `-s${minShare}` : ''}`,
                { ...MAIN, vote: { depth, temperature, by, mode, scope, minShare } } as Variant,
              ]),
            ),
          ),
        ),
      ),
    ),
  ),
};
function kindEvidenceVariants(): Record<string, Variant> {
  const base: KindEvidence = { k: 20, temperature: 0.05, weight: 0.5 };
  const v = (name: string, k: Partial<KindEvidence>): [string, Variant] => [`ke-${name}`, { ...MAIN, kind: { ...base, ...k } }];
  return Object.fromEntries([
    v('base', {}),
    ...(['mean', 'maxconf', 'entropy'] as const).flatMap((net) => [v(`net-${net}`, { net }), v(`net-${net}-all`, { net, over: 'all' })]),
    v('nb-all', { neighbours: 'all' }),
    v('nb-all-all', { neighbours: 'all', over: 'all' }),
    v('mean-nb-all', { net: 'mean', neighbours: 'all' }),
    v('mean-nb-all-all', { net: 'mean', over: 'all', neighbours: 'all' }),
    ...[0.3, 0.4, 0.6, 0.7, 0.8].map((w) => v(`off${w}`, { weight: w })),
    ...[0.3, 0.4, 0.6, 0.7].map((w) => v(`studio${w}`, { weightStudio: w })),
    ...[0.5, 0.7, 1.5, 2].map((power) => v(`pow${power}`, { power })),
    ...[0.25, 0.5].map((b) => v(`bb${b}`, { backbone: b })),
    v('geo', { geometric: true }),
    ...[0.4, 0.6, 0.7].map((w) => v(`geo-w${w}`, { geometric: true, weight: w, weightStudio: w })),
    v('geo-off0.6', { geometric: true, weight: 0.6, weightStudio: 0.5 }),
    ...[0.25, 0.5].map((x) => v(`nokind${x}`, { noKind: x })),
    v('geo-nokind0.25', { geometric: true, noKind: 0.25 }),
    ...[1e-4, 1e-2, 3e-2].map((floor) => v(`geo-floor${floor}`, { geometric: true, floor })),
    ...[1e-4, 1e-2, 3e-2].map((floor) => v(`geo-w0.6-floor${floor}`, { geometric: true, weight: 0.6, weightStudio: 0.6, floor })),
    v('off0.7-studio0.5', { weight: 0.7, weightStudio: 0.5 }),
    v('off0.6-studio0.5', { weight: 0.6, weightStudio: 0.5 }),
    ...[10, 30, 50].map((k) => v(`k${k}`, { k })),
    ...[0.03, 0.08].map((temperature) => v(`t${temperature}`, { temperature })),
  ]);
}

/**
 * The multi-scale readings, made where isolation replaced a backdrop (a studio shot has one reading): isolation again with
 * the product brought to another detail (`canonicalSide` 120 or 56 against 80: what the model sees of a soft, small product
 * then differs) or with a wider white margin (0.2 against 0.08: the product smaller in the model's frame), and the as-is crop
 * with 15% of the box's longer side more context on every side.
 */
const MULTI_SCALE = { fine: 120, coarse: 56, wideMargin: 0.2, cropContext: 0.15 };
const variantNames = arg('variants', Object.keys(VARIANTS).join(',')).split(',');
for (const v of variantNames) if (!VARIANTS[v]) throw new Error(`--variants: one of ${Object.keys(VARIANTS).join(', ')}`);
const needed = new Set<ReadingName>(variantNames.flatMap((v) => [...VARIANTS[v]!.readings, ...(VARIANTS[v]!.mean ?? [])]));

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

/** --splits tune: leave out the HELD-OUT sets (clean photos have no style and always run), to choose without seeing them. */
const splits = arg('splits', 'tune,held-out').split(',');
const ALL_SETS: PhotoSet[] = [
  ...(setKinds.includes('queries') ? [{ name: 'queries-clean', kind: 'queries', figure: 'p5', ids: queryIds, recipe: null } as PhotoSet, shopperSet('phone', 'tune', 'queries', 'p5'), shopperSet('phone', 'held-out', 'queries', 'p5')] : []),
  ...(setKinds.includes('mild') ? [shopperSet('mild', 'tune', 'items', 'first'), shopperSet('mild', 'held-out', 'items', 'first')] : []),
  ...(setKinds.includes('phone') ? [shopperSet('phone', 'tune', 'items', 'top5'), shopperSet('phone', 'held-out', 'items', 'top5')] : []),
  ...(families ? FAMILIES.flatMap((f) => [shopperSet(f, 'tune', 'items', 'top5'), shopperSet(f, 'held-out', 'items', 'top5')].map((s) => ({ ...s, ids: s.ids.slice(0, familyItems) }))) : []),
  ...(process.argv.includes('--one-held-out') ? FAMILIES.map(oneHeldOut) : []),
];
const SETS = ALL_SETS.filter((s) => splits.includes(s.name.includes('held-out') || s.name.includes('-but-') ? 'held-out' : 'tune'));

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

/** Every needed reading of one photo (null where the photo has none, as fitPhoto gives none). */
function readingsOf(img: DecodedRgb): { images: Partial<Record<ReadingName, DecodedRgb | null>>; method: ReturnType<typeof isolateProduct>['method'] } {
  const iso = isolateProduct(img, QUERY_TUNING);
  const out: Partial<Record<ReadingName, DecodedRgb | null>> = { iso: iso.image };
  if (needed.has('balanced')) out.balanced = balancedReading(img, iso, QUERY_TUNING)?.image ?? null;
  const replaced = iso.method === 'replaced';
  if (needed.has('asIs')) out.asIs = replaced ? img : null;
  if (needed.has('crop')) out.crop = replaced ? cropAsIs(img, iso.box) : null;
  if (needed.has('sharp')) out.sharp = iso.method === 'studio' ? null : sharpened(iso.image);
  if (needed.has('grey')) out.grey = iso.method === 'studio' ? null : shadesOfGrey(iso.image);
  if (needed.has('flip')) out.flip = flipped(iso.image);
  const again = (tuning: Partial<IsolateTuning>) => (replaced ? isolateProduct(img, { ...QUERY_TUNING, ...tuning }).image : null);
  if (needed.has('isoFine')) out.isoFine = again({ canonicalSide: MULTI_SCALE.fine });
  if (needed.has('isoCoarse')) out.isoCoarse = again({ canonicalSide: MULTI_SCALE.coarse });
  if (needed.has('isoWide')) out.isoWide = again({ margin: MULTI_SCALE.wideMargin });
  if (needed.has('cropWide')) {
    const b = iso.box, grow = Math.round(Math.max(b.width, b.height) * MULTI_SCALE.cropContext);
    out.cropWide = replaced ? cropAsIs(img, { left: b.left - grow, top: b.top - grow, width: b.width + 2 * grow, height: b.height + 2 * grow }) : null;
  }
  return { images: out, method: iso.method };
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
if (dumpFile) writeFileSync(dumpFile, '');
/** The network's articleType probabilities of a reading (its 8 most likely classes), read off the search vector's type part. */
async function typeProbabilities(f: PhotoFeatures): Promise<Array<[string, number]>> {
  const model = svc.refinement.model!;
  const classes = model.header.heads.find((h) => h.field === 'articleType')!.classes;
  // The type part is the probabilities scaled to length `fusion.type`: their sum brings them back.
  const part = (await svc.refinement.analyse(f)).searchVector.subarray(0, classes.length);
  let sum = 0;
  for (const x of part) sum += x;
  return classes.map((c, j) => [c, part[j]! / (sum || 1)] as [string, number]).sort((a, b) => b[1] - a[1]).slice(0, 8).map(([c, x]) => [c, Math.round(x * 1e4) / 1e4]);
}
async function dump(s: PhotoSet, id: string, meta: Metadata, pick: { name: string; f: PhotoFeatures }, have: Map<ReadingName, PhotoFeatures>, method: string): Promise<void> {
  const a = await svc.refinement.analyse(pick.f);
  const hits = (await svc.search.nearest(a.searchVector, { k: 100, metric: 'cosine', sameProduct: a.sameProductVector })).hits;
  const bb = new Map((await svc.spaces.backbone.distances(pick.f.vector, hits.map((h) => h.id), 'cosine')).map((d) => [d.id, 1 - d.distance]));
  const readings = Object.fromEntries(await Promise.all([[pick.name, pick.f] as const, ...have].map(async ([n, f]) => [n, await typeProbabilities(f)])));
  // Two other opinions on the kind: the nearest 50 of the whole catalog by backbone cosine, and by the refined vector
  // without its predicted-kind part (the network's hidden layer, colour, gender and same-product parts decide).
  const labelled = (ns: ReadonlyArray<{ id: string; distance: number }>) => ns.map((n) => [svc.catalog.item(n.id).metadata.articleType, Math.round((1 - n.distance) * 1e6) / 1e6]);
  const backboneNearest = labelled(await svc.spaces.backbone.search(pick.f.vector, { k: 50, metric: 'cosine' }));
  const noKind = new Float32Array(a.searchVector);
  noKind.fill(0, 0, svc.refinement.model!.partSizes[0]);
  const noKindNearest = labelled(await svc.spaces.search.search(noKind, { k: 50, metric: 'cosine' }));
  const row = {
    set: s.name, id, type: meta.articleType, colour: meta.baseColour, pick: pick.name, method, readings, backboneNearest, noKindNearest,
    hits: hits.map((h) => [h.id, h.metadata.articleType, h.metadata.baseColour, h.score, Math.round((bb.get(h.id) ?? NaN) * 1e6) / 1e6, h.lookAlike ? 1 : 0]),
  };
  appendFileSync(dumpFile, `${JSON.stringify(row)}\n`);
}
const started = performance.now();
for (const s of SETS) {
  const t0 = performance.now();
  const dir = await materialise(s);
  const totals = Object.fromEntries(variantNames.map((v) => [v, 0]));
  const strictTotals = Object.fromEntries(variantNames.map((v) => [v, 0]));
  const chosen = Object.fromEntries(variantNames.map((v) => [v, {} as Record<string, number>]));
  for (let i = 0; i < s.ids.length; i += 16) {
    const ids = s.ids.slice(i, i + 16);
    const imgs = await Promise.all(ids.map((id) => decodeRgb(readFileSync(join(dir, `${id}.jpg`)), { background, maxSide: DECODE_MAX_SIDE })));
    const per = imgs.map(readingsOf);
    const flat: Array<{ p: number; name: ReadingName; img: DecodedRgb }> = [];
    per.forEach((r, p) => (Object.entries(r.images) as Array<[ReadingName, DecodedRgb | null]>).forEach(([name, img]) => img && flat.push({ p, name, img })));
    const features = await embedProducts(embedder, flat.map((f) => f.img));
    const byPhoto = per.map(() => new Map<ReadingName, PhotoFeatures>());
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
      // The hits of one reading, searched as deep as the re-rank and the vote need, re-ranked where the variant does.
      const searched = new Map<string, SearchHit[]>();
      const hitsOf = async (name: string, f: PhotoFeatures, depth: number, rerank: Variant['rerank'] | null, prior: Variant['kindPrior'] | null, given?: { key: string; vector: Float32Array }) => {
        const key = `${name}|${depth}|${rerank ? `rr${rerank.beta}d${rerank.depth}` : ''}|${prior ? `${prior.from ?? 'backbone'}k${prior.k}t${prior.temperature}w${prior.weight}` : ''}|${given?.key ?? ''}`;
        if (!searched.has(key)) {
          const a = await svc.refinement.analyse(f);
          const from = prior?.from ?? 'backbone';
          const near = from === 'backbone' ? f.vector : a.sameProductVector;
          const vector = given ? given.vector : prior && near ? svc.refinement.withKindShares(a.searchVector, await svc.search.neighbourKinds(near, prior.k, prior.temperature, from), prior.weight) : a.searchVector;
          const res = await svc.search.nearest(vector, { k: depth, metric: 'cosine', sameProduct: a.sameProductVector });
          let hits = res.hits;
          if (rerank) {
            const bb = await svc.spaces.backbone.distances(f.vector, hits.map((h) => h.id), 'cosine');
            const sim = new Map(bb.map((d) => [d.id, 1 - d.distance]));
            hits = rerankByBackbone(hits, hits.map((h) => sim.get(h.id) ?? null), rerank.beta);
          }
          searched.set(key, hits);
        }
        return searched.get(key)!;
      };
      // Per reading: the network's kind probabilities, and its same-product neighbours' kind shares (by k and temperature).
      const model = svc.refinement.model!;
      const netProbs = new Map<string, Float32Array>();
      const probsOf = async (r: { name: string; f: PhotoFeatures }) => {
        if (!netProbs.has(r.name)) netProbs.set(r.name, model.typeProbabilities((await svc.refinement.analyse(r.f)).searchVector));
        return netProbs.get(r.name)!;
      };
      const shareCache = new Map<string, Map<string, number>>();
      const sharesOf = async (r: { name: string; f: PhotoFeatures }, k: number, t: number, from: 'backbone' | 'sameProduct') => {
        const key = `${r.name}|${k}|${t}|${from}`;
        if (!shareCache.has(key)) {
          const near = from === 'backbone' ? r.f.vector : svc.refinement.sameProductVectors([r.f])[0];
          shareCache.set(key, near ? await svc.search.neighbourKinds(near, k, t, from) : new Map());
        }
        return shareCache.get(key)!;
      };
      /** The search vector of variant `vname`'s kind evidence (Variant.kind) for the chosen reading. */
      const kindVector = async (vname: string, ke: KindEvidence, pick: { name: string; f: PhotoFeatures }, cands: ReadonlyArray<{ name: string; f: PhotoFeatures }>, off: boolean) => {
        const pool = [...cands];
        if (ke.over === 'all') for (const [n, f] of have) if (!pool.some((c) => c.name === n)) pool.push({ name: n, f });
        let probs = await probsOf(pick);
        if (ke.net && ke.net !== 'chosen' && pool.length > 1) {
          const all = await Promise.all(pool.map(probsOf));
          const weights = all.map((p) => {
            if (ke.net === 'mean') return 1;
            if (ke.net === 'entropy') return Math.exp(p.reduce((h, x) => h + (x > 0 ? x * Math.log(x) : 0), 0));
            return 0;
          });
          if (ke.net === 'maxconf') weights[all.reduce((b, p, i) => (Math.max(...p) > Math.max(...all[b]!) ? i : b), 0)] = 1;
          const total = weights.reduce((a, b) => a + b, 0);
          probs = new Float32Array(probs.length);
          all.forEach((p, i) => p.forEach((x, j) => (probs[j]! += (x * weights[i]!) / total)));
        }
        if (ke.power !== undefined && ke.power !== 1) {
          probs = probs.map((x) => x ** ke.power!);
          const sum = probs.reduce((a, b) => a + b, 0);
          probs = probs.map((x) => x / (sum || 1));
        }
        const averageShares = (list: ReadonlyArray<Map<string, number>>) => {
          const out = new Map<string, number>();
          for (const m of list) for (const [c, x] of m) out.set(c, (out.get(c) ?? 0) + x / list.length);
          return out;
        };
        let shares = ke.neighbours === 'all' ? averageShares(await Promise.all(pool.map((r) => sharesOf(r, ke.k, ke.temperature, 'sameProduct')))) : await sharesOf(pick, ke.k, ke.temperature, 'sameProduct');
        if (ke.backbone) {
          const bb = await sharesOf(pick, ke.k, 0.02, 'backbone');
          const out = new Map<string, number>();
          for (const [c, x] of shares) out.set(c, (1 - ke.backbone) * x);
          for (const [c, x] of bb) out.set(c, (out.get(c) ?? 0) + ke.backbone * x);
          shares = out;
        }
        if (ke.noKind) {
          const a = await svc.refinement.analyse(pick.f);
          const v = new Float32Array(a.searchVector);
          v.fill(0, 0, model.partSizes[0]);
          const near = await svc.spaces.search.search(v, { k: ke.k, metric: 'cosine' });
          const nk = neighbourKindShares(near.map((n) => ({ kind: svc.catalog.item(n.id).metadata.articleType, similarity: 1 - n.distance })), ke.temperature);
          const out = new Map<string, number>();
          for (const [c, x] of shares) out.set(c, (1 - ke.noKind) * x);
          for (const [c, x] of nk) out.set(c, (out.get(c) ?? 0) + ke.noKind * x);
          shares = out;
        }
        const w = off ? ke.weight : (ke.weightStudio ?? ke.weight);
        const classes = model.typeClasses;
        let mixed: Float32Array;
        if (ke.geometric && shares.size > 0) {
          // Each opinion kept above a floor, so that a kind one of them never names is not ruled out by it alone.
          const floor = ke.floor ?? 1e-3;
          mixed = new Float32Array(classes.map((c, j) => Math.max(probs[j]!, floor) ** (1 - w) * Math.max(shares.get(c) ?? 0, floor) ** w));
          const sum = mixed.reduce((a, b) => a + b, 0);
          mixed = mixed.map((x) => x / sum);
        } else mixed = shares.size > 0 ? mixKinds(probs, classes, shares, w) : probs;
        const a = await svc.refinement.analyse(pick.f);
        return { key: vname, vector: model.withTypeProbabilities(a.searchVector, mixed) };
      };
      /** The variant's figure for the chosen reading: [the set's figure, strict P@5 (p5 sets; else the same)]. */
      const figure = async (name: string, f: PhotoFeatures, spec: Variant, off: boolean, given?: { key: string; vector: Float32Array }): Promise<[number, number]> => {
        const rerank = spec.rerank && (!spec.rerank.offBackdrop || off) ? spec.rerank : null;
        const vote = spec.vote && (spec.vote.scope === 'all' || off) ? spec.vote : null;
        const depth = Math.max(10, rerank?.depth ?? 0, vote?.depth ?? 0);
        const prior = spec.kindPrior && (spec.kindPrior.scope === 'all' || off) ? spec.kindPrior : null;
        let hits = await hitsOf(name, f, depth, rerank, prior, given);
        if (vote) hits = voteByKind(hits, vote);
        hits = hits.slice(0, 10);
        const rank = hits.findIndex((h) => h.id === id);
        if (s.figure === 'p5') {
          const p = precisionAtK(meta, hits.map((h) => h.metadata), 5);
          return [p[strict ? 'strict' : 'type'], p.strict];
        }
        const x = s.figure === 'first' ? Number(rank === 0) : Number(rank >= 0 && rank < 5);
        return [x, x];
      };
      for (const v of variantNames) {
        const spec = VARIANTS[v]!;
        const cands: Array<{ name: string; f: PhotoFeatures }> = [];
        if (spec.combine === 'mean') {
          const names = spec.mean!.filter((n) => have.has(n));
          const parts = names.map((n) => have.get(n)!);
          const scale = spec.scale ?? 'unit';
          // One part alone is averaged too (a 'unit' average of one is that vector made shorter), except where it is the reading as it is.
          const single = names.length === 1 && (spec.mean!.length > 1 || scale === 'raw');
          cands.push({ name: single ? names[0]! : `${scale}-mean(${names.join('+')})`, f: single ? parts[0]! : mean(parts, scale) });
        }
        for (const n of spec.readings) if (have.has(n)) cands.push({ name: n, f: have.get(n)! });
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
        if (dumpFile && v === variantNames[0]) await dump(s, id, meta, pick, have, per[p]!.method);
        // As the query path's offBackdrop: isolation replaced the backdrop (the averaged reading's), or the balanced reading won.
        const off = offBackdrop(pick.name === 'balanced' ? 'balanced' : per[p]!.method);
        const given = spec.kind ? await kindVector(v, spec.kind, pick, cands, off) : undefined;
        const [x, xs] = await figure(pick.name, pick.f, spec, off, given);
        totals[v]! += x;
        strictTotals[v]! += xs;
      }
    }
  }
  const row: Row = { set: s.name, figure: s.figure };
  for (const v of variantNames) row[v] = Math.round((totals[v]! / s.ids.length) * 1000) / 1000;
  rows.push(row);
  // Strict P@5 beside P@5 on every query set (kind and colour), from the same searches.
  if (s.figure === 'p5' && !strict) {
    const strictRow: Row = { set: `${s.name} (strict)`, figure: s.figure };
    for (const v of variantNames) strictRow[v] = Math.round((strictTotals[v]! / s.ids.length) * 1000) / 1000;
    rows.push(strictRow);
  }
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
  variants: Object.fromEntries(variantNames.map((v) => [v, VARIANTS[v]])),
  rows,
  seconds: Math.round((performance.now() - started) / 1000),
  command: `node --import tsx bench/readings.ts --catalog ${catalogN} --queries ${queryN} --items ${itemN}${families ? ` --families --family-items ${familyItems}` : ''}${process.argv.includes('--one-held-out') ? ' --one-held-out' : ''} --sets ${setKinds.join(',')}${splits.length < 2 ? ` --splits ${splits.join(',')}` : ''}${strict ? ' --strict' : ''} --variants ${variantNames.join(',')}`,
});
