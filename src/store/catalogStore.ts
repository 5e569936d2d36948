/** Product metadata: every column of the shop's CSV, by name (gender, articleType, baseColour, ...). */
export type Metadata = Readonly<Record<string, string>>;

export interface FileState {
  /** Path of the photo relative to the catalog's image folder. */
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
}

export interface StoredItem extends FileState {
  readonly id: string;
  readonly metadata: Metadata;
}

export interface ItemWithVector extends StoredItem {
  readonly vector: Float32Array;
}

/**
 * Everything the product keeps about a catalog: items, their vectors and metadata, and a few settings.
 * The embedded SQLite store is the default; a server-backed store implements the same interface.
 */
export interface CatalogStore {
  getSetting(key: string): string | null;
  setSetting(key: string, value: string): void;
  /** Path, size and mtime of every item, for the incremental diff of an ingest. */
  fileStates(): Map<string, FileState>;
  /** Writes a batch of items with their vectors in one transaction (all or nothing). */
  putItems(items: readonly ItemWithVector[]): void;
  removeItems(ids: readonly string[]): void;
  updateMetadata(changes: ReadonlyMap<string, Metadata>): void;
  getItem(id: string): StoredItem | null;
  count(): number;
  /** All items and their vectors, in one stable order (by id). */
  loadAll(): { items: StoredItem[]; vectors: Float32Array; dims: number };
  /** Drops every vector (when the catalog is re-embedded with another model). */
  clearItems(): void;
  /** Bumped on every write, so that derived data (indexes, projections) knows when it is stale. */
  generation(): number;
  close(): void;
}
