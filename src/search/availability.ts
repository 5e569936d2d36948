import type { Metadata } from '../store/catalogStore.js';

/**
 * A product a shopper cannot buy now: its `availability` (a product feed's column, Google Merchant Center spells it
 * `out_of_stock`; shops write "out of stock", "sold out") says so. Such products are left out of results unless a
 * query asks for them; matching a photo to its product still finds them.
 */
const UNAVAILABLE = new Set(['outofstock', 'soldout', 'discontinued', 'unavailable']);

export function isOutOfStock(metadata: Metadata): boolean {
  const a = metadata.availability;
  return a !== undefined && UNAVAILABLE.has(a.toLowerCase().replace(/[\s_-]+/g, ''));
}
