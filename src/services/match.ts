import { invalid } from '../errors.js';
import { scoreOf, type VectorSpace } from '../index/vectorIndex.js';
import { cosine } from '../linalg/cosine.js';
import { decideMatch, MATCH_THRESHOLD, SAME_PRODUCT_SIMILARITY, type MatchResult, type MatchSpace } from '../search/match.js';
import type { MatchOptions } from '../search/types.js';
import type { SearchService } from './search.js';

export interface MatchSpaces {
  /** The refinement's same-product space, when the catalog has one (matching is measured there). */
  readonly sameProduct: VectorSpace | null;
  /** The backbone vectors as stored (matching without a same-product space). */
  readonly backbone: VectorSpace;
}

/**
 * Second-hand matching: the catalog product a photo shows, or no confident match (src/search/match.ts). Measured in the
 * same-product space against the gap that training chose, or on backbone cosine against the next distinct item.
 */
export class MatchService {
  constructor(
    private readonly search: Pick<SearchService, 'hit'>,
    private readonly spaces: MatchSpaces,
    /** The same-product space's match gap (null: no such space). */
    private readonly matchGap: number | null,
  ) {}

  /** Where matching is measured in this catalog, and its default threshold. */
  settings(): { space: MatchSpace; threshold: number } {
    return this.spaces.sameProduct && this.matchGap !== null ? { space: 'same-product', threshold: this.matchGap } : { space: 'backbone', threshold: MATCH_THRESHOLD };
  }

  /** `sameProduct`: the photo's same-product vector; `backbone`: its backbone vector. */
  async match(photo: { readonly sameProduct: Float32Array | null; readonly backbone: Float32Array }, options: MatchOptions = {}): Promise<MatchResult> {
    const settings = this.settings();
    const { k, threshold } = matchOptions(options, settings.threshold);
    if (settings.space === 'same-product' && photo.sameProduct) {
      const neighbors = await this.spaces.sameProduct!.search(photo.sameProduct, { k: Math.max(k, 2), metric: 'cosine' });
      const hits = neighbors.slice(0, k).map((n) => this.search.hit(n, 'cosine'));
      return decideMatch(hits, neighbors[1] ? scoreOf(neighbors[1].distance, 'cosine') : null, threshold, 'same-product');
    }
    const neighbors = await this.spaces.backbone.search(photo.backbone, { k: Math.max(k, 10), metric: 'cosine' });
    // The rival is the first candidate that is not the best photo listed again under another id.
    const best = neighbors[0];
    let rival: (typeof neighbors)[number] | undefined;
    if (best) {
      const bestVector = (await this.spaces.backbone.get(best.id))!;
      for (const n of neighbors.slice(1)) {
        if (cosine(bestVector, (await this.spaces.backbone.get(n.id))!) < SAME_PRODUCT_SIMILARITY) {
          rival = n;
          break;
        }
      }
    }
    const hits = neighbors.slice(0, k).map((n) => this.search.hit(n, 'cosine'));
    return decideMatch(hits, rival ? scoreOf(rival.distance, 'cosine') : null, threshold);
  }
}

function matchOptions(options: MatchOptions, defaultThreshold: number): { k: number; threshold: number } {
  const k = options.candidates ?? 3;
  if (!Number.isInteger(k) || k < 1 || k > 100) throw invalid('candidates', 'an integer from 1 to 100', k);
  const threshold = options.threshold ?? defaultThreshold;
  if (!(threshold >= 0 && threshold <= 1)) throw invalid('threshold', 'a margin from 0 to 1', threshold);
  return { k, threshold };
}
