/**
 * The product on PostgreSQL (`--database`): the same fixture indexed into SQLite and into a PostgreSQL schema gives the
 * same catalog, the same refinement and the same exact top-k for every probe photo; the server answers from PostgreSQL
 * and its writes outlive a restart. Skipped unless FASHION_TEST_DATABASE_URL names a PostgreSQL with pgvector
 * (`scripts/services.sh up` and `eval "$(scripts/services.sh env)"`).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { indexFolder } from '../src/app/indexFolder.js';
import { trainCatalogFolder } from '../src/app/refineCatalog.js';
import { Services } from '../src/app/services.js';
import { openCatalogStore } from '../src/catalog/openCatalog.js';
import type { Config } from '../src/config.js';
import { FashionError } from '../src/errors.js';
import { buildApp } from '../src/server/app.js';
import { DEMO, makeFixture, multipart, pickIds, TYPES } from './helpers.js';

const URL = process.env.FASHION_TEST_DATABASE_URL;
const SKIP = !URL && 'FASHION_TEST_DATABASE_URL not set: run `scripts/services.sh up` and `eval "$(scripts/services.sh env)"` first';
const KEY = 'test-postgres-key-0123456789';

describe('the catalog in PostgreSQL', { skip: SKIP, timeout: 600_000 }, () => {
  const fx = makeFixture(pickIds(TYPES, 12), 'postgres');
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const embedded = fx.config({ augment: 0, apiKeys: KEY });
  const inPg: Config = { ...fx.config({ augment: 0, apiKeys: KEY, dataDir: join(fx.root, 'pg-data') }), databaseUrl: URL!, databaseSchema: schema };
  const photo = (id: string) => readFileSync(join(DEMO!.images, `${id}.jpg`));

  before(async () => {
    // Below the size at which an index trains the refinement by itself: `fashion train` trains both, alike.
    for (const config of [embedded, inPg]) {
      await indexFolder(config, fx.images, { metadata: fx.csv });
      await trainCatalogFolder(config, { epochs: 3, seed: 5 });
    }
  });
  after(async () => {
    const client = new pg.Client({ connectionString: URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client.end();
    rmSync(fx.root, { recursive: true, force: true });
  });

  test('the same folder indexed into PostgreSQL holds the same items, vectors and refinement as in SQLite', async () => {
    const a = await openCatalogStore(embedded, { readonly: true });
    const b = await openCatalogStore(inPg, { readonly: true });
    try {
      const [x, y] = [await a.loadAll(), await b.loadAll()];
      assert.deepEqual(y.items.map((it) => it.id), x.items.map((it) => it.id));
      assert.deepEqual(y.items.map((it) => it.metadata), x.items.map((it) => it.metadata));
      assert.deepEqual(Buffer.from(y.vectors.buffer), Buffer.from(x.vectors.buffer), 'the backbone vectors, bit for bit');
      const ids = x.items.map((it) => it.id);
      const [ra, rb] = [await a.loadFeatures('refined', ids), await b.loadFeatures('refined', ids)];
      assert.ok(ra && rb, 'both catalogs are refined');
      let worst = 0;
      for (let i = 0; i < ra.length; i++) worst = Math.max(worst, Math.abs(ra[i]! - rb[i]!));
      assert.ok(worst < 1e-5, `the refined vectors agree (max difference ${worst})`);
    } finally {
      await a.close();
      await b.close();
    }
  });

  // Search over the vectors read into memory (the default), and in SQL (sqlSearch): exactly, and through the HNSW indexes.
  const variants: Array<[string, Config]> = [
    ['in memory', inPg],
    ['in SQL, exact', { ...inPg, sqlSearch: true, index: 'exact' }],
    ['in SQL, HNSW', { ...inPg, sqlSearch: true, index: 'hnsw' }],
  ];
  for (const [how, config] of variants) test(`search on PostgreSQL ${how} returns the same top 5 as the embedded backend for every probe photo`, async () => {
    const [a, b] = [await Services.open(embedded), await Services.open(config)];
    try {
      assert.equal(b.sql !== null, config.sqlSearch, 'searched where asked');
      if (config.index === 'hnsw') assert.ok((await b.prepareSqlIndexes()).length > 0, 'the HNSW indexes are built');
      assert.equal(b.info().index, config.index === 'hnsw' ? 'hnsw' : 'exact');
      assert.equal(b.catalog.size, a.catalog.size);
      assert.equal(b.info().refinement?.dims, a.info().refinement?.dims);
      for (const id of fx.ids.filter((_, i) => i % 6 === 0)) {
        const query = { kind: 'photo' as const, photo: { kind: 'upload' as const, bytes: photo(id), label: 'q' }, k: 5 };
        const [ha, hb] = [(await a.pipeline.search(query)).hits, (await b.pipeline.search(query)).hits];
        assert.deepEqual(hb.map((h) => h.id), ha.map((h) => h.id), `top 5 for ${id}`);
      }
      const words = { kind: 'text' as const, text: 'black watch', k: 5 };
      assert.deepEqual((await b.pipeline.search(words)).hits.map((h) => h.id), (await a.pipeline.search(words)).hits.map((h) => h.id), 'words too');
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('the server answers from PostgreSQL; a product PUT through it is found first and is still there after a restart', async () => {
    const newcomer = pickIds(['Handbags'], 1, 30)[0]!;
    const svc = await Services.open(inPg);
    const app = await buildApp(svc, inPg, { logger: false });
    try {
      const form = multipart([{ name: 'image', value: photo(newcomer), filename: 'p.jpg' }, { name: 'metadata', value: JSON.stringify({ articleType: 'Handbags', productDisplayName: 'Postgres bag' }) }]);
      const put = await app.inject({ method: 'PUT', url: `/api/items/${newcomer}`, payload: form.payload, headers: { ...form.headers, authorization: `Bearer ${KEY}` } });
      assert.equal(put.statusCode, 201, put.body);
      const found = await app.inject({ method: 'POST', url: '/api/search', ...multipart([{ name: 'image', value: photo(newcomer), filename: 'q.jpg' }]) });
      assert.equal(found.json().results[0].id, newcomer);
    } finally {
      await app.close();
      await svc.close();
    }
    const again = await Services.open(inPg);
    try {
      assert.equal(again.catalog.item(newcomer).metadata.productDisplayName, 'Postgres bag');
      assert.equal(again.catalog.size, fx.ids.length + 1);
    } finally {
      await again.close();
    }
  });

  test('a schema with no catalog is catalog/not-found, and an unreachable server is server/unavailable', async () => {
    await assert.rejects(Services.open({ ...inPg, databaseSchema: `t_${randomBytes(6).toString('hex')}` }), (e: unknown) => e instanceof FashionError && e.code === 'catalog/not-found');
    await assert.rejects(Services.open({ ...inPg, databaseUrl: 'postgres://postgres@127.0.0.1:1/fashion' }), (e: unknown) => e instanceof FashionError && e.code === 'server/unavailable');
  });
});
