import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { extname } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { parse } from 'csv-parse';
// ITEM_ID and the metadata bounds are the catalog's rules for any write (the API's too); a feed row obeys the same.
import { ITEM_ID, MAX_METADATA_FIELDS, MAX_METADATA_VALUE } from '../catalog/itemFields.js';
import { csvRecordOptions } from '../catalog/metadataCsv.js';
import { FashionError, invalid } from '../errors.js';
import type { Metadata } from '../store/catalogStore.js';

/**
 * A shop's product feed, one product a row: CSV, TSV (Google Merchant Center's text feeds) or JSON Lines. The file is
 * streamed: a row is parsed, checked and handed on, never the whole file held, so a feed of any length reads in
 * constant memory (the caller decides what it keeps).
 */
export type FeedFormat = 'csv' | 'tsv' | 'jsonl';

/** The columns a feed may name its product id by: Merchant Center's `id`, or the `item_id` / `sku` of other exports. */
export const ID_COLUMNS = ['id', 'item_id', 'sku'] as const;
/** The photo's URL: `image_link` as in Merchant Center feeds, or `image_url`, or `image`. */
export const IMAGE_COLUMNS = ['image_link', 'image_url', 'image'] as const;
/** More photos of the product (comma- or space-separated in CSV and TSV, an array in JSON Lines). */
export const ADDITIONAL_IMAGES = 'additional_image_link';
export const AVAILABILITY = 'availability';

/** `--map target=source`: the feed's column `source` becomes the field `target` (e.g. articleType=product_type). */
export interface FeedMapping {
  readonly target: string;
  readonly source: string;
}

export interface FeedOptions {
  /** Read the file as this format; by default by its extension, else sniffed from its first bytes. */
  readonly format?: FeedFormat | undefined;
  readonly map?: readonly FeedMapping[] | undefined;
}

export interface FeedRow {
  /** 1-based line of the file where the row ends. */
  readonly line: number;
  readonly id: string;
  readonly imageUrl: string;
  readonly additionalImageUrls: readonly string[];
  /** As the feed says it, lower case with `_` for spaces (`in_stock`, `out_of_stock`, `preorder`, `backorder`). */
  readonly availability: string | undefined;
  /**
   * Every other column as text (empty cells left out), `availability` and `additional_image_link` included; mapped
   * names applied, bounded as the catalog bounds metadata.
   */
  readonly metadata: Metadata;
}

/** A row that was skipped, and why. `id` is set when the row named a valid id (the product is still in the feed). */
export interface FeedProblem {
  readonly line: number;
  readonly id?: string;
  readonly message: string;
}

export type FeedEntry =
  | { readonly kind: 'row'; readonly row: FeedRow }
  | { readonly kind: 'problem'; readonly problem: FeedProblem }
  /** Something left out of rows that were kept (a column, cut values), said once per cause at the end. */
  | { readonly kind: 'note'; readonly message: string };

const FIELD_NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

/** Parses `--map` arguments (`target=source`); a target must be a field name the catalog accepts. `name`: the option, in messages. */
export function parseMappings(args: readonly string[], name = '--map'): FeedMapping[] {
  return args.map((arg) => {
    const eq = arg.indexOf('=');
    const target = eq > 0 ? arg.slice(0, eq).trim() : '';
    const source = eq > 0 ? normaliseName(arg.slice(eq + 1)) : '';
    if (!FIELD_NAME.test(target) || source === '') throw invalid(name, 'target=source, the target a field name (letters, digits, "_"), e.g. articleType=product_type', arg);
    return { target, source };
  });
}

/** The format a file name's extension says (`.csv`, `.tsv` or `.tab`, `.jsonl` or `.ndjson`), if it says one. */
export function formatOfName(name: string): FeedFormat | undefined {
  const ext = extname(name).toLowerCase();
  if (ext === '.csv') return 'csv';
  if (ext === '.tsv' || ext === '.tab') return 'tsv';
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  return undefined;
}

/** The format by the file's extension, else by its first bytes. */
export async function feedFormat(file: string): Promise<FeedFormat> {
  const byName = formatOfName(file);
  if (byName) return byName;
  const handle = await open(file, 'r');
  try {
    const head = Buffer.alloc(64 * 1024);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return sniffFeedFormat(head.subarray(0, bytesRead).toString('utf8'));
  } finally {
    await handle.close();
  }
}

/** JSON Lines when the first thing is an object; TSV when the header line has tabs and no more commas than tabs. */
export function sniffFeedFormat(head: string): FeedFormat {
  const text = head.replace(/^\uFEFF/, '').trimStart();
  if (text.startsWith('{')) return 'jsonl';
  const first = text.split(/\r?\n/, 1)[0] ?? '';
  const tabs = first.split('\t').length - 1;
  const commas = first.split(',').length - 1;
  return tabs > 0 && tabs >= commas ? 'tsv' : 'csv';
}

/**
 * Reads a feed file row by row. A malformed row (broken quoting, no id, an id the catalog cannot hold, no image URL,
 * a URL that is not http(s), an id seen before) is yielded as a problem with its line and skipped; it never aborts the
 * read. A file without an id or image column in its header (CSV, TSV) is refused before any row.
 */
export async function* readFeed(file: string, options: FeedOptions = {}): AsyncGenerator<FeedEntry> {
  try {
    const info = await stat(file);
    if (!info.isFile()) throw new Error('not a file');
  } catch (err) {
    throw new FashionError('input/not-found', `Expected a product feed at ${file} but it could not be read: ${(err as Error).message}`, { cause: err });
  }
  const format = options.format ?? (await feedFormat(file));
  const input = createReadStream(file);
  try {
    yield* readFeedStream(input, format, { ...options, label: file });
  } finally {
    input.destroy();
  }
}

/** The same over any stream of the feed's bytes (tests, and later an upload). */
export async function* readFeedStream(input: Readable, format: FeedFormat, options: FeedOptions & { label?: string } = {}): AsyncGenerator<FeedEntry> {
  const rows = new RowChecker(options.map ?? [], options.label ?? 'the feed');
  const records = format === 'jsonl' ? jsonLines(input, options.label ?? 'the feed') : delimited(input, format, options.label ?? 'the feed');
  for await (const r of records) {
    if ('problem' in r) yield { kind: 'problem', problem: r.problem };
    else if ('header' in r) yield* rows.setHeader(r.header);
    else yield rows.check(r.line, r.fields);
  }
  for (const message of rows.notes()) yield { kind: 'note', message };
}

type RawRecord = { line: number; fields: Record<string, string | string[]> } | { header: string[] } | { problem: FeedProblem };

/** CSV or TSV records as objects keyed by the (normalised) header. */
async function* delimited(input: Readable, format: 'csv' | 'tsv', label: string): AsyncGenerator<RawRecord> {
  const skipped: FeedProblem[] = [];
  const parser = parse({
    ...csvRecordOptions(skipped),
    delimiter: format === 'tsv' ? '\t' : ',',
    // Merchant Center's TSV has no quoting rules for quotes inside a value (12" screens): keep them as text there.
    relax_quotes: format === 'tsv',
  });
  input.on('error', (err) => parser.destroy(err));
  input.pipe(parser);
  let header: string[] | null = null;
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
      while (skipped.length > 0) yield { problem: skipped.shift()! };
      if (!header) {
        header = record.map(normaliseName);
        yield { header };
        continue;
      }
      if (record.length !== header.length) {
        yield { problem: { line: info.lines, message: `expected ${header.length} fields but found ${record.length}` } };
        continue;
      }
      const fields = record_();
      header.forEach((h, i) => {
        if (h !== '' && !(h in fields)) fields[h] = record[i]!;
      });
      yield { line: info.lines, fields };
    }
  } catch (err) {
    if (err instanceof FashionError) throw err;
    throw new FashionError('input/invalid', `Expected ${label} to be ${format.toUpperCase()} but it could not be parsed: ${(err as Error).message}`, { cause: err });
  }
  while (skipped.length > 0) yield { problem: skipped.shift()! };
  if (!header) throw new FashionError('input/invalid', `Expected ${label} to have a header row but it is empty`);
}

/** JSON Lines: one object a line; values of other types become text, arrays lists. */
async function* jsonLines(input: Readable, label: string): AsyncGenerator<RawRecord> {
  const lines = createInterface({ input, crlfDelay: Infinity });
  let line = 0;
  for await (const raw of lines) {
    line++;
    const text = line === 1 ? raw.replace(/^\uFEFF/, '') : raw;
    if (text.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      yield { problem: { line, message: `not JSON: ${(err as Error).message}` } };
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      yield { problem: { line, message: `expected a JSON object (one product) but found ${Array.isArray(value) ? 'an array' : typeof value}` } };
      continue;
    }
    const fields = record_();
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      const name = normaliseName(k);
      if (v === null || v === undefined || name === '' || name in fields) continue;
      if (Array.isArray(v)) fields[name] = v.filter((x) => x !== null && x !== undefined).map((x) => (typeof x === 'object' ? JSON.stringify(x) : String(x)));
      else fields[name] = typeof v === 'object' ? JSON.stringify(v) : String(v);
    }
    yield { line, fields };
  }
  if (line === 0) throw new FashionError('input/invalid', `Expected ${label} to have one JSON object a line but it is empty`);
}

/**
 * Column names as the catalog keeps them: trimmed, Merchant Center's `g:` namespace dropped, spaces and dashes as `_`
 * (its spreadsheet template writes "image link").
 */
function normaliseName(name: string): string {
  return name.trim().replace(/^g:/i, '').replace(/[\s-]+/g, '_');
}

/** Turns raw records into checked rows: the mapping, the reserved columns, the id and URL rules, the metadata bounds. */
class RowChecker {
  private readonly seen = new Set<string>();
  private readonly dropped = new Map<string, string>();
  private readonly cut = new Map<string, number>();
  private tooMany = 0;

  constructor(
    private readonly map: readonly FeedMapping[],
    private readonly label: string,
  ) {}

  /** A header must name the id and the photo (after mapping); other columns are reported once if unusable. */
  *setHeader(header: readonly string[]): Generator<FeedEntry> {
    const names = this.mapped(Object.fromEntries(header.map((h) => [h, ''])));
    const has = (cols: readonly string[]) => cols.some((c) => c in names);
    if (!has(ID_COLUMNS)) throw new FashionError('input/invalid', `Expected an id column (${ID_COLUMNS.join(', ')}) in ${this.label} but the header is: ${header.join(', ')} (--map id=<column> names another)`);
    if (!has(IMAGE_COLUMNS)) throw new FashionError('input/invalid', `Expected an image URL column (${IMAGE_COLUMNS.join(', ')}) in ${this.label} but the header is: ${header.join(', ')} (--map image_link=<column> names another)`);
    for (const m of this.map) if (!header.includes(m.source)) yield { kind: 'note', message: `--map ${m.target}=${m.source}: ${this.label} has no column ${m.source}` };
  }

  check(line: number, raw: Record<string, string | string[]>): FeedEntry {
    const fields = this.mapped(raw);
    // The first of the columns the row has (CSV and TSV: the header's), so that an empty id is a problem, not a
    // fall-back to another column.
    const idColumn = ID_COLUMNS.find((c) => c in fields);
    const id = idColumn ? text(fields[idColumn]) : '';
    const problem = (message: string, withId = false): FeedEntry => ({ kind: 'problem', problem: { line, ...(withId ? { id } : {}), message } });
    if (id === '') return problem(`no product id (${ID_COLUMNS.join(', ')})`);
    if (!ITEM_ID.test(id)) return problem(`expected an id of letters, digits, ".", "_" or "-" (at most 200, starting with a letter or digit) but found ${JSON.stringify(id.slice(0, 80))}`);
    if (this.seen.has(id)) return problem(`id ${id} appears again; the first row is kept`);
    this.seen.add(id);
    const imageColumn = IMAGE_COLUMNS.find((c) => c in fields);
    if (!imageColumn || text(fields[imageColumn]) === '') return problem(`product ${id} has no image URL (${IMAGE_COLUMNS.join(', ')})`, true);
    const imageUrl = text(fields[imageColumn]);
    const why = urlProblem(imageUrl);
    if (why) return problem(`product ${id}: ${imageColumn} ${why}`, true);

    const additional = list(fields[ADDITIONAL_IMAGES]).filter((u) => urlProblem(u) === null);
    const availability = text(fields[AVAILABILITY]).toLowerCase().replace(/\s+/g, '_') || undefined;
    const metadata: Record<string, string> = {};
    let count = 0;
    for (const [name, value] of Object.entries(fields)) {
      // The photo columns are references, not labels; another id column (a sku beside the id) is kept.
      if (name === idColumn || (IMAGE_COLUMNS as readonly string[]).includes(name)) continue;
      let v = name === ADDITIONAL_IMAGES ? joinWithin(additional, MAX_METADATA_VALUE) : name === AVAILABILITY ? (availability ?? '') : text(value);
      if (v === '') continue;
      if (!FIELD_NAME.test(name)) {
        if (!this.dropped.has(name)) this.dropped.set(name, `column ${JSON.stringify(name)} is not a field name the catalog keeps (letters, digits, "_", starting with a letter); left out (--map <name>=${name} keeps it)`);
        continue;
      }
      if (count >= MAX_METADATA_FIELDS) {
        this.tooMany++;
        continue;
      }
      if (v.length > MAX_METADATA_VALUE) {
        v = v.slice(0, MAX_METADATA_VALUE);
        this.cut.set(name, (this.cut.get(name) ?? 0) + 1);
      }
      metadata[name] = v;
      count++;
    }
    return { kind: 'row', row: { line, id, imageUrl, additionalImageUrls: additional, availability, metadata } };
  }

  /** What was left out of kept rows, once per cause. */
  notes(): string[] {
    const out = [...this.dropped.values()];
    for (const [name, n] of this.cut) out.push(`${n} values of ${name} were longer than ${MAX_METADATA_VALUE} characters and were cut`);
    if (this.tooMany > 0) out.push(`${this.tooMany} values were left out: the catalog keeps at most ${MAX_METADATA_FIELDS} fields a product`);
    return out;
  }

  /**
   * Applies `--map`: each target takes its source's value where the source was (the feed's column order is kept), a
   * column a mapping replaces is dropped, and a source that is not itself a target is dropped.
   */
  private mapped(raw: Record<string, string | string[]>): Record<string, string | string[]> {
    if (this.map.length === 0) return raw;
    const targets = new Set(this.map.map((m) => m.target));
    const out = record_();
    for (const [name, value] of Object.entries(raw)) {
      for (const m of this.map) if (m.source === name) out[m.target] = value;
      if (!(name in out) && !targets.has(name) && !this.map.some((m) => m.source === name)) out[name] = value;
    }
    // A target whose source the row lacks keeps the row's own column of that name, if any.
    for (const t of targets) if (!(t in out) && raw[t] !== undefined && !this.map.some((m) => m.target === t && raw[m.source] !== undefined)) out[t] = raw[t]!;
    return out;
  }
}

/**
 * A record of a row's cells by column name, without a prototype: a column called `__proto__` (a JSON key can be
 * anything) is then a cell like any other, not the object's prototype. Only checked names reach the metadata.
 */
function record_(): Record<string, string | string[]> {
  return Object.create(null) as Record<string, string | string[]>;
}

function text(v: string | string[] | undefined): string {
  if (v === undefined) return '';
  return (Array.isArray(v) ? v.join(', ') : v).trim();
}

/** A list cell: an array (JSON Lines), or URLs separated by commas or white space (CSV, TSV). */
function list(v: string | string[] | undefined): string[] {
  if (v === undefined) return [];
  const items = Array.isArray(v) ? v : v.split(/[,\s]+/);
  return items.map((s) => s.trim()).filter(Boolean);
}

/** As many whole URLs as fit, space-separated (a space cannot be inside a URL, a comma can). */
function joinWithin(urls: readonly string[], max: number): string {
  let out = '';
  for (const u of urls) {
    const next = out ? `${out} ${u}` : u;
    if (next.length > max) break;
    out = next;
  }
  return out;
}

/** Why a URL cannot be fetched, or null: it must parse, be http(s), and carry no user name or password. */
export function urlProblem(url: string): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `is not a URL: ${JSON.stringify(url.slice(0, 120))}`;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `has the ${u.protocol} scheme; only http and https photos are downloaded`;
  if (u.username || u.password) return 'has a user name or password in it, which is not sent';
  return null;
}
