import { createHash } from 'node:crypto';
import type { Metadata } from '../store/catalogStore.js';

/**
 * One product of an ingest run on the worker queue (src/jobs/ingestQueue.ts): everything a worker on any machine needs
 * to fetch, embed and write it, without the feed file or the folder scan that produced it.
 */
export type ProductSource =
  | {
      readonly kind: 'feed';
      /** The feed's line the row ends on (messages name it). */
      readonly line: number;
      readonly imageUrl: string;
      readonly additionalImageUrls: readonly string[];
      readonly metadata: Metadata;
    }
  | {
      readonly kind: 'folder';
      /**
       * The photo folder as the enqueuer saw it: workers read `root/path`, so every worker must see the folder at this
       * path (a shared file system; README, "Ingest workers").
       */
      readonly root: string;
      readonly path: string;
      readonly size: number;
      readonly mtimeMs: number;
      /** The product's row of the --metadata CSV; null when it has none. */
      readonly metadata: Metadata | null;
      /**
       * Whether the run has a CSV: then an unchanged photo without a row loses its fields, as with `fashion index`
       * (a changed photo without a row keeps them; without a CSV every item keeps its fields).
       */
      readonly csv: boolean;
    };

export interface ProductJob {
  /** The run (the parent record, GET /api/jobs/:id) this product belongs to. */
  readonly runId: string;
  readonly id: string;
  readonly source: ProductSource;
  /** Photo URLs of an untrusted feed (POST /api/imports) are held to the server's fetch guards. */
  readonly guard?: { readonly allow: readonly string[] };
}

/**
 * The job's idempotency key, recorded in the transaction of the product's write (CatalogStore.claimWriteKey): the run,
 * the product, and a hash of what the job says about it (its feed row, or its file's state and CSV row). A job delivered
 * again (its worker was killed after the commit, before BullMQ heard of it) has the same key and writes nothing.
 *
 * The run is part of it on purpose: the same row in tomorrow's feed is a new question (the photo behind an unchanged
 * URL may have changed; the product may have been deleted since), answered by that run's own comparison with the
 * catalog, not by today's key.
 */
export function productJobKey(job: Pick<ProductJob, 'runId' | 'id' | 'source'>): string {
  const digest = createHash('sha256').update(canonicalJson(job.source)).digest('hex').slice(0, 32);
  return `${job.runId}/${job.id}/${digest}`;
}

/** JSON with object keys sorted at every level: equal values give equal text whatever order they were built in. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  });
}
