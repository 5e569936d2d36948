import { readFile } from 'node:fs/promises';
import { parse } from 'csv-parse/sync';
import { FashionError } from '../errors.js';
import type { Metadata } from '../store/catalogStore.js';

export interface CsvProblem {
  /** 1-based line in the file. */
  readonly line: number;
  readonly message: string;
}

export interface MetadataTable {
  readonly columns: readonly string[];
  readonly rows: ReadonlyMap<string, Metadata>;
  /** Rows that were skipped, each with why. */
  readonly problems: readonly CsvProblem[];
}

/** Columns the product understands; any other column is kept as metadata too. */
/**
 * How the shop's CSV files are read (the metadata CSV, and CSV / TSV product feeds): a BOM and blank lines are
 * tolerated, a row that cannot be parsed is reported to `problems` with its line and skipped, a row with the wrong
 * number of fields reaches the caller's own check (which says how many were expected), and each record comes with
 * the line it ends on, so that a problem names its line even after quoted line breaks or skipped lines.
 */
export function csvRecordOptions(problems: CsvProblem[]) {
  return {
    bom: true,
    skip_empty_lines: true,
    skip_records_with_error: true,
    on_skip: (err: { lines?: number; message?: string } | undefined) => {
      problems.push({ line: Number(err?.lines ?? 0), message: err?.message ?? 'unreadable row' });
      return undefined;
    },
    info: true,
    relax_column_count: true,
  } as const;
}

export const KNOWN_COLUMNS = ['gender', 'masterCategory', 'subCategory', 'articleType', 'baseColour', 'season', 'year', 'usage', 'productDisplayName'] as const;

/**
 * Reads a product metadata CSV with a header row and an `id` column. A malformed row (wrong number of
 * fields, broken quoting, no id, a repeated id) is reported and skipped; it never aborts the load.
 */
export async function readMetadataCsv(path: string): Promise<MetadataTable> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new FashionError('input/not-found', `Expected a metadata CSV at ${path} but it could not be read: ${(err as Error).message}`, { cause: err });
  }
  return parseMetadataCsv(text, path);
}

export function parseMetadataCsv(text: string, label = 'the CSV'): MetadataTable {
  const problems: CsvProblem[] = [];
  let parsed: Array<{ record: string[]; info: { lines: number } }>;
  try {
    parsed = parse(text.replace(/^\uFEFF/, ''), { ...csvRecordOptions(problems), relax_quotes: false }) as unknown as Array<{ record: string[]; info: { lines: number } }>;
  } catch (err) {
    throw new FashionError('input/invalid', `Expected ${label} to be CSV but it could not be parsed: ${(err as Error).message}`, { cause: err });
  }
  const records = parsed.map((p) => p.record);
  if (records.length === 0) throw new FashionError('input/invalid', `Expected ${label} to have a header row but it is empty`);
  const header = records[0]!.map((h) => h.trim());
  const idIndex = header.indexOf('id');
  if (idIndex < 0) throw new FashionError('input/invalid', `Expected an "id" column in ${label} but the header is: ${header.join(',')}`);
  const rows = new Map<string, Metadata>();
  for (let r = 1; r < records.length; r++) {
    const rec = records[r]!;
    const line = parsed[r]!.info.lines;
    if (rec.length !== header.length) {
      problems.push({ line, message: `expected ${header.length} fields but found ${rec.length}` });
      continue;
    }
    const id = rec[idIndex]!.trim();
    if (!isValidId(id)) {
      problems.push({ line, message: `expected an id of letters, digits, '-' or '_' but found ${JSON.stringify(id)}` });
      continue;
    }
    if (rows.has(id)) {
      problems.push({ line, message: `id ${id} appears again; the first row is kept` });
      continue;
    }
    const m: Record<string, string> = {};
    header.forEach((h, i) => {
      if (i !== idIndex && h !== 'image') m[h] = rec[i]!.trim();
    });
    rows.set(id, m);
  }
  return { columns: header, rows, problems };
}

export function isValidId(id: string): boolean {
  return /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/.test(id);
}
