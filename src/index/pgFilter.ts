import type { VectorFilter } from './vectorIndex.js';

/**
 * A declarative filter as a SQL condition on the items table (alias `i`), with its parameters: the same test as
 * src/index/itemFilter.ts makes in memory, so both backends keep the same items.
 * - metadata (src/search/filters.ts matchesFilters): every field with values must equal one of them, case ignored; a
 *   missing field reads as '' (so it matches nothing but an empty wanted value, as in memory);
 * - inStockOnly (src/search/availability.ts isOutOfStock): `availability`, lower-cased with spaces, '_' and '-' removed,
 *   must not be one of the unavailable words;
 * - excludeIds, onlyIds: by id.
 */
export interface SqlCondition {
  /** `TRUE` when the filter lets everything through. */
  readonly sql: string;
  readonly params: unknown[];
}

/** What isOutOfStock calls unavailable, as the SQL condition compares it. */
const UNAVAILABLE = ['outofstock', 'soldout', 'discontinued', 'unavailable'];

/** `first` is the number of the first parameter this condition may use ($first, $first+1, ...). */
export function sqlCondition(filter: VectorFilter | undefined, first: number): SqlCondition {
  const parts: string[] = [];
  const params: unknown[] = [];
  const param = (value: unknown): string => {
    params.push(value);
    return `$${first + params.length - 1}`;
  };
  for (const [field, want] of Object.entries(filter?.metadata ?? {})) {
    const options = typeof want === 'string' ? [want] : [...want];
    // A field with no values does not filter (matchesFilters skips it).
    if (options.length === 0) continue;
    parts.push(`lower(coalesce(i.metadata->>${param(field)}::text, '')) = ANY(${param(options.map((w) => w.toLowerCase()))}::text[])`);
  }
  if (filter?.excludeIds && filter.excludeIds.length > 0) parts.push(`NOT (i.id = ANY(${param([...filter.excludeIds])}::text[]))`);
  if (filter?.onlyIds) parts.push(`i.id = ANY(${param([...filter.onlyIds])}::text[])`);
  if (filter?.inStockOnly) {
    parts.push(`coalesce(regexp_replace(lower(i.metadata->>'availability'), '[[:space:]_-]+', '', 'g') <> ALL(${param(UNAVAILABLE)}::text[]), true)`);
  }
  return { sql: parts.length > 0 ? parts.map((p) => `(${p})`).join(' AND ') : 'TRUE', params };
}
