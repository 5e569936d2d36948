import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { CatalogStore, FileState, ItemWithVector, Metadata, StoredItem } from './catalogStore.js';

const SCHEMA_VERSION = '1';

/** The embedded store: one SQLite file in WAL mode; each batch is one transaction, so a killed ingest loses at most its last batch. */
export class SqliteCatalogStore implements CatalogStore {
  private readonly db: Database.Database;
  private readonly stmts;

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
      `);
      const version = this.getSettingRaw('schemaVersion');
      if (version == null) this.setSettingRaw('schemaVersion', SCHEMA_VERSION);
    }
    this.stmts = {
      getSetting: this.db.prepare<[string], { value: string }>('SELECT value FROM settings WHERE key = ?'),
      setSetting: this.db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
      fileStates: this.db.prepare<[], { id: string; path: string; size: number; mtime_ms: number }>('SELECT id, path, size, mtime_ms FROM items'),
      put: this.db.prepare(
        `INSERT INTO items (id, path, size, mtime_ms, metadata, vector) VALUES (@id, @path, @size, @mtime, @metadata, @vector)
         ON CONFLICT(id) DO UPDATE SET path = excluded.path, size = excluded.size, mtime_ms = excluded.mtime_ms,
           metadata = excluded.metadata, vector = excluded.vector`,
      ),
      remove: this.db.prepare('DELETE FROM items WHERE id = ?'),
      setMetadata: this.db.prepare('UPDATE items SET metadata = ? WHERE id = ?'),
      get: this.db.prepare<[string], ItemRow>('SELECT id, path, size, mtime_ms, metadata FROM items WHERE id = ?'),
      count: this.db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM items'),
      all: this.db.prepare<[], ItemRow & { vector: Buffer }>('SELECT id, path, size, mtime_ms, metadata, vector FROM items ORDER BY id'),
    };
  }

  private getSettingRaw(key: string): string | null {
    return (this.db.prepare('SELECT value FROM settings WHERE key = ?').get(key) as { value: string } | undefined)?.value ?? null;
  }

  private setSettingRaw(key: string, value: string): void {
    this.db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  getSetting(key: string): string | null {
    return this.stmts.getSetting.get(key)?.value ?? null;
  }

  setSetting(key: string, value: string): void {
    this.stmts.setSetting.run(key, value);
  }

  fileStates(): Map<string, FileState> {
    const out = new Map<string, FileState>();
    for (const r of this.stmts.fileStates.iterate()) out.set(r.id, { path: r.path, size: r.size, mtimeMs: r.mtime_ms });
    return out;
  }

  putItems(items: readonly ItemWithVector[]): void {
    this.db.transaction(() => {
      for (const it of items) {
        this.stmts.put.run({
          id: it.id,
          path: it.path,
          size: it.size,
          mtime: it.mtimeMs,
          metadata: JSON.stringify(it.metadata),
          vector: Buffer.from(it.vector.buffer, it.vector.byteOffset, it.vector.byteLength),
        });
      }
      this.bump();
    })();
  }

  removeItems(ids: readonly string[]): void {
    if (ids.length === 0) return;
    this.db.transaction(() => {
      for (const id of ids) this.stmts.remove.run(id);
      this.bump();
    })();
  }

  updateMetadata(changes: ReadonlyMap<string, Metadata>): void {
    if (changes.size === 0) return;
    this.db.transaction(() => {
      for (const [id, m] of changes) this.stmts.setMetadata.run(JSON.stringify(m), id);
      this.bump();
    })();
  }

  getItem(id: string): StoredItem | null {
    const r = this.stmts.get.get(id);
    return r ? toItem(r) : null;
  }

  count(): number {
    return this.stmts.count.get()!.n;
  }

  loadAll(): { items: StoredItem[]; vectors: Float32Array; dims: number } {
    const items: StoredItem[] = [];
    const chunks: Buffer[] = [];
    let dims = 0;
    for (const r of this.stmts.all.iterate()) {
      items.push(toItem(r));
      chunks.push(r.vector);
      dims = r.vector.byteLength / 4;
    }
    const vectors = new Float32Array(items.length * dims);
    const bytes = new Uint8Array(vectors.buffer);
    chunks.forEach((c, i) => bytes.set(c, i * dims * 4));
    return { items, vectors, dims };
  }

  clearItems(): void {
    this.db.transaction(() => {
      this.db.exec('DELETE FROM items');
      this.bump();
    })();
  }

  generation(): number {
    return Number(this.getSetting('generation') ?? '0');
  }

  private bump(): void {
    this.setSetting('generation', String(this.generation() + 1));
  }

  close(): void {
    this.db.close();
  }
}

interface ItemRow {
  id: string;
  path: string;
  size: number;
  mtime_ms: number;
  metadata: string;
}

function toItem(r: ItemRow): StoredItem {
  return { id: r.id, path: r.path, size: r.size, mtimeMs: r.mtime_ms, metadata: JSON.parse(r.metadata) as Metadata };
}
