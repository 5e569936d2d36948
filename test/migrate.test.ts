/**
 * `fashion migrate`: an embedded (SQLite) catalog copied into PostgreSQL holds the same items, vectors, other photos,
 * refinement, settings and kept photos, and answers the same searches; a second run copies nothing, a run after the
 * source changed copies what changed, a killed run resumes, and a schema holding another catalog is refused unless
 * --replace. Skipped unless FASHION_TEST_DATABASE_URL names a PostgreSQL with pgvector (`scripts/services.sh up`).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import pg from 'pg';
import { indexFolder } from '../src/app/indexFolder.js';
import { migrateCatalog, SETTING_MIGRATION } from '../src/app/migrateCatalog.js';
import { trainCatalogFolder } from '../src/app/refineCatalog.js';
import { Services } from '../src/app/services.js';
import { createKey, keyMatches, storedKeys } from '../src/catalog/apiKeys.js';
import { openCatalogStore } from '../src/catalog/openCatalog.js';
import { keptPhotoFile } from '../src/catalog/photoStore.js';
import { REPO_ROOT, type Config } from '../src/config.js';
import { FashionError } from '../src/errors.js';
import { buildApp } from '../src/server/app.js';
import type { CatalogStore } from '../src/store/catalogStore.js';
import { DEMO, makeFixture, multipart, pickIds, TYPES } from './helpers.js';

const URL = process.env.FASHION_TEST_DATABASE_URL;
const SKIP = !URL && 'FASHION_TEST_DATABASE_URL not set: run `scripts/services.sh up` and `eval "$(scripts/services.sh env)"` first';
const KEY = 'test-migrate-key-0123456789';
const run = promisify(execFile);

/** Everything a catalog holds through the port, in a form deepEqual compares (vectors as bytes). */
async function contents(store: CatalogStore) {
  const all = await store.loadAll();
  const ids = all.items.map((it) => it.id);
  const bytes = (v: Float32Array | null) => (v ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') : null);
  const settings = await store.catalogSettings();
  settings.delete(SETTING_MIGRATION);
  return {
    items: all.items,
    vectors: bytes(all.vectors),
    photos: (await store.loadPhotos()).map((p) => ({ ...p, vector: bytes(p.vector), colour: bytes(p.colour) })),
    colour: [...(await store.featureIds('colour'))].sort(),
    refined: bytes(await store.loadFeatures('refined', ids)),
    copies: [...(await store.featureIds('copy'))].sort(),
    settings: Object.fromEntries(settings),
  };
}

async function same(a: Config, b: Config, message: string): Promise<void> {
  const [x, y] = [await openCatalogStore(a, { readonly: true }), await openCatalogStore(b, { readonly: true })];
  try {
    assert.deepEqual(await contents(y), await contents(x), message);
  } finally {
    await x.close();
    await y.close();
  }
}

describe('fashion migrate: an embedded catalog into PostgreSQL', { skip: SKIP, timeout: 600_000 }, () => {
  const fx = makeFixture(pickIds(TYPES, 12), 'migrate');
  const schemas: string[] = [];
  const schema = () => {
    const s = `t_${randomBytes(6).toString('hex')}`;
    schemas.push(s);
    return s;
  };
  const embedded = fx.config({ augment: 0.25, apiKeys: KEY });
  const into = (s: string, dir = `pg-${s}`): Config => ({ ...fx.config({ augment: 0.25, apiKeys: KEY, dataDir: join(fx.root, dir) }), databaseUrl: URL!, databaseSchema: s });
  const target = into(schema());
  const photo = (id: string) => readFileSync(join(DEMO!.images, `${id}.jpg`));
  const newcomer = pickIds(['Handbags'], 1, 30)[0]!;
  let firstReport: Awaited<ReturnType<typeof migrateCatalog>>;
  let storedKey = '';

  before(async () => {
    // A catalog with everything a shop's has: a refinement with training copies, an API key, and a product written
    // through the API with two photos (kept in the catalog's folder, the second one an "other photo").
    await indexFolder(embedded, fx.images, { metadata: fx.csv });
    await trainCatalogFolder(embedded, { epochs: 3, seed: 5 });
    const store = await openCatalogStore(embedded);
    storedKey = (await createKey(store, 'shop backend')).key;
    await store.close();
    const svc = await Services.open(embedded);
    const app = await buildApp(svc, embedded, { logger: false });
    try {
      const form = multipart([
        { name: 'image', value: photo(newcomer), filename: 'a.jpg' },
        { name: 'image', value: photo(pickIds(['Handbags'], 1, 31)[0]!), filename: 'b.jpg' },
        { name: 'metadata', value: JSON.stringify({ articleType: 'Handbags', baseColour: 'Black', productDisplayName: 'Migrated bag' }) },
      ]);
      const put = await app.inject({ method: 'PUT', url: `/api/items/${newcomer}`, payload: form.payload, headers: { ...form.headers, authorization: `Bearer ${KEY}` } });
      assert.equal(put.statusCode, 201, put.body);
    } finally {
      await app.close();
      await svc.close();
    }
    firstReport = await migrateCatalog(target, embedded.dataDir);
  });
  after(async () => {
    const client = new pg.Client({ connectionString: URL });
    await client.connect();
    for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
    await client.end();
    rmSync(fx.root, { recursive: true, force: true });
  });

  test('copies items, vectors, other photos, colour, refined and copy vectors, settings, the refinement model and kept photos', async () => {
    const r = firstReport;
    assert.equal(r.upToDate, false);
    assert.equal(r.items.copied, fx.ids.length + 1);
    assert.equal(r.items.total, fx.ids.length + 1);
    assert.equal(r.photos, 1, 'the product written with two photos has one other photo');
    assert.equal(r.features.refined, fx.ids.length + 1);
    assert.ok((r.features.copy ?? 0) > 0, 'training copies, augment 0.25');
    assert.ok(r.settings >= 4, `identity, images root, columns, refinement, API keys (${r.settings})`);
    assert.equal(r.files.models, readdirSync(embedded.dataDir).filter((f) => f.startsWith('refine-model')).length);
    assert.equal(r.files.keptPhotos, 2);
    await same(embedded, target, 'the PostgreSQL catalog holds what the embedded one does');
    const store = await openCatalogStore(target, { readonly: true });
    try {
      for (const path of [(await store.getItem(newcomer))!.path, ...(await store.getItem(newcomer))!.photos!.map((p) => p.path)]) {
        assert.ok(existsSync(keptPhotoFile(target.dataDir, path)!), `kept photo ${path} copied into the target's --data`);
      }
    } finally {
      await store.close();
    }
  });

  test('searches on both catalogs answer the same: photos, items, words, the refinement in use, and the API key', async () => {
    const [a, b] = [await Services.open(embedded), await Services.open({ ...target, apiKeys: [] })];
    try {
      assert.equal(b.info().items, a.info().items);
      assert.ok(b.refinement.model, 'the refinement is used on PostgreSQL');
      assert.equal(b.info().refinement?.dims, a.info().refinement?.dims);
      for (const id of [...fx.ids.filter((_, i) => i % 8 === 0), newcomer]) {
        const byPhoto = { kind: 'photo' as const, photo: { kind: 'upload' as const, bytes: photo(id), label: 'q' }, k: 5 };
        assert.deepEqual((await b.pipeline.search(byPhoto)).hits.map((h) => h.id), (await a.pipeline.search(byPhoto)).hits.map((h) => h.id), `photo of ${id}`);
        const byItem = { kind: 'item' as const, id, k: 5 };
        assert.deepEqual((await b.pipeline.search(byItem)).hits.map((h) => h.id), (await a.pipeline.search(byItem)).hits.map((h) => h.id), `more like ${id}`);
      }
      const words = { kind: 'text' as const, text: 'black watch', k: 5 };
      assert.deepEqual((await b.pipeline.search(words)).hits.map((h) => h.id), (await a.pipeline.search(words)).hits.map((h) => h.id), 'words');
      // The key made with `fashion keys create` on the embedded catalog is one of the PostgreSQL catalog's (kept hashed in
      // its settings, copied with them).
      const keys = await openCatalogStore(target, { readonly: true });
      try {
        assert.ok(keyMatches(storedKey, (await storedKeys(keys)).map((k) => k.sha256)));
      } finally {
        await keys.close();
      }
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('a second run copies nothing and says so; after changes to the source it copies only what changed', async () => {
    const again = await migrateCatalog(target, embedded.dataDir, { prepareSearch: false });
    assert.equal(again.upToDate, true);
    assert.equal(again.items.copied, 0);
    const cli = await run(process.execPath, [join(REPO_ROOT, 'bin', 'fashion.js'), 'migrate', '--from', embedded.dataDir, '--data', target.dataDir, '--database', URL!, '--database-schema', target.databaseSchema], { cwd: fx.root });
    assert.match(cli.stdout, /up to date .* nothing copied/);

    const store = await openCatalogStore(embedded);
    const [gone, relabelled] = [fx.ids[0]!, fx.ids[1]!];
    try {
      await store.removeItems([gone]);
      await store.updateMetadata(new Map([[relabelled, { articleType: 'Tshirts', baseColour: 'Purple', productDisplayName: 'Relabelled' }]]));
    } finally {
      await store.close();
    }
    const changed = await migrateCatalog(target, embedded.dataDir, { prepareSearch: false });
    assert.equal(changed.upToDate, false);
    assert.equal(changed.items.copied, 1, 'the relabelled item');
    assert.equal(changed.items.removed, 1, 'the removed item');
    await same(embedded, target, 'the PostgreSQL catalog follows the source');
  });

  test('a run that stops part-way resumes after its last page; the result is the same', async () => {
    const resumed = into(schema());
    let pages = 0;
    await assert.rejects(
      migrateCatalog(resumed, embedded.dataDir, {
        pageSize: 20,
        prepareSearch: false,
        onEvent: (e) => {
          if (e.kind === 'items' && ++pages === 2) throw new Error('killed');
        },
      }),
      /killed/,
    );
    const r = await migrateCatalog(resumed, embedded.dataDir, { pageSize: 20, prepareSearch: false });
    assert.equal(r.resumed, true);
    assert.equal(r.items.copied, r.items.total - 40, 'the two pages committed before the stop are not copied again');
    await same(embedded, resumed, 'a resumed migration holds the whole catalog');
  });

  test('a schema holding another catalog is refused, and replaced with --replace', async () => {
    const other = makeFixture(pickIds(['Watches'], 6, 40), 'migrate-other');
    try {
      const otherConfig = other.config({ augment: 0 });
      await indexFolder(otherConfig, other.images, { metadata: other.csv, refine: false });
      // Written since its migration (a server on PostgreSQL) while the source changed too: another run is refused.
      const pgStore = await openCatalogStore(target);
      const source = await openCatalogStore(embedded);
      try {
        await pgStore.updateMetadata(new Map([[newcomer, { articleType: 'Handbags', productDisplayName: 'Written on PostgreSQL' }]]));
        await source.updateMetadata(new Map([[newcomer, { articleType: 'Handbags', productDisplayName: 'Written on SQLite' }]]));
      } finally {
        await pgStore.close();
        await source.close();
      }
      await assert.rejects(migrateCatalog(target, embedded.dataDir, { prepareSearch: false }), (e: unknown) => e instanceof FashionError && e.code === 'catalog/not-empty' && /written since/.test(e.message));
      await assert.rejects(migrateCatalog(target, otherConfig.dataDir, { prepareSearch: false }), (e: unknown) => e instanceof FashionError && e.code === 'catalog/not-empty' && /--replace/.test(e.message));
      const replaced = await migrateCatalog(target, otherConfig.dataDir, { replace: true, prepareSearch: false });
      assert.equal(replaced.replaced, true);
      await same(otherConfig, target, 'the other catalog replaced the first');
    } finally {
      rmSync(other.root, { recursive: true, force: true });
    }
  });
});
