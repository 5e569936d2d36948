import { join } from 'node:path';
import { realpathSync } from 'node:fs';
import { checkIdentity, SETTING_IMAGES_ROOT, storedIdentity, modelMismatch } from '../catalog/ingest.js';
import { openCatalogStore } from '../catalog/openCatalog.js';
import { isInside } from '../catalog/scanImages.js';
import type { Config } from '../config.js';
import { Embedder, identityKey, type ModelIdentity } from '../embedding/embedder.js';
import { FashionError, invalid } from '../errors.js';
import { ExactIndex } from '../index/exactIndex.js';
import { scoreOf, type Metric, type Neighbor, type VectorIndex } from '../index/vectorIndex.js';
import type { CatalogStore, Metadata, StoredItem } from '../store/catalogStore.js';
import { hasFilters, matchesFilters, type Filters } from './filters.js';
import { QueryBatcher } from './queryBatcher.js';

export interface SearchOptions {
  readonly k?: number;
  readonly metric?: Metric;
  readonly filters?: Filters;
}

export interface SearchHit {
  readonly id: string;
  /** Similarity in [0, 1], higher is closer (cosine similarity, or 1/(1+d) for euclidean). */
  readonly score: number;
  readonly distance: number;
  readonly metadata: Metadata;
}

export interface SearchResult {
  readonly hits: SearchHit[];
  readonly metric: Metric;
  readonly k: number;
  readonly timings: { decodeMs?: number; embedMs?: number; searchMs: number; batchSize?: number };
}

export interface CatalogInfo {
  readonly items: number;
  readonly dims: number;
  readonly model: ModelIdentity | null;
  readonly imagesRoot: string | null;
  readonly dataDir: string;
  readonly metadataColumns: string[];
}

const FACET_FIELDS = ['gender', 'masterCategory', 'subCategory', 'articleType', 'baseColour', 'season', 'usage'] as const;

/** Search over one catalog: photo queries, more-like-this, items and facets. The model loads on first photo query. */
export class Recommender {
  private embedder: Embedder | null = null;
  private embedderLoading: Promise<Embedder> | null = null;
  private batcher: QueryBatcher | null = null;
  private items: StoredItem[] = [];
  private rowOf = new Map<string, number>();
  private index: VectorIndex = new ExactIndex(new Float32Array(0), 1);
  private imagesRoot: string | null = null;

  private constructor(readonly config: Config, readonly store: CatalogStore) {
    this.reload();
  }

  static open(config: Config, options: { embedder?: Embedder } = {}): Recommender {
    const r = new Recommender(config, openCatalogStore(config.dataDir));
    if (options.embedder) r.useEmbedder(options.embedder);
    return r;
  }

  /** Re-reads the store (after an ingest). */
  reload(): void {
    const { items, vectors, dims } = this.store.loadAll();
    this.items = items;
    this.rowOf = new Map(items.map((it, i) => [it.id, i]));
    this.index = new ExactIndex(vectors, Math.max(dims, 1));
    const root = this.store.getSetting(SETTING_IMAGES_ROOT);
    this.imagesRoot = root;
  }

  info(): CatalogInfo {
    return {
      items: this.items.length,
      dims: this.index.dims,
      model: storedIdentity(this.store),
      imagesRoot: this.imagesRoot,
      dataDir: this.config.dataDir,
      metadataColumns: JSON.parse(this.store.getSetting('metadataColumns') ?? '[]') as string[],
    };
  }

  private useEmbedder(e: Embedder): void {
    const stored = storedIdentity(this.store);
    if (stored && identityKey(stored) !== identityKey(e.identity)) throw modelMismatch(stored, e.identity);
    this.embedder = e;
    this.batcher = new QueryBatcher(e, { maxBytes: this.config.maxUploadBytes, maxPixels: this.config.maxPixels });
  }

  /** Loads the catalog's model (once); later photo queries reuse it, so there is no cold start after idle. */
  async loadModel(): Promise<Embedder> {
    if (this.embedder) return this.embedder;
    this.embedderLoading ??= (async () => {
      const stored = storedIdentity(this.store);
      const e = await Embedder.load({
        model: this.config.model,
        pooling: stored?.pooling ?? this.config.pooling,
        cutAt: this.config.cutAt,
        preprocess: stored?.preprocess ?? this.config.preprocess,
        threads: this.config.threads,
        cacheDir: this.config.cacheDir,
      });
      checkIdentity(this.store, e.identity, false);
      this.useEmbedder(e);
      return e;
    })();
    try {
      return await this.embedderLoading;
    } catch (err) {
      this.embedderLoading = null;
      throw err;
    }
  }

  /** The photo's nearest catalog items. */
  async searchImage(bytes: Uint8Array, options: SearchOptions = {}, label = 'the query photo'): Promise<SearchResult> {
    this.requireItems();
    await this.loadModel();
    const q = await this.batcher!.embed(bytes, label);
    const result = this.searchVector(q.vector, options);
    return { ...result, timings: { decodeMs: q.decodeMs, embedMs: q.embedMs, searchMs: result.timings.searchMs, batchSize: q.batchSize } };
  }

  /** More like this: the item's nearest neighbours, without the item itself. */
  similar(id: string, options: SearchOptions = {}): SearchResult {
    const row = this.requireRow(id);
    const vector = this.vectorOf(row);
    return this.searchVector(vector, options, (r) => r !== row);
  }

  searchVector(vector: Float32Array, options: SearchOptions = {}, extraFilter?: (row: number) => boolean): SearchResult {
    const k = options.k ?? this.config.k;
    if (!Number.isInteger(k) || k < 1 || k > 1000) throw invalid('k', 'an integer from 1 to 1000', k);
    const metric = options.metric ?? this.config.metric;
    if (metric !== 'cosine' && metric !== 'euclidean') throw invalid('metric', 'cosine or euclidean', metric);
    const filters = options.filters;
    const useFilters = hasFilters(filters);
    const filter =
      useFilters || extraFilter
        ? (r: number) => (!extraFilter || extraFilter(r)) && (!useFilters || matchesFilters(this.items[r]!.metadata, filters!))
        : undefined;
    const t0 = performance.now();
    const neighbors = this.index.search(vector, k, metric, filter);
    const searchMs = performance.now() - t0;
    return { hits: neighbors.map((n) => this.hit(n, metric)), metric, k, timings: { searchMs } };
  }

  item(id: string): StoredItem {
    return this.items[this.requireRow(id)]!;
  }

  hasItem(id: string): boolean {
    return this.rowOf.has(id);
  }

  allItems(): readonly StoredItem[] {
    return this.items;
  }

  vectorOf(row: number): Float32Array {
    const d = this.index.dims;
    return (this.index as ExactIndex).vectors.subarray(row * d, (row + 1) * d);
  }

  rowOfId(id: string): number | undefined {
    return this.rowOf.get(id);
  }

  /** Distinct values of the common metadata fields, with counts, for the page's filters. */
  facets(): Record<string, Array<{ value: string; count: number }>> {
    const out: Record<string, Array<{ value: string; count: number }>> = {};
    for (const f of FACET_FIELDS) {
      const counts = new Map<string, number>();
      for (const it of this.items) {
        const v = it.metadata[f];
        if (v) counts.set(v, (counts.get(v) ?? 0) + 1);
      }
      if (counts.size > 0) out[f] = [...counts].map(([value, count]) => ({ value, count })).sort((a, b) => b.count - a.count || a.value.localeCompare(b.value));
    }
    return out;
  }

  /** Absolute path of an item's photo, guaranteed to lie inside the catalog's image folder. */
  imagePath(id: string): string {
    const it = this.item(id);
    if (!this.imagesRoot) throw new FashionError('catalog/not-found', 'Expected the catalog to know its image folder but it does not; re-run `fashion index`');
    const full = join(this.imagesRoot, it.path);
    let real: string;
    try {
      real = realpathSync(full);
    } catch {
      throw new FashionError('input/not-found', `Expected the photo of item ${id} at ${full} but it is gone; re-run \`fashion index\``);
    }
    if (!isInside(realpathSync(this.imagesRoot), real)) {
      throw new FashionError('input/path-escape', `Refusing to serve ${it.path}: it resolves outside the catalog folder`);
    }
    return real;
  }

  async close(): Promise<void> {
    this.store.close();
    await this.embedder?.close();
  }

  private hit(n: Neighbor, metric: Metric): SearchHit {
    const it = this.items[n.row]!;
    return { id: it.id, score: round(scoreOf(n.distance, metric)), distance: round(n.distance), metadata: it.metadata };
  }

  private requireRow(id: string): number {
    const row = this.rowOf.get(id);
    if (row === undefined) throw new FashionError('item/not-found', `Expected an item with id ${JSON.stringify(id)} in the catalog but there is none`);
    return row;
  }

  private requireItems(): void {
    if (this.items.length === 0) throw new FashionError('catalog/empty', 'Expected a catalog with items but it is empty; run `fashion index <images-dir>` first');
  }
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
