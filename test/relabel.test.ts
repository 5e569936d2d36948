/**
 * A label changed in the shop's CSV reaches search: the item's refined vector, which reads its labels, is made again
 * on the next `fashion index` (it once stayed as it was: only missing vectors were refreshed).
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { indexFolder } from '../src/app/indexFolder.js';
import { openCatalogStore } from '../src/catalog/openCatalog.js';
import { loadCatalogRefinement } from '../src/refine/loadRefinement.js';
import { makeFixture, pickIds, TYPES } from './helpers.js';

const fx = makeFixture(pickIds(TYPES, 40), 'relabel');
const config = fx.config({ augment: 0 });
after(() => rmSync(fx.root, { recursive: true, force: true }));

async function refinedOf(id: string): Promise<{ stored: Float32Array; expected: Float32Array }> {
  const store = await openCatalogStore(config.dataDir, { readonly: true });
  try {
    const { items, vectors, dims } = await store.loadAll();
    const row = items.findIndex((it) => it.id === id);
    const ids = items.map((it) => it.id);
    const { model, vectors: refined } = await loadCatalogRefinement(store, config.dataDir, ids);
    assert.ok(model && refined, 'the catalog has its refinement');
    const colour = (await store.loadFeatures('colour', [id]))!;
    return { stored: refined.slice(row * model.dims, (row + 1) * model.dims), expected: model.itemVector(vectors.slice(row * dims, (row + 1) * dims), colour, items[row]!.metadata) };
  } finally {
    await store.close();
  }
}

const close = (a: Float32Array, b: Float32Array) => a.every((x, j) => Math.abs(x - b[j]!) < 1e-4);

test('a colour changed in the CSV changes the item\'s refined vector on the next index', async () => {
  await indexFolder(config, fx.images, { metadata: fx.csv });
  const id = fx.ids[7]!;
  const before = await refinedOf(id);
  assert.ok(close(before.stored, before.expected));
  const csv = readFileSync(fx.csv, 'utf8').split('\n');
  const line = csv.findIndex((l) => l.startsWith(`${id},`));
  const cells = csv[line]!.split(',');
  cells[5] = cells[5] === 'Black' ? 'White' : 'Black';
  csv[line] = cells.join(',');
  writeFileSync(fx.csv, csv.join('\n'));
  const report = await indexFolder(config, fx.images, { metadata: fx.csv });
  assert.equal(report.metadataUpdated, 1);
  const after = await refinedOf(id);
  assert.ok(close(after.stored, after.expected), 'the stored vector is the one its new labels make');
  assert.ok(!close(after.stored, before.stored), 'and not the old one');
});
