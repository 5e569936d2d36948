import type { ModelIdentity } from '../embedding/embedder.js';
import type { DecodedRgb } from '../imaging/rgb.js';
import type { Metric } from '../index/metric.js';
import type { VectorFilter } from '../index/vectorIndex.js';
import type { Prediction } from '../refine/refineModel.js';
import type { Metadata } from '../store/catalogStore.js';
import type { Predicted } from '../text/autoLabels.js';
import type { Filters } from './filters.js';

export type { Metric } from '../index/metric.js';

export interface SearchOptions {
  readonly k?: number;
  readonly metric?: Metric;
  readonly filters?: Filters;
  /** Also products whose availability says out of stock (left out by default). */
  readonly includeOutOfStock?: boolean;
}

export interface SearchHit {
  readonly id: string;
  /** Similarity in [0, 1], higher is closer (cosine similarity, or 1/(1+d) for euclidean). */
  readonly score: number;
  readonly distance: number;
  readonly metadata: Metadata;
  /**
   * Set on a photo search's first hit when it was moved first as the item that looks most like the photo
   * (src/search/sameProduct.ts). Often the photographed product itself, but also set for a look-alike
   * when the product is not listed: not a claim of identity (that is `fashion match`).
   */
  readonly lookAlike?: boolean;
  /** Which of the product's photos the query is nearest, when it is not its first (photo 0): the one to show. */
  readonly photo?: number;
}

export interface Timings {
  decodeMs?: number;
  embedMs?: number;
  searchMs: number;
  batchSize?: number;
}

export interface SearchResult {
  readonly hits: SearchHit[];
  readonly metric: Metric;
  readonly k: number;
  readonly timings: Timings;
  /** For a photo query: its predicted articleType, baseColour and gender (auto-categorisation). */
  readonly predicted?: Record<string, Prediction>;
  /** For a photo query on a catalog that isolates: the product as the model saw it, to show beside the photo. */
  readonly isolated?: IsolatedView;
  /** For a photo query: the handle under which its embedding is kept, so that outfit, match and categorize reuse it. */
  readonly handle?: string;
}

export interface IsolatedView {
  readonly image: DecodedRgb;
  readonly method: string;
  /** The image as JPEG (VIEW_JPEG_QUALITY), when its encoding was started early; otherwise the view encodes it. */
  readonly jpeg?: Promise<Buffer>;
}

/** The narrow search that outfits and words need: nearest items to a vector of the searched space. */
export interface VectorSearch {
  nearest(vector: Float32Array, options: { readonly k: number; readonly metric?: Metric; readonly filter?: VectorFilter }): Promise<SearchResult>;
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

export interface MatchOptions {
  /** Margin needed for a match (default: the catalog's). */
  readonly threshold?: number;
  /** Candidates returned. */
  readonly candidates?: number;
}

/** Each item's effective labels (its own, predicted where missing) and the predicted ones (src/services/labels.ts); rows in the catalog's order. */
export interface ItemLabels {
  labelsOf(row: number): Metadata;
  predictedOf(row: number): Predicted | undefined;
}
