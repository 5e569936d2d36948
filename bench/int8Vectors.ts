// How far SqueezeNet in int8 (src/embedding/int8Graph.ts) moves the default backbone's vectors: N fit-side catalog photos
// (src/catalog/split.ts; photoSamples' catalog sample for --seed, by default another seed than the calibration's, so
// none of them set a range), fitted as the default ingest fits them (isolation on), through the composed graph with
// SqueezeNet in float32 and in int8 (each --statistics entry: a statistic of the committed calibration); per-photo cosine
// of the two 1792-d vectors, and of SqueezeNet's 512-d part alone. Prints one JSON line; --save keeps it under
// `int8-vectors` in bench/results.json.
// Usage: tsx bench/int8Vectors.ts [--n 500] [--seed 24] [--statistics p99.999,p99.99,max]
import { join } from 'node:path';
import { demoCatalog, resolveConfig } from '../src/config.js';
import { cosine } from '../src/linalg/cosine.js';
import { arg, percentile, photoSamples, round, saveResult } from './common.js';
import { fitPhotos, graphVectors } from './graphVectors.js';

const n = Number(arg('n', '500'));
const seed = Number(arg('seed', '24'));
const statistics = arg('statistics', 'p99.999,p99.99,max').split(',');
const config = resolveConfig({ isolate: 'on' });
const demo = demoCatalog()!;
const { catalogIds: ids } = photoSamples(demo, { catalog: n, queries: 0, items: 0 }, seed);

const photos = await fitPhotos(config, ids.map((id) => join(demo.images, `${id}.jpg`)));
const vectors = (name: string) => graphVectors(name, config, photos);

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
