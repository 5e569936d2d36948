// Approximate search (HNSW, usearch) against exact search: recall@5, latency and build cost, on the
// catalog's real vectors and on synthetic ones (default 1,000,000 of the backbone's dimension).
// Synthetic vectors are real catalog vectors plus Gaussian noise (half the per-dimension spread), so they
// keep the real clusters; uniform noise would be an unrealistically hard, structureless case.
// Usage: tsx bench/ann.ts --data <catalog> [--synthetic 1000000] [--storage f16] [--queries 300]
import { openCatalogStore } from '../src/catalog/openCatalog.js';
import { Gemm } from '../src/linalg/gemm.js';
import { ExactIndex } from '../src/index/exactIndex.js';
import { DEFAULT_HNSW, HnswIndex, type VectorStorage } from '../src/index/hnswIndex.js';
import { batchKnn, l2NormalizeRows } from '../src/linalg/batchKnn.js';
import { mulberry32 } from '../src/util/random.js';
import { arg, percentile, round, saveResult } from './common.js';

const dataDir = arg('data', '.fashion');
const syntheticN = Number(arg('synthetic', '1000000'));
const storages = arg('storage', 'f16,i8').split(',') as VectorStorage[];
const nQueries = Number(arg('queries', '300'));
const space = arg('space', 'backbone');
const store = await openCatalogStore(dataDir);
const { items, vectors: raw, dims: rawDims } = await store.loadAll();
const refined = space === 'refined' ? await store.loadFeatures('refined', items.map((i) => i.id)) : null;
await store.close();
const dims = refined ? refined.length / items.length : rawDims;
const real = l2NormalizeRows(new Float32Array(refined ?? raw), items.length, dims);
const gemm = await Gemm.create(2);
const rand = mulberry32(11);
const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());

async function measure(name: string, base: Float32Array, n: number, queries: Float32Array, storage: VectorStorage) {
  const nq = queries.length / dims;
  const truth = await batchKnn(gemm, queries, nq, base, n, dims, 5);
  const exact = new ExactIndex(base, dims);
  const exactMs: number[] = [];
  for (let q = 0; q < Math.min(nq, 50); q++) {
    const s = performance.now();
    exact.search(queries.subarray(q * dims, (q + 1) * dims), 5, 'cosine');
    exactMs.push(performance.now() - s);
  }
  const rssBefore = process.memoryUsage().rss;
  const t0 = performance.now();
  const hnsw = HnswIndex.build(exact, undefined, { ...DEFAULT_HNSW, storage });
  const buildS = (performance.now() - t0) / 1000;
  const rssGrowth = process.memoryUsage().rss - rssBefore;
  const lat: number[] = [];
  let hits = 0;
  for (let q = 0; q < nq; q++) {
    const s = performance.now();
    const res = hnsw.search(queries.subarray(q * dims, (q + 1) * dims), 5, 'cosine');
    lat.push(performance.now() - s);
    const want = new Set(Array.from(truth.subarray(q * 5, q * 5 + 5)));
    hits += res.filter((r) => want.has(r.row)).length;
  }
  const rawBytes = n * dims * 4;
  const out = {
    name,
    vectors: n,
    dims,
    storage,
    connectivity: DEFAULT_HNSW.connectivity,
    expansionSearch: DEFAULT_HNSW.expansionSearch,
    buildSeconds: round(buildS, 1),
    recallAt5: round(hits / (nq * 5), 4),
    searchMs: { p50: round(percentile(lat, 50), 3), p95: round(percentile(lat, 95), 3) },
    exactSearchMs: { p50: round(percentile(exactMs, 50), 2), p95: round(percentile(exactMs, 95), 2) },
    rawVectorMiB: round(rawBytes / 2 ** 20, 0),
    indexMiBEstimated: round(hnsw.memoryBytes() / 2 ** 20, 0),
    rssGrowthMiB: round(rssGrowth / 2 ** 20, 0),
  };
  console.log(JSON.stringify(out));
  return out;
}

const results = [];
// Real vectors: queries are held-out catalog vectors (every 100th), searched among the rest.
if (arg('catalog', '1') !== '0') {
  const qRows = items.map((_, i) => i).filter((i) => i % 100 === 0).slice(0, nQueries);
  const qSet = new Set(qRows);
  const baseRows = items.map((_, i) => i).filter((i) => !qSet.has(i));
  const base = new Float32Array(baseRows.length * dims);
  baseRows.forEach((r, i) => base.set(real.subarray(r * dims, (r + 1) * dims), i * dims));
  const queries = new Float32Array(qRows.length * dims);
  qRows.forEach((r, i) => queries.set(real.subarray(r * dims, (r + 1) * dims), i * dims));
  for (const storage of storages) results.push(await measure(`catalog (${space})`, base, baseRows.length, queries, storage));
}
if (syntheticN > 0) {
  const spread = new Float32Array(dims);
  const mean = new Float32Array(dims);
  for (let i = 0; i < items.length; i++) for (let j = 0; j < dims; j++) mean[j]! += real[i * dims + j]! / items.length;
  for (let i = 0; i < items.length; i++) for (let j = 0; j < dims; j++) spread[j]! += (real[i * dims + j]! - mean[j]!) ** 2 / items.length;
  for (let j = 0; j < dims; j++) spread[j] = Math.sqrt(spread[j]!) * 0.5;
  const make = (n: number) => {
    const out = new Float32Array(n * dims);
    for (let i = 0; i < n; i++) {
      const src = Math.floor(rand() * items.length) * dims;
      for (let j = 0; j < dims; j++) out[i * dims + j] = real[src + j]! + gauss() * spread[j]!;
    }
    return l2NormalizeRows(out, n, dims);
  };
  const base = make(syntheticN);
  const queries = make(Math.min(nQueries, 200));
  for (const storage of storages.slice(0, 1)) results.push(await measure('synthetic', base, syntheticN, queries, storage));
}
await gemm.close();
saveResult(`ann_${space}_${syntheticN > 0 && arg('catalog', '1') === '0' ? 'synthetic' : 'catalog'}`, { results });
