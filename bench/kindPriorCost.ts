/**
 * What the kind from a photo's backbone neighbours (src/search/kindPrior.ts) costs a photo query: SearchService.neighbourKinds
 * (the nearest KIND_NEIGHBOURS catalog items by backbone cosine, an exact scan of the backbone space) and the mix into the
 * search vector, timed on the backbone vectors of the catalog's first 400 items (one warm-up pass, then one measured).
 *
 *   flock /tmp/fashion-heavy.lock node --import tsx bench/kindPriorCost.ts --data DIR
 *
 * Saves p50 / p95 ms under `kind-prior-cost` in bench/results.json.
 */
import { Services } from '../src/app/services.js';
import { REPO_ROOT, resolveConfig } from '../src/config.js';
import { KIND_NEIGHBOURS, KIND_TEMPERATURE, KIND_WEIGHT } from '../src/search/kindPrior.js';
import { arg, saveResult } from './common.js';

const dir = arg('data', '');
if (!dir) throw new Error('--data DIR: a refined catalog');
const svc = await Services.open(resolveConfig({ dataDir: dir, threads: 1 }, {}, REPO_ROOT));
const backbone = svc.search.spaces.backbone;
if (!backbone) throw new Error('the catalog has no refinement, so no backbone space beside it');
const ids = svc.catalog.items.slice(0, 400).map((i) => i.id);
const vectors = await Promise.all(ids.map((id) => backbone.get(id)));
const query = (await svc.search.spaces.search.get(ids[0]!))!;
const kindMs: number[] = [];
const withMixMs: number[] = [];
for (let pass = 0; pass < 2; pass++) {
  for (const v of vectors) {
    const t0 = performance.now();
    const kinds = await svc.search.neighbourKinds(v!, KIND_NEIGHBOURS, KIND_TEMPERATURE);
    const t1 = performance.now();
    svc.refinement.withKindShares(query, kinds, KIND_WEIGHT);
    const t2 = performance.now();
    if (pass === 1) (kindMs.push(t1 - t0), withMixMs.push(t2 - t0));
  }
}
const pct = (a: number[], p: number) => Math.round([...a].sort((x, y) => x - y)[Math.floor(a.length * p)]! * 100) / 100;
const result = { data: dir, items: svc.catalog.size, n: kindMs.length, neighbourKindsMs: { p50: pct(kindMs, 0.5), p95: pct(kindMs, 0.95) }, withMixMs: { p50: pct(withMixMs, 0.5), p95: pct(withMixMs, 0.95) } };
console.log(JSON.stringify(result));
saveResult('kind-prior-cost', { ...result, command: `node --import tsx bench/kindPriorCost.ts --data ${dir}` });
await svc.close();
