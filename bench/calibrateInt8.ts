/**
 * Activation ranges for the int8 SqueezeNet (src/embedding/int8Graph.ts): `--n` catalog photos of the FIT side only
 * (src/catalog/split.ts: no held-back item; photoSamples' catalog sample for `--seed`), read as `fashion index` reads them
 * (decoded, isolated, fitted at 224 px), turned into SqueezeNet's own pixels (Caffe: BGR bytes less the means) as the
 * composed graph turns them, and run through SqueezeNet's float32 head-cut graph with every ReLU output exposed. Writes
 * src/embedding/calibration/<model>.int8.json: the input's min and max, and per ReLU output its maximum and its 99.99th
 * and 99.999th percentiles over every value of every photo (a 4096-bin histogram over [0, max], the bin's upper edge).
 * Deterministic for one model file, photo set and seed.
 *
 *   node --import tsx bench/calibrateInt8.ts [--n 500] [--seed 23] [--model PATH]
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { defaultSecondModel, demoCatalog, embedderOptions, REPO_ROOT, resolveConfig } from '../src/config.js';
import { Embedder } from '../src/embedding/embedder.js';
import { headCutModel } from '../src/embedding/headCut.js';
import { prepareBatch } from '../src/embedding/vectorize.js';
import { CAFFE_PREPROCESS, type Preprocess } from '../src/imaging/preprocess.js';
import { arg, photoSamples } from './common.js';

const { onnx } = onnxProto;
const demo = demoCatalog();
if (!demo) throw new Error('needs the shared catalog (FASHION_SHARED)');
const n = Number(arg('n', '500'));
const seed = Number(arg('seed', '23'));
const modelPath = arg('model', defaultSecondModel().model);
const { catalogIds } = photoSamples(demo, { catalog: n, queries: 0, items: 0 }, seed);
const log = (m: string) => process.stderr.write(`${m}\n`);

// The product's decode, isolation and fit (the default ingest's: isolation on), at the first model's pixels.
const config = resolveConfig({ isolate: 'on', secondModel: 'none' }, process.env, REPO_ROOT);
const fitter = await Embedder.load({ ...embedderOptions(config), mirror: false });
const from = config.preprocess;
const to: Preprocess = { ...CAFFE_PREPROCESS, size: from.size };
const side = from.size;
const tensors: Float32Array[] = [];
for (let i = 0; i < catalogIds.length; i += 16) {
  const part = catalogIds.slice(i, i + 16);
  const prepared = await prepareBatch(fitter, part.map((id) => ({ bytes: readFileSync(join(demo.images, `${id}.jpg`)), label: id })));
  if (prepared.count !== part.length) throw new Error(`${part.length - prepared.count} photos failed to decode`);
  tensors.push(convert(prepared.tensor, from, to));
}
await fitter.close();
log(`prepared ${catalogIds.length} fit-side photos`);

/** As src/embedding/composeBackbones.ts convertPixels: the same colour per channel, rescaled. */
function convert(x: Float32Array, a: Preprocess, b: Preprocess): Float32Array {
  const out = new Float32Array(x.length);
  const plane = side * side;
  const images = x.length / (3 * plane);
  const source = (c: number) => (a.channelOrder === b.channelOrder ? c : 2 - c);
  for (let k = 0; k < images; k++) {
    for (let c = 0; c < 3; c++) {
      const s = source(c);
      const scale = (a.std[s]! * b.pixelScale) / (a.pixelScale * b.std[c]!);
      const shift = ((a.mean[s]! * b.pixelScale) / a.pixelScale - b.mean[c]!) / b.std[c]!;
      const src = x.subarray((k * 3 + s) * plane, (k * 3 + s + 1) * plane);
      const dst = out.subarray((k * 3 + c) * plane, (k * 3 + c + 1) * plane);
      for (let i = 0; i < plane; i++) dst[i] = src[i]! * scale + shift;
    }
  }
  return out;
}

const source = readFileSync(modelPath);
const sha = createHash('sha256').update(source).digest('hex');
const cut = headCutModel(source, { pooling: config.pooling });
const model = onnx.ModelProto.decode(cut.bytes);
const graph = model.graph!;
const relus = graph.node!.filter((x) => x.opType === 'Relu').map((x) => x.output![0]!);
// Declared with no shape: the runtime infers each one.
graph.output!.push(...relus.map((r) => onnx.ValueInfoProto.create({ name: r, type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT } } })));
const session = await ort.InferenceSession.create(onnx.ModelProto.encode(model).finish(), { intraOpNumThreads: 2 });

async function pass(visit: (tensor: string, values: Float32Array) => void, input: (t: Float32Array) => void): Promise<void> {
  for (const t of tensors) {
    input(t);
    const r = await session.run({ [cut.inputName]: new ort.Tensor('float32', t, [t.length / (3 * side * side), 3, side, side]) }, relus);
    for (const name of relus) visit(name, r[name]!.data as Float32Array);
  }
}

const max = new Map<string, number>(relus.map((r) => [r, 0]));
let inMin = Infinity;
let inMax = -Infinity;
await pass(
  (name, v) => {
    let m = max.get(name)!;
    for (let i = 0; i < v.length; i++) if (v[i]! > m) m = v[i]!;
    max.set(name, m);
  },
  (t) => {
    for (let i = 0; i < t.length; i++) {
      if (t[i]! < inMin) inMin = t[i]!;
      if (t[i]! > inMax) inMax = t[i]!;
    }
  },
);
const BINS = 4096;
const hist = new Map<string, Float64Array>(relus.map((r) => [r, new Float64Array(BINS)]));
await pass(
  (name, v) => {
    const h = hist.get(name)!;
    const m = max.get(name)!;
    const k = m > 0 ? BINS / m : 0;
    for (let i = 0; i < v.length; i++) h[Math.min(BINS - 1, Math.floor(v[i]! * k))]! += 1;
  },
  () => undefined,
);
await session.release();

/** The upper edge of the bin holding the p-th percentile of the tensor's values. */
function percentileOf(name: string, p: number): number {
  const h = hist.get(name)!;
  const total = h.reduce((a, b) => a + b, 0);
  let seen = 0;
  for (let b = 0; b < BINS; b++) {
    seen += h[b]!;
    if (seen >= total * p) return ((b + 1) / BINS) * max.get(name)!;
  }
  return max.get(name)!;
}

const r6 = (x: number) => Number(x.toPrecision(6));
const statistics = {
  max: Object.fromEntries(relus.map((r) => [r, r6(max.get(r)!)])),
  'p99.99': Object.fromEntries(relus.map((r) => [r, r6(percentileOf(r, 0.9999))])),
  'p99.999': Object.fromEntries(relus.map((r) => [r, r6(percentileOf(r, 0.99999))])),
};
const file = join(REPO_ROOT, 'src', 'embedding', 'calibration', `${basename(modelPath, '.onnx')}.int8.json`);
const made = `node --import tsx bench/calibrateInt8.ts --n ${n} --seed ${seed}: ${catalogIds.length} fit-side catalog photos (photoSamples seed ${seed}), isolation on, ${side} px, SqueezeNet's float32 head-cut graph`;
writeFileSync(file, `${JSON.stringify({ model: basename(modelPath), modelSha256: sha, made, photos: catalogIds.length, input: { min: r6(inMin), max: r6(inMax) }, statistics }, null, 1)}\n`);
log(`wrote ${file}`);
