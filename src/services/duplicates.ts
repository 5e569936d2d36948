import { invalid } from '../errors.js';
import { exactDuplicateGroups, groupPairs, nearDuplicatePairs, NEAR_DUPLICATE_THRESHOLD, type DuplicateGroup } from '../search/duplicates.js';
import type { CatalogService } from './catalog.js';

export interface DuplicatesReport {
  readonly exact: DuplicateGroup[];
  readonly near: DuplicateGroup[];
  readonly threshold: number;
}

/**
 * Exact duplicates (same decoded pixels) and near-duplicate groups (backbone cosine >= threshold) of the catalog.
 * The near-duplicate scan costs a minute on a 40,000-item catalog: its result is kept for the snapshot.
 */
export class DuplicatesService {
  private cache: { threshold: number; near: DuplicateGroup[] } | null = null;

  constructor(
    private readonly catalog: CatalogService,
    /** The backbone vectors as stored, rows in the catalog's order. */
    private readonly backbone: { readonly vectors: Float32Array; readonly dims: number },
  ) {}

  find(options: { threshold?: number; near?: boolean } = {}): DuplicatesReport {
    const threshold = options.threshold ?? NEAR_DUPLICATE_THRESHOLD;
    if (!(threshold > 0 && threshold <= 1)) throw invalid('threshold', 'a number above 0, at most 1', threshold);
    const items = this.catalog.items;
    const exact = exactDuplicateGroups(items);
    if (options.near === false) return { exact, near: [], threshold };
    if (this.cache && this.cache.threshold === threshold) return { exact, near: this.cache.near, threshold };
    const pairs = nearDuplicatePairs(this.backbone.vectors, this.backbone.dims, { threshold });
    const near = groupPairs(items.length, pairs).map((g) => ({
      kind: 'near' as const,
      ids: g.rows.map((r) => items[r]!.id).sort(),
      similarity: Math.round(g.similarity * 1e6) / 1e6,
    }));
    this.cache = { threshold, near };
    return { exact, near, threshold };
  }
}
