import { FashionError, invalid } from '../errors.js';
import { hasFilters, matchesFilters, type Filters } from '../search/filters.js';
import type { ItemLabels, Metric, SearchHit, SearchResult, VectorSearch } from '../search/types.js';
import type { Metadata, StoredItem } from '../store/catalogStore.js';
import type { Predicted } from './autoLabels.js';
import { NameModel, nameFeatures } from './nameModel.js';
import { MAX_K } from '../query/query.js';
import { MAX_TEXT_LENGTH, parseText, STOP_WORDS, type ParsedText, type WordFilter } from './queryParser.js';
import { Spelling, type Correction } from './spelling.js';
import type { TextSearch } from './textSearch.js';
import { FILTER_FIELDS, nounForms, tokenize, Vocabulary, type FilterField } from './vocabulary.js';

export interface TextQueryOptions {
  readonly k?: number;
  readonly metric?: Metric;
  /** Explicit metadata filters, applied as well as the words' filters. */
  readonly filters?: Filters;
  /** Fields whose word filters the shopper removed (their words then only rank, as free words). */
  readonly dropFilters?: readonly string[];
  /** Leaves items out of the results (evaluation on the training split). */
  readonly exclude?: (id: string) => boolean;
}

export interface TextEngineOptions {
  /** Whose names and labels the name model learns from (evaluation leaves the queries' items out); default all. */
  readonly learnFrom?: (id: string) => boolean;
  /** Read words the catalog does not know as their nearest known words (default); false: as typed (for comparisons). */
  readonly correctSlips?: boolean;
}

export interface TextDefaults {
  readonly k: number;
  readonly metric: Metric;
}

export interface TextQueryInfo {
  readonly text: string;
  /** Words that became filters and were applied. */
  readonly filters: WordFilter[];
  /** Word filters the shopper removed. */
  readonly removed: WordFilter[];
  /** Word filters dropped because no item satisfied all of them (the least specific go first). */
  readonly relaxed: WordFilter[];
  /** Free words used to rank (or, with a photo, to narrow). */
  readonly words: string[];
  /** Free words that no remaining item contains (ignored). */
  readonly unmatchedWords: string[];
  /** Words the catalog does not know, read as the nearest ones it does (typing slips). */
  readonly corrections: Correction[];
  /** The words as they were read when some were corrected ("did you mean"): "snekers for men" -> "sneakers for men". */
  readonly didYouMean?: string;
  readonly engine: string;
}

export interface TextHit extends SearchHit {
  /** Labels this item lacks in the catalog, predicted from its neighbours (shown as predicted). */
  readonly predicted?: Predicted;
  /** Word filters this hit does not satisfy (it fills the list after the items that satisfy them all). */
  readonly unmatched?: string[];
}

export interface TextSearchResult extends SearchResult {
  readonly hits: TextHit[];
  readonly text: TextQueryInfo;
}

/** Relaxation order when the words' filters leave nothing: the least specific first. */
const RELAX_ORDER: readonly FilterField[] = ['season', 'usage', 'gender', 'baseColour', 'articleType'];
/**
 * Labels a query states with words (gender, colour) that the name model takes as labels rather than as name
 * words: a lip gloss is labelled Women although its name does not say so.
 */
const STATED: ReadonlySet<FilterField> = new Set(['gender', 'baseColour']);
/** A type joins a type word's meaning when at least this share of the catalog's names with the word carry it. */
const LEARNED_SHARE = 0.2;
/** A gendered word also admits unisex items ("for men" includes unisex watches). */
const WITH_UNISEX = new Set(['Men', 'Women', 'Boys', 'Girls']);

export function checkText(text: unknown): string {
  if (typeof text !== 'string' || text.trim() === '') {
    throw new FashionError('text/empty', 'Expected some words to search for (e.g. "red floral dress") but the text is empty');
  }
  if (text.length > MAX_TEXT_LENGTH) {
    throw new FashionError('text/too-long', `Expected at most ${MAX_TEXT_LENGTH} characters of search text but received ${text.length}; use fewer words`);
  }
  return text.trim();
}

/**
 * Words -> items: the words that name catalog values become filters (over the labels, or the predicted labels
 * of unlabelled items), the rest rank by the text index. With a photo, the words narrow and the photo ranks.
 */
export class TextEngine {
  readonly vocabulary: Vocabulary;
  private readonly labels: Metadata[];
  private readonly rowOf: Map<string, number>;
  /** The snapshot's items, then those written since (`put`): a row per version, the earlier one hidden. */
  private readonly items: StoredItem[];
  /** Rows of items deleted or replaced since (never returned). */
  private readonly hiddenRows = new Set<number>();

  /** What the words of a name say about its articleType, learned from the catalog's names (src/text/nameModel.ts). */
  readonly names: NameModel;
  /** The catalog's words, to read typing slips as (src/text/spelling.ts). */
  readonly spelling: Spelling;
  private readonly correctSlips: boolean;

  constructor(
    items: readonly StoredItem[],
    private readonly itemLabels: ItemLabels,
    private readonly vectors: VectorSearch,
    private readonly text: TextSearch,
    private readonly defaults: TextDefaults,
    options: TextEngineOptions = {},
  ) {
    this.items = [...items];
    this.rowOf = new Map(items.map((it, row) => [it.id, row]));
    this.labels = this.items.map((_, row) => itemLabels.labelsOf(row));
    const values: Partial<Record<FilterField, string[]>> = {};
    for (const f of FILTER_FIELDS) values[f] = [...new Set(this.labels.map((m) => m[f] ?? ''))];
    // The name model learns from the catalog's own names; the vocabulary then also knows how this shop uses
    // its type words ("flats" for items labelled Heels).
    const productNames = this.items.map((it) => it.metadata.productDisplayName ?? '');
    const plain = new Vocabulary(values, undefined, productNames);
    const learnFrom = options.learnFrom ?? (() => true);
    const named = this.items.filter((it) => learnFrom(it.id));
    this.names = new NameModel(
      named.map((it) => ({ features: nameFeatures(it.metadata.productDisplayName ?? '', plain, STATED), labels: it.metadata })),
      { target: 'articleType', given: [...STATED] },
    );
    this.vocabulary = new Vocabulary(values, (word) => this.names.usedFor(nounForms(word), LEARNED_SHARE), productNames);
    // The dictionary slips are read against: what the full-text index holds (every item's name and labels, so
    // also the items the name model does not learn from), the vocabulary's words and the stop words.
    const counts = new Map<string, number>();
    for (const it of this.items) for (const w of itemWords(it.metadata)) counts.set(w, (counts.get(w) ?? 0) + 1);
    // How many names use each filter word: a rare word is read as a common filter word by how often names write it.
    const filterWords = new Map([...this.vocabulary.words()].map((w) => [w, 0]));
    for (const name of productNames) for (const w of new Set(tokenize(name))) if (filterWords.has(w)) filterWords.set(w, filterWords.get(w)! + 1);
    this.spelling = new Spelling(counts, [...this.vocabulary.words(), ...STOP_WORDS], filterWords);
    this.correctSlips = options.correctSlips ?? true;
  }

  get kind(): string {
    return this.text.kind;
  }

  /**
   * An item written since the snapshot (new, or a new version): words find it at once. Its full-text row is the
   * store's (kept by triggers), its labels are its metadata as written (no predictions for the fields it lacks, and
   * the vocabulary stays the snapshot's: a label no item had is not a filter word until the catalog is read again).
   */
  put(item: StoredItem): void {
    this.remove(item.id);
    // Its words are known at once (a removed item's stay known: they are then only never corrected).
    for (const w of itemWords(item.metadata)) this.spelling.add(w);
    this.rowOf.set(item.id, this.items.length);
    this.items.push(item);
    this.labels.push({ ...item.metadata });
  }

  /** An item deleted since the snapshot: words no longer find it. */
  remove(id: string): void {
    const row = this.rowOf.get(id);
    if (row === undefined) return;
    this.hiddenRows.add(row);
    this.rowOf.delete(id);
  }

  parse(text: string): ParsedText {
    return parseText(checkText(text), this.vocabulary, this.correctSlips ? this.spelling : undefined);
  }

  /** Predicted labels of an item of the snapshot, if it lacks some. */
  predictedOf(row: number): Predicted | undefined {
    return this.itemLabels.predictedOf(row);
  }

  /** Effective labels (catalog labels, predicted ones where missing). */
  labelsOf(row: number): Metadata {
    return this.labels[row]!;
  }

  /**
   * Words only: the items that satisfy the words, ranked by (the main value where the words name several, e.g.
   * "white" of "white and pink"; how many free words they contain; how likely the name model finds the item's
   * type for these words when they leave it open, e.g. "shoes"; BM25; id). When fewer than k satisfy every word, the rest of the
   * list comes from dropping the least specific word filters in turn (season, usage, gender, colour, type);
   * such hits say which filters they miss.
   */
  async search(text: string, options: TextQueryOptions = {}): Promise<TextSearchResult> {
    const k = checkK(options.k ?? this.defaults.k);
    const t0 = performance.now();
    const parsed = this.parse(text);
    const sel = await this.select(parsed, options);
    const likely = this.likelihood(parsed, sel.info.filters);
    const score = await this.scorer(sel.rankWords);
    const primaryFilters = sel.info.filters.filter((f) => f.values.length > 1);
    const primary = (row: number) => {
      let n = 0;
      for (const f of primaryFilters) if (this.labels[row]![f.field] === sel.primary.get(f.field)) n++;
      return n;
    };
    // The best n rows by (main value, free words contained, name model, BM25, id), kept in a short sorted list:
    // a query's candidates can be 20,000 items, of which only the k first matter, and BM25 is asked only for rows
    // that tie with the list on the keys before it.
    type Keyed = { row: number; main: number; tier: number; likely: number; bm25?: number };
    const bm25 = (x: Keyed) => (x.bm25 ??= score(this.items[x.row]!.id) ?? -Infinity);
    /** > 0 when x ranks before y. */
    const before = (x: Keyed, y: Keyed) =>
      x.main - y.main || x.tier - y.tier || x.likely - y.likely || bm25(x) - bm25(y) || cmp(this.items[y.row]!.id, this.items[x.row]!.id);
    const top = (rows: Iterable<number>, n: number): number[] => {
      const best: Keyed[] = [];
      if (n <= 0) return [];
      for (const row of rows) {
        const x: Keyed = { row, main: primary(row), tier: sel.tier.get(row) ?? 0, likely: likely(row) };
        if (best.length === n && !(before(x, best[n - 1]!) > 0)) continue;
        let i = best.length;
        while (i > 0 && before(x, best[i - 1]!) > 0) i--;
        best.splice(i, 0, x);
        if (best.length > n) best.pop();
      }
      return best.map((x) => x.row);
    };
    const ranked: Array<{ row: number; missing: string[] }> = top(sel.rows, k).map((row) => ({ row, missing: [] }));
    // Fill up from progressively relaxed filters.
    let applied = sel.info.filters;
    const seen = new Set(ranked.map((r) => r.row));
    while (ranked.length < k && applied.length > 0) {
      const victim = RELAX_ORDER.find((f) => applied.some((a) => a.field === f))!;
      applied = applied.filter((a) => a.field !== victim);
      const missingFields = sel.info.filters.filter((f) => !applied.includes(f)).map((f) => f.field);
      const more = sel.base.filter((r) => !seen.has(r) && this.satisfies(r, applied));
      for (const row of top(more, k - ranked.length)) {
        seen.add(row);
        ranked.push({ row, missing: missingFields.filter((f) => !this.satisfies(row, sel.info.filters.filter((x) => x.field === f))) });
      }
    }
    const best = Math.max(1e-9, ...ranked.map((r) => score(this.items[r.row]!.id) ?? 0));
    const hits = ranked.map(({ row, missing }) => {
      const it = this.items[row]!;
      const s = Math.max(0, score(it.id) ?? 0) / best;
      const hit = this.withPredicted(row, { id: it.id, score: round(s), distance: round(1 - s), metadata: it.metadata });
      return missing.length > 0 ? { ...hit, unmatched: missing } : hit;
    });
    return { hits, metric: options.metric ?? this.defaults.metric, k, timings: { searchMs: performance.now() - t0 }, text: sel.info };
  }

  /** BM25 of the words, item by item (the text index's scorer, or its scores of every match where it has none). */
  private async scorer(words: readonly string[]): Promise<(id: string) => number | undefined> {
    if (this.text.scorer) return this.text.scorer(words);
    const scores = new Map((await this.text.score(words, 100_000)).map((s) => [s.id, s.score]));
    return (id) => scores.get(id);
  }

  /** A photo's vector plus words: visual similarity among the items that satisfy the words. */
  async searchWithVector(vector: Float32Array, text: string, options: TextQueryOptions = {}, excludeId?: string): Promise<TextSearchResult> {
    const sel = await this.select(this.parse(text), options);
    const maxTier = Math.max(0, ...sel.tier.values());
    const allowed = new Set([...sel.rows].filter((r) => (sel.tier.get(r) ?? 0) === maxTier).map((r) => this.items[r]!.id));
    if (excludeId !== undefined) allowed.delete(excludeId);
    const res = await this.vectors.nearest(vector, { k: checkK(options.k ?? this.defaults.k), metric: options.metric ?? this.defaults.metric, filter: { onlyIds: allowed } });
    const hits = res.hits.map((h) => this.withPredicted(this.rowOf.get(h.id)!, h));
    return { ...res, hits, text: sel.info };
  }

  /**
   * log P(item's articleType | the words, the gender and colour they state), from the name model, when the
   * words leave the type open: no type word ("lacquer"), or one naming several ("shoes", "sandals").
   */
  private likelihood(parsed: ParsedText, filters: readonly WordFilter[]): (row: number) => number {
    const type = filters.find((f) => f.field === 'articleType');
    if (type && type.values.length === 1) return () => 0;
    const given: Record<string, readonly string[]> = {};
    for (const f of filters) if (STATED.has(f.field)) given[f.field] = f.values;
    const post = this.names.posterior(nameFeatures(parsed.corrected, this.vocabulary, STATED), given);
    return (row) => post.get(this.labels[row]!.articleType ?? '') ?? -1e9;
  }

  private withPredicted(row: number, hit: SearchHit): TextHit {
    const p = this.itemLabels.predictedOf(row);
    return p && Object.keys(p).length > 0 ? { ...hit, predicted: p } : hit;
  }

  private async select(parsed: ParsedText, options: TextQueryOptions) {
    const drop = new Set(options.dropFilters ?? []);
    const removed = parsed.filters.filter((f) => drop.has(f.field));
    let applied = parsed.filters.filter((f) => !drop.has(f.field));
    // Words of removed filters still rank, as free words.
    const freeWords = [...parsed.words, ...removed.flatMap((f) => (f.corrected ?? f.words).split(/[ ,]+/).filter((w) => w && w !== 'for'))];
    const explicit = options.filters;
    const base: number[] = [];
    for (let row = 0; row < this.items.length; row++) {
      if (this.hiddenRows.has(row) || options.exclude?.(this.items[row]!.id)) continue;
      if (hasFilters(explicit) && !matchesFilters(this.labels[row]!, explicit!)) continue;
      base.push(row);
    }
    const relaxed: WordFilter[] = [];
    let rows = base.filter((r) => this.satisfies(r, applied));
    while (rows.length === 0 && applied.length > 0) {
      const victim = RELAX_ORDER.find((f) => applied.some((a) => a.field === f))!;
      relaxed.push(...applied.filter((a) => a.field === victim));
      applied = applied.filter((a) => a.field !== victim);
      rows = base.filter((r) => this.satisfies(r, applied));
    }
    // Tier: how many free words an item contains (words that no remaining item contains are ignored).
    const rowSet = new Set(rows);
    const tier = new Map<number, number>();
    const unmatchedWords: string[] = [];
    const usedWords: string[] = [];
    const matched = await Promise.all(freeWords.map((w) => this.text.matchAll([w])));
    for (const [i, w] of freeWords.entries()) {
      const ids = matched[i]!;
      let any = false;
      for (const id of ids) {
        const r = this.rowOf.get(id);
        if (r !== undefined && rowSet.has(r)) {
          tier.set(r, (tier.get(r) ?? 0) + 1);
          any = true;
        }
      }
      (any ? usedWords : unmatchedWords).push(w);
    }
    const info: TextQueryInfo = {
      text: parsed.text,
      filters: applied,
      removed,
      relaxed,
      words: usedWords,
      unmatchedWords,
      corrections: parsed.corrections,
      ...(parsed.corrections.length > 0 ? { didYouMean: parsed.corrected } : {}),
      engine: this.text.kind,
    };
    const rankWords = [...new Set([...parsed.allWords, ...freeWords])];
    return { rows: rowSet, tier, info, rankWords, base, primary: new Map(parsed.filters.filter((f) => f.first !== undefined).map((f) => [f.field, f.first!])) };
  }

  private satisfies(row: number, filters: readonly WordFilter[]): boolean {
    const m = this.labels[row]!;
    for (const f of filters) {
      const v = m[f.field] ?? '';
      if (!f.values.includes(v) && !(f.field === 'gender' && v === 'Unisex' && f.values.some((g) => WITH_UNISEX.has(g)))) return false;
    }
    return true;
  }
}

/** The words an item brings to the dictionary: its name's and its labels' (each once). */
function itemWords(metadata: Metadata): Set<string> {
  const out = new Set(tokenize(metadata.productDisplayName ?? ''));
  for (const f of ITEM_LABEL_FIELDS) for (const w of tokenize(metadata[f] ?? '')) out.add(w);
  return out;
}

/** The label fields whose words the full-text index holds (src/text/ftsIndex.ts). */
const ITEM_LABEL_FIELDS = ['articleType', 'baseColour', 'gender', 'usage', 'season', 'masterCategory', 'subCategory'] as const;

function checkK(k: number): number {
  if (!Number.isInteger(k) || k < 1 || k > MAX_K) throw invalid('k', `an integer from 1 to ${MAX_K}`, k);
  return k;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
