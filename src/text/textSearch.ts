/**
 * The text side of search, behind one small interface. The default implementation is a full-text index
 * over the catalog's names and labels (SQLite FTS5, BM25). A CLIP-style image+text model can implement the
 * same interface where one is available: embed the words into the image space and score items by cosine.
 */
export interface TextScore {
  readonly id: string;
  /** Higher is more relevant; only the order within one call is meaningful. */
  readonly score: number;
}

export interface TextSearch {
  /** What scores the words, e.g. `fts5-bm25`, `pg-bm25` or `clip:<model>`. */
  readonly kind: string;
  /**
   * Catalog items that match any of the words, best first (ties broken by id), at most `limit`.
   * `words` are plain lower-case words; the implementation decides how to match them.
   * Asynchronous: an index in a database server (src/text/pgTextSearch.ts) answers over the network.
   */
  score(words: readonly string[], limit: number): Promise<TextScore[]>;
  /**
   * The same scores as `score`, asked for item by item (undefined for an item that matches none of the words):
   * a query that ranks a few thousand items by other keys first needs the score of only those it compares. The
   * scores are fetched once (the promise), then asked for synchronously.
   * Optional; without it the engine asks `score` for every match.
   */
  scorer?(words: readonly string[]): Promise<(id: string) => number | undefined>;
  /** Ids of the items that match every one of the words (for "must contain" free words). */
  matchAll(words: readonly string[]): Promise<Set<string>>;
  close?(): void | Promise<void>;
}
