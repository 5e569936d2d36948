// Whether widening SqueezeNet's float16 weights to float32 (src/embedding/float32Graph.ts) changes the default backbone's
// vectors: N catalog photos (every step-th of the shared set), fitted as the default ingest fits them (isolation on),
// through the composed graph with SqueezeNet kept in float16 (between casts, as before) and widened; per-photo cosine of
// the two 1792-d vectors, and of SqueezeNet's 512-d part alone. Prints one JSON line.
// Usage: tsx bench/float32Vectors.ts [--n 500]
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { demoCatalog, resolveConfig } from '../src/config.js';
import { cosine } from '../src/linalg/cosine.js';
import { arg, percentile, round } from './common.js';
import { fitPhotos, graphVectors } from './graphVectors.js';

const n = Number(arg('n', '500'));
const config = resolveConfig({ isolate: 'on' });
const images = demoCatalog()!.images;
const all = readdirSync(images).sort();
const step = Math.max(1, Math.floor(all.length / n));
const files = Array.from({ length: Math.min(n, all.length) }, (_, i) => all[i * step]!);

const photos = await fitPhotos(config, files.map((f) => join(images, f)));
const vectors = (name: string) => graphVectors(name, config, photos);

const before = await vectors('composed-fp16');
const after = await vectors('composed-fp32');
const dims = before[0]!.length;
const whole = before.map((v, i) => cosine(v, after[i]!));
const squeeze = before.map((v, i) => cosine(v.subarray(dims - 512), after[i]!.subarray(dims - 512)));
const maxAbs = Math.max(...before.map((v, i) => Math.max(...v.map((x, j) => Math.abs(x - after[i]![j]!)))));
const summary = (xs: number[]) => ({ min: round(Math.min(...xs), 9), p5: round(percentile(xs, 5), 9), mean: round(xs.reduce((a, b) => a + b, 0) / xs.length, 9) });
console.log(JSON.stringify({ photos: before.length, dims, isolate: 'on', composedCosine: summary(whole), squeezenetPartCosine: summary(squeeze), maxAbsDifference: round(maxAbs, 6) }));
