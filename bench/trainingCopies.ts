/**
 * Training copies made and embedded as training makes them (src/refine/augment.ts embedCopies: generate on the copy
 * workers, decode, isolate, fit, embed, store), on a copy of an indexed catalog whose stored copies are set aside first;
 * reports copies/s and checks that the copies made now have the same vectors as the ones the catalog had (same seed,
 * same bytes, same vectors), copy by copy.
 *
 *   flock /tmp/fashion-heavy.lock node --import tsx bench/trainingCopies.ts --data <catalog with copies> [--images DIR] [--limit N] [--save]
 *
 * `--vectors-out FILE` writes the copies made (ids, then float32 rows, FILE and FILE.f32); `--vectors-ref FILE` compares the
 * copies made with such a file instead of the catalog's stored copies (whose generator may be older code): copies that
 * should not have changed are checked against the code before a change, copy by copy, bit for bit and by cosine.
 *
 * `--images`: where the catalog's photos are now (default: the folder it was indexed from; bench/firstIndex.ts --keep
 * indexes a temporary sample folder, whose photos are also in the shared demo folder, the default here when the
 * recorded folder is gone). `--limit N`: only the first N copies. `--at-once N`: copies each copy worker makes at a time
 * (CopyPool.create's default otherwise; a large N starts every queued copy at once, as before it had a limit). `--save`
 * records the row under `trainingCopies`.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
    const atOnce = Number(arg('at-once', '0'));
    const made = await embedCopies(store, embedder, items, { root, share, ...(atOnce > 0 ? { atOnce } : {}) });
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(c0);
    const ids = [...redo];
    const after = await store.loadFeatures('copy', ids);
    const out = arg('vectors-out', '');
    if (out && after) {
      writeFileSync(out, JSON.stringify({ ids, width }));
      writeFileSync(`${out}.f32`, new Uint8Array(after.buffer, after.byteOffset, after.byteLength));
    }
    // What the copies are compared with: a file of an earlier run's copies, or else the catalog's stored copies.
    const refFile = arg('vectors-ref', '');
    const ref = refFile ? (JSON.parse(readFileSync(refFile, 'utf8')) as { ids: string[]; width: number }) : null;
    const refRows = ref ? new Float32Array(new Uint8Array(readFileSync(`${refFile}.f32`)).buffer) : before;
    const refRow = ref ? new Map(ref.ids.map((id, k) => [id, k])) : rowOf;
    if (ref && ref.width !== width) throw new Error(`Expected ${refFile} to hold rows of ${width} floats but it holds ${ref.width}`);
    let same = 0;
    let maxDiff = 0;
    let minCosine = 1;
    let compared = 0;
    if (after) {
      ids.forEach((id, r) => {
        const k = refRow.get(id);
        if (k === undefined) return;
        compared++;
        let d = 0, dot = 0, na = 0, nb = 0;
        for (let j = 0; j < width; j++) {
          const a = after[r * width + j]!, b = refRows[k * width + j]!;
          d = Math.max(d, Math.abs(a - b));
          dot += a * b;
          na += a * a;
          nb += b * b;
        }
        if (d === 0) same++;
        maxDiff = Math.max(maxDiff, d);
        minCosine = Math.min(minCosine, dot / Math.sqrt(na * nb || 1));
      });
    }
    const row = {
      catalog: from,
      copies: made,
      seconds: round(seconds, 1),
      copiesPerSecond: round(made / seconds, 1),
      cpuMsPerCopy: round((cpu.user + cpu.system) / 1000 / made, 1),
      comparedWith: refFile ? `copies in ${refFile}` : 'the catalog\'s stored copies',
      identical: after ? same : 0,
      compared,
      maxAbsDiff: maxDiff,
      minCosine: round(minCosine, 6),
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
