import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { CHANGE_LOG_KEEP_MS, type CatalogStore, type Change, type ChangePage, type FeatureKind, type FileState, type FollowedItem, type ItemWithVector, type Metadata, type PhotoFile, type PhotoVectors, type PhotoWithVector, type PutFeaturesOptions, type StoredItem } from './catalogStore.js';
import { ensureFtsIndex, FtsTextSearch, hasFtsIndex } from '../text/ftsIndex.js';
import type { TextSearch } from '../text/textSearch.js';

const SCHEMA_VERSION = '1';
/** The last rowid issued to an item (rowids are never reused, see putItems). */
const SETTING_INSERT_SEQ = 'insertSeq';
/** The number of the last change the log's pruning dropped: a reader behind it has a gap (ChangePage.gap). */
const SETTING_PRUNED_THROUGH = 'changesPrunedThrough';
/** Up to this many ids, loadFeatures looks each one up; more read every vector of the kind in one pass. */
const FEATURE_PAGE = 2000;
/** Settings that are this store's bookkeeping, not the catalog's (catalogSettings leaves them out). */
const BOOKKEEPING = new Set(['schemaVersion', 'ftsVersion', 'generation', SETTING_INSERT_SEQ, SETTING_PRUNED_THROUGH]);

/** The embedded store: one SQLite file in WAL mode; each batch is one transaction, so a killed ingest loses at most its last batch. */
export class SqliteCatalogStore implements CatalogStore {
  private readonly db: Database.Database;
  private readonly stmts;
  private readonly hashColumn: boolean;
  /** Which store's transaction the running code is inside (atomically's callback and what it awaits). */
  private readonly inside = new AsyncLocalStorage<SqliteCatalogStore>();
  /** The transaction before (atomically): one at a time on this connection. */
  private tail: Promise<unknown> = Promise.resolve();
  /** Statements prepared once and reused: several run per item in a batch or a page of changes. */
  private readonly prepared = new Map<string, Database.Statement>();
  /** False for a catalog made before products had several photos, opened read-only (none has any). */
  private readonly photosTable: boolean;
  /**
   * Whether the catalog has a change log. A catalog made before it has none until a writer opens it; a reader opened
   * before that checks again on each call, and until then its log is empty (cursor 0, so it misses nothing after).
   */
  private changesTable = false;

  constructor(readonly file: string, options: { readonly?: boolean } = {}) {
    if (!options.readonly) mkdirSync(dirname(file), { recursive: true });
    this.db = new Database(file, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
    if (!options.readonly) {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.exec(`
        CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS items (
          id TEXT PRIMARY KEY,
          path TEXT NOT NULL,
          size INTEGER NOT NULL,
          mtime_ms REAL NOT NULL,
          metadata TEXT NOT NULL,
          vector BLOB NOT NULL
        );
        CREATE TABLE IF NOT EXISTS features (
          id TEXT NOT NULL,
          kind TEXT NOT NULL,
          vector BLOB NOT NULL,
          PRIMARY KEY (id, kind)
        );
        -- A product's other photos (n = 1, 2, ...; the item's own photo is its row in items), each with its vectors.
        CREATE TABLE IF NOT EXISTS photos (
          item_id TEXT NOT NULL,
          n INTEGER NOT NULL,
          path TEXT NOT NULL,
          size INTEGER NOT NULL,
          mtime_ms REAL NOT NULL,
          pixel_hash TEXT,
          vector BLOB NOT NULL,
          colour BLOB,
          PRIMARY KEY (item_id, n)
        );
        -- The change log: each write that changes an item logs its id, in its own transaction, numbered in commit order
        -- (SQLite has one writer at a time); AUTOINCREMENT never issues a number twice, even after pruning. Readers that
        -- follow the catalog (other servers) read the ids changed after the last number they saw (changesAfter).
        CREATE TABLE IF NOT EXISTS changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, at_ms INTEGER NOT NULL);
        CREATE INDEX IF NOT EXISTS changes_at ON changes (at_ms);
        -- Idempotency keys of writes (claimWriteKey), committed with the write they stand for.
        CREATE TABLE IF NOT EXISTS write_keys (key TEXT PRIMARY KEY, at_ms INTEGER NOT NULL);
        CREATE INDEX IF NOT EXISTS write_keys_at ON write_keys (at_ms);
      `);
      const version = this.getSettingRaw('schemaVersion');
      if (version == null) this.setSettingRaw('schemaVersion', SCHEMA_VERSION);
      // Migration: catalogs made before exact-duplicate detection have no pixel hash column (NULL = unknown).
      if (!this.hasColumn('items', 'pixel_hash')) this.db.exec('ALTER TABLE items ADD COLUMN pixel_hash TEXT');
      // Full-text index over names and labels, kept in step with items by triggers (created for old catalogs).
      ensureFtsIndex(this.db);
    }
    const hash = this.hasColumn('items', 'pixel_hash') ? 'pixel_hash' : 'NULL AS pixel_hash';
    const hashWrite = hash === 'pixel_hash';
    this.hashColumn = hashWrite;
    this.photosTable = this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'photos'").get() !== undefined;
    this.stmts = {
      getSetting: this.db.prepare<[string], { value: string }>('SELECT value FROM settings WHERE key = ?'),
      setSetting: this.db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
      fileStates: this.db.prepare<[], { id: string; path: string; size: number; mtime_ms: number }>('SELECT id, path, size, mtime_ms FROM items'),
      put: this.db.prepare(
        `INSERT INTO items (rowid, id, path, size, mtime_ms, metadata, vector${hashWrite ? ', pixel_hash' : ''}) VALUES (@rowid, @id, @path, @size, @mtime, @metadata, @vector${hashWrite ? ', @pixelHash' : ''})
         ON CONFLICT(id) DO UPDATE SET path = excluded.path, size = excluded.size, mtime_ms = excluded.mtime_ms,
           metadata = excluded.metadata, vector = excluded.vector${hashWrite ? ', pixel_hash = excluded.pixel_hash' : ''}`,
      ),
      remove: this.db.prepare('DELETE FROM items WHERE id = ?'),
      removeFeatures: this.db.prepare('DELETE FROM features WHERE id = ?'),
      removeFeature: this.db.prepare('DELETE FROM features WHERE id = ? AND kind = ?'),
      putFeature: this.db.prepare('INSERT INTO features (id, kind, vector) VALUES (?, ?, ?) ON CONFLICT(id, kind) DO UPDATE SET vector = excluded.vector'),
      getFeatures: this.db.prepare<[string], { id: string; vector: Buffer }>('SELECT id, vector FROM features WHERE kind = ?'),
      setMetadata: this.db.prepare('UPDATE items SET metadata = ? WHERE id = ?'),
      setMtime: this.db.prepare('UPDATE items SET mtime_ms = ? WHERE id = ?'),
      get: this.db.prepare<[string], ItemRow>(`SELECT id, path, size, mtime_ms, metadata, ${hash} FROM items WHERE id = ?`),
      count: this.db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM items'),
      all: this.db.prepare<[], ItemRow & { vector: Buffer }>(`SELECT id, path, size, mtime_ms, metadata, vector, ${hash} FROM items ORDER BY id`),
    };
  }

  private sql(text: string): Database.Statement {
    let st = this.prepared.get(text);
    if (!st) {
      st = this.db.prepare(text);
      this.prepared.set(text, st);
    }
    return st;
  }

  private hasColumn(table: string, column: string): boolean {
    return (this.sql(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>).some((c) => c.name === column);
  }

  private getSettingRaw(key: string): string | null {
    return (this.sql('SELECT value FROM settings WHERE key = ?').get(key) as { value: string } | undefined)?.value ?? null;
  }

  private setSettingRaw(key: string, value: string): void {
    this.sql('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  async getSetting(key: string): Promise<string | null> {
    return this.settingSync(key);
  }

  async catalogSettings(): Promise<Map<string, string>> {
    const rows = this.sql('SELECT key, value FROM settings ORDER BY key').all() as Array<{ key: string; value: string }>;
    return new Map(rows.filter((r) => !BOOKKEEPING.has(r.key)).map((r) => [r.key, r.value]));
  }

  async setSetting(key: string, value: string): Promise<void> {
    this.stmts.setSetting.run(key, value);
  }

  private settingSync(key: string): string | null {
    return this.stmts.getSetting.get(key)?.value ?? null;
  }

  async pixelHashes(): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (!this.hashColumn) return out;
    const rows = this.sql('SELECT id, pixel_hash FROM items WHERE pixel_hash IS NOT NULL').all() as Array<{ id: string; pixel_hash: string }>;
    for (const r of rows) out.set(r.id, r.pixel_hash);
    return out;
  }

  async fileStates(): Promise<Map<string, FileState>> {
    const out = new Map<string, FileState>();
    for (const r of this.stmts.fileStates.iterate()) out.set(r.id, { path: r.path, size: r.size, mtimeMs: r.mtime_ms });
    return out;
  }

  async putItems(items: readonly ItemWithVector[]): Promise<void> {
    this.db.transaction(() => {
      // Rowids order insertions (insertCursor, itemsAfter), so they must never be issued twice: SQLite would give a new
      // row the rowid of a deleted last row, which a reader already past it would never see. An update keeps its row.
      const max = (this.sql('SELECT COALESCE(MAX(rowid), 0) AS m FROM items').get() as { m: number }).m;
      let next = Math.max(max, Number(this.settingSync(SETTING_INSERT_SEQ) ?? '0'));
      for (const it of items) {
        this.stmts.put.run({
          rowid: ++next,
          id: it.id,
          path: it.path,
          size: it.size,
          mtime: it.mtimeMs,
          metadata: JSON.stringify(it.metadata),
          vector: Buffer.from(it.vector.buffer, it.vector.byteOffset, it.vector.byteLength),
          ...(this.hashColumn ? { pixelHash: it.pixelHash ?? null } : {}),
        });
        // A new photo invalidates what was derived from the old one, and the old version's other photos.
        this.stmts.removeFeatures.run(it.id);
        this.removePhotosOf(it.id);
        if (it.colour) this.stmts.putFeature.run(it.id, 'colour', blob(it.colour));
      }
      this.stmts.setSetting.run(SETTING_INSERT_SEQ, String(next));
      this.logChanges(items.map((it) => it.id));
      this.bump();
    })();
  }

  async removeItems(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    this.db.transaction(() => {
      for (const id of ids) {
        this.stmts.remove.run(id);
        this.stmts.removeFeatures.run(id);
        this.removePhotosOf(id);
      }
      this.logChanges(ids);
      this.bump();
    })();
  }

  async updateMetadata(changes: ReadonlyMap<string, Metadata>): Promise<void> {
    if (changes.size === 0) return;
    this.db.transaction(() => {
      for (const [id, m] of changes) {
        this.stmts.setMetadata.run(JSON.stringify(m), id);
        // A refined vector reads the item's labels: it is stale now, and the refinement's refresh makes it again.
        this.stmts.removeFeature.run(id, 'refined');
      }
      this.logChanges(changes.keys());
      this.bump();
    })();
  }

  async touchFiles(mtimes: ReadonlyMap<string, number>): Promise<void> {
    if (mtimes.size === 0) return;
    this.db.transaction(() => {
      for (const [id, mtimeMs] of mtimes) this.stmts.setMtime.run(mtimeMs, id);
    })();
  }

  async getItem(id: string): Promise<StoredItem | null> {
    const r = this.stmts.get.get(id);
    if (!r) return null;
    const photos = this.photoFiles(id);
    return photos ? { ...toItem(r), photos } : toItem(r);
  }

  async putPhotos(id: string, photos: readonly PhotoWithVector[]): Promise<void> {
    const insert = this.sql('INSERT INTO photos (item_id, n, path, size, mtime_ms, pixel_hash, vector, colour) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    this.db.transaction(() => {
      this.removePhotosOf(id);
      photos.forEach((p, i) => insert.run(id, i + 1, p.path, p.size, p.mtimeMs, p.pixelHash ?? null, blob(p.vector), p.colour ? blob(p.colour) : null));
      this.logChanges([id]);
      this.bump();
    })();
  }

  async loadPhotos(): Promise<PhotoVectors[]> {
    if (!this.photosTable) return [];
    const rows = this.sql('SELECT item_id, n, vector, colour FROM photos ORDER BY item_id, n').all() as Array<{ item_id: string; n: number; vector: Buffer; colour: Buffer | null }>;
    return rows.map((r) => ({ id: r.item_id, n: r.n, vector: floats(r.vector), colour: r.colour ? floats(r.colour) : null }));
  }

  async idsWithPhotos(): Promise<Set<string>> {
    if (!this.photosTable) return new Set();
    return new Set((this.sql('SELECT DISTINCT item_id FROM photos').all() as Array<{ item_id: string }>).map((r) => r.item_id));
  }

  private removePhotosOf(id: string): void {
    if (this.photosTable) this.sql('DELETE FROM photos WHERE item_id = ?').run(id);
  }

  /** The item's other photos' files, in order, or undefined when it has none. */
  private photoFiles(id: string): PhotoFile[] | undefined {
    if (!this.photosTable) return undefined;
    const rows = this.sql('SELECT path, size, mtime_ms, pixel_hash FROM photos WHERE item_id = ? ORDER BY n').all(id) as PhotoRow[];
    return rows.length > 0 ? rows.map(toPhotoFile) : undefined;
  }

  /** Every item's other photos' files (the few items that have any). */
  private allPhotoFiles(): Map<string, PhotoFile[]> {
    const out = new Map<string, PhotoFile[]>();
    if (!this.photosTable) return out;
    const rows = this.sql('SELECT item_id, path, size, mtime_ms, pixel_hash FROM photos ORDER BY item_id, n').all() as Array<PhotoRow & { item_id: string }>;
    for (const r of rows) {
      const list = out.get(r.item_id) ?? [];
      list.push(toPhotoFile(r));
      out.set(r.item_id, list);
    }
    return out;
  }

  async count(): Promise<number> {
    return this.stmts.count.get()!.n;
  }

  async loadAll(): Promise<{ items: StoredItem[]; vectors: Float32Array; dims: number }> {
    const items: StoredItem[] = [];
    const chunks: Buffer[] = [];
    let dims = 0;
    const photos = this.allPhotoFiles();
    for (const r of this.stmts.all.iterate()) {
      const extra = photos.get(r.id);
      items.push(extra ? { ...toItem(r), photos: extra } : toItem(r));
      chunks.push(r.vector);
      dims = r.vector.byteLength / 4;
    }
    const vectors = new Float32Array(items.length * dims);
    const bytes = new Uint8Array(vectors.buffer);
    chunks.forEach((c, i) => bytes.set(c, i * dims * 4));
    return { items, vectors, dims };
  }

  async clearItems(): Promise<void> {
    this.db.transaction(() => {
      // Every item is gone: each is logged as a change (a reader then drops it), before the rows go.
      this.sql('INSERT INTO changes (id, at_ms) SELECT id, ? FROM items ORDER BY id').run(Date.now());
      this.pruneChanges();
      this.db.exec('DELETE FROM items; DELETE FROM features; DELETE FROM photos;');
      this.bump();
    })();
  }

  async putFeatures(kind: FeatureKind, rows: ReadonlyMap<string, Float32Array>, options: PutFeaturesOptions = {}): Promise<void> {
    this.db.transaction(() => {
      if (options.replace) this.sql('DELETE FROM features WHERE kind = ?').run(kind);
      for (const [id, v] of rows) this.stmts.putFeature.run(id, kind, blob(v));
      for (const [key, value] of Object.entries(options.settings ?? {})) this.stmts.setSetting.run(key, value);
      this.bump();
    })();
  }

  async claimWriteKey(key: string): Promise<boolean> {
    return this.sql('INSERT INTO write_keys (key, at_ms) VALUES (?, ?) ON CONFLICT(key) DO NOTHING').run(key, Date.now()).changes === 1;
  }

  async hasWriteKey(key: string): Promise<boolean> {
    return this.sql('SELECT 1 FROM write_keys WHERE key = ?').get(key) !== undefined;
  }

  async pruneWriteKeys(olderThanMs: number): Promise<number> {
    return this.sql('DELETE FROM write_keys WHERE at_ms < ?').run(Date.now() - olderThanMs).changes;
  }

  async atomically<T>(write: (tx: CatalogStore) => Promise<T>): Promise<T> {
    // One transaction at a time on this connection: a second waits for the first (their statements would mix).
    // Called inside its own transaction's callback on the store rather than on `tx`, it would wait for itself.
    if (this.inside.getStore() === this) throw new Error('Expected atomically() inside a transaction of this store on its tx argument, not on the store: make it on the tx (the transaction would wait for itself)');
    const run = this.tail.then(async () => {
      // An IMMEDIATE transaction takes SQLite's write lock at once; the writes inside, each a transaction of its own
      // elsewhere, become savepoints of this one.
      this.db.exec('BEGIN IMMEDIATE');
      try {
        const out = await this.inside.run(this, () => write(this.inTransaction()));
        this.db.exec('COMMIT');
        return out;
      } catch (err) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw err;
      }
    });
    this.tail = run.catch(() => undefined);
    return run;
  }

  /**
   * This store as seen inside its open transaction: the same connection, whose `atomically` and `snapshot` run at once
   * inside the transaction (a nested call on the store itself would wait for the transaction it is part of).
   */
  private inTransaction(): CatalogStore {
    const tx: CatalogStore = Object.create(this, {
      atomically: { value: <T>(write: (t: CatalogStore) => Promise<T>) => write(tx) },
      snapshot: { value: <T>(read: (t: CatalogStore) => Promise<T>) => read(tx) },
    }) as CatalogStore;
    return tx;
  }

  async insertCursor(): Promise<number> {
    // rowid grows with each insertion (an update keeps its row), so it orders insertions.
    return (this.sql('SELECT COALESCE(MAX(rowid), 0) AS c FROM items').get() as { c: number }).c;
  }

  async itemsAfter(cursor: number, limit: number): Promise<{ items: ItemWithVector[]; cursor: number }> {
    const hash = this.hashColumn ? 'i.pixel_hash' : 'NULL AS pixel_hash';
    const rows = this.db
      .prepare(
        `SELECT i.rowid AS r, i.id, i.path, i.size, i.mtime_ms, i.metadata, i.vector, ${hash}, f.vector AS colour
         FROM items i LEFT JOIN features f ON f.id = i.id AND f.kind = 'colour' WHERE i.rowid > ? ORDER BY i.rowid LIMIT ?`,
      )
      .all(cursor, limit) as Array<ItemRow & { r: number; vector: Buffer; colour: Buffer | null }>;
    const items = rows.map((row) => {
      const photoVectors = this.photosWithVectors(row.id);
      return {
        ...toItem(row),
        vector: floats(row.vector),
        ...(row.colour ? { colour: floats(row.colour) } : {}),
        ...(photoVectors.length > 0 ? { photos: photoVectors.map(({ vector: _v, colour: _c, ...file }) => file), photoVectors } : {}),
      };
    });
    return { items, cursor: rows.length > 0 ? rows[rows.length - 1]!.r : cursor };
  }

  async changeCursor(): Promise<number> {
    return this.readTogether(() => this.changeCursorSync());
  }

  async changesAfter(cursor: number, limit: number): Promise<ChangePage> {
    return this.readTogether(() => {
      if (!this.hasChanges()) return { changes: [], cursor };
      if (cursor < Number(this.settingSync(SETTING_PRUNED_THROUGH) ?? '0')) return { changes: [], cursor: this.changeCursorSync(), gap: true };
      // Each id once, at its last change, in the order of those: ids changed again later come in a later page.
      const ids = this.sql('SELECT id, MAX(seq) AS seq FROM changes WHERE seq > ? GROUP BY id ORDER BY seq LIMIT ?').all(cursor, limit) as Array<{ id: string; seq: number }>;
      const changes = ids.map(({ id }): Change => {
        const item = this.followedItem(id);
        return item ? { id, item } : { id, deleted: true };
      });
      return { changes, cursor: ids.length > 0 ? ids[ids.length - 1]!.seq : cursor };
    });
  }

  private changeCursorSync(): number {
    if (!this.hasChanges()) return 0;
    const last = (this.sql('SELECT COALESCE(MAX(seq), 0) AS c FROM changes').get() as { c: number }).c;
    return Math.max(last, Number(this.settingSync(SETTING_PRUNED_THROUGH) ?? '0'));
  }

  private hasChanges(): boolean {
    this.changesTable ||= this.sql("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'changes'").get() !== undefined;
    return this.changesTable;
  }

  /** Reads that must see one state, on this connection: inside its open transaction, or in a read transaction of their own. */
  private readTogether<T>(read: () => T): T {
    if (this.db.inTransaction) return read();
    this.db.exec('BEGIN');
    try {
      return read();
    } finally {
      if (this.db.inTransaction) this.db.exec('COMMIT');
    }
  }

  /** Logs a write's ids in its transaction (the caller's), and prunes what is older than the log keeps. */
  private logChanges(ids: Iterable<string>): void {
    const insert = this.sql('INSERT INTO changes (id, at_ms) VALUES (?, ?)');
    const now = Date.now();
    for (const id of new Set(ids)) insert.run(id, now);
    this.pruneChanges();
  }

  private pruneChanges(): void {
    const old = (this.sql('SELECT MAX(seq) AS s FROM changes WHERE at_ms < ?').get(Date.now() - CHANGE_LOG_KEEP_MS) as { s: number | null }).s;
    if (old === null) return;
    this.sql('DELETE FROM changes WHERE seq <= ?').run(old);
    this.stmts.setSetting.run(SETTING_PRUNED_THROUGH, String(old));
  }

  /** An item as it is now, with its vectors, colour evidence and other photos; null when there is none of that id. */
  private followedItem(id: string): FollowedItem | null {
    const hash = this.hashColumn ? 'i.pixel_hash' : 'NULL AS pixel_hash';
    const row = this.db
      .prepare(`SELECT i.id, i.path, i.size, i.mtime_ms, i.metadata, i.vector, ${hash}, f.vector AS colour FROM items i LEFT JOIN features f ON f.id = i.id AND f.kind = 'colour' WHERE i.id = ?`)
      .get(id) as (ItemRow & { vector: Buffer; colour: Buffer | null }) | undefined;
    if (!row) return null;
    const photoVectors = this.photosWithVectors(id);
    return {
      ...toItem(row),
      vector: floats(row.vector),
      ...(row.colour ? { colour: floats(row.colour) } : {}),
      ...(photoVectors.length > 0 ? { photos: photoVectors.map(({ vector: _v, colour: _c, ...file }) => file), photoVectors } : {}),
    };
  }

  private photosWithVectors(id: string): PhotoWithVector[] {
    if (!this.photosTable) return [];
    const rows = this.sql('SELECT path, size, mtime_ms, pixel_hash, vector, colour FROM photos WHERE item_id = ? ORDER BY n').all(id) as Array<PhotoRow & { vector: Buffer; colour: Buffer | null }>;
    return rows.map((r) => ({ ...toPhotoFile(r), vector: floats(r.vector), ...(r.colour ? { colour: floats(r.colour) } : {}) }));
  }

  async snapshot<T>(read: (tx: CatalogStore) => Promise<T>): Promise<T> {
    // Inside a transaction already (a write's): its own reads are the snapshot.
    if (this.db.inTransaction) return read(this);
    // A deferred transaction that only reads: in WAL mode all its statements see one snapshot. Reads on this
    // connection made meanwhile by other callers see it too (they would see no newer commit either way).
    this.db.exec('BEGIN');
    try {
      return await read(this);
    } finally {
      if (this.db.inTransaction) this.db.exec('COMMIT');
    }
  }

  async featureIds(kind: FeatureKind): Promise<Set<string>> {
    return new Set((this.sql('SELECT id FROM features WHERE kind = ?').all(kind) as Array<{ id: string }>).map((r) => r.id));
  }

  async loadFeatures(kind: FeatureKind, ids: readonly string[]): Promise<Float32Array | null> {
    if (ids.length === 0) return new Float32Array(0);
    const byId = new Map<string, Buffer>();
    // A page of ids (a reader going through the catalog in pages: `fashion migrate`) reads its own rows, not every one of the kind.
    const rows =
      ids.length <= FEATURE_PAGE
        ? (this.sql('SELECT f.id, f.vector FROM json_each(?) j JOIN features f ON f.kind = ? AND f.id = j.value').all(JSON.stringify(ids), kind) as Array<{ id: string; vector: Buffer }>)
        : this.stmts.getFeatures.iterate(kind);
    for (const r of rows) byId.set(r.id, r.vector);
    const first = byId.get(ids[0]!);
    if (!first) return null;
    const dims = first.byteLength / 4;
    const out = new Float32Array(ids.length * dims);
    const bytes = new Uint8Array(out.buffer);
    for (let i = 0; i < ids.length; i++) {
      const b = byId.get(ids[i]!);
      if (!b || b.byteLength !== dims * 4) return null;
      bytes.set(b, i * dims * 4);
    }
    return out;
  }

  async generation(): Promise<number> {
    return Number(this.settingSync('generation') ?? '0');
  }

  private bump(): void {
    this.stmts.setSetting.run('generation', String(Number(this.settingSync('generation') ?? '0') + 1));
  }

  /** BM25 full-text search over the items_fts table (null when a read-only catalog has none). */
  textSearch(): TextSearch | null {
    return hasFtsIndex(this.db) ? new FtsTextSearch(this.db) : null;
  }

  async close(): Promise<void> {
    this.db.close();
  }
}

interface ItemRow {
  id: string;
  path: string;
  size: number;
  mtime_ms: number;
  pixel_hash?: string | null;
  metadata: string;
}

interface PhotoRow {
  path: string;
  size: number;
  mtime_ms: number;
  pixel_hash: string | null;
}

function toPhotoFile(r: PhotoRow): PhotoFile {
  return { path: r.path, size: r.size, mtimeMs: r.mtime_ms, ...(r.pixel_hash ? { pixelHash: r.pixel_hash } : {}) };
}

/** A copy of a BLOB's floats (the Buffer may not be aligned for a Float32Array view). */
function floats(b: Buffer): Float32Array {
  const out = new Float32Array(b.byteLength / 4);
  new Uint8Array(out.buffer).set(b);
  return out;
}

function blob(v: Float32Array): Buffer {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

function toItem(r: ItemRow): StoredItem {
  return { id: r.id, path: r.path, size: r.size, mtimeMs: r.mtime_ms, metadata: JSON.parse(r.metadata) as Metadata, ...(r.pixel_hash ? { pixelHash: r.pixel_hash } : {}) };
}
