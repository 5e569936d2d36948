/**
 * What a smaller model input costs in relevance, the backbone alone (no refinement, no re-rank): `--catalog` training-split
 * photos and `--queries` held-back ones (src/catalog/split.ts; the same samples as bench/generalise.ts for one seed) are
 * embedded as `fashion index` reads them (decoded, isolated, fitted) at each setting FIRST/SECOND (the photo's square and
 * MobileNetV2 at FIRST px, SqueezeNet at SECOND px, resized in the composed graph: --size / --second-size), and the
 * held-back photos search the catalog by cosine. Reported per setting: P@5 (same articleType in the top 5), strict P@5
 * (and baseColour), for the composed vector and for each model's part of it alone (each part is a unit vector), and the
 * embedding rate of this run (one process, 2 threads: a guide; bench/modelCeiling.ts measures the models' cost).
 * A setting FIRST/SECOND/int8 runs SqueezeNet quantized (`--second-precision int8`, src/embedding/int8Graph.ts).
 * With `--phone DIR`, the held-back photos' phone-like copies in TUNE styles (the copies of bench/generalise.ts for one
 * seed, written to DIR once) search the catalog too: `phoneTune` in each row.
 *
 *   flock /tmp/fashion-heavy.lock node --import tsx bench/sideRelevance.ts [--catalog 6000] [--queries 1000] [--seed 1]
 *       [--settings 224/224,224/160,160/160,224/224/int8] [--phone DIR] [--save]
 *
 * Prints one JSON line per setting and a summary; --save keeps them under `side-relevance` in bench/results.json.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { demoCatalog, embedderOptions, REPO_ROOT, resolveConfig } from '../src/config.js';
import { Embedder } from '../src/embedding/embedder.js';
import { embedPreparedFeatures, prepareBatch } from '../src/embedding/vectorize.js';
import { precisionAtK } from '../src/eval/metrics.js';
import { batchKnn, l2NormalizeRows } from '../src/linalg/batchKnn.js';
import { Gemm } from '../src/linalg/gemm.js';
import type { Metadata } from '../src/store/catalogStore.js';
import { arg, loadResults, makeShopperCopies, photoSamples, round, saveResult, seedFrom } from './common.js';

const demo = demoCatalog();
if (!demo) throw new Error('needs the shared catalog (FASHION_SHARED)');
const seed = Number(arg('seed', '1'));
const { styles, catalogIds, queryIds } = photoSamples(demo, { catalog: Number(arg('catalog', '6000')), queries: Number(arg('queries', '1000')), items: 0 }, seed);
const settings = arg('settings', '224/224,224/160,224/128,160/160').split(',').map((s) => s.split('/') as [string, string, string?]);
const phoneDir = arg('phone', '');
if (phoneDir) await makeShopperCopies(demo.images, phoneDir, queryIds, 'phone', 'tune', (id) => seedFrom(`${seed}:phone:tune:${id}`), catalogIds);
const log = (m: string) => process.stderr.write(`${m}\n`);
const gemm = await Gemm.create(2);
const MOBILENET_DIMS = 1280;

/** The photos' vectors at one setting, in the order given; the photos that could not be read are refused loudly. */
async function embedAll(embedder: Embedder, ids: readonly string[], dir = demo!.images): Promise<Float32Array> {
  const out = new Float32Array(ids.length * embedder.dims);
  const prepare = (at: number) => prepareBatch(embedder, ids.slice(at, at + 32).map((id) => ({ bytes: () => Promise.resolve(readFileSync(join(dir, `${id}.jpg`))), label: id })));
  // The next batch is decoded and fitted while this one is in inference.
  let next = prepare(0);
  for (let at = 0; at < ids.length; at += 32) {
    const batch = await next;
    if (at + 32 < ids.length) next = prepare(at + 32);
    const features = await embedPreparedFeatures(embedder, batch);
    features.forEach((f, j) => {
      if (f instanceof Error) throw new Error(`${ids[at + j]}: ${f.message}`);
      out.set(f.vector, (at + j) * embedder.dims);
    });
  }
  return out;
}

/** Columns [from, to) of row-major `x` (d wide), scaled to unit length per row. */
function part(x: Float32Array, d: number, from: number, to: number): Float32Array {
  const rows = x.length / d;
  const w = to - from;
  const out = new Float32Array(rows * w);
  for (let r = 0; r < rows; r++) out.set(x.subarray(r * d + from, r * d + to), r * w);
  return l2NormalizeRows(out, rows, w);
}

async function score(q: Float32Array, g: Float32Array, d: number): Promise<{ p5: number; strictP5: number }> {
  const top = await batchKnn(gemm, q, queryIds.length, g, catalogIds.length, d, 5);
  let p = 0;
  let s = 0;
  queryIds.forEach((id, r) => {
    const found = Array.from(top.subarray(r * 5, r * 5 + 5), (row) => styles.rows.get(catalogIds[row]!) as Metadata);
    const at5 = precisionAtK(styles.rows.get(id) as Metadata, found, 5);
    p += at5.type;
    s += at5.strict;
  });
  return { p5: round(p / queryIds.length, 4), strictP5: round(s / queryIds.length, 4) };
}

interface Row {
  readonly setting: string;
  readonly composed: { p5: number; strictP5: number };
  readonly mobilenet: { p5: number; strictP5: number };
  readonly squeezenet: { p5: number; strictP5: number };
  readonly phoneTune?: { composed: { p5: number; strictP5: number }; squeezenet: { p5: number; strictP5: number } };
  readonly photosPerSecond: number;
}
const rows: Row[] = [];
for (const [first, second, precision] of settings) {
  const config = resolveConfig({ isolate: 'on', threads: 2, size: first, secondSize: second, ...(precision ? { secondPrecision: precision } : {}) }, process.env, REPO_ROOT);
  const embedder = await Embedder.load({ ...embedderOptions(config), sessions: 2 });
  const t0 = performance.now();
  const g = await embedAll(embedder, catalogIds);
  const q = await embedAll(embedder, queryIds);
  const seconds = (performance.now() - t0) / 1000;
  const phone = phoneDir ? await embedAll(embedder, queryIds, phoneDir) : null;
  const d = embedder.dims;
  await embedder.close();
  const row: Row = {
    setting: `${first}/${second}${precision ? `/${precision}` : ''}`,
    composed: await score(part(q, d, 0, d), part(g, d, 0, d), d),
    mobilenet: await score(part(q, d, 0, MOBILENET_DIMS), part(g, d, 0, MOBILENET_DIMS), MOBILENET_DIMS),
    squeezenet: await score(part(q, d, MOBILENET_DIMS, d), part(g, d, MOBILENET_DIMS, d), d - MOBILENET_DIMS),
    ...(phone
      ? { phoneTune: { composed: await score(part(phone, d, 0, d), part(g, d, 0, d), d), squeezenet: await score(part(phone, d, MOBILENET_DIMS, d), part(g, d, MOBILENET_DIMS, d), d - MOBILENET_DIMS) } }
      : {}),
    photosPerSecond: round((catalogIds.length + queryIds.length) / seconds, 1),
  };
  rows.push(row);
  console.log(JSON.stringify(row));
}
const result = { catalog: catalogIds.length, queries: queryIds.length, seed, rows };
log(JSON.stringify(result));
if (process.argv.includes('--save')) {
  const saved = (loadResults()['side-relevance'] as { runs?: (typeof result)[] } | undefined)?.runs ?? [];
  // A rerun of some settings replaces their rows and keeps the others of the same samples.
  const same = saved.find((r) => r.catalog === result.catalog && r.queries === result.queries && r.seed === seed);
  const merged = { ...result, rows: [...(same?.rows ?? []).filter((r) => !rows.some((n) => n.setting === r.setting)), ...rows] };
  saveResult('side-relevance', { runs: [...saved.filter((r) => r !== same), merged] });
}
