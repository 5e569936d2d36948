/**
 * A write that lands after another process trained a new refinement, before this server has read it: the server reads
 * the catalog again first, so the item's stored vector is the new refinement's, not the old one's (which would stay
 * until the next training).
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { indexFolder } from '../src/app/indexFolder.js';
import { trainCatalogFolder } from '../src/app/refineCatalog.js';
import { Services } from '../src/app/services.js';
import { openCatalogStore } from '../src/catalog/openCatalog.js';
import { loadCatalogRefinement } from '../src/refine/loadRefinement.js';
import { buildApp } from '../src/server/app.js';
import { DEMO, makeFixture, multipart, pickIds, STYLE_ROWS, TYPES } from './helpers.js';

const KEY = 'test-train-race-key-0123456789';
const fx = makeFixture(pickIds(TYPES, 12), 'write-after-training');
const config = fx.config({ augment: 0, apiKeys: KEY });
let svc: Services;
let app: FastifyInstance;

before(async () => {
  await indexFolder(config, fx.images, { metadata: fx.csv });
  await trainCatalogFolder(config, { epochs: 3, seed: 1 });
  svc = await Services.open(config);
  app = await buildApp(svc, config, { logger: false });
});
after(async () => {
  await app?.close();
  await svc?.close();
  rmSync(fx.root, { recursive: true, force: true });
});

test('a PUT after another process trained is refined with the new refinement, which the server then answers from', async () => {
  const servedBefore = svc.refinement.model!.header.trainedAt;
  // Another process trains (a `fashion train`, a training job's child): this server has not read it yet.
  await trainCatalogFolder(config, { epochs: 3, seed: 2 });
  assert.equal(svc.refinement.model!.header.trainedAt, servedBefore, 'the server still serves the old refinement');

  const id = pickIds(['Watches'], 1, 40)[0]!;
  const labels = STYLE_ROWS.get(id)!;
  const form = multipart([
    { name: 'image', value: readFileSync(join(DEMO!.images, `${id}.jpg`)), filename: 'p.jpg' },
    { name: 'metadata', value: JSON.stringify({ articleType: labels.articleType, baseColour: labels.baseColour, gender: labels.gender }) },
  ]);
  const put = await app.inject({ method: 'PUT', url: `/api/items/${id}`, payload: form.payload, headers: { ...form.headers, authorization: `Bearer ${KEY}` } });
  assert.equal(put.statusCode, 201, put.body);
  assert.notEqual(svc.refinement.model!.header.trainedAt, servedBefore, 'the write made the server read the new refinement');

  const store = await openCatalogStore(config, { readonly: true });
  try {
    const { items, vectors, dims } = await store.loadAll();
    const row = items.findIndex((it) => it.id === id);
    const current = await loadCatalogRefinement(store, config.dataDir, items.map((it) => it.id));
    assert.ok(current.model && current.vectors, 'the catalog has its refinement, one generation with every refined vector');
    assert.equal(current.model.header.trainedAt, svc.refinement.model!.header.trainedAt);
    const colour = (await store.loadFeatures('colour', [id]))!;
    const expected = current.model.itemVector(vectors.slice(row * dims, (row + 1) * dims), colour, items[row]!.metadata);
    const stored = current.vectors.subarray(row * current.model.dims, (row + 1) * current.model.dims);
    let worst = 0;
    for (let j = 0; j < expected.length; j++) worst = Math.max(worst, Math.abs(expected[j]! - stored[j]!));
    assert.ok(worst < 1e-4, `the stored vector is the new refinement's (max difference ${worst})`);
  } finally {
    await store.close();
  }
});
