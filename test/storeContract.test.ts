// The CatalogStore contract, written once against the interface and run against each implementation: the embedded
// SQLite store on a temporary file, and the PostgreSQL store on a fresh schema of FASHION_TEST_DATABASE_URL's database
// (skipped, with the command to run, when that is not set). Then what only the PostgreSQL store has.
// Every assert.ok has a message: without one, node's assert re-reads the source to quote the expression, which on
// tsx's one-line output takes minutes.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { CatalogStore, ItemWithVector, Metadata, PhotoWithVector, StoredItem } from '../src/store/catalogStore.js';
import { PostgresCatalogStore, SCHEMA_VERSION } from '../src/store/postgresStore.js';
import { SqliteCatalogStore } from '../src/store/sqliteStore.js';
import { FtsTextSearch } from '../src/text/ftsIndex.js';
import { mulberry32 } from '../src/util/random.js';

const DATABASE_URL = process.env.FASHION_TEST_DATABASE_URL;
const PG_SKIP = !DATABASE_URL && 'FASHION_TEST_DATABASE_URL not set: run `scripts/services.sh up` and `eval "$(scripts/services.sh env)"` first';
const DIMS = 8;
const WIDE = 1331;

/** One catalog of a backend, fresh and empty; it is closed and removed when the test ends. */
interface Catalog {
  readonly store: CatalogStore;
  /** Another connection to the same catalog, as another process has (closed with the catalog). */
  connect(options?: { readonly?: boolean }): Promise<CatalogStore>;
}

interface Backend {
  readonly name: string;
  readonly skip: string | false;
  fresh(t: TestContext): Promise<Catalog>;
}

const sqlite: Backend = (() => {
  let dir: string | undefined;
  let n = 0;
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return {
    name: 'SQLite',
    skip: false,
    async fresh(t) {
      dir ??= mkdtempSync(join(tmpdir(), 'fashion-contract-'));
      const file = join(dir, `catalog-${++n}.db`);
      const opened: CatalogStore[] = [];
      const open = (options: { readonly?: boolean } = {}) => {
        const s = new SqliteCatalogStore(file, options);
        opened.push(s);
        return s;
      };
      const store = open();
      t.after(async () => {
        for (const s of opened.reverse()) await s.close();
      });
      return { store, connect: async (options) => open(options) };
    },
  };
})();

/** Schemas of this run, so that runs against the same database never meet. */
const RUN = `contract_${process.pid}_${randomBytes(3).toString('hex')}`;

const postgres: Backend = (() => {
  let admin: pg.Client | undefined;
  let n = 0;
  after(async () => {
    await admin?.end();
  });
  return {
    name: 'PostgreSQL',
    skip: PG_SKIP,
    async fresh(t) {
      if (!admin) {
        admin = new pg.Client({ connectionString: DATABASE_URL, connectionTimeoutMillis: 5000 });
        await admin.connect();
      }
      const schema = `${RUN}_${++n}`;
      const opened: CatalogStore[] = [];
      const open = async (options: { readonly?: boolean } = {}) => {
        const s = await PostgresCatalogStore.open(DATABASE_URL!, { schema, maxConnections: 4, ...options });
        opened.push(s);
        return s;
      };
      const store = await open();
      t.after(async () => {
        for (const s of opened.reverse()) await s.close();
        await admin!.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      });
      return { store, connect: open };
    },
  };
})();

// ------------------------------------------------------------------------------------------------ data

const rand = mulberry32(20);

function vec(dims = DIMS): Float32Array {
  return Float32Array.from({ length: dims }, () => rand() * 2 - 1);
}

/** Every kind of finite float32, by random bit patterns (denormals, huge, tiny), and -0, +0 and the extremes. */
function bitsVec(dims = WIDE): Float32Array {
  const bits = new Uint32Array(dims);
  for (let i = 0; i < dims; i++) {
    let b: number;
    do b = Math.floor(rand() * 2 ** 32) >>> 0;
    while (((b >>> 23) & 0xff) === 0xff); // NaN and ±Infinity: pgvector refuses them
    bits[i] = b;
  }
  const v = new Float32Array(bits.buffer);
  v.set([-0, 0, 1.401298464324817e-45, -1.401298464324817e-45, 1.1754943508222875e-38, 3.4028234663852886e38, -3.4028234663852886e38, 0.1, 1 / 3]);
  return v;
}

function item(id: string, extra: Partial<ItemWithVector> = {}): ItemWithVector {
  return { id, path: `img/${id}.jpg`, size: 1000 + id.length, mtimeMs: 1_712_345_678_901.25, metadata: { productDisplayName: `Name ${id}`, baseColour: 'Blue' }, vector: vec(), ...extra };
}

function photo(name: string, extra: Partial<PhotoWithVector> = {}): PhotoWithVector {
  return { path: `img/${name}.jpg`, size: 77, mtimeMs: 1_700_000_000_000.5, vector: vec(), ...extra };
}

/** What getItem returns for an item written as `it` (no vectors; pixelHash only when set). */
function stored(it: ItemWithVector, photos?: PhotoWithVector[]): StoredItem {
  const out: StoredItem = { id: it.id, path: it.path, size: it.size, mtimeMs: it.mtimeMs, metadata: it.metadata, ...(it.pixelHash ? { pixelHash: it.pixelHash } : {}) };
  return photos && photos.length > 0 ? { ...out, photos: photos.map(fileOf) } : out;
}

function fileOf(p: PhotoWithVector) {
  return { path: p.path, size: p.size, mtimeMs: p.mtimeMs, ...(p.pixelHash ? { pixelHash: p.pixelHash } : {}) };
}

/** Vectors equal bit for bit (assert's deepEqual takes -0 for 0). */
function assertBits(actual: Float32Array | null | undefined, expected: Float32Array, message?: string): void {
  assert.ok(actual, message ?? 'a vector');
  assert.equal(actual.length, expected.length, message);
  assert.ok(Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength)), message ?? 'the same bits');
}

function concat(...vs: Float32Array[]): Float32Array {
  const out = new Float32Array(vs.reduce((n, v) => n + v.length, 0));
  let at = 0;
  for (const v of vs) {
    out.set(v, at);
    at += v.length;
  }
  return out;
}

const ids = (items: ReadonlyArray<{ id: string }>) => items.map((i) => i.id);
const sorted = (s: Set<string>) => [...s].sort();

// ------------------------------------------------------------------------------------------------ the contract

function contract(backend: Backend): void {
  const fresh = (t: TestContext) => backend.fresh(t);

  test('settings: a missing key is null; set, overwrite; a setting is no new generation', async (t) => {
    const { store } = await fresh(t);
    assert.equal(await store.getSetting('model'), null);
    const g = await store.generation();
    await store.setSetting('model', 'clip-vit-b32');
    await store.setSetting('model', 'siglip «ü» \'quoted\'');
    await store.setSetting('other', '');
    assert.equal(await store.getSetting('model'), 'siglip «ü» \'quoted\'');
    assert.equal(await store.getSetting('other'), '');
    assert.equal(await store.generation(), g);
  });

  test("catalogSettings: the catalog's own settings, none of the store's bookkeeping", async (t) => {
    const { store } = await fresh(t);
    await store.setSetting('modelIdentity', '{"dims":3}');
    await store.setSetting('apiKeys', '[]');
    await store.putItems([item('a')]);
    await store.removeItems(['a']);
    assert.deepEqual(Object.fromEntries(await store.catalogSettings()), { apiKeys: '[]', modelIdentity: '{"dims":3}' });
  });

  test('loadFeatures of more ids than one page (read in one pass) and of a few (looked up), alike', async (t) => {
    const { store } = await fresh(t);
    const rows = new Map<string, Float32Array>(Array.from({ length: 2100 }, (_, i) => [`id${String(i).padStart(4, '0')}`, vec()]));
    await store.putFeatures('copy', rows);
    const many = [...rows.keys()].reverse().slice(0, 2050);
    assertBits(await store.loadFeatures('copy', many), concat(...many.map((id) => rows.get(id)!)));
    const few = ['id0007', 'id2099', 'id0007'];
    assertBits(await store.loadFeatures('copy', few), concat(...few.map((id) => rows.get(id)!)));
  });

  test('putItems and getItem: every field comes back; a missing id is null; count', async (t) => {
    const { store } = await fresh(t);
    const metadata: Metadata = { productDisplayName: 'Läufer "Nite" \\ 100%', gender: 'Women', articleType: 'Tshirts', year: '2012', empty: '' };
    const a = item('a', { metadata, size: 5_000_000_123, mtimeMs: 1_712_345_678_901.123, pixelHash: 'f'.repeat(64) });
    const b = item('b');
    assert.equal(await store.count(), 0);
    await store.putItems([a, b]);
    assert.equal(await store.count(), 2);
    assert.deepEqual(await store.getItem('a'), stored(a));
    const gotB = await store.getItem('b');
    assert.deepEqual(gotB, stored(b));
    assert.ok(gotB && !('pixelHash' in gotB) && !('photos' in gotB), 'no pixelHash or photos keys when there are none');
    assert.equal(await store.getItem('nope'), null);
  });

  test(`vectors come back bit for bit (${WIDE} dims, every kind of float32) through loadAll, itemsAfter, loadFeatures and loadPhotos`, async (t) => {
    const { store } = await fresh(t);
    const [v, c, r, p, pc] = [bitsVec(), bitsVec(), bitsVec(), bitsVec(), bitsVec()];
    // A view into a larger buffer, at an odd offset, as callers pass slices of one matrix.
    const big = new Float32Array(WIDE * 3);
    big.set(v, WIDE + 1);
    const slice = big.subarray(WIDE + 1, 2 * WIDE + 1);
    await store.putItems([item('x', { vector: slice, colour: c })]);
    await store.putFeatures('refined', new Map([['x', r]]));
    await store.putPhotos('x', [photo('x-1', { vector: p, colour: pc })]);
    const all = await store.loadAll();
    assert.equal(all.dims, WIDE);
    assertBits(all.vectors, v, 'loadAll');
    const after = await store.itemsAfter(0, 10);
    assertBits(after.items[0]?.vector, v, 'itemsAfter vector');
    assertBits(after.items[0]?.colour, c, 'itemsAfter colour');
    assertBits(after.items[0]?.photoVectors?.[0]?.vector, p, 'itemsAfter photo vector');
    assertBits(after.items[0]?.photoVectors?.[0]?.colour, pc, 'itemsAfter photo colour');
    assertBits(await store.loadFeatures('refined', ['x']), r, 'loadFeatures refined');
    assertBits(await store.loadFeatures('colour', ['x']), c, 'loadFeatures colour');
    const photos = await store.loadPhotos();
    assertBits(photos[0]?.vector, p, 'loadPhotos vector');
    assertBits(photos[0]?.colour, pc, 'loadPhotos colour');
  });

  test('putItems over an existing id: its new fields, the same count, its derived vectors and other photos dropped', async (t) => {
    const { store } = await fresh(t);
    const a1 = item('a', { colour: vec(4), pixelHash: 'h1' });
    const b = item('b', { colour: vec(4) });
    await store.putItems([a1, b]);
    await store.putFeatures('refined', new Map([['a', vec()], ['b', vec()]]));
    await store.putFeatures('copy', new Map([['a', vec()]]));
    await store.putPhotos('a', [photo('a-1')]);
    await store.putPhotos('b', [photo('b-1')]);

    const c2 = vec(4);
    const a2 = item('a', { path: 'img/a-v2.png', size: 9, mtimeMs: 5.5, metadata: { productDisplayName: 'New' }, vector: vec(), colour: c2 });
    await store.putItems([a2]);
    assert.equal(await store.count(), 2);
    assert.deepEqual(await store.getItem('a'), stored(a2), 'new fields; no pixelHash, no photos');
    assert.deepEqual(sorted(await store.featureIds('refined')), ['b']);
    assert.deepEqual(sorted(await store.featureIds('copy')), []);
    assert.deepEqual(sorted(await store.featureIds('colour')), ['a', 'b']);
    assertBits(await store.loadFeatures('colour', ['a']), c2, 'the new colour');
    assert.deepEqual(sorted(await store.idsWithPhotos()), ['b']);
    assertBits((await store.loadAll()).vectors.subarray(0, DIMS), a2.vector, 'the new vector');

    await store.putItems([item('a')]);
    assert.deepEqual(sorted(await store.featureIds('colour')), ['b'], 'written without colour: no colour');
  });

  test('a batch that writes one id twice keeps the last, in the place of the first', async (t) => {
    const { store } = await fresh(t);
    const a2 = item('a', { path: 'img/second.jpg' });
    await store.putItems([item('a', { colour: vec(4) }), item('b'), a2]);
    assert.equal(await store.count(), 2);
    assert.deepEqual(await store.getItem('a'), stored(a2));
    assert.deepEqual(sorted(await store.featureIds('colour')), []);
    assert.deepEqual(ids((await store.itemsAfter(0, 10)).items), ['a', 'b']);
  });

  test('removeItems drops the items with their derived vectors and other photos; unknown ids are ignored', async (t) => {
    const { store } = await fresh(t);
    await store.putItems(['a', 'b', 'c'].map((id) => item(id, { colour: vec(4) })));
    await store.putFeatures('refined', new Map(['a', 'b', 'c'].map((id) => [id, vec()])));
    for (const id of ['a', 'b', 'c']) await store.putPhotos(id, [photo(`${id}-1`)]);
    await store.removeItems(['a', 'zzz', 'c']);
    assert.equal(await store.count(), 1);
    assert.equal(await store.getItem('a'), null);
    assert.deepEqual(ids((await store.loadAll()).items), ['b']);
    assert.deepEqual(sorted(await store.featureIds('refined')), ['b']);
    assert.deepEqual(sorted(await store.featureIds('colour')), ['b']);
    assert.deepEqual(sorted(await store.idsWithPhotos()), ['b']);
    assert.deepEqual((await store.loadPhotos()).map((p) => p.id), ['b']);
    assert.deepEqual([...(await store.fileStates()).keys()], ['b']);
    // Written again, 'a' is a new item: nothing of the old one comes back.
    await store.putItems([item('a')]);
    assert.deepEqual(sorted(await store.featureIds('refined')), ['b']);
    assert.deepEqual(await store.getItem('a'), stored(item('a')));
  });

  test('updateMetadata replaces the metadata and drops the refined vector only', async (t) => {
    const { store } = await fresh(t);
    const a = item('a', { colour: vec(4) });
    const b = item('b', { colour: vec(4) });
    await store.putItems([a, b]);
    await store.putFeatures('refined', new Map([['a', vec()], ['b', vec()]]));
    await store.putFeatures('copy', new Map([['a', vec()]]));
    const meta: Metadata = { productDisplayName: 'Renamed', baseColour: 'Red', usage: 'Sports' };
    await store.updateMetadata(new Map([['a', meta], ['zzz', meta]]));
    assert.deepEqual(await store.getItem('a'), { ...stored(a), metadata: meta });
    assert.deepEqual(await store.getItem('b'), stored(b));
    assert.equal(await store.count(), 2, 'an unknown id is not created');
    assert.deepEqual(sorted(await store.featureIds('refined')), ['b']);
    assert.deepEqual(sorted(await store.featureIds('colour')), ['a', 'b']);
    assert.deepEqual(sorted(await store.featureIds('copy')), ['a']);
    assertBits((await store.loadAll()).vectors.subarray(0, DIMS), a.vector, 'the vector is kept');
  });

  test('putFeatures upserts; with replace it drops every vector of the kind first and writes the settings with them', async (t) => {
    const { store } = await fresh(t);
    await store.putItems([item('a'), item('b'), item('c', { colour: vec(4) })]);
    const [ra, rb, ra2, rc] = [vec(), vec(), vec(), vec()];
    await store.putFeatures('refined', new Map([['a', ra], ['b', rb]]));
    await store.putFeatures('refined', new Map([['a', ra2]]));
    assert.deepEqual(sorted(await store.featureIds('refined')), ['a', 'b']);
    assertBits(await store.loadFeatures('refined', ['a', 'b']), concat(ra2, rb));
    await store.putFeatures('refined', new Map([['c', rc]]), { replace: true, settings: { refinedModel: 'm2', refinedAt: 'today' } });
    assert.deepEqual(sorted(await store.featureIds('refined')), ['c']);
    assert.deepEqual(sorted(await store.featureIds('colour')), ['c'], 'other kinds are kept');
    assert.equal(await store.getSetting('refinedModel'), 'm2');
    assert.equal(await store.getSetting('refinedAt'), 'today');
    await store.putFeatures('refined', new Map(), { replace: true });
    assert.deepEqual(sorted(await store.featureIds('refined')), []);
  });

  test('loadFeatures: the vectors of the ids in their order (repeats too), null when any is missing, empty for none', async (t) => {
    const { store } = await fresh(t);
    const [a, b, c] = [vec(), vec(), vec()];
    await store.putFeatures('copy', new Map([['a', a], ['b', b], ['c', c]]));
    assertBits(await store.loadFeatures('copy', ['c', 'a', 'b', 'a']), concat(c, a, b, a));
    assert.equal(await store.loadFeatures('copy', ['a', 'missing']), null);
    assert.equal(await store.loadFeatures('copy', ['missing', 'a']), null);
    assert.equal(await store.loadFeatures('refined', ['a']), null, 'another kind');
    assert.equal((await store.loadFeatures('copy', []))?.length, 0);
  });

  test("putPhotos sets, replaces and drops an item's other photos; getItem, loadAll, loadPhotos and idsWithPhotos see them", async (t) => {
    const { store } = await fresh(t);
    await store.putItems([item('x'), item('y'), item('z')]);
    const p1 = photo('x-1', { colour: vec(4), pixelHash: 'ph1' });
    const p2 = photo('x-2');
    await store.putPhotos('x', [p1, p2]);
    await store.putPhotos('y', [photo('y-1')]);
    assert.deepEqual(await store.getItem('x'), stored(item('x'), [p1, p2]));
    assert.deepEqual((await store.getItem('z'))?.photos, undefined);
    const loaded = await store.loadPhotos();
    assert.deepEqual(loaded.map((p) => [p.id, p.n]), [['x', 1], ['x', 2], ['y', 1]]);
    assertBits(loaded[0]!.vector, p1.vector);
    assertBits(loaded[0]!.colour, p1.colour!);
    assert.equal(loaded[1]!.colour, null);
    assert.deepEqual(sorted(await store.idsWithPhotos()), ['x', 'y']);
    const all = await store.loadAll();
    assert.deepEqual(all.items.map((i) => i.photos?.map((p) => p.path) ?? []), [['img/x-1.jpg', 'img/x-2.jpg'], ['img/y-1.jpg'], []]);
    assert.deepEqual(all.items[0]?.photos, [fileOf(p1), fileOf(p2)]);

    const p3 = photo('x-3');
    await store.putPhotos('x', [p3]);
    assert.deepEqual((await store.getItem('x'))?.photos, [fileOf(p3)]);
    assert.deepEqual((await store.loadPhotos()).map((p) => [p.id, p.n]), [['x', 1], ['y', 1]]);
    await store.putPhotos('x', []);
    assert.deepEqual(await store.getItem('x'), stored(item('x')));
    assert.deepEqual(sorted(await store.idsWithPhotos()), ['y']);
  });

  test('loadAll: every item in id order (bytewise), each vector in its row; an empty catalog', async (t) => {
    const { store } = await fresh(t);
    const empty = await store.loadAll();
    assert.deepEqual(empty.items, []);
    assert.equal(empty.vectors.length, 0);
    assert.equal(empty.dims, 0);
    const names = ['b', 'B', 'a', '_x', 'a10', 'a9', 'é', 'Z', '10', '9', 'a-b', 'a b', 'ab'];
    const written = names.map((id) => item(id));
    await store.putItems(written.slice(0, 5));
    await store.putItems(written.slice(5));
    const { items, vectors, dims } = await store.loadAll();
    assert.equal(dims, DIMS);
    assert.deepEqual(ids(items), [...names].sort());
    for (const [i, it] of items.entries()) {
      const w = written.find((x) => x.id === it.id)!;
      assert.deepEqual(it, stored(w));
      assertBits(vectors.subarray(i * dims, (i + 1) * dims), w.vector, it.id);
    }
  });

  test('fileStates and pixelHashes', async (t) => {
    const { store } = await fresh(t);
    const a = item('a', { pixelHash: 'ha', size: 12, mtimeMs: 3.75 });
    await store.putItems([a, item('b')]);
    assert.deepEqual(await store.fileStates(), new Map([['a', { path: a.path, size: 12, mtimeMs: 3.75 }], ['b', { path: 'img/b.jpg', size: 1001, mtimeMs: 1_712_345_678_901.25 }]]));
    assert.deepEqual(await store.pixelHashes(), new Map([['a', 'ha']]));
  });

  test('insertCursor and itemsAfter: insertion order in pages; an update keeps its place; new items come after, with colour and photos', async (t) => {
    const { store } = await fresh(t);
    assert.equal(await store.insertCursor(), 0);
    assert.deepEqual(await store.itemsAfter(0, 10), { items: [], cursor: 0 });
    await store.putItems([item('z'), item('a', { colour: vec(4) })]);
    await store.putItems([item('m')]);
    const page1 = await store.itemsAfter(0, 2);
    assert.deepEqual(ids(page1.items), ['z', 'a'], 'insertion order, not id order');
    assert.ok(!('colour' in page1.items[0]!) && 'colour' in page1.items[1]!, 'colour evidence where there is some');
    assert.deepEqual(page1.items[0], { ...stored(item('z')), vector: page1.items[0]!.vector });
    const page2 = await store.itemsAfter(page1.cursor, 2);
    assert.deepEqual(ids(page2.items), ['m']);
    const end = await store.insertCursor();
    assert.equal(page2.cursor, end);
    assert.deepEqual(await store.itemsAfter(end, 10), { items: [], cursor: end });

    // Updates in place: no new position.
    const a2 = item('a', { path: 'img/a2.jpg' });
    await store.putItems([a2]);
    await store.updateMetadata(new Map([['z', { productDisplayName: 'Zed' }]]));
    assert.equal(await store.insertCursor(), end);
    assert.deepEqual((await store.itemsAfter(end, 10)).items, []);
    const again = await store.itemsAfter(0, 10);
    assert.deepEqual(ids(again.items), ['z', 'a', 'm']);
    assert.equal(again.items[1]!.path, 'img/a2.jpg');

    // New items come after the cursor, with their colour evidence and their other photos.
    const c = vec(4);
    const b = item('b', { colour: c });
    await store.putItems([b]);
    const p1 = photo('b-1', { colour: vec(4) });
    const p2 = photo('b-2', { pixelHash: 'hb2' });
    await store.putPhotos('b', [p1, p2]);
    const news = await store.itemsAfter(end, 10);
    assert.deepEqual(ids(news.items), ['b']);
    assert.ok(news.cursor > end, `the cursor moves on: ${news.cursor} after ${end}`);
    assert.equal(await store.insertCursor(), news.cursor);
    const got = news.items[0]!;
    assertBits(got.vector, b.vector);
    assertBits(got.colour, c);
    assert.deepEqual(got.photos, [fileOf(p1), fileOf(p2)]);
    assert.equal(got.photoVectors?.length, 2);
    assertBits(got.photoVectors![0]!.vector, p1.vector);
    assertBits(got.photoVectors![0]!.colour, p1.colour!);
    assert.ok(!('colour' in got.photoVectors![1]!), 'no colour key for a photo without colour');
    assert.deepEqual({ ...got.photoVectors![1]!, vector: undefined }, { ...fileOf(p2), vector: undefined });
  });

  test('an item inserted after the last one was deleted still comes after a reader\'s cursor', async (t) => {
    const { store } = await fresh(t);
    await store.putItems([item('a'), item('b')]);
    const cursor = await store.insertCursor();
    await store.removeItems(['b']);
    await store.putItems([item('c')]);
    assert.deepEqual(ids((await store.itemsAfter(cursor, 10)).items), ['c'], 'the new item is after the cursor taken before the delete');
  });

  test('changesAfter: puts, updates in place, metadata, photos and deletes, each id once at its latest state, in commit order, in pages', async (t) => {
    const { store } = await fresh(t);
    const c0 = await store.changeCursor();
    assert.deepEqual(await store.changesAfter(c0, 10), { changes: [], cursor: c0 }, 'nothing yet');
    await store.putItems([item('a', { colour: vec(4) }), item('b')]);
    await store.putItems([item('c')]);
    const a2 = item('a', { path: 'img/a-v2.jpg', vector: vec(), colour: vec(4) });
    await store.putItems([a2]); // an update in place
    const meta: Metadata = { productDisplayName: 'Renamed', baseColour: 'Red' };
    await store.updateMetadata(new Map([['b', meta]]));
    const p = photo('c-1', { colour: vec(4) });
    await store.putPhotos('c', [p]);
    await store.putItems([item('d')]);
    await store.removeItems(['d']);
    await store.putFeatures('refined', new Map([['a', vec()]])); // derived vectors are not logged

    const all = await store.changesAfter(c0, 100);
    assert.deepEqual(all.changes.map((ch) => [ch.id, 'deleted' in ch]), [['a', false], ['b', false], ['c', false], ['d', true]], 'in the order of each id\'s last change');
    assert.equal(all.cursor, await store.changeCursor());
    const [ca, cb, cc] = all.changes.map((ch) => ('item' in ch ? ch.item : null));
    assert.deepEqual(stored(ca!), stored(a2), 'the latest version of a');
    assertBits(ca!.vector, a2.vector, "a's new vector");
    assertBits(ca!.colour, a2.colour!, "a's new colour");
    assert.deepEqual(cb!.metadata, meta, "b's new metadata");
    assert.equal(cb!.colour, undefined, 'b has no colour');
    assert.deepEqual(cc!.photos, [fileOf(p)], "c's other photo");
    assertBits(cc!.photoVectors?.[0]?.vector, p.vector, "c's other photo's vector");
    assertBits(cc!.photoVectors?.[0]?.colour, p.colour!, "c's other photo's colour");

    // In pages: each id once over the pages, and an empty page at the end keeps the cursor.
    const p1 = await store.changesAfter(c0, 2);
    const p2 = await store.changesAfter(p1.cursor, 2);
    const p3 = await store.changesAfter(p2.cursor, 2);
    assert.deepEqual([ids(p1.changes), ids(p2.changes), ids(p3.changes)], [['a', 'b'], ['c', 'd'], []]);
    assert.equal(p3.cursor, p2.cursor);

    // After the cursor: only what changed since.
    await store.updateMetadata(new Map([['a', meta]]));
    const later = await store.changesAfter(all.cursor, 10);
    assert.deepEqual(ids(later.changes), ['a']);
    assert.ok(later.cursor > all.cursor, 'the cursor moves on');

    // clearItems logs every item it drops.
    await store.clearItems();
    const cleared = await store.changesAfter(later.cursor, 10);
    assert.deepEqual(cleared.changes.map((ch) => [ch.id, 'deleted' in ch]).sort(), [['a', true], ['b', true], ['c', true]]);
  });

  test('a transaction that rolls back logs nothing; one that commits logs each id once', async (t) => {
    const { store } = await fresh(t);
    await store.putItems([item('a')]);
    const c0 = await store.changeCursor();
    await assert.rejects(
      store.atomically(async (tx) => {
        await tx.putItems([item('x')]);
        await tx.putPhotos('x', [photo('x-1')]);
        await tx.removeItems(['a']);
        throw new Error('undo all');
      }),
      /undo all/,
    );
    assert.deepEqual((await store.changesAfter(c0, 10)).changes, []);
    assert.equal(await store.changeCursor(), c0);
    await store.atomically(async (tx) => {
      await tx.putItems([item('x')]);
      await tx.putPhotos('x', [photo('x-1')]);
    });
    const page = await store.changesAfter(c0, 10);
    assert.deepEqual(ids(page.changes), ['x']);
    const x = page.changes[0]!;
    assert.ok('item' in x && x.item.photos?.length === 1, 'x with its photo');
  });

  test('the change cursor read in a snapshot marks exactly what the snapshot holds, while another connection commits', async (t) => {
    const cat = await fresh(t);
    const other = await cat.connect({ readonly: true });
    await cat.store.putItems([item('a'), item('b')]);
    let committed!: () => void;
    const commit = new Promise<void>((resolve) => (committed = resolve));
    const seen = other.snapshot(async (tx) => {
      const held = ids((await tx.loadAll()).items);
      await commit; // another writer commits meanwhile
      return { held, cursor: await tx.changeCursor() };
    });
    await sleep(50);
    await cat.store.putItems([item('c')]);
    await cat.store.removeItems(['a']);
    committed();
    const { held, cursor } = await seen;
    assert.deepEqual(held, ['a', 'b']);
    const after = await other.changesAfter(cursor, 10);
    assert.deepEqual(after.changes.map((ch) => [ch.id, 'deleted' in ch]), [['c', false], ['a', true]], 'exactly what the snapshot lacks');
    assert.equal(after.cursor, await cat.store.changeCursor());
  });

  test('atomically called on the store inside its own callback is refused, not left waiting for itself', async (t) => {
    const { store } = await fresh(t);
    await store.atomically(async (tx) => {
      await tx.putItems([item('a')]);
      await assert.rejects(store.atomically(async () => undefined), /make it on the tx/);
      await tx.atomically(async (inner) => inner.putItems([item('b')]));
    });
    assert.deepEqual(ids((await store.loadAll()).items), ['a', 'b']);
  });

  test('every write is a new generation; a setting and writes of nothing are not', async (t) => {
    const { store } = await fresh(t);
    let g = await store.generation();
    const bumps = async (what: string, write: () => Promise<void>, expected: boolean) => {
      await write();
      const now = await store.generation();
      if (expected) assert.ok(now > g, `${what} bumps the generation`);
      else assert.equal(now, g, `${what} leaves the generation`);
      g = now;
    };
    await bumps('putItems', () => store.putItems([item('a'), item('b')]), true);
    await bumps('putPhotos', () => store.putPhotos('a', [photo('a-1')]), true);
    await bumps('putFeatures', () => store.putFeatures('refined', new Map([['a', vec()]])), true);
    await bumps('updateMetadata', () => store.updateMetadata(new Map([['a', { x: 'y' }]])), true);
    await bumps('updateMetadata of nothing', () => store.updateMetadata(new Map()), false);
    await bumps('removeItems', () => store.removeItems(['b']), true);
    await bumps('removeItems of nothing', () => store.removeItems([]), false);
    await bumps('setSetting', () => store.setSetting('k', 'v'), false);
    await bumps('atomically', () => store.atomically(async (tx) => tx.putItems([item('c')])), true);
    await bumps('clearItems', () => store.clearItems(), true);
  });

  test('clearItems drops items, derived vectors and photos, and keeps the settings', async (t) => {
    const { store } = await fresh(t);
    await store.putItems([item('a', { colour: vec(4) })]);
    await store.putPhotos('a', [photo('a-1')]);
    await store.setSetting('model', 'm');
    await store.clearItems();
    assert.equal(await store.count(), 0);
    assert.deepEqual(await store.loadPhotos(), []);
    assert.deepEqual(sorted(await store.featureIds('colour')), []);
    assert.equal(await store.getSetting('model'), 'm');
    await store.putItems([item('b')]);
    assert.deepEqual(ids((await store.itemsAfter(0, 10)).items), ['b']);
  });

  test('a write key is claimed once, in the transaction of its write: a rolled-back claim is free again; old keys are pruned', async (t) => {
    const cat = await fresh(t);
    const { store } = cat;
    const write = (key: string, fail = false) =>
      store.atomically(async (tx) => {
        if (!(await tx.claimWriteKey(key))) return false;
        await tx.putItems([item('p')]);
        if (fail) throw new Error('killed before the commit');
        return true;
      });
    await assert.rejects(write('run/p/1', true), /killed before the commit/);
    assert.equal(await store.count(), 0, 'nothing of the rolled-back write');
    assert.equal(await write('run/p/1'), true, 'the key of a write that did not commit is free');
    const c = await store.changeCursor();
    assert.equal(await store.hasWriteKey('run/p/1'), true);
    assert.equal(await store.hasWriteKey('run/p/9'), false);
    assert.equal(await write('run/p/1'), false, 'delivered again after its commit: not written');
    assert.deepEqual((await store.changesAfter(c, 10)).changes, [], 'the second delivery wrote nothing');
    const other = await cat.connect();
    assert.equal(await other.claimWriteKey('run/p/1'), false, 'another connection (another worker) sees the key');
    assert.equal(await other.claimWriteKey('run/p/2'), true);
    assert.equal(await store.pruneWriteKeys(60_000), 0, 'young keys are kept');
    await sleep(20);
    assert.equal(await store.pruneWriteKeys(1), 2, 'keys older than asked are forgotten');
    assert.equal(await store.claimWriteKey('run/p/1'), true);
  });

  test('atomically commits every write together and returns its value; another connection sees them only then', async (t) => {
    const cat = await fresh(t);
    const { store } = cat;
    const other = await cat.connect();
    const out = await store.atomically(async (tx) => {
      await tx.putItems([item('a', { colour: vec(4) })]);
      await tx.putFeatures('refined', new Map([['a', vec()]]), { settings: { refinedModel: 'm1' } });
      await tx.putPhotos('a', [photo('a-1')]);
      await tx.setSetting('k', 'v');
      assert.equal(await tx.count(), 1, 'the transaction sees its own writes');
      assert.equal(await other.count(), 0, 'another connection does not, yet');
      assert.equal(await other.getSetting('k'), null);
      return 'done';
    });
    assert.equal(out, 'done');
    assert.equal(await other.count(), 1);
    assert.equal(await other.getSetting('k'), 'v');
    assert.equal(await other.getSetting('refinedModel'), 'm1');
    assert.deepEqual(sorted(await other.featureIds('refined')), ['a']);
    assert.deepEqual(sorted(await other.idsWithPhotos()), ['a']);
  });

  test('atomically writes nothing when its callback throws, and passes the error on', async (t) => {
    const { store } = await fresh(t);
    await store.putItems([item('keep')]);
    const g = await store.generation();
    const boom = new Error('boom');
    await assert.rejects(
      store.atomically(async (tx) => {
        await tx.putItems([item('a', { colour: vec(4) })]);
        await tx.removeItems(['keep']);
        await tx.putFeatures('refined', new Map([['a', vec()]]), { settings: { refinedModel: 'm1' } });
        await tx.setSetting('k', 'v');
        throw boom;
      }),
      (err) => err === boom,
    );
    assert.deepEqual(ids((await store.loadAll()).items), ['keep']);
    assert.deepEqual(sorted(await store.featureIds('colour')), []);
    assert.deepEqual(sorted(await store.featureIds('refined')), []);
    assert.equal(await store.getSetting('k'), null);
    assert.equal(await store.getSetting('refinedModel'), null);
    assert.equal(await store.generation(), g);
    // The store works on after a rollback.
    await store.atomically(async (tx) => tx.putItems([item('b')]));
    assert.equal(await store.count(), 2);
  });

  test('transactions on one store run one after another: a read-modify-write loses no update', async (t) => {
    const { store } = await fresh(t);
    const increment = () =>
      store.atomically(async (tx) => {
        const n = Number((await tx.getSetting('n')) ?? '0');
        await sleep(15);
        await tx.setSetting('n', String(n + 1));
      });
    await Promise.all([increment(), increment(), increment()]);
    assert.equal(await store.getSetting('n'), '3');
  });

  test('snapshot reads one state while another connection commits; then the new state', async (t) => {
    const cat = await fresh(t);
    const { store } = cat;
    const other = await cat.connect();
    await store.putItems([item('a'), item('b')]);
    await store.putFeatures('refined', new Map([['a', vec()]]));
    const state = async (tx: CatalogStore) => ({
      count: await tx.count(),
      cursor: await tx.insertCursor(),
      generation: await tx.generation(),
      ids: ids((await tx.loadAll()).items),
      refined: sorted(await tx.featureIds('refined')),
      metadata: (await tx.getItem('a'))?.metadata,
      after: ids((await tx.itemsAfter(0, 100)).items),
    });
    const { before, during } = await store.snapshot(async (tx) => {
      const before = await state(tx);
      await other.putItems([item('c')]);
      await other.updateMetadata(new Map([['a', { changed: 'yes' }]]));
      await other.removeItems(['b']);
      return { before, during: await state(tx) };
    });
    assert.deepEqual(during, before);
    const now = await state(store);
    assert.deepEqual(now.ids, ['a', 'c']);
    assert.deepEqual(now.refined, []);
    assert.deepEqual(now.metadata, { changed: 'yes' });
    assert.ok(now.generation > before.generation && now.cursor > before.cursor, 'a new generation and cursor once the snapshot ends');
  });

  test('a snapshot inside atomically sees the transaction\'s own writes', async (t) => {
    const { store } = await fresh(t);
    const seen = await store.atomically(async (tx) => {
      await tx.putItems([item('a')]);
      return tx.snapshot(async (s) => ids((await s.loadAll()).items));
    });
    assert.deepEqual(seen, ['a']);
  });

  test('a read-only store reads the catalog and refuses writes', async (t) => {
    const cat = await fresh(t);
    await cat.store.putItems([item('a', { colour: vec(4) })]);
    await cat.store.setSetting('model', 'm');
    const ro = await cat.connect({ readonly: true });
    assert.equal(await ro.count(), 1);
    assert.equal(await ro.getSetting('model'), 'm');
    assert.deepEqual(ids((await ro.loadAll()).items), ['a']);
    assert.deepEqual(ids((await ro.itemsAfter(0, 10)).items), ['a']);
    await assert.rejects(ro.putItems([item('b')]));
    await assert.rejects(ro.setSetting('model', 'x'));
    await assert.rejects(ro.removeItems(['a']));
    assert.equal(await cat.store.count(), 1);
    assert.equal(await cat.store.getSetting('model'), 'm');
  });

  test(`putItems of 256 items of ${WIDE} dims is one quick batch`, async (t) => {
    const { store } = await fresh(t);
    const batch = Array.from({ length: 256 }, (_, i) => item(`p${String(i).padStart(4, '0')}`, { vector: vec(WIDE), colour: vec(60) }));
    const t0 = performance.now();
    await store.putItems(batch);
    const ms = performance.now() - t0;
    t.diagnostic(`${backend.name}: putItems 256 x ${WIDE}: ${ms.toFixed(0)} ms`);
    assert.equal(await store.count(), 256);
    assert.ok(ms < 5000, `${ms} ms`);
  });

  test('textSearch: BM25 as FTS5 ranks (the same scores on names without stop words), and each write\'s words from another connection at once', async (t) => {
    const cat = await fresh(t);
    const { store } = cat;
    const names = ['Men Navy T-Shirt', 'Women Red T-shirt', 'Women Black Leather Handbag', 'Men Black Loafer', 'Men Grey Slim Jean', 'Unisex Aviator Sunglasses', 'Women Black Tote Hand Bag', 'Men Brown Hand Bag'];
    const meta = (name: string, i: number): Metadata => ({ productDisplayName: name, gender: name.split(' ')[0]!, articleType: i % 2 ? 'Handbags' : 'Tshirts' });
    const items = names.map((name, i) => item(`p${i}`, { metadata: meta(name, i) }));
    await store.putItems(items);
    const reader = await cat.connect({ readonly: true });
    const text = reader.textSearch!();
    assert.ok(text, 'an index');
    // The embedded index over the same items is the reference.
    const reference = FtsTextSearch.inMemory(items);
    t.after(() => reference.close());
    const words = ['black', 'hand', 'bag', 'men', 'tshirts'];
    const got = await text.score(words, 100);
    const want = await reference.score(words, 100);
    assert.deepEqual(got.map((h) => h.id), want.map((h) => h.id), 'the same order');
    for (const [i, h] of got.entries()) assert.ok(Math.abs(h.score - want[i]!.score) < 1e-9, `${h.id}: ${h.score} vs ${want[i]!.score}`);
    const scorer = await text.scorer!(words);
    for (const h of got) assert.ok(Math.abs(scorer(h.id)! - h.score) < 1e-9, `scorer of ${h.id}`);
    assert.equal(scorer('nope'), undefined, 'no word: no score');
    assert.deepEqual([...(await text.matchAll(['black', 'bag']))].sort(), ['p6'], 'every word');
    assert.deepEqual([...(await text.matchAll(['handbags']))].sort(), ['p1', 'p2', 'p3', 'p5', 'p7'], 'label and name words, stemmed');
    assert.deepEqual([...(await text.matchAll(['zebra']))], [], 'no item');
    // Writes through the store: a new item, new metadata, a deletion, all seen by the reader's index at once.
    await store.putItems([item('new', { metadata: { productDisplayName: 'Men Black Bag', gender: 'Men', articleType: 'Handbags' } })]);
    assert.ok(((await text.scorer!(words))('new') ?? 0) > 0, 'a product written since is scored');
    await store.updateMetadata(new Map([['p5', { productDisplayName: 'Unisex Zebra Sunglasses', gender: 'Unisex', articleType: 'Handbags' }]]));
    assert.deepEqual([...(await text.matchAll(['zebra']))], ['p5'], 'new metadata');
    await store.removeItems(['new']);
    assert.equal((await text.scorer!(words))('new'), undefined, 'a deleted product is gone');
    await store.clearItems();
    assert.deepEqual(await text.score(words, 100), [], 'cleared');
  });
}

for (const backend of [sqlite, postgres]) {
  describe(`CatalogStore contract: ${backend.name}`, { skip: backend.skip, timeout: 120_000 }, () => contract(backend));
}

// ------------------------------------------------------------------------------------------------ the change log's life

describe('the change log of a SQLite catalog', () => {
  const make = () => {
    const dir = mkdtempSync(join(tmpdir(), 'fashion-changes-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    return join(dir, 'catalog.db');
  };

  test('a catalog made before the log starts it empty; a reader opened before a writer creates it follows what comes after', async () => {
    const file = make();
    const w = new SqliteCatalogStore(file);
    await w.putItems([item('a')]);
    await w.close();
    // As a catalog made before the log was.
    const raw = new Database(file);
    raw.exec('DROP TABLE changes');
    raw.close();
    const reader = new SqliteCatalogStore(file, { readonly: true });
    try {
      assert.equal(await reader.changeCursor(), 0);
      assert.deepEqual(await reader.changesAfter(0, 10), { changes: [], cursor: 0 });
      const writer = new SqliteCatalogStore(file);
      await writer.putItems([item('b')]);
      await writer.close();
      assert.deepEqual(ids((await reader.changesAfter(0, 10)).changes), ['b']);
    } finally {
      await reader.close();
    }
  });

  test('changes older than a day are pruned by the next write; a reader behind them is told of the gap', async () => {
    const file = make();
    const store = new SqliteCatalogStore(file);
    try {
      await store.putItems([item('a'), item('b')]);
      const behind = 0;
      const mid = await store.changeCursor();
      const raw = new Database(file);
      raw.prepare('UPDATE changes SET at_ms = ?').run(Date.now() - 25 * 3600 * 1000);
      raw.close();
      await store.putItems([item('c')]);
      const gap = await store.changesAfter(behind, 10);
      assert.equal(gap.gap, true, 'a gap');
      assert.equal(gap.cursor, await store.changeCursor());
      assert.deepEqual(ids((await store.changesAfter(mid, 10)).changes), ['c'], 'a reader at the pruned end has no gap');
    } finally {
      await store.close();
    }
  });
});

// ------------------------------------------------------------------------------------------------ PostgreSQL only

/** SQL that removes the words index (migration 3) from a schema. */
function dropWords(schema: string): string {
  const s = `"${schema}"`;
  return `DROP TABLE ${s}.words; DROP FUNCTION ${s}.items_put_words() CASCADE; DROP FUNCTION ${s}.item_words(jsonb); DROP FUNCTION ${s}.word_tokens(tsvector)`;
}

describe('PostgresCatalogStore', { skip: PG_SKIP, timeout: 60_000 }, () => {
  const fresh = (t: TestContext) => postgres.fresh(t) as Promise<Catalog & { store: PostgresCatalogStore }>;

  test('open creates the schema and records its version; opening it again keeps the data; catalogs in two schemas are apart', async (t) => {
    const cat = await fresh(t);
    await cat.store.putItems([item('a')]);
    const again = (await cat.connect()) as PostgresCatalogStore;
    assert.equal(await again.count(), 1);
    const client = new pg.Client({ connectionString: DATABASE_URL });
    await client.connect();
    t.after(() => client.end());
    const { rows } = await client.query(`SELECT max(version) AS v FROM "${cat.store.schema}".schema_migrations`);
    assert.equal(rows[0].v, SCHEMA_VERSION);
    const elsewhere = await fresh(t);
    assert.equal(await elsewhere.store.count(), 0);
    assert.notEqual(elsewhere.store.schema, cat.store.schema);
  });

  test('open refuses a schema name it would have to quote, and a read-only open of a schema with no catalog', async () => {
    await assert.rejects(PostgresCatalogStore.open(DATABASE_URL!, { schema: 'Bad"; DROP' }), /schema name/);
    await assert.rejects(PostgresCatalogStore.open(DATABASE_URL!, { schema: `${RUN}_none`, readonly: true }), /no catalog/);
  });

  test('atomically on the transaction\'s store joins the transaction', async (t) => {
    const { store } = await fresh(t);
    await assert.rejects(
      store.atomically(async (tx) => {
        await tx.putItems([item('a')]);
        await tx.atomically(async (inner) => inner.putItems([item('b')]));
        assert.equal(await tx.count(), 2);
        throw new Error('undo both');
      }),
      /undo both/,
    );
    assert.equal(await store.count(), 0);
  });

  test('a write that fails inside atomically leaves the transaction as it was before that write, and usable', async (t) => {
    const { store } = await fresh(t);
    const p1 = photo('a-1');
    await store.putItems([item('a')]);
    await store.putPhotos('a', [p1]);
    await store.atomically(async (tx) => {
      await tx.setSetting('k', 'v');
      // The old photos are deleted, then the insert fails on the server (pgvector refuses NaN).
      await assert.rejects(tx.putPhotos('a', [photo('a-2'), photo('a-3', { vector: new Float32Array([Number.NaN, 1, 2, 3, 4, 5, 6, 7]) })]), /NaN/);
      assert.deepEqual((await tx.getItem('a'))?.photos, [fileOf(p1)]);
      await tx.putItems([item('b')]);
    });
    assert.equal(await store.count(), 2);
    assert.equal(await store.getSetting('k'), 'v');
    assert.deepEqual((await store.getItem('a'))?.photos, [fileOf(p1)]);
  });

  test('putFeatures with replace is all or nothing', async (t) => {
    const { store } = await fresh(t);
    await store.putFeatures('refined', new Map([['a', vec()]]), { settings: { refinedModel: 'm1' } });
    const bad = new Map([['b', vec()], ['c', new Float32Array(DIMS).fill(Number.POSITIVE_INFINITY)]]);
    await assert.rejects(store.putFeatures('refined', bad, { replace: true, settings: { refinedModel: 'm2' } }));
    assert.deepEqual(sorted(await store.featureIds('refined')), ['a']);
    assert.equal(await store.getSetting('refinedModel'), 'm1');
  });

  test("the transaction's store refuses calls once the transaction has ended; close() on it is refused", async (t) => {
    const { store } = await fresh(t);
    let leaked: CatalogStore | undefined;
    await store.atomically(async (tx) => {
      leaked = tx;
      await assert.rejects(tx.close(), /not the store of one of its transactions/);
    });
    await assert.rejects(leaked!.count(), /transaction has ended/);
    await store.snapshot(async (tx) => {
      leaked = tx;
      await assert.rejects(tx.atomically(async () => undefined), /snapshot/);
    });
    await assert.rejects(leaked!.putItems([item('a')]), /transaction has ended/);
  });

  test('a writer waits for the transaction before it, so a reader at an insert cursor misses no item committed later', async (t) => {
    const cat = await fresh(t);
    const other = await cat.connect();
    await cat.store.putItems([item('x')]); // rows exist that the writers share (the generation setting)
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const first = cat.store.atomically(async (tx) => {
      await tx.putItems([item('a')]);
      await gate;
    });
    await sleep(100); // 'a' has its insertion number, uncommitted
    const second = other.putItems([item('b')]);
    await sleep(150); // without the writer lock 'b' (a later number) would be committed by now
    const seen = await other.snapshot(async (tx) => ({ cursor: await tx.insertCursor(), ids: ids((await tx.loadAll()).items) }));
    release();
    await Promise.all([first, second]);
    const later = ids((await other.itemsAfter(seen.cursor, 10)).items);
    assert.deepEqual([...seen.ids, ...later].sort(), ['a', 'b', 'x']);
    assert.deepEqual(ids((await other.itemsAfter(0, 10)).items), ['x', 'a', 'b']);
  });

  test('a write on the store itself inside its own atomically is refused, not left waiting for the transaction', async (t) => {
    const { store } = await fresh(t);
    await store.atomically(async (tx) => {
      await tx.putItems([item('a')]);
      await assert.rejects(store.putItems([item('b')]), /make it on the tx/);
      await assert.rejects(store.atomically(async () => undefined), /make it on the tx/);
      assert.equal(await store.count(), 0, 'reads on the store see the committed state');
    });
    // Once the transaction has ended, the same async context may write on the store.
    await store.putItems([item('c')]);
    assert.deepEqual(ids((await store.loadAll()).items), ['a', 'c']);
  });

  test('a read-only store on the streaming replica reads what the primary wrote', { skip: !process.env.FASHION_TEST_READ_DATABASE_URL && 'FASHION_TEST_READ_DATABASE_URL not set' }, async (t) => {
    const { store } = await fresh(t);
    const v = bitsVec();
    await store.putItems([item('a', { vector: v })]);
    let replica: PostgresCatalogStore | undefined;
    const t0 = performance.now();
    while (!replica) {
      try {
        replica = await PostgresCatalogStore.open(process.env.FASHION_TEST_READ_DATABASE_URL!, { schema: store.schema, readonly: true });
      } catch (err) {
        if (performance.now() - t0 > 5000) throw err;
        await sleep(50); // the schema's creation not replayed yet
      }
    }
    t.after(() => replica!.close());
    while ((await replica.count()) === 0 && performance.now() - t0 < 5000) await sleep(50);
    assertBits((await replica.loadAll()).vectors, v);
    await assert.rejects(replica.putItems([item('b')]));
  });

  test('a schema at version 1 gets the change log (version 2), starting empty; a reader opened before follows what comes after', async (t) => {
    const { store } = await fresh(t);
    await store.putItems([item('a')]);
    const admin = new pg.Client({ connectionString: DATABASE_URL });
    await admin.connect();
    t.after(() => admin.end());
    // Back to version 1: the change log (2), the words index (3) and the write keys (4) go.
    await admin.query(`DROP TABLE "${store.schema}".changes; ${dropWords(store.schema)}; DROP TABLE "${store.schema}".write_keys; DELETE FROM "${store.schema}".schema_migrations WHERE version >= 2`);
    const reader = await PostgresCatalogStore.open(DATABASE_URL!, { schema: store.schema, readonly: true });
    t.after(() => reader.close());
    assert.equal(await reader.changeCursor(), 0);
    assert.deepEqual(await reader.changesAfter(0, 10), { changes: [], cursor: 0 });
    const writer = await PostgresCatalogStore.open(DATABASE_URL!, { schema: store.schema });
    t.after(() => writer.close());
    assert.deepEqual((await admin.query(`SELECT max(version) AS v FROM "${store.schema}".schema_migrations`)).rows[0].v, SCHEMA_VERSION);
    await writer.putItems([item('b')]);
    assert.deepEqual(ids((await reader.changesAfter(0, 10)).changes), ['b']);
    assert.equal(await reader.hasWriteKey('k'), false, 'the reader finds the write keys the writer\'s migration made');
    assert.equal(await writer.claimWriteKey('k'), true);
    assert.equal(await reader.hasWriteKey('k'), true);
  });

  test('changes older than a day are pruned by the next write; a reader behind them is told of the gap', async (t) => {
    const { store } = await fresh(t);
    await store.putItems([item('a'), item('b')]);
    const mid = await store.changeCursor();
    const admin = new pg.Client({ connectionString: DATABASE_URL });
    await admin.connect();
    t.after(() => admin.end());
    await admin.query(`UPDATE "${store.schema}".changes SET at = now() - interval '25 hours'`);
    await store.putItems([item('c')]);
    const gap = await store.changesAfter(0, 10);
    assert.equal(gap.gap, true, 'a gap');
    assert.equal(gap.cursor, await store.changeCursor());
    assert.deepEqual(ids((await store.changesAfter(mid, 10)).changes), ['c'], 'a reader at the pruned end has no gap');
  });

  test('a schema at version 2 gets the words index (version 3), filled from its items; a reader of version 2 has none', async (t) => {
    const { store } = await fresh(t);
    await store.putItems([item('a', { metadata: { productDisplayName: 'Women Red Dress' } }), item('b')]);
    const admin = new pg.Client({ connectionString: DATABASE_URL });
    await admin.connect();
    t.after(() => admin.end());
    // Back to version 2: the words index (3) and the write keys and change transactions (4) go.
    await admin.query(`${dropWords(store.schema)}; DROP TABLE "${store.schema}".write_keys; ALTER TABLE "${store.schema}".changes DROP COLUMN xact; DELETE FROM "${store.schema}".schema_migrations WHERE version >= 3`);
    const old = await PostgresCatalogStore.open(DATABASE_URL!, { schema: store.schema, readonly: true });
    t.after(() => old.close());
    assert.equal(old.textSearch(), null, 'no index before the migration');
    const writer = await PostgresCatalogStore.open(DATABASE_URL!, { schema: store.schema });
    t.after(() => writer.close());
    assert.deepEqual([...(await writer.textSearch()!.matchAll(['dress']))], ['a'], 'filled from the items there were');
  });
});
