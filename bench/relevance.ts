// Relevance with no leakage: the refinement is trained on the training split only (src/catalog/split.ts),
// and the held-back items (20%) are queries against a catalog of training items, so the figures are for
// photos that are not in the catalog at all. Prints JSON and writes the table into docs/relevance.md.
// Usage: tsx bench/relevance.ts --data <catalog of the shared photos> [--epochs N (default: what `fashion train` uses)]
//        [--database postgres://… [--database-schema S]]: the same figures from a catalog kept in PostgreSQL (issue 20's
//        check that both backends give the same held-back relevance); nothing is saved or written into the docs then.
// A catalog indexed with the default backbone writes the "refined" section of docs/relevance.md; every backbone measured
// (e.g. --second-model none, --mirror on) adds its row to the "backbones" section, which compares them.
import { backfillColours } from '../src/app/refineCatalog.js';
import { openCatalogStore } from '../src/catalog/openCatalog.js';
import { isHeldBack } from '../src/catalog/split.js';
import { storedIdentity } from '../src/catalog/identity.js';
import { composition, Embedder, identityKey, isComposed, type ModelIdentity } from '../src/embedding/embedder.js';
import { demoCatalog, embedderOptions, REPO_ROOT, resolveConfig } from '../src/config.js';
import { embedProducts } from '../src/embedding/vectorize.js';
import { fitPhoto } from '../src/imaging/decode.js';
import { Gemm } from '../src/linalg/gemm.js';
import { batchKnn, l2NormalizeRows } from '../src/linalg/batchKnn.js';
import { COLOUR_DIMS } from '../src/refine/colourFeatures.js';
import { DEFAULT_TRAIN } from '../src/refine/mlp.js';
import { trainRefinement } from '../src/refine/train.js';
import { precisionAtK } from '../src/eval/metrics.js';
import type { Metadata } from '../src/store/catalogStore.js';
import { arg, loadResults, percentile, round, saveResult } from './common.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeRelevanceSection } from './relevanceDoc.js';

const BACKBONE_PREFIX = 'relevance-backbone: ';
const dataDir = arg('data', '.fashion');
const epochs = Number(arg('epochs', String(DEFAULT_TRAIN.epochs)));
const databaseUrl = arg('database', '') || null;
const store = await openCatalogStore({ dataDir, databaseUrl, databaseSchema: arg('database-schema', 'fashion') });
await backfillColours(store);
const identity = (await storedIdentity(store))!;
const { items, vectors, dims } = await store.loadAll();
const colours = (await store.loadFeatures('colour', items.map((it) => it.id)))!;
await store.close();
const labelled = items.map((_, i) => i).filter((i) => items[i]!.metadata.articleType);
const test = labelled.filter((i) => isHeldBack(items[i]!.id));
const testSet = new Set(test);
const train = labelled.filter((i) => !testSet.has(i));
const cost = await embeddingCost(identity, items.slice(0, 200).map((it) => join(demoCatalog()!.images, `${it.id}.jpg`)));
const gemm = await Gemm.create(2);

const take = (rows: number[], src: Float32Array, d: number) => {
  const out = new Float32Array(rows.length * d);
  rows.forEach((i, r) => out.set(src.subarray(i * d, (i + 1) * d), r * d));
  return out;
};
const metaOf = (rows: number[]) => rows.map((i) => items[i]!.metadata);

/** P@5, strict P@5 and mAP@10 of held-back queries against the training catalog. */
async function score(q: Float32Array, g: Float32Array, d: number) {
  const top = await batchKnn(gemm, q, test.length, g, train.length, d, 10);
  const typeCount = new Map<string, number>();
  for (const i of train) typeCount.set(items[i]!.metadata.articleType!, (typeCount.get(items[i]!.metadata.articleType!) ?? 0) + 1);
  let p = 0, s = 0, ap = 0;
  test.forEach((i, r) => {
    const m = items[i]!.metadata;
    const found: Metadata[] = Array.from(top.subarray(r * 10, r * 10 + 10), (row) => items[train[row]!]!.metadata);
    const atK = precisionAtK(m, found, 5);
    p += atK.type;
    s += atK.strict;
    let hits = 0, sum = 0;
    found.forEach((o, j) => {
      if (o.articleType !== m.articleType) return;
      hits++;
      sum += hits / (j + 1);
    });
    ap += sum / Math.max(1, Math.min(10, typeCount.get(m.articleType!) ?? 0));
  });
  return { precisionAt5: round(p / test.length, 4), strictPrecisionAt5: round(s / test.length, 4), mapAt10: round(ap / test.length, 4) };
}

const rows: Array<{ method: string } & Awaited<ReturnType<typeof score>>> = [];
const norm = (x: Float32Array, d: number) => l2NormalizeRows(new Float32Array(x), x.length / d, d);
const qb = take(test, vectors, dims), gb = take(train, vectors, dims);
const backboneRow = !isComposed(identity) ? 'ImageNet features, max pooling, cosine (the classic design)' : `backbone features of ${identity.modelName} (${identity.featureTensor}), cosine`;
rows.push({ method: backboneRow, ...(await score(norm(qb, dims), norm(gb, dims), dims)) });
const qc = take(test, colours, COLOUR_DIMS), gc = take(train, colours, COLOUR_DIMS);
rows.push({ method: 'colour histogram alone', ...(await score(qc, gc, COLOUR_DIMS)) });

const started = performance.now();
const { model, report } = await trainRefinement(
  gemm,
  { ids: train.map((i) => items[i]!.id), metadata: metaOf(train), backbones: gb, colours: gc, backboneDims: dims, backboneKey: identityKey(identity) },
  { epochs, onProgress: (m) => console.error(m) },
);
const trainSeconds = (performance.now() - started) / 1000;
const q = await model.vectors(gemm, qb, qc, test.length, null);
const g = await model.vectors(gemm, gb, gc, train.length, metaOf(train));
rows.push({ method: `refined: MLP on labels + colour fusion (${model.dims}-d, weights ${JSON.stringify(report.fusion)})`, ...(await score(q.vectors, g.vectors, model.dims)) });
// Hidden layer alone, and class probabilities alone, to show what each part brings.
const accuracy: Record<string, number> = {};
for (const field of ['articleType', 'baseColour', 'gender']) {
  let ok = 0, n = 0;
  test.forEach((i, r) => {
    const truth = items[i]!.metadata[field];
    if (!truth) return;
    n++;
    if (model.predictions(q.probs, r)[field]?.value === truth) ok++;
  });
  accuracy[field] = round(ok / Math.max(1, n), 4);
}
await gemm.close();

const result = {
  catalog: dataDir,
  trainItems: train.length,
  heldBackQueries: test.length,
  epochs,
  trainSeconds: round(trainSeconds, 1),
  modelBytes: report.modelBytes,
  validation: report.validation,
  categorisationAccuracy: accuracy,
  rows,
};
console.log(JSON.stringify(result));
if (databaseUrl) process.exit(0);
if (cost.isDefault) saveResult('relevance', result);
const backboneKey = `${BACKBONE_PREFIX}${identity.modelName}${composition(identity).mirror ? ' (photo + mirror)' : ''}`;
saveResult(backboneKey, {
  default: cost.isDefault,
  dims,
  embedMsPerPhoto: cost.msPerPhoto,
  backbone: rows[0],
  refined: rows[2],
  categorisationAccuracy: accuracy,
  trainSeconds: result.trainSeconds,
  modelBytes: result.modelBytes,
});

const table = [
  `Held-back split: ${test.length} queries (20% of the labelled items, by id hash) against a catalog of the other ${train.length}; the refinement saw only the training items. k = 5, cosine. Relevant = same articleType; strict = same articleType and baseColour.`,
  '',
  '| method | P@5 | strict P@5 | mAP@10 |',
  '|---|---|---|---|',
  ...rows.map((r) => `| ${r.method} | ${r.precisionAt5.toFixed(3)} | ${r.strictPrecisionAt5.toFixed(3)} | ${r.mapAt10.toFixed(3)} |`),
  '',
  `Training: ${train.length} items, ${epochs} epochs, seed 42, ${round(trainSeconds, 1)} s on ${'2 cores'}; model ${(report.modelBytes / 1e6).toFixed(1)} MB.`,
  `Auto-categorisation accuracy on the held-back items: articleType ${accuracy.articleType}, baseColour ${accuracy.baseColour}, gender ${accuracy.gender}.`,
].join('\n');
if (cost.isDefault) writeRelevanceSection('refined', 'Refinement on the held-back split (the default when a catalog has labels)', table);
writeRelevanceSection('backbones', 'Backbones compared', backbonesTable());

/** Whether this catalog's backbone is the default one, and what one query photo costs to embed with it (batch 1, 2 threads). */
async function embeddingCost(made: ModelIdentity, paths: string[]): Promise<{ isDefault: boolean; msPerPhoto: number }> {
  const config = resolveConfig({ threads: 2 }, {}, REPO_ROOT);
  const fresh = await Embedder.load(embedderOptions(config));
  const isDefault = identityKey(fresh.identity) === identityKey(made);
  await fresh.close();
  // With the defaults, the composition follows the catalog (src/config.ts backboneFor): the catalog's own backbone.
  const own = await Embedder.load(embedderOptions(config, made));
  const products = await Promise.all(paths.map(async (p) => (await fitPhoto(readFileSync(p), made.preprocess)).product));
  const times: number[] = [];
  for (const [i, product] of products.entries()) {
    const t = performance.now();
    await embedProducts(own, [product]);
    if (i >= 20) times.push(performance.now() - t);
  }
  await own.close();
  return { isDefault, msPerPhoto: round(percentile(times, 50), 1) };
}

/** One row per backbone measured by this script (bench/results.json), the default marked. */
function backbonesTable(): string {
  const all = loadResults() as Record<string, any>;
  const lines = Object.entries(all)
    .filter(([k]) => k.startsWith(BACKBONE_PREFIX))
    .sort(([, a], [, b]) => a.refined.precisionAt5 - b.refined.precisionAt5)
    .map(([k, r]) => {
      const f = (x: number) => x.toFixed(3);
      return `| ${k.slice(BACKBONE_PREFIX.length)}${r.default ? ' **(default)**' : ''} | ${r.dims} | ${r.embedMsPerPhoto} | ${f(r.backbone.precisionAt5)} / ${f(r.backbone.strictPrecisionAt5)} | ${f(r.refined.precisionAt5)} | ${f(r.refined.strictPrecisionAt5)} | ${f(r.refined.mapAt10)} | ${r.categorisationAccuracy.articleType} | ${r.categorisationAccuracy.baseColour} | ${r.trainSeconds} s, ${(r.modelBytes / 1e6).toFixed(1)} MB |`;
    });
  return [
    'Each row: `fashion index` of the shared photos with that backbone (`--second-model`, `--mirror`; README), then',
    '`node --import tsx bench/relevance.ts --data <that catalog>`. Same held-back split and training as above; embedding time is',
    'one isolated 224 px photo at a time on 2 threads (median of 180), the share of a query that depends on the backbone.',
    '',
    '| backbone | dims | embed ms/photo | backbone-vector P@5 / strict | refined P@5 | strict P@5 | mAP@10 | articleType acc | baseColour acc | training, model |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...lines,
  ].join('\n');
}
