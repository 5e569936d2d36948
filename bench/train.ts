// Training time, as `fashion train` runs it on an indexed catalog (colour evidence and training copies already there):
// the fit with early stopping, the tuning of fusion, same-product and match settings, the refined vectors and the
// search graph. Trains a copy of the catalog (the catalog given is only read), times each stage from the progress
// messages, and prints the validation figures it chose. Usage: tsx bench/train.ts --data <catalog> [--epochs N] [--save]
// (--save records it in bench/results.json, which docs/bench.md's training row shows; --label -NAME records it under
// `train-NAME` instead, a branch's run beside the shipped row; without either, nothing is written).
// Training variants (issue 21, the kind of product in phone photos): --copy-weight W (the training copies' loss weight),
// --label-smoothing E, --patience P (early stopping on the validation items and copies); --out DIR keeps the trained catalog
// there (a fresh folder) instead of throwing it away, e.g. as <work>/data-6000-shopper-0.25 for bench/readings.ts and
// bench/generalise.ts to read.
// The share of items with training copies is the catalog's setting (FASHION_AUGMENT, default 0.25); each stage's messages go to stderr.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trainCatalogFolder } from '../src/app/refineCatalog.js';
import { catalogFile } from '../src/catalog/openCatalog.js';
import { resolveConfig } from '../src/config.js';
import { DEFAULT_TRAIN } from '../src/refine/mlp.js';
import { arg, copyCatalogFile, round, saveResult } from './common.js';

const from = arg('data', '.fashion');
const epochs = Number(arg('epochs', String(DEFAULT_TRAIN.epochs)));
const out = arg('out', '');
const variant = {
  ...(arg('copy-weight', '') ? { copyWeight: Number(arg('copy-weight', '1')) } : {}),
  ...(arg('label-smoothing', '') ? { labelSmoothing: Number(arg('label-smoothing', '0')) } : {}),
  ...(arg('patience', '') ? { patience: Number(arg('patience', '0')) } : {}),
};
if (out && existsSync(out)) throw new Error(`--out ${out}: already there (give a fresh folder)`);
if (out) mkdirSync(out, { recursive: true });
const dataDir = out || mkdtempSync(join(tmpdir(), 'fashion-bench-train-'));
try {
  await copyCatalogFile(catalogFile(from), catalogFile(dataDir));
  // The model file of the catalog's refinement: training reads nothing from it, but keeps the copy a whole catalog.
  for (const f of readdirSync(from)) if (f.startsWith('refine-model')) copyFileSync(join(from, f), join(dataDir, f));
  const t0 = performance.now();
  const at: Record<string, number> = {};
  const mark = (stage: string) => (at[stage] ??= (performance.now() - t0) / 1000);
  const report = await trainCatalogFolder(resolveConfig({ dataDir }), {
    epochs,
    seed: DEFAULT_TRAIN.seed,
    train: variant,
    onProgress: (m) => {
      // Every stage's message on stderr with its time (stdout keeps the one JSON line): which weight and pin gap won, and why.
      if (!m.startsWith('training copies ')) process.stderr.write(`${round((performance.now() - t0) / 1000, 1)} s ${m}\n`);
      // Copies the catalog lacks are made first (their own figure: bench/copies.ts); the training time leaves them out.
      if (m.startsWith('training copies')) mark('copiesStart');
      else if (m.endsWith('training copies made')) mark('copiesEnd');
      else if (m.startsWith('training on')) mark('fit');
      else if (m.startsWith('fusion ')) mark('fusionDone');
      else if (m.startsWith('instance weight')) mark('sameProductDone');
      else if (m.startsWith('match gap')) mark('matchDone');
      if (m.startsWith('epoch ')) at.lastEpoch = (performance.now() - t0) / 1000;
    },
  });
  const seconds = (performance.now() - t0) / 1000;
  const s = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? null : round(b - a, 1));
  const copySeconds = at.copiesStart === undefined ? 0 : (at.copiesEnd ?? at.fit ?? seconds) - at.copiesStart;
  const result = {
    catalog: from,
    ...(Object.keys(variant).length ? { variant } : {}),
    seconds: round(seconds - copySeconds, 1),
    copiesMadeSeconds: round(copySeconds, 1),
    stages: {
      loadAndPrepare: round((at.fit ?? seconds) - copySeconds, 1),
      fit: s(at.fit, at.lastEpoch),
      fusionGrid: s(at.lastEpoch, at.fusionDone),
      sameProductGrid: s(at.fusionDone, at.sameProductDone),
      installAndSearchGraph: s(at.matchDone ?? at.sameProductDone ?? at.fusionDone, seconds),
    },
    trainSeconds: report.trainSeconds,
    epochs: report.epochs,
    maxEpochs: epochs,
    bestEpoch: report.bestEpoch ?? null,
    fitItems: report.fitItems,
    copies: report.copies.fit,
    copiesValidationAccuracy: report.copies.validationAccuracy,
    validation: report.validation,
    validationAccuracy: report.validationAccuracy,
    fusion: report.fusion,
    instance: report.instance,
  };
  console.log(JSON.stringify(result));
  const label = arg('label', '');
  if (label) saveResult(`train${label}`, result);
  else if (process.argv.includes('--save')) saveResult('train', result);
} finally {
  if (!out) rmSync(dataDir, { recursive: true, force: true });
}
