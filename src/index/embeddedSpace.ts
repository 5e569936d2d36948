import { existsSync } from 'node:fs';
import type { Metadata } from '../store/catalogStore.js';
import { ExactIndex } from './exactIndex.js';
import { DEFAULT_HNSW, HnswIndex } from './hnswIndex.js';
import { itemPredicate } from './itemFilter.js';
import type { Metric } from './metric.js';
import type { RowFilter, RowIndex } from './rowIndex.js';
import type { IdDistance, VectorFilter, VectorQuery, VectorSpace } from './vectorIndex.js';

/** Where a space's HNSW graph is kept, and what its rows are (a graph saved for another space is rebuilt). */
export interface GraphFile {
  readonly path: string;
  /** What made the vectors (a refinement's training time, a backbone's identity). */
  readonly space: string;
  /** A key per row that changes when what made the row's vector changes (rows are patched, not rebuilt). */
  readonly keys: BigUint64Array;
  readonly threads: number;
}

/**
 * The embedded implementation of the vector port: one float32 matrix in memory, rows in the catalog's order,
 * searched exactly or through a usearch HNSW graph saved beside the catalog. Declarative filters become a
 * row predicate here; ids become rows here and nowhere else.
 */
export class EmbeddedSpace implements VectorSpace {
  private readonly rowOf: Map<string, number>;
  private engine: RowIndex;
  /** The graph's file, when the graph in memory differs from it (built or patched here, not saved yet). */
  private unsaved: GraphFile | null = null;
  /** Rows whose item was deleted or replaced since this snapshot was read (src/index/liveSpace.ts): never returned. */
  private readonly hidden = new Set<number>();

  constructor(
    private readonly ids: readonly string[],
    /** Each row's metadata, for metadata filters. */
    private readonly metadata: readonly Metadata[],
    readonly exact: ExactIndex,
  ) {
    if (ids.length !== exact.size) throw new Error(`Expected ${exact.size} ids for the rows of the space but received ${ids.length}`);
    this.rowOf = new Map(ids.map((id, row) => [id, row]));
    this.engine = exact;
  }

  get kind(): 'exact' | 'hnsw' {
    return this.engine instanceof HnswIndex ? 'hnsw' : 'exact';
  }

  get dims(): number {
    return this.exact.dims;
  }

  get size(): number {
    return this.exact.size;
  }

  async count(): Promise<number> {
    return this.exact.size - this.hidden.size;
  }

  async search(vector: Float32Array, query: VectorQuery): Promise<IdDistance[]> {
    const filter = this.rowFilter(query.filter);
    return this.engine.search(vector, query.k, query.metric, filter).map((n) => ({ id: this.ids[n.row]!, distance: n.distance }));
  }

  async distances(vector: Float32Array, ids: readonly string[], metric: Metric): Promise<IdDistance[]> {
    const rows = ids.map((id) => this.rowOf.get(id)).filter((r): r is number => r !== undefined && !this.hidden.has(r));
    return this.exact.rescore(vector, rows, metric).map((n) => ({ id: this.ids[n.row]!, distance: n.distance }));
  }

  async get(id: string): Promise<Float32Array | null> {
    return this.vectorOf(id);
  }

  vectorOf(id: string): Float32Array | null {
    const row = this.rowOf.get(id);
    return row === undefined || this.hidden.has(row) ? null : this.exact.vectors.subarray(row * this.dims, (row + 1) * this.dims);
  }

  /** Whether the snapshot holds the item and it was not hidden since. */
  holds(id: string): boolean {
    const row = this.rowOf.get(id);
    return row !== undefined && !this.hidden.has(row);
  }

  /** Hides an item of the snapshot (deleted, or replaced by a newer version kept elsewhere); its row stays, unseen. */
  hide(id: string): void {
    const row = this.rowOf.get(id);
    if (row !== undefined) this.hidden.add(row);
  }

  /**
   * Opens the space's saved HNSW graph, patched in memory to the catalog's rows, or builds one in memory (with
   * `buildIfMissing` false, only a graph already saved is opened). Nothing is written: only writers (`fashion index`,
   * `fashion train`) call `saveGraph`, so a reader (the server, a search) never rewrites the files beside the catalog.
   * Searches then go through the graph.
   */
  useGraph(file: GraphFile, buildIfMissing: boolean): boolean {
    if (this.exact.size === 0 || (!buildIfMissing && !existsSync(file.path))) return false;
    const { index, changed } = HnswIndex.open(file.path, file.space, this.exact, file.keys, { ...DEFAULT_HNSW, threads: file.threads });
    this.unsaved = changed ? file : null;
    this.engine = index;
    return true;
  }

  /** Saves the graph in use when it differs from its file (writers only, holding the catalog's writer lock). */
  saveGraph(): void {
    if (!this.unsaved || !(this.engine instanceof HnswIndex)) return;
    this.engine.save(this.unsaved.path, this.unsaved.space);
    this.unsaved = null;
  }

  private rowFilter(filter: VectorFilter | undefined): RowFilter | undefined {
    const item = itemPredicate(filter);
    const hidden = this.hidden.size > 0 ? this.hidden : null;
    if (!item && !hidden) return undefined;
    return (r) => !hidden?.has(r) && (!item || item(this.ids[r]!, this.metadata[r]!));
  }

}
