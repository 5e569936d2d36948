import type { Metadata } from '../store/catalogStore.js';

/**
 * The share of the first k results that are relevant to the query: same articleType (`type`), and same
 * articleType and baseColour (`strict`). Every relevance figure of the product counts this way.
 */
export function precisionAtK(query: Pick<Metadata, string>, results: readonly Metadata[], k: number): { type: number; strict: number } {
  let type = 0;
  let strict = 0;
  for (const m of results.slice(0, k)) {
    if (m.articleType !== query.articleType) continue;
    type++;
    if (m.baseColour === query.baseColour) strict++;
  }
  return { type: type / k, strict: strict / k };
}
