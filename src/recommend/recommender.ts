import { join } from 'node:path';
import { existsSync, realpathSync } from 'node:fs';
import { checkIdentity, SETTING_IMAGES_ROOT, storedIdentity, modelMismatch } from '../catalog/ingest.js';
import { openCatalogStore } from '../catalog/openCatalog.js';
import { isInside } from '../catalog/scanImages.js';
import { embedderOptions, type Config } from '../config.js';
import { Embedder, identityKey, type ModelIdentity } from '../embedding/embedder.js';
import { FashionError, invalid } from '../errors.js';
import { ExactIndex } from '../index/exactIndex.js';
import { scoreOf, type Metric, type Neighbor, type VectorIndex } from '../index/vectorIndex.js';
import type { CatalogStore, Metadata, StoredItem } from '../store/catalogStore.js';
import { hasFilters, matchesFilters, type Filters } from '../search/filters.js';
import { QueryBatcher } from './queryBatcher.js';
import { putFirst, sameProductPin } from './sameProduct.js';
import { NEAR_DUPLICATE_THRESHOLD, exactDuplicateGroups, groupPairs, nearDuplicatePairs, type DuplicateGroup } from './duplicates.js';
import { MATCH_THRESHOLD, SAME_PRODUCT_SIMILARITY, decideMatch, type MatchResult, type MatchSpace } from './match.js';
import type { DecodedRgb } from '../imaging/rgb.js';
import { FtsTextSearch } from '../text/ftsIndex.js';
import { outfitForItem, outfitForVector, type OutfitResult } from './outfit.js';
import { TextEngine, type TextEngineOptions, type TextQueryOptions, type TextSearchResult } from '../text/textQuery.js';
import type { TextSearch } from '../text/textSearch.js';
import { loadCatalogRefinement } from '../catalog/refineCatalog.js';
import { createHash } from 'node:crypto';
import { DEFAULT_HNSW, HnswIndex } from '../index/hnswIndex.js';
import type { Prediction, RefineModel } from '../refine/refineModel.js';
import type { EmbeddedQuery } from './queryBatcher.js';
import { voteLabels } from '../text/autoLabels.js';

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
  /**
   * Set on a photo search's first hit when it was moved first as the item that looks most like the photo
   * (src/recommend/sameProduct.ts). Often the photographed product itself, but also set for a look-alike
   * when the product is not listed: not a claim of identity (that is `fashion match`).
   */
  readonly lookAlike?: boolean;
}

export interface SearchResult {
  readonly hits: SearchHit[];
  readonly metric: Metric;
  readonly k: number;
  readonly timings: { decodeMs?: number; embedMs?: number; searchMs: number; batchSize?: number };
  /** For a photo query: its predicted articleType, baseColour and gender (auto-categorisation). */
  readonly predicted?: Record<string, Prediction>;
  /** For a photo query on a catalog that isolates: the product as the model saw it, to show beside the photo. */
  readonly isolated?: IsolatedView;
}

export interface IsolatedView {
  readonly image: DecodedRgb;
  readonly method: string;
}

export interface CatalogInfo {
  readonly items: number;
  readonly dims: number;
  readonly model: ModelIdentity | null;
  readonly imagesRoot: string | null;
  readonly dataDir: string;
  readonly metadataColumns: string[];
  readonly index: 'exact' | 'hnsw';
  /** The learned refinement searched with, or null when search uses the backbone vectors. */
  readonly refinement: { trainedAt: string; dims: number; report: Record<string, unknown> } | null;
  /** Why the refinement is not used, when a catalog has labels but search runs on backbone vectors. */
  readonly refinementNote?: string;
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
  /** The backbone vectors as stored, for matching and duplicates (instance-level similarity). */
  private rawStore: { vectors: Float32Array; dims: number } = { vectors: new Float32Array(0), dims: 1 };
  private rawIndex: ExactIndex | null = null;
  private nearDuplicateCache: { items: readonly StoredItem[]; threshold: number; near: DuplicateGroup[] } | null = null;
  private text: TextEngine | null = null;
  private textIndex: TextSearch | null = null;
  private refine: RefineModel | null = null;
  private annIndex: HnswIndex | null = null;
  /** The searched vectors, exactly (the HNSW graph, when used, sits over the same rows). */
  private exactIndex: ExactIndex = new ExactIndex(new Float32Array(0), 1);
  /** The "same product" parts of the searched vectors on their own (src/recommend/sameProduct.ts), when the refinement has one. */
  private sameProductIndex: VectorIndex | null = null;
  private refineNote: string | undefined;
  /** Colour evidence of every item (rows as items), when stored. */
  private colours: Float32Array | null = null;

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
    this.rawStore = { vectors, dims: Math.max(dims, 1) };
    this.rawIndex = null;
    const ids = items.map((it) => it.id);
    this.colours = this.store.loadFeatures('colour', ids);
    const refinement = loadCatalogRefinement(this.store, this.config.dataDir, ids);
    this.refine = refinement.model;
    this.refineNote = refinement.note;
    if (refinement.model && refinement.vectors) this.index = new ExactIndex(refinement.vectors, refinement.model.dims);
    else this.refine = null;
    this.exactIndex = this.index as ExactIndex;
    this.sameProductIndex = this.sameProductVectors();
    this.annIndex = null;
    if (this.wantsAnn() && existsSync(this.annFile())) this.openAnn(false);
    const root = this.store.getSetting(SETTING_IMAGES_ROOT);
    this.imagesRoot = root;
    this.text = null;
  }

  info(): CatalogInfo {
    return {
      items: this.items.length,
      dims: this.index.dims,
      model: storedIdentity(this.store),
      imagesRoot: this.imagesRoot,
      dataDir: this.config.dataDir,
      metadataColumns: JSON.parse(this.store.getSetting('metadataColumns') ?? '[]') as string[],
      index: this.annIndex ? 'hnsw' : 'exact',
      refinement: this.refine ? { trainedAt: this.refine.header.trainedAt, dims: this.refine.dims, report: this.refine.header.report } : null,
      ...(this.refineNote ? { refinementNote: this.refineNote } : {}),
    };
  }

  private wantsAnn(): boolean {
    return this.config.index === 'hnsw' || (this.config.index === 'auto' && this.items.length >= this.config.annThreshold);
  }

  private annFile(space: 'search' | 'sameProduct' = 'search'): string {
    return join(this.config.dataDir, space === 'sameProduct' ? 'ann-same-product.usearch' : `ann-${this.refine ? 'refined' : 'raw'}.usearch`);
  }

  /** The same-product parts of the searched vectors, packed (each is unit length times its weight). */
  private sameProductVectors(): ExactIndex | null {
    const part = this.refine?.instancePart();
    if (!part) return null;
    const d = this.exactIndex.dims;
    const n = this.exactIndex.size;
    const packed = new Float32Array(n * part.dims);
    for (let r = 0; r < n; r++) packed.set(this.exactIndex.vectors.subarray(r * d + part.offset, r * d + part.offset + part.dims), r * part.dims);
    return new ExactIndex(packed, part.dims);
  }

  /** What the searched vectors are: a saved graph made for another space is rebuilt. */
  private spaceId(): string {
    const identity = storedIdentity(this.store);
    return this.refine ? `refined:${this.refine.header.trainedAt}` : `raw:${createHash('sha256').update(identity ? identityKey(identity) : '').digest('hex').slice(0, 16)}`;
  }

  /** Opens (and updates) or builds the HNSW graph over the searched vectors, and saves it beside the catalog. */
  private openAnn(buildIfMissing: boolean): void {
    if (!buildIfMissing && !existsSync(this.annFile())) return;
    const exact = this.exactIndex;
    if (exact.size === 0) return;
    const keys = BigUint64Array.from(this.items.map((it) => itemKey(it)));
    const options = { ...DEFAULT_HNSW, threads: this.config.threads };
    const { index, changed } = HnswIndex.open(this.annFile(), this.spaceId(), exact, keys, options);
    if (changed) index.save(this.annFile(), this.spaceId());
    this.annIndex = index;
    this.index = index;
    if (this.sameProductIndex instanceof ExactIndex) {
      const space = `same-product:${this.spaceId()}`;
      const same = HnswIndex.open(this.annFile('sameProduct'), space, this.sameProductIndex, keys, options);
      if (same.changed) same.index.save(this.annFile('sameProduct'), space);
      this.sameProductIndex = same.index;
    }
  }

  /**
   * Makes search ready at full speed: on catalogs of `annThreshold` items or more (or with index=hnsw),
   * builds or updates the approximate index. `fashion index` and the server call it once; later opens load it.
   */
  prepareIndex(): { kind: 'exact' | 'hnsw'; items: number } {
    if (this.wantsAnn() && !this.annIndex) this.openAnn(true);
    return { kind: this.annIndex ? 'hnsw' : 'exact', items: this.items.length };
  }

  /** A query photo's vector in the space the catalog is searched in (refined when a refinement exists). */
  searchSpaceVector(q: Pick<EmbeddedQuery, 'vector' | 'colour'>): Float32Array {
    return this.refine ? this.refine.queryVector(q.vector, q.colour) : q.vector;
  }

  /**
   * A catalog item's vector as if it were a query photo (predictions, not its labels): what a
   * leave-one-out evaluation must use, since the item's own labels would give its kind away.
   */
  queryVectorOfRow(row: number): Float32Array {
    const d = this.rawStore.dims;
    const raw = this.rawStore.vectors.subarray(row * d, (row + 1) * d);
    if (!this.refine || !this.colours) return raw;
    const c = this.colours.length / Math.max(1, this.items.length);
    return this.refine.queryVector(raw, this.colours.subarray(row * c, (row + 1) * c));
  }

  /** Auto-categorisation of a photo: predicted articleType, baseColour and gender with confidences. */
  async categorizeImage(bytes: Uint8Array, label = 'the query photo'): Promise<Record<string, Prediction>> {
    this.requireItems();
    await this.loadModel();
    const q = this.bestReading(await this.batcher!.embed(bytes, label));
    return this.categorizeFeatures(q);
  }

  categorizeFeatures(q: Pick<EmbeddedQuery, 'vector' | 'colour'>): Record<string, Prediction> {
    if (this.refine) return this.refine.categorize(q.vector, q.colour);
    return this.neighbourVote(this.index.search(q.vector, 10, 'cosine').map((n) => n.row));
  }

  /** Fallback categorisation without a trained refinement: the labels of the 10 nearest items, by vote. */
  private neighbourVote(rows: number[]): Record<string, Prediction> {
    return voteLabels({}, rows.map((r) => this.items[r]!.metadata)) as Record<string, Prediction>;
  }

  private useEmbedder(e: Embedder): void {
    const stored = storedIdentity(this.store);
    if (stored && identityKey(stored) !== identityKey(e.identity)) throw modelMismatch(stored, e.identity);
    this.embedder = e;
    this.batcher = new QueryBatcher(e, { maxBytes: this.config.maxUploadBytes, maxPixels: this.config.maxPixels }, () => this.sameProductIndex !== null);
  }

  /** Loads the catalog's model (once); later photo queries reuse it, so there is no cold start after idle. */
  async loadModel(): Promise<Embedder> {
    if (this.embedder) return this.embedder;
    this.embedderLoading ??= (async () => {
      const stored = storedIdentity(this.store);
      const e = await Embedder.load(embedderOptions(this.config, stored));
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
    const q = this.bestReading(await this.batcher!.embed(bytes, label));
    const analysed = this.refine?.analyse(q.vector, q.colour);
    const result = this.searchVector(analysed?.vector ?? q.vector, options, { sameProduct: true });
    const predicted = analysed?.predicted ?? this.categorizeFeatures(q);
    return { ...result, timings: { decodeMs: q.decodeMs, embedMs: q.embedMs, searchMs: result.timings.searchMs, batchSize: q.batchSize }, predicted, ...isolatedOf(q) };
  }

  /** More like this: the item's nearest neighbours, without the item itself. */
  similar(id: string, options: SearchOptions = {}): SearchResult {
    const row = this.requireRow(id);
    const vector = this.vectorOf(row);
    return this.searchVector(vector, options, { only: (r) => r !== row });
  }

  /**
   * Nearest items to a vector of the searched space. `only`: rows allowed besides the filters; `sameProduct`: a photo
   * query, whose very product (when listed) goes first (src/recommend/sameProduct.ts).
   */
  searchVector(vector: Float32Array, options: SearchOptions = {}, how: { only?: (row: number) => boolean; sameProduct?: boolean } = {}): SearchResult {
    const extraFilter = how.only;
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
    let neighbors = this.index.search(vector, k, metric, filter);
    let pinned: number | null = null;
    const part = how.sameProduct ? this.refine?.instancePart() : null;
    if (part && this.sameProductIndex) {
      const nearest = this.sameProductIndex.search(vector.subarray(part.offset, part.offset + part.dims), 2, 'cosine', filter);
      pinned = sameProductPin(nearest, part.pinGap);
      if (pinned !== null) neighbors = putFirst(neighbors, this.exactIndex.rescore(vector, [pinned], metric)[0]!);
    }
    const searchMs = performance.now() - t0;
    const hits = neighbors.slice(0, k).map((n) => (n.row === pinned ? { ...this.hit(n, metric), lookAlike: true } : this.hit(n, metric)));
    return { hits, metric, k, timings: { searchMs } };
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
    return this.exactIndex.vectors.subarray(row * d, (row + 1) * d);
  }

  rowOfId(id: string): number | undefined {
    return this.rowOf.get(id);
  }

  /** A photo's backbone vector and colour evidence, as the catalog's are stored. */
  async embedFeatures(bytes: Uint8Array, label = 'the query photo'): Promise<Pick<EmbeddedQuery, 'vector' | 'colour'>> {
    await this.loadModel();
    const q = this.bestReading(await this.batcher!.embed(bytes, label));
    return { vector: q.vector, colour: q.colour };
  }

  /** Second-hand matching: the catalog item the photo shows, or no match when the confidence is below the threshold. */
  async matchImage(bytes: Uint8Array, options: MatchOptions = {}, label = 'the query photo'): Promise<MatchResult & { isolated?: IsolatedView }> {
    this.requireItems();
    await this.loadModel();
    const q = this.bestReading(await this.batcher!.embed(bytes, label));
    return { ...this.matchFeatures(q, options), ...isolatedOf(q) };
  }

  /**
   * Of a photo's readings (isolated; balanced: a light-grey backdrop read as a white one under other light; as it is, backdrop kept:
   * src/imaging/decode.ts), the one whose nearest item in the same-product space is nearest: the reading under which the catalog
   * explains the photo best. Chosen on copies of training items that no reported figure uses (docs/relevance.md).
   */
  private bestReading(q: EmbeddedQuery): EmbeddedQuery {
    const alternatives = q.alternatives ?? [];
    let bestSimilarity = alternatives.length > 0 ? this.nearestSameProduct(q) : null;
    if (bestSimilarity === null) return q;
    let best = q;
    for (const alt of alternatives) {
      const similarity = this.nearestSameProduct(alt);
      if (similarity !== null && similarity > bestSimilarity) {
        best = { ...q, vector: alt.vector, colour: alt.colour, photo: alt.photo };
        bestSimilarity = similarity;
      }
    }
    return best;
  }

  /** Cosine of the item nearest to a photo in the same-product space, or null without one. */
  private nearestSameProduct(f: Pick<EmbeddedQuery, 'vector' | 'colour'>): number | null {
    const nearest = this.sameProductNeighbors(f, 1)?.[0];
    return nearest ? 1 - nearest.distance : null;
  }

  /** The k items nearest to a photo in the same-product space (cosine), or null when the catalog has none. */
  private sameProductNeighbors(f: Pick<EmbeddedQuery, 'vector' | 'colour'>, k: number): Neighbor[] | null {
    const v = this.sameProductIndex ? this.refine?.sameProductVector(f.vector, f.colour) : null;
    return v ? this.sameProductIndex!.search(v, k, 'cosine') : null;
  }

  /** Where `fashion match` measures similarity in this catalog, and its default threshold. */
  matchSettings(): { space: MatchSpace; threshold: number } {
    const part = this.refine?.instancePart();
    return part && this.sameProductIndex ? { space: 'same-product', threshold: part.matchGap } : { space: 'backbone', threshold: MATCH_THRESHOLD };
  }

  /** Matching in the refinement's same-product space when the catalog has one (src/recommend/match.ts), else on backbone vectors. */
  matchFeatures(q: Pick<EmbeddedQuery, 'vector' | 'colour'>, options: MatchOptions = {}): MatchResult {
    const settings = this.matchSettings();
    if (settings.space === 'backbone') return this.matchVector(q.vector, options);
    const { k, threshold } = matchOptions(options, settings.threshold);
    const neighbors = this.sameProductNeighbors(q, Math.max(k, 2))!;
    const hits = neighbors.slice(0, k).map((n) => this.hit(n, 'cosine'));
    return decideMatch(hits, neighbors[1] ? scoreOf(neighbors[1].distance, 'cosine') : null, threshold, 'same-product');
  }

  /** Matching on the stored backbone vectors (cosine), whatever projection relevance search may use. */
  matchVector(vector: Float32Array, options: MatchOptions = {}): MatchResult {
    const { k, threshold } = matchOptions(options, MATCH_THRESHOLD);
    this.rawIndex ??= new ExactIndex(this.rawVectors(), this.rawDims());
    const neighbors = this.rawIndex.search(vector, Math.max(k, 10), 'cosine');
    // The rival is the first candidate that is not the best photo listed again under another id.
    const best = neighbors[0];
    const rival = best ? neighbors.slice(1).find((n) => cosineOf(this.rawVectorOf(best.row), this.rawVectorOf(n.row)) < SAME_PRODUCT_SIMILARITY) : undefined;
    const hits = neighbors.slice(0, k).map((n) => this.hit(n, 'cosine'));
    return decideMatch(hits, rival ? scoreOf(rival.distance, 'cosine') : null, threshold);
  }

  /** Exact duplicates (same decoded pixels) and near-duplicate groups (backbone cosine >= threshold). */
  duplicates(options: { threshold?: number; near?: boolean } = {}): { exact: DuplicateGroup[]; near: DuplicateGroup[]; threshold: number } {
    const threshold = options.threshold ?? NEAR_DUPLICATE_THRESHOLD;
    if (!(threshold > 0 && threshold <= 1)) throw invalid('threshold', 'a number above 0, at most 1', threshold);
    const exact = exactDuplicateGroups(this.items);
    if (options.near === false) return { exact, near: [], threshold };
    // The near-duplicate search costs a minute on a 40,000-item catalog: kept until the catalog is reloaded.
    const cached = this.nearDuplicateCache;
    if (cached && cached.items === this.items && cached.threshold === threshold) return { exact, near: cached.near, threshold };
    const pairs = nearDuplicatePairs(this.rawVectors(), this.rawDims(), { threshold });
    const near = groupPairs(this.items.length, pairs).map((g) => ({
      kind: 'near' as const,
      ids: g.rows.map((r) => this.items[r]!.id).sort(),
      similarity: round(g.similarity),
    }));
    this.nearDuplicateCache = { items: this.items, threshold, near };
    return { exact, near, threshold };
  }

  /** A catalog item's backbone vector as stored (not the refined one search may use). */
  rawVectorOf(row: number): Float32Array {
    const d = this.rawStore.dims;
    return this.rawStore.vectors.subarray(row * d, (row + 1) * d);
  }

  private rawVectors(): Float32Array {
    return this.rawStore.vectors;
  }

  private rawDims(): number {
    return this.rawStore.dims;
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

  /**
   * Words and photos (src/text): the text engine over this catalog, built on first use. With options, a
   * separate engine, not kept (evaluation's, whose name model must not learn from the queries' items).
   */
  textEngine(options?: TextEngineOptions): TextEngine {
    this.textIndex ??= this.store.textSearch?.() ?? FtsTextSearch.inMemory(this.items);
    if (options) return new TextEngine(this, this.textIndex, options);
    this.text ??= new TextEngine(this, this.textIndex);
    return this.text;
  }

  /** Words only ("red floral dress"): items that satisfy the words, ranked by the text index. */
  searchText(text: string, options: TextQueryOptions = {}): TextSearchResult {
    this.requireItems();
    return this.textEngine().search(text, options);
  }

  /** A photo plus words ("like this, but in blue"): visual similarity among the items that satisfy the words. */
  async searchImageText(bytes: Uint8Array, text: string, options: TextQueryOptions = {}, label = 'the query photo'): Promise<TextSearchResult> {
    this.requireItems();
    const engine = this.textEngine();
    engine.parse(text);
    await this.loadModel();
    const q = this.bestReading(await this.batcher!.embed(bytes, label));
    const res = engine.searchWithVector(this.searchSpaceVector(q), text, options);
    return { ...res, timings: { decodeMs: q.decodeMs, embedMs: q.embedMs, searchMs: res.timings.searchMs, batchSize: q.batchSize } };
  }

  /** A catalog item plus words: more like this item among those that satisfy the words (the item left out). */
  similarText(id: string, text: string, options: TextQueryOptions = {}): TextSearchResult {
    const row = this.requireRow(id);
    return this.textEngine().searchWithVector(this.vectorOf(row), text, options, row);
  }

  /** Complete the look for a catalog item (src/recommend/outfit.ts, docs/outfits.md). */
  outfit(id: string): OutfitResult {
    this.requireRow(id);
    return outfitForItem(this, id);
  }

  /** Complete the look for a photo: its labels are predicted from its nearest catalog items. */
  async outfitImage(bytes: Uint8Array, label = 'the query photo'): Promise<OutfitResult> {
    this.requireItems();
    await this.loadModel();
    const q = this.bestReading(await this.batcher!.embed(bytes, label));
    return outfitForVector(this, q.vector);
  }

  async close(): Promise<void> {
    this.textIndex?.close?.();
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

export interface MatchOptions {
  /** Margin needed for a match (default: the catalog's). */
  readonly threshold?: number;
  /** Candidates returned. */
  readonly candidates?: number;
}

function matchOptions(options: MatchOptions, defaultThreshold: number): { k: number; threshold: number } {
  const k = options.candidates ?? 3;
  if (!Number.isInteger(k) || k < 1 || k > 100) throw invalid('candidates', 'an integer from 1 to 100', k);
  const threshold = options.threshold ?? defaultThreshold;
  if (!(threshold >= 0 && threshold <= 1)) throw invalid('threshold', 'a margin from 0 to 1', threshold);
  return { k, threshold };
}

/** A stable key for an item's vector: it changes when the photo or the labels (label-aware vectors) change. */
function itemKey(it: StoredItem): bigint {
  const h = createHash('sha256').update(`${it.id}|${it.size}|${it.mtimeMs}|${JSON.stringify(it.metadata)}`).digest();
  return h.readBigUInt64BE(0);
}

function cosineOf(a: Float32Array, b: Float32Array): number {
  let d = 0;
  let na = 0;
  let nb = 0;
  for (let j = 0; j < a.length; j++) {
    d += a[j]! * b[j]!;
    na += a[j]! * a[j]!;
    nb += b[j]! * b[j]!;
  }
  return d / (Math.sqrt(na * nb) || 1);
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

/** The product as the model saw it, for a photo embedded by a catalog that isolates (shown beside the query). */
function isolatedOf(q: EmbeddedQuery): { isolated?: IsolatedView } {
  return q.photo.isolation ? { isolated: { image: q.photo.product, method: q.photo.isolation } } : {};
}
