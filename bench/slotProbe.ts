/**
 * Dumps, for each photo of some bench/generalise.ts photo sets, what a query-time rule over the first screen needs to be
 * priced offline (bench/slotSim.ts): the search's answer as it ships (first 20, with kind and colour), the photo's nearest
 * items in the same-product space alone (first 10, exact cosine, with kind and colour), whether the first hit is the pin,
 * and whether the photo was taken off a backdrop (src/search/backboneRerank.ts offBackdrop). A diagnostic: it chooses
 * nothing; point it at TUNE sets and clean photos only.
 *
 *   flock /tmp/fashion-heavy.lock node --import tsx bench/slotProbe.ts <catalog dir> <out.json> <photos dir>...
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { Services } from '../src/app/services.js';
import { demoCatalog, REPO_ROOT, resolveConfig } from '../src/config.js';
import { offBackdrop } from '../src/search/backboneRerank.js';
import { parseMetadataCsv } from '../src/catalog/metadataCsv.js';
import { forEachSetPhoto } from './common.js';

if (process.argv.length < 5) throw new Error('usage: bench/slotProbe.ts <catalog dir> <out.json> <photos dir>...');
const [data, out, ...dirs] = process.argv.slice(2);
const demo = demoCatalog();
if (!demo) throw new Error('needs the shared catalog');
const styles = parseMetadataCsv(readFileSync(demo.metadata, 'utf8'));
const label = (id: string) => {
  const m = styles.rows.get(id);
  return { t: m?.articleType ?? '', c: m?.baseColour ?? '' };
};
const svc = await Services.open(resolveConfig({ dataDir: data!, isolate: 'on', threads: 2 }, {}, REPO_ROOT));
const sp = svc.searchedSpaces().sameProduct!;
const result: Record<string, unknown[]> = {};
const t0 = performance.now();
try {
  for (const dir of dirs) {
    const rows = await forEachSetPhoto(dir, async (id, bytes) => {
      const read = await svc.pipeline.readPhoto({ kind: 'upload', bytes, label: id });
      const v = read.analysis.sameProductVector!;
      const near = await sp.search(v, { k: 10, metric: 'cosine' });
      const res = await svc.pipeline.search({ kind: 'photo', photo: { kind: 'handle', handle: read.handle }, k: 20, metric: 'cosine' });
      if (!('hits' in res)) throw new Error('not a photo result');
      return {
        id,
        ...label(id),
        off: offBackdrop(read.reading.photo.isolation),
        pinned: Boolean((res.hits[0] as { lookAlike?: boolean } | undefined)?.lookAlike),
        ans: res.hits.map((h) => ({ id: h.id, t: h.metadata.articleType ?? '', c: h.metadata.baseColour ?? '' })),
        sp: near.map((n) => ({ id: n.id, cos: 1 - n.distance, ...label(n.id) })),
      };
    });
    result[basename(dir)] = rows;
    process.stderr.write(`${basename(dir)}: ${rows.length} photos (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`);
  }
} finally {
  await svc.close();
}
writeFileSync(out!, JSON.stringify(result));
