import { readFile } from 'node:fs/promises';
import { parse } from 'csv-parse/sync';
import { isHeldBack } from '../catalog/split.js';
import { FashionError } from '../errors.js';
import type { Services } from './services.js';
import { precisionAtK } from '../eval/metrics.js';
import type { TextEngine } from '../text/textQuery.js';

export interface TextEvalOptions {
  readonly k: number;
  /** Leave the held-back split out of the results (the catalog as a shop that never saw those items). */
  readonly trainOnly?: boolean;
  readonly onProgress?: (done: number, total: number) => void;
}

export interface TextEvalReport {
  readonly mode: 'text';
  readonly k: number;
  readonly queries: number;
  /** Share of the top k whose articleType is the query's. */
  readonly precisionAtK: number;
  /** ... whose articleType and baseColour are the query's. */
  readonly strictPrecisionAtK: number;
  /** ... whose gender is the query's (or Unisex), over the rows that give a gender. */
  readonly genderPrecisionAtK?: number;
  /** Queries whose words became no filter at all. */
  readonly withoutFilters: number;
  /** Queries with a word read as a correction (a typing slip). */
  readonly corrected: number;
  /** Time to answer one query (parse, select, rank; milliseconds). */
  readonly latencyMs: { readonly p50: number; readonly p95: number };
  readonly trainOnly: boolean;
  readonly engine: string;
  /** How many labelled names the name model learned from (the training split less the queries' items). */
  readonly nameModelNames: number;
  readonly skipped: number;
}

export interface TextQueryRow {
  query: string;
  articleType: string;
  baseColour: string;
  gender?: string;
  /** The item the query was written from, when known. */
  id?: string;
}

/** Text relevance over a CSV of `query,articleType,baseColour[,gender]` rows: P@k, strict P@k. */
export async function evaluateText(svc: Services, file: string, options: TextEvalOptions): Promise<TextEvalReport> {
  const rows = await readTextQueries(file);
  return scoreTextQueries(await textEvalEngine(svc, rows), rows, options);
}

/** The rows of a query CSV (`query,articleType,baseColour[,gender][,id]`). */
export async function readTextQueries(file: string): Promise<TextQueryRow[]> {
  let rows: TextQueryRow[];
  try {
    rows = parse(await readFile(file, 'utf8'), { columns: true, skip_empty_lines: true, trim: true }) as TextQueryRow[];
  } catch (err) {
    throw new FashionError('input/invalid', `Expected a CSV with query,articleType,baseColour columns in ${file} but could not read it: ${(err as Error).message}`);
  }
  if (rows.length > 0 && (!('query' in rows[0]!) || !('articleType' in rows[0]!) || !('baseColour' in rows[0]!))) {
    throw new FashionError('input/invalid', `Expected columns query, articleType, baseColour (and optionally gender) in ${file} but found ${Object.keys(rows[0]!).join(', ')}`);
  }
  return rows;
}

/**
 * The engine to evaluate with: its name model must not have read the names it is tested on, so it learns from the
 * training split only, without the queries' own items (which matters for queries built from the training split).
 */
export async function textEvalEngine(svc: Services, rows: readonly TextQueryRow[], options: { correctSlips?: boolean } = {}): Promise<TextEngine> {
  const queried = new Set(rows.map((r) => r.id).filter((id) => id));
  svc.catalog.requireItems();
  return svc.text({ learnFrom: (id) => !isHeldBack(id) && !queried.has(id), ...options });
}

/** P@k, strict P@k and the time per query of one engine over query rows. */
export async function scoreTextQueries(engine: TextEngine, rows: readonly TextQueryRow[], options: TextEvalOptions): Promise<TextEvalReport> {
  const k = options.k;
  let n = 0;
  let p = 0;
  let strict = 0;
  let g = 0;
  let gn = 0;
  let withoutFilters = 0;
  let corrected = 0;
  let skipped = 0;
  const ms: number[] = [];
  // Remembered: the split is a hash of the id, and every query asks it of every item (~100 ms a query otherwise).
  const heldBack = new Map<string, boolean>();
  const exclude = options.trainOnly
    ? (id: string) => {
        let held = heldBack.get(id);
        if (held === undefined) heldBack.set(id, (held = isHeldBack(id)));
        return held;
      }
    : undefined;
  for (const [i, row] of rows.entries()) {
    if (!row.query || !row.articleType) {
      skipped++;
      continue;
    }
    const t0 = performance.now();
    const res = await engine.search(row.query, { k, ...(exclude ? { exclude } : {}) });
    ms.push(performance.now() - t0);
    if (res.text.filters.length === 0) withoutFilters++;
    if (res.text.corrections.length > 0) corrected++;
    const top = res.hits.slice(0, k);
    const atK = precisionAtK({ articleType: row.articleType, baseColour: row.baseColour ?? '' }, top.map((h) => h.metadata), k);
    p += atK.type;
    strict += atK.strict;
    if (row.gender) {
      g += top.filter((h) => h.metadata.gender === row.gender || h.metadata.gender === 'Unisex').length / k;
      gn++;
    }
    n++;
    if (i % 25 === 0) options.onProgress?.(i, rows.length);
  }
  const r4 = (x: number) => Math.round(x * 10000) / 10000;
  const r2 = (x: number) => Math.round(x * 100) / 100;
  const d = Math.max(n, 1);
  return {
    mode: 'text',
    k,
    queries: n,
    precisionAtK: r4(p / d),
    strictPrecisionAtK: r4(strict / d),
    ...(gn > 0 ? { genderPrecisionAtK: r4(g / gn) } : {}),
    withoutFilters,
    corrected,
    latencyMs: { p50: r2(percentile(ms, 0.5)), p95: r2(percentile(ms, 0.95)) },
    trainOnly: !!options.trainOnly,
    engine: engine.kind,
    nameModelNames: engine.names.size,
    skipped,
  };
}

/** The nearest-rank percentile (q in [0, 1]) of some values; 0 for none. */
function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
