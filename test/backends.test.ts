/**
 * One API and search suite, run against each backend through the HTTP app: the embedded one (SQLite, vectors in memory
 * with usearch graphs, words in FTS5) and PostgreSQL (items, vectors, search and words in SQL: pgvector HNSW, the words
 * table). The same fixture folder is indexed into both; then, on each: search by photo, by catalog item and by words,
 * with filters and k; the write API (PUT, PATCH, DELETE) seen at once by photo, item and words; the jobs list. Before
 * any write, exact search returns the same top k on both backends for every probe photo and catalog item.
 * The PostgreSQL half is skipped, saying why, unless FASHION_TEST_DATABASE_URL is set (`scripts/services.sh up`, then
 * `eval "$(scripts/services.sh env)"`).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance, InjectOptions } from 'fastify';
import pg from 'pg';
import { indexFolder } from '../src/app/indexFolder.js';
import { Services } from '../src/app/services.js';
import type { Config } from '../src/config.js';
import { buildApp } from '../src/server/app.js';
import { DEMO, makeFixture, multipart, pickIds, TYPES } from './helpers.js';

const URL = process.env.FASHION_TEST_DATABASE_URL;
const PG_SKIP = !URL && 'FASHION_TEST_DATABASE_URL not set: run `scripts/services.sh up` and `eval "$(scripts/services.sh env)"` for the PostgreSQL half';
const KEY = 'test-backends-key-0123456789';
const auth = { authorization: `Bearer ${KEY}` };
const schema = `backends_${randomBytes(5).toString('hex')}`;

// 48 products of 6 types; a graph from 10 items up, so both backends search through HNSW (exact search is compared
// apart, below).
const fx = makeFixture(pickIds(TYPES, 8), 'backends');
const [newShirt] = pickIds(['Tshirts'], 1, 40);
const photoOf = (id: string) => readFileSync(join(DEMO!.images, `${id}.jpg`));
const ids = (body: { results: Array<{ id: string }> }) => body.results.map((r) => r.id);

interface Backend {
  readonly name: string;
  readonly skip: string | false;
  readonly config: Config;
  /** The words engine the backend answers with. */
  readonly engine: string;
}

const common = { augment: 0, apiKeys: KEY, annThreshold: 10 };
const backends: Backend[] = [
  { name: 'embedded (SQLite, in memory)', skip: false, config: fx.config({ ...common, dataDir: join(fx.root, 'embedded') }), engine: 'fts5-bm25' },
  {
    name: 'PostgreSQL (search and words in SQL)',
    skip: PG_SKIP,
    config: fx.config({ ...common, dataDir: join(fx.root, 'pg'), ...(URL ? { databaseUrl: URL, databaseSchema: schema, sqlSearch: 'on' } : {}) }),
    engine: 'pg-bm25',
  },
];
const live = backends.filter((b) => !b.skip);

before(async () => {
  for (const b of live) await indexFolder(b.config, fx.images, { metadata: fx.csv });
});
after(async () => {
  if (URL) {
    const client = new pg.Client({ connectionString: URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  }
  rmSync(fx.root, { recursive: true, force: true });
});

function searchPhoto(id: string, extra: Record<string, string> = {}): InjectOptions {
  const parts = [{ name: 'image', value: photoOf(id), filename: 'q.jpg' }, ...Object.entries(extra).map(([name, value]) => ({ name, value }))];
  return { method: 'POST', url: '/api/search', ...multipart(parts) };
}

function put(id: string, metadata: Record<string, string>): InjectOptions {
  const form = multipart([
    { name: 'image', value: photoOf(id), filename: `${id}.jpg` },
    { name: 'metadata', value: JSON.stringify(metadata) },
  ]);
  return { method: 'PUT', url: `/api/items/${id}`, payload: form.payload, headers: { ...form.headers, ...auth } };
}

/** The app over a backend's catalog, closed after the test. */
async function serve(config: Config, t: { after(fn: () => Promise<void>): void }): Promise<{ app: FastifyInstance; svc: Services }> {
  const svc = await Services.open(config);
  const app = await buildApp(svc, config, { logger: false });
  t.after(async () => {
    await app.close();
    await svc.close();
  });
  return { app, svc };
}

describe('both backends, exact search', { skip: PG_SKIP, timeout: 300_000 }, () => {
  test('exact search returns the same top 10 on both backends, by photo (with and without a filter) and by catalog item', async (t) => {
    const [a, b] = await Promise.all(backends.map((x) => serve({ ...x.config, index: 'exact' }, t)));
    assert.equal(b!.svc.sql?.search.kind, 'exact', 'PostgreSQL searches in SQL');
    assert.equal(a!.svc.info().index, 'exact');
    for (const id of fx.ids.filter((_, i) => i % 4 === 0)) {
      for (const extra of [{ k: '10' }, { k: '10', filters: JSON.stringify({ gender: 'Men' }) }] as Array<Record<string, string>>) {
        const [ra, rb] = [await a!.app.inject(searchPhoto(id, extra)), await b!.app.inject(searchPhoto(id, extra))];
        assert.equal(rb.statusCode, 200, rb.body);
        assert.deepEqual(ids(rb.json()), ids(ra.json()), `photo ${id} ${JSON.stringify(extra)}`);
      }
      const [sa, sb] = [await a!.app.inject({ url: `/api/items/${id}/similar?k=10` }), await b!.app.inject({ url: `/api/items/${id}/similar?k=10` })];
      assert.deepEqual(ids(sb.json()), ids(sa.json()), `similar to ${id}`);
    }
  });
});

for (const backend of backends) {
  describe(`API and search: ${backend.name}`, { skip: backend.skip, timeout: 300_000 }, () => {
    let app: FastifyInstance;
    let svc: Services;
    before(async () => {
      svc = await Services.open(backend.config);
      app = await buildApp(svc, backend.config, { logger: false });
    });
    after(async () => {
      await app?.close();
      await svc?.close();
    });

    test('the catalog is searched through a graph, where the backend keeps it', async () => {
      assert.equal(svc.info().index, 'hnsw');
      assert.equal(svc.sql !== null, backend.config.databaseUrl !== null, 'in SQL on PostgreSQL, in memory on SQLite');
      const info = (await app.inject({ url: '/api/info' })).json();
      assert.equal(info.items, fx.ids.length);
    });

    test('search by photo: a catalog photo finds itself first; filters and k apply', async () => {
      const id = fx.ids[9]!;
      const res = await app.inject(searchPhoto(id, { k: '5' }));
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(ids(res.json())[0], id);
      assert.equal(ids(res.json()).length, 5);
      const men = await app.inject(searchPhoto(id, { k: '7', filters: JSON.stringify({ gender: 'Men' }) }));
      assert.equal(men.json().results.length, 7);
      assert.ok(men.json().results.every((r: { metadata: { gender: string } }) => r.metadata.gender === 'Men'), 'every hit passes the filter');
    });

    test('search by catalog item: the item itself left out, filters and k apply', async () => {
      const id = fx.ids[20]!;
      const res = await app.inject({ method: 'POST', url: '/api/search', payload: { id, k: 3, filters: { articleType: 'Watches' } } });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().results.length, 3);
      assert.ok(res.json().results.every((r: { id: string; metadata: { articleType: string } }) => r.id !== id && r.metadata.articleType === 'Watches'), res.body.slice(0, 300));
      const sim = await app.inject({ url: `/api/items/${id}/similar?k=4&gender=Women` });
      assert.equal(sim.statusCode, 200, sim.body);
      assert.ok(sim.json().results.length > 0 && sim.json().results.every((r: { id: string; metadata: { gender: string } }) => r.id !== id && r.metadata.gender === 'Women'), sim.body.slice(0, 300));
    });

    test('search by words: type words filter, free words rank, a slip is corrected, the engine is the backend\'s', async () => {
      const res = await app.inject({ method: 'POST', url: '/api/search', payload: { text: 'black watch', k: 5 } });
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json();
      assert.equal(body.text.engine, backend.engine);
      const kept = body.results.filter((r: { unmatched?: string[] }) => !r.unmatched);
      assert.ok(kept.length > 0 && kept.every((r: { metadata: { articleType: string } }) => r.metadata.articleType === 'Watches'), res.body.slice(0, 400));
      // A typing slip is read as the catalog's word (the spelling dictionary is the catalog's, on either backend).
      const slip = (await app.inject({ method: 'POST', url: '/api/search', payload: { text: 'hanbdag', k: 3 } })).json();
      assert.equal(slip.text.didYouMean, 'handbag');
      assert.ok(slip.results.length === 3 && slip.results.every((r: { metadata: { articleType: string } }) => r.metadata.articleType === 'Handbags'), JSON.stringify(slip.text));
      // A word of one product's name ranks it first.
      const named = svc.catalog.item(fx.ids[30]!).metadata.productDisplayName!;
      const byName = await app.inject({ method: 'POST', url: '/api/search', payload: { text: named, k: 3 } });
      assert.ok(ids(byName.json()).includes(fx.ids[30]!), `${named}: ${byName.body.slice(0, 300)}`);
    });

    test('PUT: a new product is found first by its photo and by its name at once; PATCH changes what filters and words find; DELETE removes it', async () => {
      const made = await app.inject(put(newShirt!, { gender: 'Men', articleType: 'Tshirts', baseColour: 'Teal', productDisplayName: 'Quokka arrival tee' }));
      assert.equal(made.statusCode, 201, made.body);
      assert.equal(ids((await app.inject(searchPhoto(newShirt!))).json())[0], newShirt, 'by its photo');
      const words = await app.inject({ method: 'POST', url: '/api/search', payload: { text: 'quokka tee', k: 3 } });
      assert.equal(ids(words.json())[0], newShirt, `by its name: ${words.body.slice(0, 300)}`);
      const patched = await app.inject({ method: 'PATCH', url: `/api/items/${newShirt}`, payload: { metadata: { baseColour: 'Maroon', productDisplayName: 'Wombat arrival tee' } }, headers: auth });
      assert.equal(patched.statusCode, 200, patched.body);
      const maroon = await app.inject(searchPhoto(newShirt!, { filters: JSON.stringify({ baseColour: 'Maroon' }) }));
      assert.equal(ids(maroon.json())[0], newShirt, 'found by its new colour');
      const teal = await app.inject(searchPhoto(newShirt!, { filters: JSON.stringify({ baseColour: 'Teal' }) }));
      assert.ok(!ids(teal.json()).includes(newShirt!), 'no longer by its old one');
      assert.equal(ids((await app.inject({ method: 'POST', url: '/api/search', payload: { text: 'wombat tee', k: 3 } })).json())[0], newShirt, 'by its new name');
      const quokka = await app.inject({ method: 'POST', url: '/api/search', payload: { text: 'quokka', k: 50 } });
      assert.ok(!ids(quokka.json()).includes(newShirt!) || quokka.json().text.unmatchedWords.includes('quokka'), 'not by its old name');
      const gone = await app.inject({ method: 'DELETE', url: `/api/items/${newShirt}`, headers: auth });
      assert.equal(gone.statusCode, 204);
      assert.ok(!ids((await app.inject(searchPhoto(newShirt!, { k: '20' }))).json()).includes(newShirt!), 'not by its photo');
      assert.ok(!ids((await app.inject({ method: 'POST', url: '/api/search', payload: { text: 'wombat tee', k: 50 } })).json()).includes(newShirt!), 'not by words');
      assert.equal((await app.inject({ url: `/api/items/${newShirt}` })).statusCode, 404);
    });

    test('a write through another server on the same catalog is found by words and photo here once followed', async (t) => {
      const other = await serve(backend.config, t);
      const visitor = pickIds(['Handbags'], 1, 40)[0]!;
      const made = await other.app.inject(put(visitor, { gender: 'Women', articleType: 'Handbags', baseColour: 'Red', productDisplayName: 'Platypus tote' }));
      assert.equal(made.statusCode, 201, made.body);
      await svc.follow();
      assert.equal(ids((await app.inject(searchPhoto(visitor))).json())[0], visitor, 'by its photo');
      const words = await app.inject({ method: 'POST', url: '/api/search', payload: { text: 'platypus', k: 3 } });
      assert.equal(ids(words.json())[0], visitor, `by its name: ${words.body.slice(0, 300)}`);
    });

    test('the folder indexed again with new mtimes and the same photos embeds nothing and records the mtimes', async () => {
      const later = new Date(Math.ceil(Date.now() / 1000) * 1000 + 60_000 * (1 + backends.indexOf(backend)));
      for (const id of fx.ids) utimesSync(join(fx.images, `${id}.jpg`), later, later);
      const again = await indexFolder(backend.config, fx.images, { metadata: fx.csv });
      assert.equal(again.added + again.updated, 0);
      assert.equal(again.unchanged, fx.ids.length);
      const next = await indexFolder(backend.config, fx.images, { metadata: fx.csv });
      assert.equal(next.unchanged, fx.ids.length);
    });

    test('the jobs list: a duplicates scan started here is listed with its status', async () => {
      const started = await app.inject({ method: 'PUT', url: '/api/duplicates/scan', headers: auth });
      assert.ok([200, 202].includes(started.statusCode), started.body);
      const list = await app.inject({ url: '/api/jobs' });
      assert.equal(list.statusCode, 200, list.body);
      assert.ok(list.json().jobs.some((j: { kind: string }) => j.kind === 'duplicates'), list.body.slice(0, 300));
    });
  });
}
