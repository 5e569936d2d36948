// Whether widening SqueezeNet's float16 weights to float32 (src/embedding/float32Graph.ts) changes the default backbone's
// vectors: N catalog photos (every step-th of the shared set), fitted as the default ingest fits them (isolation on),
// through the composed graph with SqueezeNet kept in float16 (between casts, as before) and widened; per-photo cosine of
// the two 1792-d vectors, and of SqueezeNet's 512-d part alone. Prints one JSON line.
// Usage: tsx bench/float32Vectors.ts [--n 500]
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { demoCatalog, embedderOptions, resolveConfig } from '../src/config.js';
import { Embedder } from '../src/embedding/embedder.js';
import { prepareBatch } from '../src/embedding/vectorize.js';
import { cosine } from '../src/linalg/cosine.js';
import { backboneGraph } from './backboneGraphs.js';
import { arg, percentile, round } from './common.js';

const n = Number(arg('n', '500'));
const config = resolveConfig({ isolate: 'on' });
const images = demoCatalog()!.images;
const all = readdirSync(images).sort();
const step = Math.max(1, Math.floor(all.length / n));
const files = Array.from({ length: Math.min(n, all.length) }, (_, i) => all[i * step]!);

// The product's own decode, isolation and fit (prepareBatch needs an embedder for its pixels; the first model alone is enough).
const fitter = await Embedder.load({ ...embedderOptions(config), second: undefined, mirror: false });
const side = config.preprocess.size;
const per = 3 * side * side;
const tensors: Float32Array[] = [];
for (let i = 0; i < files.length; i += 32) {
  const part = files.slice(i, i + 32);
  const prepared = await prepareBatch(fitter, part.map((f) => ({ bytes: readFileSync(join(images, f)), label: f })));
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

const before = await vectors('composed-fp16');
const after = await vectors('composed-fp32');
const dims = before[0]!.length;
const whole = before.map((v, i) => cosine(v, after[i]!));
const squeeze = before.map((v, i) => cosine(v.subarray(dims - 512), after[i]!.subarray(dims - 512)));
const maxAbs = Math.max(...before.map((v, i) => Math.max(...v.map((x, j) => Math.abs(x - after[i]![j]!)))));
const summary = (xs: number[]) => ({ min: round(Math.min(...xs), 9), p5: round(percentile(xs, 5), 9), mean: round(xs.reduce((a, b) => a + b, 0) / xs.length, 9) });
console.log(JSON.stringify({ photos: before.length, dims, isolate: 'on', composedCosine: summary(whole), squeezenetPartCosine: summary(squeeze), maxAbsDifference: round(maxAbs, 6) }));
