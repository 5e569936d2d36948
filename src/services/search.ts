import { invalid } from '../errors.js';
import type { Metric } from '../index/metric.js';
import { scoreOf, type IdDistance, type VectorFilter, type VectorSpace } from '../index/vectorIndex.js';
import { MAX_K } from '../query/query.js';
import { RERANK_BETA, RERANK_DEPTH, rerankByBackbone } from '../search/backboneRerank.js';
import { neighbourKindShares } from '../search/kindPrior.js';
import { putFirst, sameProductPin } from '../search/sameProduct.js';
import { placeSlots, type SlotRule } from '../search/sameProductSlots.js';
import type { SearchHit, SearchOptions, SearchResult, VectorSearch } from '../search/types.js';
import type { CatalogService } from './catalog.js';

/** The largest candidate list an internal search asks for (an outfit ranks up to this many eligible items). */
export const MAX_CANDIDATES = 1000;

export interface SearchSpaces {
  /** The searched vectors (refined, or backbone without a refinement). */
  readonly search: VectorSpace;
  /** Their same-product parts, when the refinement has one. */
  readonly sameProduct: VectorSpace | null;
  /** The backbone vectors, when the searched space is a refinement of them: a photo's candidates are re-ranked there. */
  readonly backbone?: VectorSpace | null;
}

export interface SearchDefaults {
  readonly k: number;
  readonly metric: Metric;
  /** How far the nearest item in the same-product space must lead the next to be put first (null: never). */
  readonly pinGap: number | null;
}

/**
 * Nearest catalog items to a vector of the searched space, with filters, and for a photo the item that is most
 * likely the photographed product put first. Also chooses between a photo's readings. Knows vectors and ids
 * (through the vector port) and the catalog's metadata; nothing about models or photos.
 */
export class SearchService implements VectorSearch {
  constructor(
    private readonly catalog: CatalogService,
    readonly spaces: SearchSpaces,
    private readonly defaults: SearchDefaults,
  ) {}

  /** Checks k and the metric as every transport's schema does, for callers inside the process. */
  options(options: SearchOptions, maxK = MAX_K): { k: number; metric: Metric } {
    const k = options.k ?? this.defaults.k;
    if (!Number.isInteger(k) || k < 1 || k > maxK) throw invalid('k', `an integer from 1 to ${maxK}`, k);
    const metric = options.metric ?? this.defaults.metric;
    if (metric !== 'cosine' && metric !== 'euclidean') throw invalid('metric', 'cosine or euclidean', metric);
    return { k, metric };
  }

  /**
   * Nearest items to `vector`. With `sameProduct` (a photo's same-product vector), the item nearest in that space
   * goes first when it leads the next one by the pin gap (src/search/sameProduct.ts). With `backbone` (the photo's backbone
   * vector) on a refined catalog searched by cosine, the refined nearest RERANK_DEPTH items are ordered again by refined +
   * RERANK_BETA x backbone similarity (src/search/backboneRerank.ts) before the first k are kept. With `slots` too (the
   * caller decides for which photos), the same-product space's nearest items are then given places on the first screen
   * (src/search/sameProductSlots.ts).
   */
  async nearest(
    vector: Float32Array,
    options: { readonly k: number; readonly metric?: Metric; readonly filter?: VectorFilter; readonly sameProduct?: Float32Array | null; readonly backbone?: Float32Array | null; readonly slots?: SlotRule | null; readonly includeOutOfStock?: boolean },
  ): Promise<SearchResult> {
    const { k, metric } = this.options(options, MAX_CANDIDATES);
    // Out-of-stock products are left out unless asked for; a catalog without any searches with no such filter.
    const filter: VectorFilter | undefined = this.catalog.hasOutOfStock && !options.includeOutOfStock ? { ...options.filter, inStockOnly: true } : options.filter;
    options = { ...options, ...(filter ? { filter } : {}) };
    const t0 = performance.now();
    // The re-rank uses cosine similarities: its weight was chosen on them (a euclidean search keeps the refined order).
    const rerank = options.backbone && this.spaces.backbone && metric === 'cosine' && RERANK_BETA > 0 ? { vector: options.backbone, space: this.spaces.backbone } : null;
    const depth = rerank ? Math.min(Math.max(k, RERANK_DEPTH), MAX_CANDIDATES) : k;
    let neighbors = await this.spaces.search.search(vector, { k: depth, metric, ...(options.filter ? { filter: options.filter } : {}) });
    let pinned: string | null = null;
    const slots = options.slots && options.slots.slots > 0 && options.sameProduct && this.spaces.sameProduct ? options.slots : null;
    let nearest: IdDistance[] = [];
    if (options.sameProduct && this.spaces.sameProduct && (this.defaults.pinGap !== null || slots)) {
      // One look-up serves the pin (its first two) and the slots (their first `slots` + 1: the pinned item is left out there).
      nearest = await this.spaces.sameProduct.search(options.sameProduct, { k: Math.max(2, slots ? slots.slots + 1 : 0), metric: 'cosine', ...(options.filter ? { filter: options.filter } : {}) });
    }
    if (nearest.length > 0 && this.defaults.pinGap !== null) {
      pinned = sameProductPin(nearest, this.defaults.pinGap)?.id ?? null;
      if (pinned !== null) neighbors = putFirst(neighbors, (await this.spaces.search.distances(vector, [pinned], metric))[0]!, (n) => n.id);
    }
    // An item deleted by a write that landed while this search awaited is left out, not answered as missing.
    let hits = neighbors.filter((n) => this.catalog.has(n.id)).map((n) => (n.id === pinned ? { ...this.hit(n, metric), lookAlike: true } : this.hit(n, metric)));
    if (rerank) {
      const near = new Map((await rerank.space.distances(rerank.vector, hits.map((h) => h.id), 'cosine')).map((d) => [d.id, scoreOf(d.distance, 'cosine')]));
      hits = rerankByBackbone(hits, hits.map((h) => near.get(h.id) ?? null), RERANK_BETA);
    }
    if (slots) {
      const kindOf = (m: { readonly articleType?: string }) => (m.articleType ? { kind: m.articleType } : {});
      const order = placeSlots(
        hits.map((h) => ({ id: h.id, ...(h.lookAlike ? { lookAlike: true } : {}), ...kindOf(h.metadata) })),
        nearest.filter((n) => this.catalog.has(n.id)).map((n) => ({ id: n.id, similarity: scoreOf(n.distance, 'cosine'), ...kindOf(this.catalog.item(n.id).metadata) })),
        slots,
      );
      const known = new Map(hits.map((h) => [h.id, h]));
      const missing = order.filter((id) => !known.has(id));
      // A placed item the fused ranking did not reach is answered with its own score in the searched space (lower than its
      // neighbours': the scores of such an answer are not in order).
      if (missing.length > 0) for (const d of await this.spaces.search.distances(vector, missing, metric)) known.set(d.id, this.hit(d, metric));
      // A placed item is marked as the pinned one is: it is there as what looks most like the photo, not for its score. Only
      // placed items move up (or come from outside the answer); the rest keep their order or move down.
      const rank = new Map(hits.map((h, i) => [h.id, i]));
      hits = order.flatMap((id, i) => {
        const h = known.get(id);
        if (!h) return [];
        return (rank.get(id) ?? Infinity) > i && !h.lookAlike ? [{ ...h, lookAlike: true }] : [h];
      });
    }
    const searchMs = performance.now() - t0;
    return { hits: hits.slice(0, k), metric, k, timings: { searchMs } };
  }

  /**
   * The kinds (articleType) of the `k` catalog items nearest `vector` by cosine, as shares weighted by
   * softmax(cosine / temperature) (src/search/kindPrior.ts); empty without that space. `from` names the space and so what
   * `vector` is: 'sameProduct' (the query path: the photo's same-product vector; that space has a graph on a large catalog)
   * or 'backbone' (the photo's backbone reading, beside a refined space only; an exact scan, which bench/readings.ts `kp-*`
   * variants and bench/kindPriorCost.ts measure). The whole catalog votes: filters and stock say what to show, not what kind
   * the photo shows.
   */
  async neighbourKinds(vector: Float32Array, k: number, temperature: number, from: 'backbone' | 'sameProduct' = 'backbone'): Promise<Map<string, number>> {
    const space = from === 'backbone' ? this.spaces.backbone : this.spaces.sameProduct;
    if (!space) return new Map();
    const near = (await space.search(vector, { k, metric: 'cosine' })).filter((n) => this.catalog.has(n.id));
    return neighbourKindShares(near.map((n) => ({ kind: this.catalog.item(n.id).metadata.articleType, similarity: scoreOf(n.distance, 'cosine') })), temperature);
  }

  /** More like this: the item's nearest neighbours, without the item itself. */
  async similar(id: string, options: SearchOptions & { readonly onlyIds?: ReadonlySet<string> } = {}): Promise<SearchResult> {
    this.catalog.item(id);
    const vector = (await this.spaces.search.get(id))!;
    const { k, metric } = this.options(options);
    return this.nearest(vector, {
      k,
      metric,
      filter: { ...(options.filters ? { metadata: options.filters } : {}), excludeIds: [id], ...(options.onlyIds ? { onlyIds: options.onlyIds } : {}) },
      ...(options.includeOutOfStock ? { includeOutOfStock: true } : {}),
    });
  }

  /**
   * Of a photo's readings (src/imaging/decode.ts `fitPhoto`: isolated, balanced, as it is), the one whose nearest item in the
   * same-product space is nearest: the reading under which the catalog explains the photo best. Chosen on copies of training
   * items that no reported figure uses (docs/relevance.md). Returns the reading's index (0 without a same-product space).
   */
  async chooseReading(sameProductVectors: ReadonlyArray<Float32Array | null>): Promise<number> {
    const space = this.spaces.sameProduct;
    if (!space || sameProductVectors.length < 2) return 0;
    let best = 0;
    let bestSimilarity: number | null = null;
    for (let i = 0; i < sameProductVectors.length; i++) {
      const v = sameProductVectors[i];
      if (!v) continue;
      const nearest = (await space.search(v, { k: 1, metric: 'cosine' }))[0];
      const similarity = nearest ? 1 - nearest.distance : null;
      if (similarity === null) {
        if (i === 0) return 0;
        continue;
      }
      if (bestSimilarity === null || similarity > bestSimilarity) {
        best = i;
        bestSimilarity = similarity;
      }
    }
    return best;
  }

  hit(n: IdDistance, metric: Metric): SearchHit {
    return { id: n.id, score: round(scoreOf(n.distance, metric)), distance: round(n.distance), metadata: this.catalog.item(n.id).metadata, ...(n.photo ? { photo: n.photo } : {}) };
  }
}

export function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
