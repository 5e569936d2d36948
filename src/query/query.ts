import type { Filters } from '../search/filters.js';
import type { Metric } from '../search/types.js';

/**
 * Every query the product answers, as one discriminated union. Each transport (HTTP schema, CLI flags, the
 * page) parses its input into a `Query` once; one pipeline (src/app/queryPipeline.ts) runs it.
 */

/** Where a shopper's photo comes from. A `handle` names a photo embedded by an earlier query (no second upload). */
export type PhotoSource =
  | { readonly kind: 'upload'; readonly bytes: Uint8Array; readonly label: string }
  | { readonly kind: 'url'; readonly url: string }
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'handle'; readonly handle: string };

export interface QueryOptions {
  /** Results wanted (1..MAX_K). */
  readonly k?: number;
  readonly metric?: Metric;
  /** Metadata filters: field -> allowed values. */
  readonly filters?: Filters;
  /** Also products whose availability says out of stock (left out by default). */
  readonly includeOutOfStock?: boolean;
}

export interface TextPart {
  /** The shopper's words. */
  readonly text: string;
  /** Fields whose word filters the shopper removed (the page's chips): their words only rank. */
  readonly dropFilters?: readonly string[];
}

export type Query =
  /** Nearest items to a photo. */
  | ({ readonly kind: 'photo'; readonly photo: PhotoSource } & QueryOptions)
  /** More like this catalog item (the item left out). */
  | ({ readonly kind: 'item'; readonly id: string } & QueryOptions)
  /** Words alone. */
  | ({ readonly kind: 'text' } & TextPart & QueryOptions)
  /** A photo plus words: "like this, but in blue". */
  | ({ readonly kind: 'photo+text'; readonly photo: PhotoSource } & TextPart & QueryOptions)
  /** A catalog item plus words. */
  | ({ readonly kind: 'item+text'; readonly id: string } & TextPart & QueryOptions);

/** The largest k any transport accepts (one limit for the API, the CLI and the core). */
export const MAX_K = 100;
export const DEFAULT_K = 5;

/** What an outfit, a match or a categorisation starts from. */
export type ItemOrPhoto = { readonly kind: 'item'; readonly id: string } | { readonly kind: 'photo'; readonly photo: PhotoSource };

/** Short description of a photo source for logs and responses (never the bytes). */
export function describeSource(p: PhotoSource): string {
  switch (p.kind) {
    case 'upload':
      return p.label;
    case 'url':
      return p.url;
    case 'file':
      return p.path;
    case 'handle':
      return `photo ${p.handle}`;
  }
}
