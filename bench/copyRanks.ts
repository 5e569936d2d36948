/**
 * Where do copies of catalog items find their own item? For each photo of DIR (named <item id>.jpg, e.g. a
 * bench/generalise.ts `sets/items-phone-*` folder) on a trained catalog (its `data-*` folder): the own item's rank in the
 * same-product space alone (the chosen reading's same-product vector, exact cosine), in the backbone space alone (the
 * chosen reading's backbone vector), and in the search's answer (up to 100). A diagnostic: it chooses nothing.
 *
 *   flock /tmp/fashion-heavy.lock node --import tsx bench/copyRanks.ts <catalog dir> <photos dir> [n=300]
 *
 * Prints the share of photos whose own item is within the first k of each ranking.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Services } from '../src/app/services.js';
import { REPO_ROOT, resolveConfig } from '../src/config.js';

if (process.argv.length < 4) throw new Error('usage: bench/copyRanks.ts <catalog dir> <photos dir> [n]');
const [data, dir, nArg] = process.argv.slice(2);
const svc = await Services.open(resolveConfig({ dataDir: data!, isolate: 'on', threads: 2 }, {}, REPO_ROOT));
const files = readdirSync(dir!).filter((f) => f.endsWith('.jpg')).sort().slice(0, Number(nArg ?? 300));
const sp = svc.searchedSpaces().sameProduct!;
const bb = svc.searchedSpaces().backbone;
const K = 200;
const ranks: { sp: number; bb: number; final: number }[] = [];
for (const f of files) {
  const id = f.slice(0, -4);
  const bytes = readFileSync(join(dir!, f));
  const read = await svc.pipeline.readPhoto({ kind: 'upload', bytes, label: id });
  const v = read.analysis.sameProductVector!;
  const a = (await sp.search(v, { k: K, metric: 'cosine' })).map((n) => n.id).indexOf(id);
  const b = (await bb.search(read.reading.vector, { k: K, metric: 'cosine' })).map((n) => n.id).indexOf(id);
  const res = await svc.pipeline.search({ kind: 'photo', photo: { kind: 'handle', handle: read.handle }, k: 100, metric: 'cosine' });
  const c = res.hits.map((h) => h.id).indexOf(id);
  ranks.push({ sp: a, bb: b, final: c });
}
await svc.close();
const at = (key: 'sp' | 'bb' | 'final', k: number) => (ranks.filter((r) => r[key] >= 0 && r[key] < k).length / ranks.length).toFixed(3);
for (const key of ['sp', 'bb', 'final'] as const) console.log(key, [1, 5, 10, 20, 50, 100, 200].map((k) => `top${k} ${at(key, k)}`).join('  '));
const both = ranks.filter((r) => r.sp >= 0 && r.sp < 5 && !(r.final >= 0 && r.final < 5)).length;
console.log(`in the same-product space's top 5 but not the answer's: ${both} of ${ranks.length}`);
