// The classic design's variants, measured: pooling (max / average), the photo's fit into the square input
// (pad with white / stretch / centre crop), metric (cosine / euclidean) and L2 normalisation. Each variant
// embeds a seeded slice of the shared catalog; held-back items (src/catalog/split.ts) are queries against
// the slice's training items. Writes its block of docs/relevance.md.
// Usage: tsx bench/baselines.ts [--n 6000]
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ingestFolder } from '../src/catalog/ingest.js';
import { openCatalogStore } from '../src/catalog/openCatalog.js';
import { isHeldBack } from '../src/catalog/split.js';
import { demoCatalog, REPO_ROOT, resolveConfig } from '../src/config.js';
import { Embedder } from '../src/embedding/embedder.js';
import { Gemm } from '../src/linalg/gemm.js';
import { sample } from '../src/util/random.js';
import { batchKnn, l2NormalizeRows } from '../src/linalg/batchKnn.js';
import { arg, round, saveResult } from './common.js';
import { writeRelevanceSection } from './relevanceDoc.js';

const n = Number(arg('n', '6000'));
const demo = demoCatalog()!;
const root = mkdtempSync(join(tmpdir(), 'fashion-baselines-'));
const images = join(root, 'images');
mkdirSync(images);
for (const f of sample(readdirSync(demo.images).sort(), n, 5)) copyFileSync(join(demo.images, f), join(images, f));
const gemm = await Gemm.create(2);

const variants = [
  { pooling: 'max', fit: 'pad', size: 224 },
  { pooling: 'avg', fit: 'pad', size: 224 },
  { pooling: 'max', fit: 'stretch', size: 224 },
  { pooling: 'max', fit: 'crop', size: 224 },
  // A lower input resolution: faster inference (bench/ingest.ts --size 160), measured here for what it costs.
  { pooling: 'max', fit: 'pad', size: 160 },
] as const;
// --sizes 160 measures only those input sizes and keeps the other rows from bench/results.json.
const only = arg('sizes', '') ? arg('sizes', '').split(',').map(Number) : null;
const previous = only ? ((JSON.parse(readFileSync(join(REPO_ROOT, 'bench', 'results.json'), 'utf8')).baselines?.rows ?? []) as Array<Record<string, string | number>>) : [];
const rows: Array<Record<string, string | number>> = previous.filter((r) => !only!.includes(Number(r.size ?? 224))).map((r) => ({ size: 224, ...r }));
for (const v of variants.filter((x) => !only || only.includes(x.size))) {
  const config = resolveConfig({ dataDir: join(root, `data-${v.pooling}-${v.fit}-${v.size}`), pooling: v.pooling, fit: v.fit, size: v.size });
  const embedder = await Embedder.load({ model: config.model, pooling: config.pooling, preprocess: config.preprocess, threads: 2, cacheDir: config.cacheDir });
  const store = await openCatalogStore(config.dataDir, { create: true });
  await ingestFolder(store, embedder, { imagesDir: images, metadataCsv: demo.metadata, batchSize: 32 });
  const { items, vectors, dims } = await store.loadAll();
  await store.close();
  await embedder.close();
  const lab = items.map((_, i) => i).filter((i) => items[i]!.metadata.articleType);
  const test = lab.filter((i) => isHeldBack(items[i]!.id));
  const train = lab.filter((i) => !isHeldBack(items[i]!.id));
  for (const metric of ['cosine', 'euclidean'] as const) {
    for (const normalise of [true, false]) {
      if (metric === 'cosine' && !normalise) continue; // cosine normalises by definition
      const take = (rs: number[], extra: boolean, side: 'q' | 'g') => {
        const d = dims + (extra ? 1 : 0);
        const out = new Float32Array(rs.length * d);
        rs.forEach((r, i) => {
          const x = vectors.subarray(r * dims, (r + 1) * dims);
          let norm = 0;
          for (let j = 0; j < dims; j++) norm += x[j]! * x[j]!;
          const scale = normalise ? 1 / (Math.sqrt(norm) || 1) : 1;
          for (let j = 0; j < dims; j++) out[i * d + j] = x[j]! * scale * (extra && side === 'g' ? 2 : 1);
          // Euclidean ranking as an inner product: q' = [q, 1], g' = [2g, -|g|^2].
          if (extra) out[i * d + dims] = side === 'q' ? 1 : -norm * scale * scale;
        });
        return out;
      };
      const euclid = metric === 'euclidean';
      const d = dims + (euclid ? 1 : 0);
      const q = take(test, euclid, 'q');
      const g = take(train, euclid, 'g');
      if (!euclid) {
        l2NormalizeRows(q, test.length, d);
        l2NormalizeRows(g, train.length, d);
      }
      const top = await batchKnn(gemm, q, test.length, g, train.length, d, 5);
      let p = 0, s = 0;
      test.forEach((i, r) => {
        const m = items[i]!.metadata;
        for (let j = 0; j < 5; j++) {
          const o = items[train[top[r * 5 + j]!]!]!.metadata;
          if (o.articleType === m.articleType) {
            p++;
            if (o.baseColour === m.baseColour) s++;
          }
        }
      });
      const row = { pooling: v.pooling, fit: v.fit, size: v.size, metric, l2: normalise ? 'yes' : 'no', precisionAt5: round(p / test.length / 5, 4), strictPrecisionAt5: round(s / test.length / 5, 4), queries: test.length, catalog: train.length };
      console.log(JSON.stringify(row));
      rows.push(row);
    }
  }
}
await gemm.close();
saveResult('baselines', { n, rows });
writeRelevanceSection(
  'baselines',
  'Baseline: the classic design (ImageNet MobileNetV2, head cut)',
  [
    `A seeded slice of ${n} shared photos; its held-back items are queries against its training items (no refinement). k = 5.`,
    '',
    '| pooling | fit | input | metric | L2-normalised | P@5 | strict P@5 |',
    '|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.pooling} | ${r.fit} | ${r.size}px | ${r.metric} | ${r.l2} | ${Number(r.precisionAt5).toFixed(3)} | ${Number(r.strictPrecisionAt5).toFixed(3)} |`),
  ].join('\n'),
);
