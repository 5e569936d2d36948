/**
 * Training copies made and embedded as training makes them (src/refine/augment.ts embedCopies: generate on the copy
 * workers, decode, isolate, fit, embed, store), on a copy of an indexed catalog whose stored copies are set aside first;
 * reports copies/s and checks that the copies made now have the same vectors as the ones the catalog had (same seed,
 * same bytes, same vectors), copy by copy.
 *
 *   flock /tmp/fashion-heavy.lock node --import tsx bench/trainingCopies.ts --data <catalog with copies> [--images DIR] [--limit N] [--save]
 *
 * `--images`: where the catalog's photos are now (default: the folder it was indexed from; bench/firstIndex.ts --keep
 * indexes a temporary sample folder, whose photos are also in the shared demo folder, the default here when the
 * recorded folder is gone). `--limit N`: only the first N copies. `--save` records the row under `trainingCopies`.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ingestEmbedderOptions } from '../src/app/indexFolder.js';
import { SETTING_IMAGES_ROOT, storedIdentity } from '../src/catalog/identity.js';
import { catalogFile, openCatalogStore } from '../src/catalog/openCatalog.js';
import { demoCatalog, resolveConfig } from '../src/config.js';
import { Embedder } from '../src/embedding/embedder.js';
import { embedCopies } from '../src/refine/augment.js';
import { arg, copyCatalogFile, round, saveResult } from './common.js';

const from = arg('data', '.fashion');
const limit = Number(arg('limit', '0'));
const dataDir = mkdtempSync(join(tmpdir(), 'fashion-bench-training-copies-'));
try {
  await copyCatalogFile(catalogFile(from), catalogFile(dataDir));
  const config = resolveConfig({ dataDir });
  const store = await openCatalogStore(config);
  const identity = await storedIdentity(store);
  if (!identity) throw new Error(`Expected an indexed catalog at ${from}`);
  const recorded = await store.getSetting(SETTING_IMAGES_ROOT);
  const root = arg('images', recorded && existsSync(recorded) ? recorded : (demoCatalog()?.images ?? ''));
  const { items } = await store.loadAll();
  const haveIds = [...(await store.featureIds('copy'))].sort();
  if (haveIds.length === 0) throw new Error(`Expected ${from} to hold training copies to compare with (index it with its labels first)`);
  const before = (await store.loadFeatures('copy', haveIds))!;
  const width = before.length / haveIds.length;
  const rowOf = new Map(haveIds.map((id, k) => [id, k]));
  // The copies set aside: embedCopies makes those the catalog lacks. With --limit, the rest stay (and are not made).
  const redo = new Set(limit > 0 ? haveIds.slice(0, limit) : haveIds);
  const kept = new Map(haveIds.filter((id) => !redo.has(id)).map((id) => [id, before.subarray(rowOf.get(id)! * width, (rowOf.get(id)! + 1) * width)]));
  await store.putFeatures('copy', kept, { replace: true });
  const share = config.augment;
  const embedder = await Embedder.load(ingestEmbedderOptions(config, identity));
  try {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const made = await embedCopies(store, embedder, items, { root, share });
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(c0);
    const ids = [...redo];
    const after = await store.loadFeatures('copy', ids);
    let same = 0;
    let maxDiff = 0;
    if (after) {
      ids.forEach((id, r) => {
        const k = rowOf.get(id)!;
        let d = 0;
        for (let j = 0; j < width; j++) d = Math.max(d, Math.abs(after[r * width + j]! - before[k * width + j]!));
        if (d === 0) same++;
        maxDiff = Math.max(maxDiff, d);
      });
    }
    const row = {
      catalog: from,
      copies: made,
      seconds: round(seconds, 1),
      copiesPerSecond: round(made / seconds, 1),
      cpuMsPerCopy: round((cpu.user + cpu.system) / 1000 / made, 1),
      identicalToStored: after ? same : 0,
      compared: ids.length,
      maxAbsDiff: maxDiff,
    };
    console.log(JSON.stringify(row));
    if (process.argv.includes('--save')) saveResult('trainingCopies', row);
  } finally {
    await embedder.close();
    await store.close();
  }
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
