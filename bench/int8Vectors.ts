// How far SqueezeNet in int8 (src/embedding/int8Graph.ts) moves the default backbone's vectors: N fit-side catalog photos
// (src/catalog/split.ts; photoSamples' catalog sample for --seed, by default another seed than the calibration's, so
// none of them set a range), fitted as the default ingest fits them (isolation on), through the composed graph with
// SqueezeNet in float32 and in int8 (each --statistics entry: a statistic of the committed calibration); per-photo cosine
// of the two 1792-d vectors, and of SqueezeNet's 512-d part alone. Prints one JSON line; --save keeps it under
// `int8-vectors` in bench/results.json.
// Usage: tsx bench/int8Vectors.ts [--n 500] [--seed 24] [--statistics p99.999,p99.99,max]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { demoCatalog, embedderOptions, resolveConfig } from '../src/config.js';
import { Embedder } from '../src/embedding/embedder.js';
import { prepareBatch } from '../src/embedding/vectorize.js';
import { cosine } from '../src/linalg/cosine.js';
import { backboneGraph } from './backboneGraphs.js';
import { arg, percentile, photoSamples, round, saveResult } from './common.js';

const n = Number(arg('n', '500'));
const seed = Number(arg('seed', '24'));
const statistics = arg('statistics', 'p99.999,p99.99,max').split(',');
const config = resolveConfig({ isolate: 'on' });
const demo = demoCatalog()!;
const { catalogIds: ids } = photoSamples(demo, { catalog: n, queries: 0, items: 0 }, seed);

// The product's own decode, isolation and fit (prepareBatch needs an embedder for its pixels; the first model alone is enough).
const fitter = await Embedder.load({ ...embedderOptions(config), second: undefined, mirror: false });
const side = config.preprocess.size;
const per = 3 * side * side;
const tensors: Float32Array[] = [];
for (let i = 0; i < ids.length; i += 32) {
  const part = ids.slice(i, i + 32);
  const prepared = await prepareBatch(fitter, part.map((id) => ({ bytes: readFileSync(join(demo.images, `${id}.jpg`)), label: id })));
  if (prepared.count !== part.length) throw new Error(`${part.length - prepared.count} photos failed to decode`);
  tensors.push(prepared.tensor);
}
await fitter.close();

async function vectors(name: string): Promise<Float32Array[]> {
  const s = await ort.InferenceSession.create(backboneGraph(name, config), { intraOpNumThreads: 2 });
  const out: Float32Array[] = [];
  for (const t of tensors) {
    const rows = t.length / per;
    const r = await s.run({ [s.inputNames[0]!]: new ort.Tensor('float32', t, [rows, 3, side, side]) });
    const data = r[s.outputNames[0]!]!.data as Float32Array;
    const dims = data.length / rows;
    for (let k = 0; k < rows; k++) out.push(data.slice(k * dims, (k + 1) * dims));
  }
  await s.release();
  return out;
}

const float = await vectors('composed-fp32');
const dims = float[0]!.length;
const summary = (xs: number[]) => ({ min: round(Math.min(...xs), 5), p5: round(percentile(xs, 5), 5), median: round(percentile(xs, 50), 5), mean: round(xs.reduce((a, b) => a + b, 0) / xs.length, 5) });
const rows: Record<string, unknown> = {};
for (const statistic of statistics) {
  const int8 = await vectors(`composed-int8:${statistic}`);
  rows[statistic] = {
    composedCosine: summary(float.map((v, i) => cosine(v, int8[i]!))),
    squeezenetPartCosine: summary(float.map((v, i) => cosine(v.subarray(dims - 512), int8[i]!.subarray(dims - 512)))),
  };
  process.stderr.write(`${statistic}: ${JSON.stringify(rows[statistic])}\n`);
}
const result = { photos: float.length, seed, side: 'fit', isolate: 'on', dims, statistics: rows };
console.log(JSON.stringify(result));
if (process.argv.includes('--save')) saveResult('int8-vectors', result);
