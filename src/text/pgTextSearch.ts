import type pg from 'pg';
import type { TextScore, TextSearch } from './textSearch.js';

/**
 * The words index in PostgreSQL: a table `words` beside `items` (each item's name and labels as a tsvector, the name
 * at weight A and the labels at weight B, and its length in tokens), with a GIN index, kept by statement triggers on
 * `items` in the writer's own transaction, so a write's words are found by every server reading the database as soon
 * as it commits, with no index per server to build or follow. Ranked by BM25 computed in SQL with SQLite FTS5's formula
 * and weights (src/text/ftsIndex.ts: name 2, labels 1, k1 1.2, b 0.75), so the words-query figures stay those of the
 * embedded index; the words are stemmed by PostgreSQL's English configuration (Snowball) where FTS5 uses Porter's,
 * and English stop words are not indexed.
 */

/** The label fields written as the item's label words (the same as src/text/ftsIndex.ts LABEL_FIELDS). */
const LABEL_FIELDS = ['articleType', 'baseColour', 'gender', 'usage', 'season', 'masterCategory', 'subCategory'] as const;
/** BM25 column weights (name, labels), as FTS5's bm25(items_fts, 0.0, 2.0, 1.0). */
const NAME_WEIGHT = 2;
const LABEL_WEIGHT = 1;
const K1 = 1.2;
const B = 0.75;
/** Words whose scores are kept (the most recently used; a common word's are ~15,000 numbers). */
const WORD_CACHE = 256;

/**
 * The migration that adds the words table to a catalog schema (`s`, quoted), fills it from the items there are, and
 * installs the triggers. Deleted items lose their words through the foreign key.
 */
export function wordsTableSql(s: string): string {
  const labels = LABEL_FIELDS.map((f) => `coalesce(m->>'${f}', '')`).join(', ');
  // Anything but letters and digits splits words, as FTS5's unicode61 tokenizer splits them (PostgreSQL's parser
  // would read "T-Shirt" as three tokens, t-shirt, t and shirt, and so count a longer name than FTS5 does).
  const words = (text: string) => `to_tsvector('english'::regconfig, regexp_replace(${text}, '[^[:alnum:]]+', ' ', 'g'))`;
  return `
    CREATE FUNCTION ${s}.item_words(m jsonb) RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $f$
      SELECT setweight(${words(`coalesce(m->>'productDisplayName', '')`)}, 'A') || setweight(${words(`concat_ws(' ', ${labels})`)}, 'B')
    $f$;
    -- Tokens of the name and labels, stop words included (their positions count), as FTS5 counts a row's length.
    CREATE FUNCTION ${s}.word_tokens(v tsvector) RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $f$
      SELECT coalesce(max(p), 0)::integer FROM unnest(v) u, unnest(u.positions) p
    $f$;
    CREATE TABLE ${s}.words (
      id text COLLATE "C" PRIMARY KEY REFERENCES ${s}.items (id) ON DELETE CASCADE,
      words tsvector NOT NULL,
      tokens integer NOT NULL
    );
    INSERT INTO ${s}.words (id, words, tokens) SELECT id, v, ${s}.word_tokens(v) FROM (SELECT id, ${s}.item_words(metadata) AS v FROM ${s}.items) x;
    CREATE INDEX words_gin ON ${s}.words USING gin (words);
    -- Per statement, over the rows it wrote (a batch of 500 items is one insert): one upsert, not one per row.
    CREATE FUNCTION ${s}.items_put_words() RETURNS trigger LANGUAGE plpgsql AS $f$
    BEGIN
      INSERT INTO ${s}.words (id, words, tokens)
        SELECT id, v, ${s}.word_tokens(v) FROM (SELECT id, ${s}.item_words(metadata) AS v FROM written) x
        ON CONFLICT (id) DO UPDATE SET words = excluded.words, tokens = excluded.tokens;
      RETURN NULL;
    END
    $f$;
    CREATE TRIGGER items_words_insert AFTER INSERT ON ${s}.items REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION ${s}.items_put_words();
    CREATE TRIGGER items_words_update AFTER UPDATE ON ${s}.items REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION ${s}.items_put_words();
  `;
}

/** A word as the index reads it: letters and digits, the rest spaces (FTS5's phrase of the word's tokens). */
function clean(word: string): string {
  return word.replace(/[^\p{L}\p{N}]+/gu, ' ').trim();
}

/** BM25 over the `words` table of a catalog schema in PostgreSQL (see the module comment). */
export class PgTextSearch implements TextSearch {
  readonly kind = 'pg-bm25';
  private readonly t: { words: string; settings: string };
  /** Per word: item id -> its BM25 for that word alone. Insertion order is recency. */
  private readonly words = new Map<string, Map<string, number>>();
  /** The catalog's generation the cache holds scores of, with its row count and mean length. */
  private seen: { generation: string; n: number; avgdl: number } | null = null;

  constructor(
    private readonly pool: pg.Pool,
    schema: string,
  ) {
    const s = `"${schema}"`;
    this.t = { words: `${s}.words`, settings: `${s}.settings` };
  }

  async score(words: readonly string[], limit: number): Promise<TextScore[]> {
    const scorer = await this.scorerOf(words);
    if (!scorer) return [];
    const ids = new Set<string>();
    for (const m of scorer.maps) for (const id of m.keys()) ids.add(id);
    const out = [...ids].map((id) => ({ id, score: scorer.at(id)! }));
    out.sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return out.slice(0, limit);
  }

  async scorer(words: readonly string[]): Promise<(id: string) => number | undefined> {
    const s = await this.scorerOf(words);
    return s ? s.at : () => undefined;
  }

  async matchAll(words: readonly string[]): Promise<Set<string>> {
    const terms = words.map(clean).filter(Boolean);
    if (terms.length === 0) return new Set();
    const query = terms.map((_, i) => `phraseto_tsquery('english', $${i + 1})`).join(' && ');
    const { rows } = await this.pool.query<{ id: string }>({ text: `SELECT id FROM ${this.t.words} WHERE words @@ (${query})`, values: terms });
    return new Set(rows.map((r) => r.id));
  }

  /** Each distinct word's scores (kept while the catalog's generation stays), summed item by item. */
  private async scorerOf(words: readonly string[]): Promise<{ maps: Map<string, number>[]; at: (id: string) => number | undefined } | null> {
    const terms = [...new Set(words.map(clean).filter(Boolean))];
    if (terms.length === 0) return null;
    const stats = await this.stats();
    const maps = await Promise.all(terms.map((w) => this.wordScores(w, stats)));
    const at = (id: string) => {
      let sum: number | undefined;
      for (const m of maps) {
        const s = m.get(id);
        if (s !== undefined) sum = (sum ?? 0) + s;
      }
      return sum;
    };
    return { maps, at };
  }

  /** The catalog's generation (bumped by every write), and the table's size and mean length when it changed. */
  private async stats(): Promise<{ n: number; avgdl: number }> {
    const { rows } = await this.pool.query<{ g: string | null }>(`SELECT value AS g FROM ${this.t.settings} WHERE key = 'generation'`);
    const generation = rows[0]?.g ?? '0';
    if (this.seen?.generation !== generation) {
      const { rows: st } = await this.pool.query<{ n: string; total: string | null }>(`SELECT count(*) AS n, sum(tokens) AS total FROM ${this.t.words}`);
      const n = Number(st[0]!.n);
      this.words.clear();
      // As FTS5 computes it: the total tokens over the rows, in double precision.
      this.seen = { generation, n, avgdl: n > 0 ? Number(st[0]!.total) / n : 1 };
    }
    return this.seen;
  }

  /**
   * One word's BM25 of every item that has it, as FTS5 computes it for a one-phrase query: idf = ln((N - n + 0.5) /
   * (n + 0.5)) (at least 1e-6), times f (k1 + 1) / (f + k1 (1 - b + b D / avgdl)), with f the word's occurrences
   * weighted by column and D the item's tokens.
   */
  private async wordScores(word: string, stats: { n: number; avgdl: number }): Promise<Map<string, number>> {
    let m = this.words.get(word);
    if (m) {
      this.words.delete(word);
      this.words.set(word, m);
      return m;
    }
    const { rows } = await this.pool.query<{ id: string; f: number; tokens: number }>({
      text: `WITH q AS (SELECT phraseto_tsquery('english', $1) AS q, ARRAY(SELECT lexeme FROM unnest(to_tsvector('english', $1))) AS lex)
        SELECT w.id, w.tokens,
          (SELECT coalesce(sum(CASE WHEN wt = 'A' THEN ${NAME_WEIGHT} ELSE ${LABEL_WEIGHT} END), 0) FROM unnest(w.words) u, unnest(u.weights) wt WHERE u.lexeme = ANY(q.lex))::float8 AS f
        FROM ${this.t.words} w, q WHERE w.words @@ q.q`,
      values: [word],
    });
    const idf = Math.max(1e-6, Math.log((stats.n - rows.length + 0.5) / (rows.length + 0.5)));
    m = new Map();
    // In FTS5's order of operations (fts5_aux.c), so that equal scores come out equal and ties fall to the id alike.
    for (const r of rows) m.set(r.id, idf * ((r.f * (K1 + 1.0)) / (r.f + K1 * (1 - B + (B * r.tokens) / stats.avgdl))));
    if (this.words.size >= WORD_CACHE) this.words.delete(this.words.keys().next().value!);
    this.words.set(word, m);
    return m;
  }
}
