// Relevance with no leakage: the refinement is trained on the training split only (src/catalog/split.ts),
// and the held-back items (20%) are queries against a catalog of training items, so the figures are for
// photos that are not in the catalog at all. Prints JSON and writes the table into docs/relevance.md.
// Usage: tsx bench/relevance.ts --data <catalog of the shared photos> [--epochs N (default: what `fashion train` uses)]
// A catalog indexed with a composed backbone (--second-model, --mirror) writes its own section of docs/relevance.md.
import { backfillColours } from '../src/catalog/refineCatalog.js';
import { openCatalogStore } from '../src/catalog/openCatalog.js';
import { isHeldBack } from '../src/catalog/split.js';
import { storedIdentity } from '../src/catalog/ingest.js';
import { describeIdentity, identityKey, isComposed } from '../src/embedding/embedder.js';
import { Gemm } from '../src/embedding/gemm.js';
import { batchKnn, l2NormalizeRows } from '../src/refine/batchKnn.js';
import { COLOUR_DIMS } from '../src/refine/colourFeatures.js';
import { DEFAULT_TRAIN } from '../src/refine/mlp.js';
import { trainRefinement } from '../src/refine/train.js';
import { precisionAtK } from '../src/recommend/evaluate.js';
import type { Metadata } from '../src/store/catalogStore.js';
import { arg, round, saveResult } from './common.js';
import { writeRelevanceSection } from './relevanceDoc.js';

const dataDir = arg('data', '.fashion');
const epochs = Number(arg('epochs', String(DEFAULT_TRAIN.epochs)));
const store = openCatalogStore(dataDir);
await backfillColours(store);
const identity = storedIdentity(store)!;
const { items, vectors, dims } = store.loadAll();
const colours = store.loadFeatures('colour', items.map((it) => it.id))!;
store.close();
const labelled = items.map((_, i) => i).filter((i) => items[i]!.metadata.articleType);
const test = labelled.filter((i) => isHeldBack(items[i]!.id));
const testSet = new Set(test);
const train = labelled.filter((i) => !testSet.has(i));
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
const classic = !isComposed(identity);
const backboneRow = classic ? 'ImageNet features, max pooling, cosine (the classic design)' : `backbone features of ${identity.modelName} (${identity.featureTensor}), cosine`;
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
saveResult(classic ? 'relevance' : 'relevance-composed', result);

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
if (classic) writeRelevanceSection('refined', 'Refinement on the held-back split (the default when a catalog has labels)', table);
else writeRelevanceSection('backbones', `Refinement over a composed backbone: ${describeIdentity(identity)}`, `Generated by \`node --import tsx bench/relevance.ts --data <catalog indexed with that backbone>\`.\n\n${table}`);
