import { readdir } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { readMetadataCsv } from '../catalog/metadataCsv.js';
import { IMAGE_EXTENSIONS } from '../catalog/scanImages.js';
import { FashionError } from '../errors.js';
import { readImageFile } from '../imaging/decode.js';
import type { Metric } from '../index/metric.js';
import type { Metadata } from '../store/catalogStore.js';
import type { Services } from './services.js';
import { precisionAtK } from '../eval/metrics.js';
import { sample } from '../util/random.js';

export interface EvalOptions {
  readonly k: number;
  readonly metric: Metric;
  /** Leave-one-out: evaluate this many catalog items, drawn with `seed` (0 = all). */
  readonly limit?: number;
  readonly seed?: number;
  /** A folder of query photos and their CSV, instead of leave-one-out. */
  readonly queriesDir?: string | undefined;
  readonly queryMetadata?: string | undefined;
  readonly onProgress?: (done: number, total: number) => void;
}

export interface EvalReport {
  readonly mode: 'leave-one-out' | 'queries';
  readonly metric: Metric;
  readonly k: number;
  readonly queries: number;
  readonly precisionAtK: number;
  readonly strictPrecisionAtK: number;
  readonly mapAt10: number;
  /** Share of queries whose own id ranks first / in the top k (when query ids are catalog ids). */
  readonly itemHitAt1?: number;
  readonly itemHitAtK?: number;
  readonly skipped: number;
}

const MAP_DEPTH = 10;

/**
 * Relevance of photo search: a result is relevant when its articleType equals the query's (strict: and
 * baseColour). P@k averages over queries; AP@10 = sum over relevant ranks i <= 10 of P@i, divided by
 * min(10, relevant items in the catalog).
 */
export async function evaluate(svc: Services, options: EvalOptions): Promise<EvalReport> {
  const items = svc.catalog.items;
  const depth = Math.max(options.k, MAP_DEPTH);
  const typeCounts = new Map<string, number>();
  for (const it of items) {
    const t = it.metadata.articleType;
    if (t) typeCounts.set(t, (typeCounts.get(t) ?? 0) + 1);
  }
  const acc = new Accumulator(options.k);
  let skipped = 0;

  if (!options.queriesDir) {
    const labelled = items.filter((it) => it.metadata.articleType);
    const chosen = sample(labelled.map((it) => it.id), options.limit ?? 0, options.seed ?? 1);
    for (const [i, id] of chosen.entries()) {
      const item = svc.catalog.item(id);
      // The item is a query photo here: its vector comes from its pixels, never from its own labels.
      const res = await svc.search.nearest(svc.refinement.queryVector(svc.itemFeatures(id)), { k: depth, metric: options.metric, filter: { excludeIds: [id] } });
      acc.add(item.metadata, res.hits.map((h) => h.metadata), (typeCounts.get(item.metadata.articleType!) ?? 1) - 1, null);
      if (i % 50 === 0) options.onProgress?.(i, chosen.length);
    }
    skipped = items.length - labelled.length;
    return acc.report('leave-one-out', options.metric, skipped);
  }

  if (!options.queryMetadata) throw new FashionError('input/invalid', 'Expected --query-metadata CSV with --queries (the labels of the query photos)');
  const labels = await readMetadataCsv(options.queryMetadata);
  const files = (await readdir(options.queriesDir)).filter((f) => IMAGE_EXTENSIONS.has(extname(f).toLowerCase())).sort();
  const todo = files.map((f) => ({ file: f, id: f.slice(0, f.length - extname(f).length) })).filter((q) => labels.rows.get(q.id)?.articleType);
  skipped = files.length - todo.length;
  const chosen = sample(todo.map((_, i) => i), options.limit ?? 0, options.seed ?? 1).map((i) => todo[i]!);
  let done = 0;
  const concurrency = 16;
  for (let i = 0; i < chosen.length; i += concurrency) {
    await Promise.all(
      chosen.slice(i, i + concurrency).map(async (q) => {
        const meta = labels.rows.get(q.id)!;
        try {
          const res = await svc.pipeline.search({ kind: 'photo', photo: { kind: 'file', path: join(options.queriesDir!, q.file) }, k: depth, metric: options.metric });
          acc.add(meta, res.hits.map((h) => h.metadata), typeCounts.get(meta.articleType!) ?? 0, svc.catalog.has(q.id) ? res.hits.map((h) => h.id).indexOf(q.id) : null);
        } catch (err) {
          if (!(err instanceof FashionError)) throw err;
          skipped++;
        }
      }),
    );
    done += Math.min(concurrency, chosen.length - i);
    options.onProgress?.(done, chosen.length);
  }
  return acc.report('queries', options.metric, skipped);
}

class Accumulator {
  private n = 0;
  private p = 0;
  private strict = 0;
  private ap = 0;
  private hitQueries = 0;
  private hit1 = 0;
  private hitK = 0;

  constructor(private readonly k: number) {}

  add(query: Metadata, results: Metadata[], relevantInCatalog: number, ownRank: number | null): void {
    const type = query.articleType;
    const rel = results.map((m) => m.articleType === type);
    const atK = precisionAtK(query, results, this.k);
    this.p += atK.type;
    this.strict += atK.strict;
    let hits = 0;
    let sum = 0;
    rel.slice(0, MAP_DEPTH).forEach((r, i) => {
      if (r) {
        hits++;
        sum += hits / (i + 1);
      }
    });
    const denom = Math.min(MAP_DEPTH, relevantInCatalog);
    this.ap += denom > 0 ? sum / denom : 0;
    if (ownRank !== null) {
      this.hitQueries++;
      if (ownRank === 0) this.hit1++;
      if (ownRank >= 0 && ownRank < this.k) this.hitK++;
    }
    this.n++;
  }

  report(mode: EvalReport['mode'], metric: Metric, skipped: number): EvalReport {
    const n = Math.max(this.n, 1);
    const r4 = (x: number) => Math.round(x * 10000) / 10000;
    return {
      mode,
      metric,
      k: this.k,
      queries: this.n,
      precisionAtK: r4(this.p / n),
      strictPrecisionAtK: r4(this.strict / n),
      mapAt10: r4(this.ap / n),
      ...(this.hitQueries > 0 ? { itemHitAt1: r4(this.hit1 / this.hitQueries), itemHitAtK: r4(this.hitK / this.hitQueries) } : {}),
      skipped,
    };
  }
}

