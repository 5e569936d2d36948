import { AsyncLocalStorage } from 'node:async_hooks';
import pg from 'pg';
import { CHANGE_LOG_KEEP_MS, type CatalogStore, type Change, type ChangePage, type FeatureKind, type FileState, type FollowedItem, type ItemWithVector, type Metadata, type PhotoFile, type PhotoVectors, type PhotoWithVector, type PutFeaturesOptions, type StoredItem } from './catalogStore.js';
import { storeTypes, vectorFromSql, vectorParam, vectorSql } from './pgWire.js';
import { PgTextSearch, wordsTableSql } from '../text/pgTextSearch.js';
import type { TextSearch } from '../text/textSearch.js';

export interface PostgresOpenOptions {
  /** The PostgreSQL schema that holds this catalog (created when missing), so several catalogs share a database. */
  readonly schema?: string;
  /** Reads only: no migration runs, and every transaction is read-only (a streaming replica can serve it). */
  readonly readonly?: boolean;
  /** Connections of the pool (default 10). */
  readonly maxConnections?: number;
}

export const DEFAULT_SCHEMA = 'fashion';
/** A schema name as the store writes it into SQL unescaped: lower-case, so that quoting never changes it. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
/** pg_advisory_xact_lock(class, key) classes: the catalog's one writer ('fash'), and migrations ('fasi'). */
const WRITER_LOCK = 0x66617368;
const MIGRATION_LOCK = 0x66617369;
/** Rows per multi-row INSERT: well under PostgreSQL's 65,535 parameters, and a few MB per message at 1331 dims. */
const ROWS_PER_INSERT = 500;
/** The number of the last change the log's pruning dropped: a reader behind it has a gap (ChangePage.gap). */
const SETTING_PRUNED_THROUGH = 'changesPrunedThrough';
/** Settings that are this store's bookkeeping, not the catalog's (catalogSettings leaves them out). */
const BOOKKEEPING = ['generation', SETTING_PRUNED_THROUGH];

/**
 * The migrations, in order; `schema_migrations` records those applied. The vector columns have no fixed dimension,
 * so any model fits; HNSW indexes (expression indexes on a cast to the model's dimension) come with search in SQL.
 * Ids sort bytewise (COLLATE "C"), as SQLite's BINARY collation does, so both stores list items in the same order.
 */
const MIGRATIONS: ReadonlyArray<{ readonly version: number; readonly sql: (s: string) => string }> = [
  {
    version: 1,
    sql: (s) => `
      CREATE TABLE ${s}.settings (key text PRIMARY KEY, value text NOT NULL);
      CREATE TABLE ${s}.items (
        id text COLLATE "C" PRIMARY KEY,
        -- Insertion order (insertCursor / itemsAfter): an upsert keeps the row and so its place, as SQLite's rowid does.
        seq bigint GENERATED ALWAYS AS IDENTITY,
        path text NOT NULL,
        size bigint NOT NULL,
        mtime_ms double precision NOT NULL,
        metadata jsonb NOT NULL,
        pixel_hash text,
        embedding vector NOT NULL
      );
      CREATE UNIQUE INDEX items_seq ON ${s}.items (seq);
      CREATE TABLE ${s}.features (
        id text COLLATE "C" NOT NULL,
        kind text NOT NULL,
        embedding vector NOT NULL,
        PRIMARY KEY (id, kind)
      );
      CREATE INDEX features_kind ON ${s}.features (kind, id);
      -- A product's other photos (n = 1, 2, ...; the item's own photo is its row in items), each with its vectors.
      CREATE TABLE ${s}.photos (
        item_id text COLLATE "C" NOT NULL,
        n integer NOT NULL,
        path text NOT NULL,
        size bigint NOT NULL,
        mtime_ms double precision NOT NULL,
        pixel_hash text,
        embedding vector NOT NULL,
        colour vector,
        PRIMARY KEY (item_id, n)
      );
    `,
  },
  {
    version: 2,
    // The change log: each write that changes an item logs its ids in its own transaction. Writers hold the catalog's
    // writer lock from their first statement to their commit, so numbers are issued in commit order: a reader that has
    // seen number n has seen every change numbered below it. Readers that follow the catalog (other servers) read the
    // ids changed after the last number they saw (changesAfter).
    sql: (s) => `
      CREATE TABLE ${s}.changes (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id text COLLATE "C" NOT NULL,
        at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX changes_at ON ${s}.changes (at);
    `,
  },
  {
    version: 3,
    // The words index (src/text/pgTextSearch.ts): every item's name and labels as a tsvector with a GIN index, kept
    // by triggers on items in the writer's transaction, so every server finds a write's words once it commits.
    sql: (s) => wordsTableSql(s),
  },
  {
    version: 4,
    // Idempotency keys of writes (claimWriteKey): an ingest worker's job key, committed in the transaction of the write
    // it stands for. And the transaction of each logged change, so that the writes of an item can be counted (an item
    // written once by one transaction that also set its other photos is one write, not two).
    sql: (s) => `
      CREATE TABLE ${s}.write_keys (key text COLLATE "C" PRIMARY KEY, at timestamptz NOT NULL DEFAULT now());
      CREATE INDEX write_keys_at ON ${s}.write_keys (at);
      ALTER TABLE ${s}.changes ADD COLUMN xact bigint DEFAULT (pg_current_xact_id()::text::bigint);
    `,
  },
];
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

interface Tables {
  readonly settings: string;
  readonly items: string;
  readonly features: string;
  readonly photos: string;
  readonly changes: string;
  readonly writeKeys: string;
}

/** What a store and the transaction-bound stores it hands out share. */
interface Shared {
  readonly pool: pg.Pool;
  readonly schema: string;
  readonly t: Tables;
  closed: boolean;
  /**
   * Whether the schema has the change log (version 2). A reader of an older schema has none until a writer migrates
   * it, and checks again on each call; until then its log is empty (cursor 0, so it misses nothing after).
   */
  changesTable: boolean;
  /** Whether the schema has the words index (version 3); a reader of an older one builds its words index in memory. */
  readonly wordsTable: boolean;
  /** Whether the schema has the write keys (version 4); checked again on each call until it has. */
  writeKeysTable: boolean;
}

/** A transaction on one pooled connection, and the calls made on it (one at a time: their statements must not mix). */
interface Bound {
  readonly client: pg.PoolClient;
  readonly mode: 'write' | 'read';
  open: boolean;
  tail: Promise<unknown>;
}

/**
 * The write transaction whose callback is running. A write on the store itself from inside that callback (rather than
 * on its `tx`) would wait for the writer lock that its own transaction holds, for ever; it is refused instead.
 */
const openWrite = new AsyncLocalStorage<{ readonly shared: Shared; readonly bound: Bound }>();

interface Queryable {
  query<R extends pg.QueryResultRow>(config: pg.QueryConfig): Promise<pg.QueryResult<R>>;
}

type ItemRow = { id: string; path: string; size: number; mtime_ms: number; metadata: string; pixel_hash: string | null };
type PhotoRow = { path: string; size: number; mtime_ms: number; pixel_hash: string | null };

/**
 * The catalog in PostgreSQL with pgvector: one schema per catalog, vectors as `vector` (float4, so a Float32Array
 * comes back bit for bit), the same semantics as the embedded SQLite store.
 *
 * Writes take the catalog's writer lock (a transaction-level advisory lock) first, as SQLite's one writer does: a
 * read-modify-write inside `atomically` cannot lose an update, and items get their insertion numbers in commit
 * order, so a reader that has seen number n never misses an item committed later with a smaller one. Inside
 * `atomically`, every call goes through the `tx` it passes (a write on the store itself there is refused).
 */
export class PostgresCatalogStore implements CatalogStore {
  private constructor(
    private readonly shared: Shared,
    private readonly bound: Bound | null,
  ) {}

  /** Connects, creates or migrates the schema (unless read-only), and checks that it is one this code knows. */
  static async open(url: string, options: PostgresOpenOptions = {}): Promise<PostgresCatalogStore> {
    const schema = options.schema ?? DEFAULT_SCHEMA;
    if (!SCHEMA_NAME.test(schema)) throw new Error(`schema name ${JSON.stringify(schema)}: use lower-case letters, digits and _ (at most 63)`);
    const pool = new pg.Pool({
      connectionString: url,
      max: options.maxConnections ?? 10,
      application_name: 'fashion',
      // Floats in text come back exact (shortest round-trip digits) whatever the server's default.
      options: `-c extra_float_digits=3${options.readonly ? ' -c default_transaction_read_only=on' : ''}`,
    });
    // An idle pooled connection that the server drops is discarded by the pool; the next query connects anew and
    // reports any lasting failure itself. Without a listener the 'error' event would end the process.
    pool.on('error', () => undefined);
    const s = `"${schema}"`;
    const t: Tables = { settings: `${s}.settings`, items: `${s}.items`, features: `${s}.features`, photos: `${s}.photos`, changes: `${s}.changes`, writeKeys: `${s}.write_keys` };
    try {
      if (!options.readonly) await migrate(pool, schema);
      const version = await schemaVersion(pool, schema);
      if (version === null) throw new Error(`no catalog in schema ${schema} (open it writable once to create it)`);
      if (version > SCHEMA_VERSION) throw new Error(`schema ${schema} is at version ${version}, newer than this program's ${SCHEMA_VERSION}`);
      return new PostgresCatalogStore({ pool, schema, t, closed: false, changesTable: version >= 2, wordsTable: version >= 3, writeKeysTable: version >= 4 }, null);
    } catch (err) {
      await pool.end();
      throw err;
    }
  }

  /**
   * Drops the catalog in `schema` (its tables, indexes and settings) when there is one: what `fashion migrate --replace`
   * does before copying another catalog over it.
   */
  static async drop(url: string, schema: string): Promise<void> {
    if (!SCHEMA_NAME.test(schema)) throw new Error(`schema name ${JSON.stringify(schema)}: use lower-case letters, digits and _ (at most 63)`);
    const client = new pg.Client({ connectionString: url, application_name: 'fashion' });
    await client.connect();
    try {
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    } finally {
      await client.end();
    }
  }

  /** The PostgreSQL schema of this catalog. */
  get schema(): string {
    return this.shared.schema;
  }

  /**
   * The pool and schema, for what runs its own SQL on the catalog's tables: vector search and its indexes
   * (src/index/pgVectorSpace.ts, pgIndexes.ts). Not inside a transaction: those read the latest committed state.
   */
  sqlAccess(): { readonly pool: pg.Pool; readonly schema: string } {
    return { pool: this.shared.pool, schema: this.shared.schema };
  }

  // ------------------------------------------------------------------------------------------ settings

  async getSetting(key: string): Promise<string | null> {
    const rows = await this.read((on) => this.q<{ value: string }>(on, `SELECT value FROM ${this.shared.t.settings} WHERE key = $1`, [key]));
    return rows[0]?.value ?? null;
  }

  async catalogSettings(): Promise<Map<string, string>> {
    const rows = await this.read((on) => this.q<{ key: string; value: string }>(on, `SELECT key, value FROM ${this.shared.t.settings} WHERE NOT key = ANY($1::text[]) ORDER BY key`, [BOOKKEEPING]));
    return new Map(rows.map((r) => [r.key, r.value]));
  }

  async setSetting(key: string, value: string): Promise<void> {
    // Not a change of the catalog's data: no new generation (as in the SQLite store).
    await this.write((c) => this.putSettings(c, [[key, value]]));
  }

  async generation(): Promise<number> {
    return Number((await this.getSetting('generation')) ?? '0');
  }

  // ------------------------------------------------------------------------------------------ items

  async fileStates(): Promise<Map<string, FileState>> {
    const rows = await this.read((on) => this.q<Omit<ItemRow, 'metadata' | 'pixel_hash'>>(on, `SELECT id, path, size, mtime_ms FROM ${this.shared.t.items} ORDER BY seq`));
    return new Map(rows.map((r) => [r.id, { path: r.path, size: r.size, mtimeMs: r.mtime_ms }]));
  }

  async pixelHashes(): Promise<Map<string, string>> {
    const rows = await this.read((on) => this.q<{ id: string; pixel_hash: string }>(on, `SELECT id, pixel_hash FROM ${this.shared.t.items} WHERE pixel_hash IS NOT NULL ORDER BY seq`));
    return new Map(rows.map((r) => [r.id, r.pixel_hash]));
  }

  async putItems(items: readonly ItemWithVector[]): Promise<void> {
    // Several writes of one id in a batch: the last one wins, in the place of the first (one row, updated in place).
    const byId = new Map<string, ItemWithVector>();
    for (const it of items) byId.set(it.id, it);
    const rows = [...byId.values()];
    const { items: itemsTable, features, photos } = this.shared.t;
    await this.write(async (c) => {
      for (const chunk of chunks(rows, ROWS_PER_INSERT)) {
        const params = chunk.flatMap((it) => [it.id, it.path, it.size, it.mtimeMs, JSON.stringify(it.metadata), it.pixelHash ?? null, vectorParam(it.vector)]);
        await this.q(
          c,
          `INSERT INTO ${itemsTable} (id, path, size, mtime_ms, metadata, pixel_hash, embedding)
           VALUES ${placeholders(chunk.length, ['text', 'text', 'bigint', 'float8', 'jsonb', 'text', 'vector'])}
           ON CONFLICT (id) DO UPDATE SET path = excluded.path, size = excluded.size, mtime_ms = excluded.mtime_ms,
             metadata = excluded.metadata, pixel_hash = excluded.pixel_hash, embedding = excluded.embedding`,
          params,
        );
      }
      if (rows.length > 0) {
        // A new photo invalidates what was derived from the old one, and the old version's other photos.
        const ids = rows.map((it) => it.id);
        await this.q(c, `DELETE FROM ${features} WHERE id = ANY($1::text[])`, [ids]);
        await this.q(c, `DELETE FROM ${photos} WHERE item_id = ANY($1::text[])`, [ids]);
        const colours = rows.filter((it) => it.colour).map((it): [string, Float32Array] => [it.id, it.colour!]);
        await this.insertFeatures(c, 'colour', colours);
        await this.logChanges(c, ids);
      }
      await this.bump(c);
    });
  }

  async removeItems(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    const { items, features, photos } = this.shared.t;
    await this.write(async (c) => {
      const list = [...ids];
      await this.q(c, `DELETE FROM ${items} WHERE id = ANY($1::text[])`, [list]);
      await this.q(c, `DELETE FROM ${features} WHERE id = ANY($1::text[])`, [list]);
      await this.q(c, `DELETE FROM ${photos} WHERE item_id = ANY($1::text[])`, [list]);
      await this.logChanges(c, list);
      await this.bump(c);
    });
  }

  async updateMetadata(changes: ReadonlyMap<string, Metadata>): Promise<void> {
    if (changes.size === 0) return;
    const ids = [...changes.keys()];
    const json = [...changes.values()].map((m) => JSON.stringify(m));
    await this.write(async (c) => {
      await this.q(
        c,
        `UPDATE ${this.shared.t.items} AS i SET metadata = v.metadata::jsonb
         FROM unnest($1::text[], $2::text[]) AS v(id, metadata) WHERE i.id = v.id`,
        [ids, json],
      );
      // A refined vector reads the item's labels: it is stale now, and the refinement's refresh makes it again.
      await this.q(c, `DELETE FROM ${this.shared.t.features} WHERE kind = 'refined' AND id = ANY($1::text[])`, [ids]);
      await this.logChanges(c, ids);
      await this.bump(c);
    });
  }

  async touchFiles(mtimes: ReadonlyMap<string, number>): Promise<void> {
    if (mtimes.size === 0) return;
    await this.write(async (c) => {
      await this.q(
        c,
        `UPDATE ${this.shared.t.items} AS i SET mtime_ms = v.mtime_ms
         FROM unnest($1::text[], $2::float8[]) AS v(id, mtime_ms) WHERE i.id = v.id`,
        [[...mtimes.keys()], [...mtimes.values()]],
      );
    });
  }

  async getItem(id: string): Promise<StoredItem | null> {
    const { items, photos } = this.shared.t;
    // One statement, so the item and its photos come from one snapshot: a row per photo (or one with no photo).
    const rows = await this.read((on) =>
      this.q<ItemRow & { p_path: string | null; p_size: number | null; p_mtime_ms: number | null; p_pixel_hash: string | null }>(
        on,
        `SELECT i.id, i.path, i.size, i.mtime_ms, i.metadata::text AS metadata, i.pixel_hash,
                p.path AS p_path, p.size AS p_size, p.mtime_ms AS p_mtime_ms, p.pixel_hash AS p_pixel_hash
         FROM ${items} i LEFT JOIN ${photos} p ON p.item_id = i.id WHERE i.id = $1 ORDER BY p.n`,
        [id],
      ),
    );
    const first = rows[0];
    if (!first) return null;
    const extra = rows.filter((r) => r.p_path !== null).map((r) => toPhotoFile({ path: r.p_path!, size: r.p_size!, mtime_ms: r.p_mtime_ms!, pixel_hash: r.p_pixel_hash }));
    return extra.length > 0 ? { ...toItem(first), photos: extra } : toItem(first);
  }

  async count(): Promise<number> {
    const rows = await this.read((on) => this.q<{ n: number }>(on, `SELECT count(*) AS n FROM ${this.shared.t.items}`));
    return rows[0]!.n;
  }

  async loadAll(): Promise<{ items: StoredItem[]; vectors: Float32Array; dims: number }> {
    const { items: itemsTable, photos } = this.shared.t;
    const { rows, photoRows } = await this.readConsistent(async (on) => ({
      photoRows: await this.q<PhotoRow & { item_id: string }>(on, `SELECT item_id, path, size, mtime_ms, pixel_hash FROM ${photos} ORDER BY item_id, n`),
      rows: await this.q<ItemRow & { embedding: string }>(on, `SELECT id, path, size, mtime_ms, metadata::text AS metadata, pixel_hash, ${vectorSql('embedding')} AS embedding FROM ${itemsTable} ORDER BY id`),
    }));
    const files = new Map<string, PhotoFile[]>();
    for (const r of photoRows) {
      const list = files.get(r.item_id) ?? [];
      list.push(toPhotoFile(r));
      files.set(r.item_id, list);
    }
    let dims = 0;
    let vectors = new Float32Array(0);
    const items = rows.map((r, i) => {
      const v = vectorFromSql(r.embedding);
      if (i === 0) {
        dims = v.length;
        vectors = new Float32Array(rows.length * dims);
      }
      if (v.length !== dims) throw new Error(`item ${r.id} has a ${v.length}-dim vector; the others have ${dims}`);
      vectors.set(v, i * dims);
      const extra = files.get(r.id);
      return extra ? { ...toItem(r), photos: extra } : toItem(r);
    });
    return { items, vectors, dims };
  }

  async clearItems(): Promise<void> {
    const { items, features, photos } = this.shared.t;
    // DELETE rather than TRUNCATE: TRUNCATE is not MVCC-safe, and an open snapshot would see the tables empty.
    await this.write(async (c) => {
      // Every item is gone: each is logged as a change (a reader then drops it), before the rows go.
      await this.q(c, `INSERT INTO ${this.shared.t.changes} (id) SELECT id FROM ${items} ORDER BY id`);
      await this.pruneChanges(c);
      await this.q(c, `DELETE FROM ${items}`);
      await this.q(c, `DELETE FROM ${features}`);
      await this.q(c, `DELETE FROM ${photos}`);
      await this.bump(c);
    });
  }

  async insertCursor(): Promise<number> {
    const rows = await this.read((on) => this.q<{ c: number }>(on, `SELECT COALESCE(MAX(seq), 0) AS c FROM ${this.shared.t.items}`));
    return rows[0]!.c;
  }

  async itemsAfter(cursor: number, limit: number): Promise<{ items: FollowedItem[]; cursor: number }> {
    const { items, features, photos } = this.shared.t;
    const { rows, photoRows } = await this.readConsistent(async (on) => {
      const rows = await this.q<ItemRow & { seq: number; embedding: string; colour: string | null }>(
        on,
        `SELECT i.seq, i.id, i.path, i.size, i.mtime_ms, i.metadata::text AS metadata, i.pixel_hash,
                ${vectorSql('i.embedding')} AS embedding, ${vectorSql('f.embedding')} AS colour
         FROM ${items} i LEFT JOIN ${features} f ON f.id = i.id AND f.kind = 'colour'
         WHERE i.seq > $1 ORDER BY i.seq LIMIT $2`,
        // A negative limit means no limit, as in SQLite.
        [cursor, limit < 0 ? null : limit],
      );
      const photoRows =
        rows.length === 0
          ? []
          : await this.q<PhotoRow & { item_id: string; embedding: string; colour: string | null }>(
              on,
              `SELECT item_id, path, size, mtime_ms, pixel_hash, ${vectorSql('embedding')} AS embedding, ${vectorSql('colour')} AS colour FROM ${photos} WHERE item_id = ANY($1::text[]) ORDER BY item_id, n`,
              [rows.map((r) => r.id)],
            );
      return { rows, photoRows };
    });
    const byItem = photosByItem(photoRows);
    const out = rows.map((row) => followedItem(row, byItem.get(row.id) ?? []));
    return { items: out, cursor: rows.length > 0 ? rows[rows.length - 1]!.seq : cursor };
  }

  async changeCursor(): Promise<number> {
    return this.readConsistent((on) => this.changeCursorOn(on));
  }

  async changesAfter(cursor: number, limit: number): Promise<ChangePage> {
    const { items, features, photos, changes: log } = this.shared.t;
    return this.readConsistent(async (on): Promise<ChangePage> => {
      if (!(await this.hasChanges(on))) return { changes: [], cursor };
      if (cursor < (await this.prunedThrough(on))) return { changes: [], cursor: await this.changeCursorOn(on), gap: true };
      // Each id once, at its last change, in the order of those: ids changed again later come in a later page.
      const rows = await this.q<Partial<ItemRow> & { id: string; seq: number; present: boolean; embedding: string | null; colour: string | null }>(
        on,
        `WITH latest AS (SELECT id, max(seq) AS seq FROM ${log} WHERE seq > $1 GROUP BY id ORDER BY seq LIMIT $2)
         SELECT l.id, l.seq, i.id IS NOT NULL AS present, i.path, i.size, i.mtime_ms, i.metadata::text AS metadata, i.pixel_hash,
                ${vectorSql('i.embedding')} AS embedding, ${vectorSql('f.embedding')} AS colour
         FROM latest l LEFT JOIN ${items} i ON i.id = l.id LEFT JOIN ${features} f ON f.id = l.id AND f.kind = 'colour'
         ORDER BY l.seq`,
        // A negative limit means no limit, as in SQLite.
        [cursor, limit < 0 ? null : limit],
      );
      const present = rows.filter((r) => r.present).map((r) => r.id);
      const photoRows =
        present.length === 0
          ? []
          : await this.q<PhotoRow & { item_id: string; embedding: string; colour: string | null }>(
              on,
              `SELECT item_id, path, size, mtime_ms, pixel_hash, ${vectorSql('embedding')} AS embedding, ${vectorSql('colour')} AS colour FROM ${photos} WHERE item_id = ANY($1::text[]) ORDER BY item_id, n`,
              [present],
            );
      const byItem = photosByItem(photoRows);
      const changes = rows.map((r): Change => (r.present ? { id: r.id, item: followedItem(r as ItemRow & { embedding: string; colour: string | null }, byItem.get(r.id) ?? []) } : { id: r.id, deleted: true }));
      return { changes, cursor: rows.length > 0 ? rows[rows.length - 1]!.seq : cursor };
    });
  }

  private async changeCursorOn(on: Queryable): Promise<number> {
    if (!(await this.hasChanges(on))) return 0;
    const rows = await this.q<{ c: number }>(on, `SELECT COALESCE(MAX(seq), 0) AS c FROM ${this.shared.t.changes}`);
    return Math.max(rows[0]!.c, await this.prunedThrough(on));
  }

  private async prunedThrough(on: Queryable): Promise<number> {
    const rows = await this.q<{ value: string }>(on, `SELECT value FROM ${this.shared.t.settings} WHERE key = $1`, [SETTING_PRUNED_THROUGH]);
    return Number(rows[0]?.value ?? '0');
  }

  private async hasChanges(on: Queryable): Promise<boolean> {
    if (!this.shared.changesTable) {
      const rows = await this.q<{ t: string | null }>(on, 'SELECT to_regclass($1) AS t', [this.shared.t.changes]);
      this.shared.changesTable = rows[0]?.t != null;
    }
    return this.shared.changesTable;
  }

  /** Logs a write's ids in its transaction, and prunes what is older than the log keeps. */
  private async logChanges(c: pg.PoolClient, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    // Numbered in the order given (each id once), as the SQLite store does.
    await this.q(c, `INSERT INTO ${this.shared.t.changes} (id) SELECT v.id FROM unnest($1::text[]) WITH ORDINALITY AS v(id, o) ORDER BY v.o`, [[...new Set(ids)]]);
    await this.pruneChanges(c);
  }

  private async pruneChanges(c: pg.PoolClient): Promise<void> {
    const { changes } = this.shared.t;
    const rows = await this.q<{ s: number | null }>(c, `SELECT max(seq) AS s FROM ${changes} WHERE at < now() - make_interval(secs => $1)`, [CHANGE_LOG_KEEP_MS / 1000]);
    const old = rows[0]?.s ?? null;
    if (old === null) return;
    await this.q(c, `DELETE FROM ${changes} WHERE seq <= $1`, [old]);
    await this.putSettings(c, [[SETTING_PRUNED_THROUGH, String(old)]]);
  }

  // ------------------------------------------------------------------------------------------ photos

  async putPhotos(id: string, photos: readonly PhotoWithVector[]): Promise<void> {
    const table = this.shared.t.photos;
    await this.write(async (c) => {
      await this.q(c, `DELETE FROM ${table} WHERE item_id = $1`, [id]);
      let n = 0;
      for (const chunk of chunks(photos, ROWS_PER_INSERT)) {
        const params = chunk.flatMap((p) => [id, ++n, p.path, p.size, p.mtimeMs, p.pixelHash ?? null, vectorParam(p.vector), p.colour ? vectorParam(p.colour) : null]);
        await this.q(
          c,
          `INSERT INTO ${table} (item_id, n, path, size, mtime_ms, pixel_hash, embedding, colour)
           VALUES ${placeholders(chunk.length, ['text', 'int4', 'text', 'bigint', 'float8', 'text', 'vector', 'vector'])}`,
          params,
        );
      }
      await this.logChanges(c, [id]);
      await this.bump(c);
    });
  }

  async loadPhotos(): Promise<PhotoVectors[]> {
    const rows = await this.read((on) =>
      this.q<{ item_id: string; n: number; embedding: string; colour: string | null }>(
        on,
        `SELECT item_id, n, ${vectorSql('embedding')} AS embedding, ${vectorSql('colour')} AS colour FROM ${this.shared.t.photos} ORDER BY item_id, n`,
      ),
    );
    return rows.map((r) => ({ id: r.item_id, n: r.n, vector: vectorFromSql(r.embedding), colour: r.colour !== null ? vectorFromSql(r.colour) : null }));
  }

  async idsWithPhotos(): Promise<Set<string>> {
    const rows = await this.read((on) => this.q<{ item_id: string }>(on, `SELECT DISTINCT item_id FROM ${this.shared.t.photos}`));
    return new Set(rows.map((r) => r.item_id));
  }

  // ------------------------------------------------------------------------------------------ features

  async putFeatures(kind: FeatureKind, rows: ReadonlyMap<string, Float32Array>, options: PutFeaturesOptions = {}): Promise<void> {
    await this.write(async (c) => {
      if (options.replace) await this.q(c, `DELETE FROM ${this.shared.t.features} WHERE kind = $1`, [kind]);
      await this.insertFeatures(c, kind, [...rows]);
      await this.putSettings(c, Object.entries(options.settings ?? {}));
      await this.bump(c);
    });
  }

  async featureIds(kind: FeatureKind): Promise<Set<string>> {
    const rows = await this.read((on) => this.q<{ id: string }>(on, `SELECT id FROM ${this.shared.t.features} WHERE kind = $1`, [kind]));
    return new Set(rows.map((r) => r.id));
  }

  async loadFeatures(kind: FeatureKind, ids: readonly string[]): Promise<Float32Array | null> {
    if (ids.length === 0) return new Float32Array(0);
    const rows = await this.read((on) =>
      this.q<{ id: string; embedding: string }>(
        on,
        `SELECT id, ${vectorSql('embedding')} AS embedding FROM ${this.shared.t.features} WHERE kind = $1 AND id = ANY($2::text[])`,
        [kind, [...new Set(ids)]],
      ),
    );
    const byId = new Map(rows.map((r) => [r.id, vectorFromSql(r.embedding)]));
    const first = byId.get(ids[0]!);
    if (!first) return null;
    const dims = first.length;
    const out = new Float32Array(ids.length * dims);
    for (let i = 0; i < ids.length; i++) {
      const v = byId.get(ids[i]!);
      if (!v || v.length !== dims) return null;
      out.set(v, i * dims);
    }
    return out;
  }

  // ------------------------------------------------------------------------------------------ write keys

  async claimWriteKey(key: string): Promise<boolean> {
    return this.write(async (c) => (await this.q(c, `INSERT INTO ${this.shared.t.writeKeys} (key) VALUES ($1) ON CONFLICT (key) DO NOTHING RETURNING key`, [key])).length === 1);
  }

  async hasWriteKey(key: string): Promise<boolean> {
    if (!this.shared.writeKeysTable) {
      // A reader of a catalog migrated before write keys (a replica, a read-only store) has none.
      const rows = await this.read((on) => this.q<{ t: string | null }>(on, 'SELECT to_regclass($1) AS t', [this.shared.t.writeKeys]));
      if (rows[0]?.t == null) return false;
      this.shared.writeKeysTable = true;
    }
    const rows = await this.read((on) => this.q(on, `SELECT 1 FROM ${this.shared.t.writeKeys} WHERE key = $1`, [key]));
    return rows.length > 0;
  }

  async pruneWriteKeys(olderThanMs: number): Promise<number> {
    return this.write(async (c) => (await this.q(c, `DELETE FROM ${this.shared.t.writeKeys} WHERE at < now() - make_interval(secs => $1) RETURNING key`, [olderThanMs / 1000])).length);
  }

  // ------------------------------------------------------------------------------------------ transactions

  async atomically<T>(write: (tx: CatalogStore) => Promise<T>): Promise<T> {
    if (this.bound?.mode === 'read') throw new Error('atomically inside a snapshot: a snapshot only reads');
    // Already the store of a transaction: the writes join it.
    if (this.bound) return write(this);
    this.refuseInsideOwnWrite('atomically');
    return this.transaction('BEGIN', async (client) => {
      await lockWriter(client, this.shared.schema);
      return this.runBound(client, 'write', write);
    });
  }

  async snapshot<T>(read: (tx: CatalogStore) => Promise<T>): Promise<T> {
    // Inside a transaction already: its own reads are the snapshot (and see its writes).
    if (this.bound) return read(this);
    return this.transaction('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', (client) => this.runBound(client, 'read', read));
  }

  /**
   * The words index in the database (src/text/pgTextSearch.ts), read through this store's pool (a read replica's, for a
   * store opened on one); null for a schema older than it (the caller builds its index in memory then).
   */
  textSearch(): TextSearch | null {
    return this.shared.wordsTable ? new PgTextSearch(this.shared.pool, this.shared.schema) : null;
  }

  async close(): Promise<void> {
    if (this.bound) throw new Error('close the store, not the store of one of its transactions');
    if (this.shared.closed) return;
    this.shared.closed = true;
    await this.shared.pool.end();
  }

  // ------------------------------------------------------------------------------------------ internals

  /** A statement with parameters (vectors go as binary Buffers); int8 columns come back as numbers. */
  private async q<R extends pg.QueryResultRow>(on: Queryable, text: string, values: unknown[] = []): Promise<R[]> {
    return (await on.query<R>({ text, values, types: storeTypes })).rows;
  }

  /** One statement: on the transaction's connection, or on any pooled one. */
  private read<T>(fn: (on: Queryable) => Promise<T>): Promise<T> {
    const b = this.bound;
    return b ? this.serial(b, () => fn(b.client)) : fn(this.shared.pool);
  }

  /** Several statements that must see one state: the transaction's, or a short read-only snapshot of their own. */
  private readConsistent<T>(fn: (on: Queryable) => Promise<T>): Promise<T> {
    const b = this.bound;
    return b ? this.serial(b, () => fn(b.client)) : this.transaction('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', fn);
  }

  /**
   * A write: in a transaction of its own that holds the writer lock, or inside the bound transaction under a
   * savepoint, so that a write that fails leaves the transaction as it was (SQLite's nested transactions do the same).
   */
  private write<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const b = this.bound;
    if (!b) {
      this.refuseInsideOwnWrite('a write');
      return this.transaction('BEGIN', async (c) => {
        await lockWriter(c, this.shared.schema);
        return fn(c);
      });
    }
    return this.serial(b, async () => {
      await b.client.query('SAVEPOINT catalog_write');
      try {
        const out = await fn(b.client);
        await b.client.query('RELEASE SAVEPOINT catalog_write');
        return out;
      } catch (err) {
        // When even this fails the connection is gone, and the transaction's own ROLLBACK reports it.
        await b.client.query('ROLLBACK TO SAVEPOINT catalog_write; RELEASE SAVEPOINT catalog_write').catch(() => undefined);
        throw err;
      }
    });
  }

  private refuseInsideOwnWrite(what: string): void {
    const open = openWrite.getStore();
    if (open && open.shared === this.shared && open.bound.open) {
      throw new Error(`${what} on the store inside its own atomically() would wait for that transaction for ever: make it on the tx that atomically() passes`);
    }
  }

  /** Calls on a transaction's connection, one after another, and none once the transaction has ended. */
  private serial<T>(b: Bound, fn: () => Promise<T>): Promise<T> {
    const run = b.tail.then(() => {
      if (!b.open) throw new Error('the transaction has ended: use the store, not the transaction\'s store');
      return fn();
    });
    b.tail = run.catch(() => undefined);
    return run;
  }

  /** A transaction on one pooled connection (see inTransaction). */
  private transaction<T>(begin: string, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    return inTransaction(this.shared.pool, begin, fn);
  }

  /** Runs `fn` with a store bound to `client`'s open transaction; calls still queued on it finish before it ends. */
  private async runBound<T>(client: pg.PoolClient, mode: Bound['mode'], fn: (tx: CatalogStore) => Promise<T>): Promise<T> {
    const bound: Bound = { client, mode, open: true, tail: Promise.resolve() };
    const tx = new PostgresCatalogStore(this.shared, bound);
    try {
      const out = await (mode === 'write' ? openWrite.run({ shared: this.shared, bound }, () => fn(tx)) : fn(tx));
      await bound.tail;
      return out;
    } finally {
      bound.open = false;
    }
  }

  private async insertFeatures(c: pg.PoolClient, kind: FeatureKind, rows: ReadonlyArray<readonly [string, Float32Array]>): Promise<void> {
    for (const chunk of chunks(rows, ROWS_PER_INSERT)) {
      await this.q(
        c,
        `INSERT INTO ${this.shared.t.features} (id, kind, embedding) VALUES ${placeholders(chunk.length, ['text', 'text', 'vector'])}
         ON CONFLICT (id, kind) DO UPDATE SET embedding = excluded.embedding`,
        chunk.flatMap(([id, v]) => [id, kind, vectorParam(v)]),
      );
    }
  }

  private async putSettings(c: pg.PoolClient, entries: ReadonlyArray<readonly [string, string]>): Promise<void> {
    if (entries.length === 0) return;
    await this.q(
      c,
      `INSERT INTO ${this.shared.t.settings} (key, value) VALUES ${placeholders(entries.length, ['text', 'text'])}
       ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
      entries.flat(),
    );
  }

  /** A new generation; inside the write's transaction, which holds the writer lock, so bumps never collide. */
  private async bump(c: pg.PoolClient): Promise<void> {
    await this.q(
      c,
      `INSERT INTO ${this.shared.t.settings} AS s (key, value) VALUES ('generation', '1')
       ON CONFLICT (key) DO UPDATE SET value = (s.value::bigint + 1)::text`,
    );
  }
}

/** A transaction on one pooled connection: COMMIT when `fn` resolves, ROLLBACK when it throws. */
async function inTransaction<T>(pool: pg.Pool, begin: string, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query(begin);
    const out = await fn(client);
    await client.query('COMMIT');
    return out;
  } catch (err) {
    try {
      await client.query('ROLLBACK');
    } catch (rollbackErr) {
      // The connection is unusable: the pool must drop it rather than lend it again.
      broken = rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr));
    }
    throw err;
  } finally {
    client.release(broken);
  }
}

/** Creates the schema and applies the migrations it lacks, one process at a time (concurrent opens wait). */
function migrate(pool: pg.Pool, schema: string): Promise<void> {
  return inTransaction(pool, 'BEGIN', async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1, 0)', [MIGRATION_LOCK]);
    const { rows: ext } = await client.query(`SELECT 1 FROM pg_extension WHERE extname = 'vector'`);
    if (ext.length === 0) await client.query('CREATE EXTENSION vector');
    const s = `"${schema}"`;
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${s}.schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
    const current = (await schemaVersion(client, schema)) ?? 0;
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      await client.query(m.sql(s));
      await client.query(`INSERT INTO ${s}.schema_migrations (version) VALUES ($1)`, [m.version]);
    }
  });
}

/** The schema's version, or null when it holds no catalog. */
async function schemaVersion(on: pg.Pool | pg.PoolClient, schema: string): Promise<number | null> {
  const { rows } = await on.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [`"${schema}".schema_migrations`]);
  if (!rows[0]?.t) return null;
  const { rows: v } = await on.query<{ v: number | null }>(`SELECT max(version) AS v FROM "${schema}".schema_migrations`);
  return v[0]?.v ?? null;
}

/** The catalog's writer lock, held to the end of the transaction (a catalog has one writer at a time, as in SQLite). */
async function lockWriter(c: pg.PoolClient, schema: string): Promise<void> {
  await c.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [WRITER_LOCK, schema]);
}

/** `($1::text, $2::vector, ...), (...)` for a multi-row VALUES list of `rows` rows with these column types. */
function placeholders(rows: number, types: readonly string[]): string {
  const out: string[] = [];
  let p = 0;
  for (let r = 0; r < rows; r++) out.push(`(${types.map((t) => `$${++p}::${t}`).join(', ')})`);
  return out.join(', ');
}

function* chunks<T>(list: readonly T[], size: number): Generator<T[]> {
  for (let i = 0; i < list.length; i += size) yield list.slice(i, i + size);
}

function photosByItem(rows: ReadonlyArray<PhotoRow & { item_id: string; embedding: string; colour: string | null }>): Map<string, PhotoWithVector[]> {
  const byItem = new Map<string, PhotoWithVector[]>();
  for (const r of rows) {
    const list = byItem.get(r.item_id) ?? [];
    list.push({ ...toPhotoFile(r), vector: vectorFromSql(r.embedding), ...(r.colour !== null ? { colour: vectorFromSql(r.colour) } : {}) });
    byItem.set(r.item_id, list);
  }
  return byItem;
}

function followedItem(row: ItemRow & { embedding: string; colour: string | null }, photoVectors: readonly PhotoWithVector[]): FollowedItem {
  return {
    ...toItem(row),
    vector: vectorFromSql(row.embedding),
    ...(row.colour !== null ? { colour: vectorFromSql(row.colour) } : {}),
    ...(photoVectors.length > 0 ? { photos: photoVectors.map(({ vector: _v, colour: _c, ...file }) => file), photoVectors } : {}),
  };
}

function toPhotoFile(r: PhotoRow): PhotoFile {
  return { path: r.path, size: r.size, mtimeMs: r.mtime_ms, ...(r.pixel_hash ? { pixelHash: r.pixel_hash } : {}) };
}

function toItem(r: ItemRow): StoredItem {
  return { id: r.id, path: r.path, size: r.size, mtimeMs: r.mtime_ms, metadata: JSON.parse(r.metadata) as Metadata, ...(r.pixel_hash ? { pixelHash: r.pixel_hash } : {}) };
}
