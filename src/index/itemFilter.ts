import { isOutOfStock } from '../search/availability.js';
import { hasFilters, matchesFilters } from '../search/filters.js';
import type { Metadata } from '../store/catalogStore.js';
import type { VectorFilter } from './vectorIndex.js';

/**
 * A declarative filter as one test of an item's id and metadata: what every in-memory space applies (the snapshot's
 * rows, the items written since), so that both read a filter alike. Undefined when the filter lets everything through.
 */
export function itemPredicate(filter: VectorFilter | undefined): ((id: string, metadata: Metadata) => boolean) | undefined {
  if (!filter) return undefined;
  const tests: Array<(id: string, metadata: Metadata) => boolean> = [];
  if (hasFilters(filter.metadata)) tests.push((_, m) => matchesFilters(m, filter.metadata!));
  if (filter.excludeIds && filter.excludeIds.length > 0) {
    const out = new Set(filter.excludeIds);
    tests.push((id) => !out.has(id));
  }
  if (filter.inStockOnly) tests.push((_, m) => !isOutOfStock(m));
  if (filter.onlyIds) {
    const only = filter.onlyIds;
    tests.push((id) => only.has(id));
  }
  if (tests.length === 0) return undefined;
  return (id, m) => tests.every((t) => t(id, m));
}
