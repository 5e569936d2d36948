/**
 * Stateless API replicas: two servers on one catalog (two Services with their apps, as two `fashion serve` processes
 * have), each following the store's change log as startServer does. A write through A is seen through B within 2 s:
 * a PUT is found first by its photo, a PATCH changes what a filter finds, a DELETE removes it; searches through B
 * while A writes get no error. On SQLite (one data folder) always, and on PostgreSQL (a schema of its own, dropped
 * after) when FASHION_TEST_DATABASE_URL is set.
 *
 * Run with FASHION_FOLLOW_MS=0 to see each test fail: the servers then do not follow (as startServer with it).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { indexFolder } from '../src/app/indexFolder.js';
import { trainCatalogFolder } from '../src/app/refineCatalog.js';
import { Services } from '../src/app/services.js';
import type { Config } from '../src/config.js';
import { buildApp } from '../src/server/app.js';
import { DEMO, makeFixture, multipart, pickIds, STYLE_ROWS, TYPES } from './helpers.js';

const KEY = 'test-replica-key-0123456789';
const DATABASE_URL = process.env.FASHION_TEST_DATABASE_URL;
const FOLLOW_MS = Number(process.env.FASHION_FOLLOW_MS ?? 1000);
const auth = { authorization: `Bearer ${KEY}` };
const photoOf = (id: string) => readFileSync(join(DEMO!.images, `${id}.jpg`));
const ids = (body: { results: Array<{ id: string }> }) => body.results.map((r) => r.id);
const labelsOf = (id: string) => Object.fromEntries(['gender', 'articleType', 'baseColour', 'usage', 'productDisplayName'].map((f) => [f, STYLE_ROWS.get(id)![f] ?? '']));

function put(id: string, metadata: Record<string, string>) {
  const form = multipart([
    { name: 'image', value: photoOf(id), filename: `${id}.jpg` },
    { name: 'metadata', value: JSON.stringify(metadata) },
  ]);
  return { method: 'PUT' as const, url: `/api/items/${id}`, payload: form.payload, headers: { ...form.headers, ...auth } };
}
const searchPhoto = (id: string) => ({ method: 'POST' as const, url: '/api/search', ...multipart([{ name: 'image', value: photoOf(id), filename: 'q.jpg' }]) });

/** Polls `check` every 25 ms until it holds or `ms` have passed; the time it took, or null. */
async function within(ms: number, check: () => Promise<boolean>): Promise<number | null> {
  const t0 = performance.now();
  do {
    if (await check()) return performance.now() - t0;
    await new Promise((r) => setTimeout(r, 25));
  } while (performance.now() - t0 < ms);
  return null;
}

interface Server {
  readonly svc: Services;
  readonly app: FastifyInstance;
}

/** A server as startServer makes it (without listening): the catalog read, the model loaded, the follow loop running. */
async function serve(config: Config): Promise<Server> {
  const svc = await Services.open(config);
  await svc.embedding.load();
  svc.prepareIndex({ save: false });
  const app = await buildApp(svc, config, { logger: false });
  if (config.followMs > 0) svc.follower.start();
  return { svc, app };
}

function replicas(backend: string, skip: string | false, setUp: (config: Config) => { config: Config; drop?: () => Promise<void> }): void {
  describe(`two servers on one catalog: ${backend}`, { skip, timeout: 600_000 }, () => {
    const fx = makeFixture(pickIds(TYPES, 10), `replicas-${backend.toLowerCase()}`);
    const { config, drop } = setUp(fx.config({ augment: 0, apiKeys: KEY, followMs: FOLLOW_MS, rateLimit: 0 }));
    /** New arrivals, not in the fixture. */
    const arrivals = pickIds(['Watches', 'Handbags', 'Tshirts', 'Casual Shoes'], 6, 40);
    let a: Server;
    let b: Server;

    before(async () => {
      // Below the size at which an index trains a refinement: the searched vectors are the photos' own, so a product
      // is found first by its photo on both servers (the last test trains one, as another process would).
      await indexFolder(config, fx.images, { metadata: fx.csv });
      a = await serve(config);
      b = await serve(config);
    });
    after(async () => {
      for (const s of [a, b]) {
        await s?.app.close();
        await s?.svc.close();
      }
      await drop?.();
      rmSync(fx.root, { recursive: true, force: true });
    });

    test('a PUT through A is found first by a photo search through B within 2 s', async () => {
      const id = arrivals[0]!;
      const res = await a.app.inject(put(id, { ...labelsOf(id), productDisplayName: 'Replica watch' }));
      assert.equal(res.statusCode, 201, res.body);
      const ms = await within(3000, async () => ids((await b.app.inject(searchPhoto(id))).json())[0] === id);
      assert.ok(ms !== null && ms < 2000, `found through B after ${ms === null ? 'more than 3000' : Math.round(ms)} ms`);
      assert.equal((await b.app.inject({ url: `/api/items/${id}` })).json().metadata.productDisplayName, 'Replica watch');
    });

    test('a PATCH through A changes what a filter finds through B', async () => {
      const id = arrivals[0]!;
      const res = await a.app.inject({ method: 'PATCH', url: `/api/items/${id}`, payload: { metadata: { baseColour: 'Maroon' } }, headers: auth });
      assert.equal(res.statusCode, 200, res.body);
      const probe = fx.ids[0]!;
      const ms = await within(3000, async () => {
        const maroon = ids((await b.app.inject({ url: `/api/items/${probe}/similar?k=100&baseColour=Maroon` })).json());
        return maroon.includes(id);
      });
      assert.ok(ms !== null && ms < 2000, `found by its new colour through B after ${ms === null ? 'more than 3000' : Math.round(ms)} ms`);
      const old = STYLE_ROWS.get(id)!.baseColour!;
      const before = ids((await b.app.inject({ url: `/api/items/${probe}/similar?k=100&baseColour=${encodeURIComponent(old)}` })).json());
      assert.ok(!before.includes(id), 'no longer by its old one');
    });

    test("a DELETE through A removes the product from B's results", async () => {
      const victim = fx.ids[15]!; // an item of the snapshot both servers read
      assert.equal(ids((await b.app.inject(searchPhoto(victim))).json())[0], victim);
      assert.equal((await a.app.inject({ method: 'DELETE', url: `/api/items/${victim}`, headers: auth })).statusCode, 204);
      const ms = await within(3000, async () => !ids((await b.app.inject(searchPhoto(victim))).json()).includes(victim));
      assert.ok(ms !== null && ms < 2000, `gone from B after ${ms === null ? 'more than 3000' : Math.round(ms)} ms`);
      assert.equal((await b.app.inject({ url: `/api/items/${victim}` })).statusCode, 404);
    });

    test('searches through B during 20 writes through A get no error; each write is seen through B within 2 s', async (t) => {
      const written = arrivals.slice(1, 21);
      let writing = true;
      const searches = (async () => {
        const codes: number[] = [];
        for (let i = 0; writing; i++) codes.push((await b.app.inject(searchPhoto(fx.ids[(i * 7) % fx.ids.length]!))).statusCode);
        return codes;
      })();
      const delays: number[] = [];
      try {
        for (const id of written) {
          const res = await a.app.inject(put(id, labelsOf(id)));
          assert.ok([200, 201].includes(res.statusCode), res.body);
          const ms = await within(3000, async () => (await b.app.inject({ url: `/api/items/${id}` })).statusCode === 200);
          delays.push(ms ?? Number.POSITIVE_INFINITY);
        }
      } finally {
        writing = false;
      }
      const codes = await searches;
      assert.ok(codes.length > 0, 'B was searched');
      assert.deepEqual(codes.filter((c) => c !== 200), [], 'every search through B answered');
      const sorted = [...delays].sort((x, y) => x - y);
      t.diagnostic(`PUT through A -> seen through B: p50 ${Math.round(sorted[Math.floor(sorted.length / 2)]!)} ms, max ${Math.round(sorted[sorted.length - 1]!)} ms over ${delays.length} writes; ${codes.length} searches through B`);
      assert.ok(sorted[sorted.length - 1]! < 2000, `every write seen through B within 2 s: ${delays.map(Math.round).join(', ')}`);
      // Each is matched by its photo through B (the same-product space, which reads the photo).
      for (const id of written) {
        const match = (await b.app.inject({ method: 'POST', url: '/api/match', ...multipart([{ name: 'image', value: photoOf(id), filename: 'q.jpg' }]) })).json();
        assert.ok(match.candidates.slice(0, 2).some((c: { id: string }) => c.id === id), `${id} matched through B`);
      }
      assert.equal(b.svc.catalog.size, a.svc.catalog.size, 'both serve as many items');
    });

    test('a refinement trained by another process is read by both servers without a restart, with every write', async () => {
      assert.equal(b.svc.info().refinement, null);
      await trainCatalogFolder(config, { epochs: 3, seed: 9 });
      const ms = await within(5000, async () => b.svc.info().refinement !== null && a.svc.info().refinement !== null);
      assert.ok(ms !== null, 'both read the new refinement');
      assert.equal(b.svc.catalog.size, a.svc.catalog.size);
      assert.equal(b.svc.catalog.item(arrivals[0]!).metadata.baseColour, 'Maroon', 'with the writes through A');
      const res = await b.app.inject(searchPhoto(arrivals[0]!));
      assert.equal(res.statusCode, 200, res.body);
    });
  });
}

replicas('SQLite', false, (config) => ({ config }));

replicas('PostgreSQL', !DATABASE_URL && 'FASHION_TEST_DATABASE_URL not set: run `scripts/services.sh up` and `eval "$(scripts/services.sh env)"` first', (config) => {
  const schema = `replicas_${randomBytes(6).toString('hex')}`;
  return {
    config: { ...config, dataDir: join(config.dataDir, '..', 'pg-data'), databaseUrl: DATABASE_URL!, databaseSchema: schema },
    drop: async () => {
      const client = new pg.Client({ connectionString: DATABASE_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    },
  };
});
