/**
 * What products' other photos cost a search. They are searched exactly beside the catalog's index of first photos
 * (src/index/liveSpace.ts), so the cost grows with their number: this times the same searches on a built catalog
 * with 0, then N other photos given to its products (other items' vectors stand in for the photos: the arithmetic is
 * the same), and checks that a product is still listed once.
 *
 *   node --import tsx bench/otherPhotos.ts --data <catalog> [--photos 10000,50000] [--queries 200] [--save]
 */
import { resolveConfig } from '../src/config.js';
import { Services } from '../src/app/services.js';
import { mulberry32 } from '../src/util/random.js';
import { arg, percentile, round, saveResult } from './common.js';

const data = arg('data', '');
if (!data) throw new Error('Expected --data <catalog folder>');
const counts = arg('photos', '10000,50000').split(',').map(Number);
const queries = Number(arg('queries', '200'));

const svc = await Services.open(resolveConfig({ dataDir: data }));
svc.prepareIndex();
const space = svc.live.search;
const ids = svc.catalog.ids();
const random = mulberry32(7);
const pick = () => ids[Math.floor(random() * ids.length)]!;
const queryIds = Array.from({ length: queries }, pick);

async function time(label: string) {
  const ms: number[] = [];
  let repeated = 0;
  for (const id of queryIds) {
    const v = (await space.get(id))!;
    const t0 = performance.now();
    const hits = await space.search(v, { k: 24, metric: 'cosine' });
    ms.push(performance.now() - t0);
    if (new Set(hits.map((h) => h.id)).size !== hits.length) repeated++;
  }
  return { label, p50Ms: round(percentile(ms, 50)), p95Ms: round(percentile(ms, 95)), listedTwice: repeated };
}

const rows = [await time('0 other photos')];
const entries: Array<{ id: string; vectors: Float32Array[]; metadata: Record<string, string> }> = [];
for (const n of counts) {
  // Two other photos per product, products taken in turn: n photos on n/2 products (as a catalog read at start-up).
  while (entries.length * 2 < n) {
    const id = ids[entries.length % ids.length]!;
    entries.push({ id, vectors: [(await space.get(pick()))!, (await space.get(pick()))!], metadata: { ...svc.catalog.item(id).metadata } });
  }
  space.setSnapshotPhotos(entries);
  rows.push(await time(`${n} other photos`));
}
const result = { catalog: ids.length, index: space.kind, queries, k: 24, rows };
console.log(JSON.stringify(result, null, 2));
if (process.argv.includes('--save')) saveResult('otherPhotos', result);
await svc.close();
