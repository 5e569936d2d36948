import { SymSpell } from 'mnemonist';
import { nounForms, tokenize } from './vocabulary.js';

/**
 * Typing slips: a word the catalog does not know is read as the nearest word it does know ("hanbdag" ->
 * "handbag", "balck" -> "black", "snekers" -> "sneakers"). The dictionary is the catalog's own words (its names,
 * its labels, the vocabulary's phrases, the stop words); candidates come from mnemonist's SymSpell (symmetric
 * delete index, Damerau-Levenshtein: a swapped pair of letters is one edit), a maintained library, rather than
 * an edit-distance index of our own. SQLite offers no such thing in better-sqlite3: spellfix1 is not compiled in,
 * and candidates from an FTS5 trigram table miss a fifth of the one-slip words of 4-8 letters ("balck" shares no
 * trigram with "black"; docs/text-search.md has the measurement). Two narrower readings close the gaps a slip
 * leaves otherwise: a word of 3 letters that lost a letter of a filter word ("lue" -> "blue"), and a word the
 * catalog knows from a product or two that is far likelier a slip for a common filter word ("shits" -> "shirts").
 */
export interface Correction {
  /** The word as typed (lower case, as tokenized). */
  readonly from: string;
  /** The catalog's word it was read as. */
  readonly to: string;
  /** Edits between them (a swap of two neighbouring letters is one). */
  readonly distance: number;
}

/** Shortest typed word that is corrected at all, and with two edits: what shop search engines forgive. */
export const MIN_LENGTH_ONE_EDIT = 4;
export const MIN_LENGTH_TWO_EDITS = 9;

/**
 * Edits a typed word may be away from its correction: none under 4 letters, one for 4-8, two from 9 up (a word of
 * 3 letters may still be a filter word with a letter dropped: `Spelling.correct`).
 */
export function allowedEdits(word: string): number {
  const n = [...word].length;
  return n >= MIN_LENGTH_TWO_EDITS ? 2 : n >= MIN_LENGTH_ONE_EDIT ? 1 : 0;
}

/**
 * A word the catalog knows, but only from this many products at most, may still be a slip for a filter word
 * ("shits" is in one name, "shirts" in 969; "ports" in one, "sports" in 1,303) ...
 */
export const RARE_USES = 2;
/**
 * ... when the product names use that filter word at least this many times as often, the slip weighed by its odds
 * (a noisy channel: `readAsCommon`). 300 rather than 100 on the training split: the same figures, and of its
 * 31,776 names only the 15 that misspell a word are read otherwise ("Whte", "Grils"), not "range" as "orange".
 */
export const COMMON_RATIO = 300;

/** Only words of letters are corrected: "fs4545" is a model code, not a slip. */
const LETTERS = /^\p{L}+$/u;

/** Keys next to each other on a QWERTY keyboard (rows offset as on a real one): a finger that slips lands there. */
const KEY_ROWS = ['qwertyuiop', 'asdfghjkl', 'zxcvbnm'];
const NEAR_KEYS = new Map<string, string>();
KEY_ROWS.forEach((row, r) => {
  [...row].forEach((ch, c) => {
    const near = [row[c - 1], row[c + 1], KEY_ROWS[r - 1]?.[c], KEY_ROWS[r - 1]?.[c + 1], KEY_ROWS[r + 1]?.[c - 1], KEY_ROWS[r + 1]?.[c]];
    NEAR_KEYS.set(ch, near.filter((x): x is string => !!x).join(''));
  });
});

/** The keys next to a letter's key ('' for a key off the letter rows). */
export function nearKeys(ch: string): string {
  return NEAR_KEYS.get(ch) ?? '';
}

/**
 * Whether one edit between a typed word and a candidate is a likely slip of the fingers: a letter dropped, two
 * letters swapped, a letter replaced by a key next to it, or a letter too many that doubles a letter beside it or
 * is a key next to one. A far key is less likely: "gren" is "green" with a letter dropped rather than "grey" with
 * n for y, and "deoz" is "deos" rather than "deo" with a stray z.
 */
export function isKeySlip(typed: string, word: string): boolean {
  const near = (a: string | undefined, b: string | undefined) => a !== undefined && b !== undefined && (a === b || (NEAR_KEYS.get(b)?.includes(a) ?? false));
  if (typed.length === word.length - 1) return true;
  if (typed.length === word.length + 1) {
    return [...typed].some((ch, i) => typed.slice(0, i) + typed.slice(i + 1) === word && (near(ch, typed[i - 1]) || near(ch, typed[i + 1])));
  }
  if (typed.length !== word.length) return false;
  const diff = [...typed].map((_, i) => i).filter((i) => typed[i] !== word[i]);
  if (diff.length === 2 && diff[1] === diff[0]! + 1 && typed[diff[0]!] === word[diff[1]!] && typed[diff[1]!] === word[diff[0]!]) return true;
  if (diff.length !== 1) return false;
  return NEAR_KEYS.get(word[diff[0]!]!)?.includes(typed[diff[0]!]!) ?? false;
}

/** A key has about six around it: one given slip onto a neighbouring key is about a sixth as likely as one given dropped letter. */
const NEAR_KEY_ODDS = 1 / 6;

/**
 * How likely one edit is as a slip, relative to a dropped letter: 1 for a letter dropped, two swapped or a letter
 * doubled (each one way to make), a sixth for a key next to the right one, replacing it or added beside it (one
 * of about six), 0 for anything else.
 */
export function slipOdds(typed: string, word: string): number {
  if (!isKeySlip(typed, word)) return 0;
  if (typed.length === word.length - 1) return 1;
  if (typed.length === word.length + 1) {
    return [...typed].some((ch, i) => typed.slice(0, i) + typed.slice(i + 1) === word && (ch === typed[i - 1] || ch === typed[i + 1])) ? 1 : NEAR_KEY_ODDS;
  }
  return [...typed].filter((ch, i) => ch !== word[i]).length === 2 ? 1 : NEAR_KEY_ODDS;
}

export class Spelling {
  /** How many of the catalog's items use each word (their names or labels); 0 for words that only the vocabulary has. */
  private readonly counts = new Map<string, number>();
  private readonly index = new SymSpell({ maxDistance: 2, verbosity: 2 });
  /** Words known without any item (vocabulary, stop words): never read as another word, however rare. */
  private readonly reserved = new Set<string>();
  /**
   * The words of the filter phrases (types, colours, genders, usages, seasons), what a rare or short word may be
   * read as, with how many product names use each: how often the shop writes the word, where the counts above
   * also hold the labels (every item is labelled with a season, and "fall" would look as common as "black"; the
   * names say "fall" once).
   */
  private readonly filterWords: ReadonlyMap<string, number>;

  /**
   * `words`: each word of the catalog with how many items use it; `alsoKnown`: words known even when no item uses
   * them (the vocabulary's "sneakers", the stop words), never corrected and corrections to them possible;
   * `filterWords`: the vocabulary's words (every word of a phrase that becomes a filter) with how many product names
   * use each, which a word the catalog rarely uses or a word of 3 letters may be read as.
   */
  constructor(words: Iterable<readonly [string, number]>, alsoKnown: Iterable<string> = [], filterWords: Iterable<readonly [string, number]> = []) {
    for (const [w, n] of words) this.add(w, n);
    for (const w of alsoKnown) {
      this.add(w, 0);
      this.reserved.add(w);
    }
    this.filterWords = new Map(filterWords);
    for (const w of this.filterWords.keys()) this.reserved.add(w);
  }

  /** A word the catalog uses (a product written since the engine started brings its name's words). */
  add(word: string, count = 1): void {
    if (!word) return;
    const had = this.counts.get(word);
    this.counts.set(word, (had ?? 0) + count);
    if (had === undefined && LETTERS.test(word)) this.index.add(word);
  }

  /** The catalog knows the word, in this form or its singular or plural ("loafers" when names say "Loafer"). */
  known(word: string): boolean {
    return nounForms(word).some((w) => this.counts.has(w));
  }

  /**
   * The catalog's word an unknown typed word most likely is: the fewest edits, then a slip of the fingers rather
   * than a far key (`isKeySlip`), then the word more items use, then the alphabet (preferring the vocabulary's
   * words next read "Slid" as "slide", a flip-flop, rather than "solid" on the training split: left out).
   * A word of 3 letters is read only as a filter word with the letter it lost ("lue" -> "blue", `readShort`), and a
   * word the catalog knows only as the far more common filter word next to it (`readAsCommon`): a correct word
   * is otherwise never changed into another ("tops" stays "tops"). Undefined for words under 3 letters, words with
   * digits and words nothing is near.
   */
  correct(word: string): Correction | undefined {
    if (!LETTERS.test(word)) return undefined;
    if (this.known(word)) return this.readAsCommon(word);
    const max = allowedEdits(word);
    if (max === 0) return this.readShort(word);
    return this.nearest(word, (s) => s.distance >= 1 && s.distance <= max);
  }

  /**
   * A word of 3 letters the catalog does not know, read as a filter word of 4 that has one more letter: a dropped
   * letter ("lue" -> "blue", "nav" -> "navy", "gre" -> "grey"), the one the names use most if several. Any other
   * edit of so short a word lands on too many words to choose ("lue" is one edit from "lee", "hue", "lux" ...),
   * and a word the catalog knows is left as it is ("tee", "ink").
   */
  private readShort(word: string): Correction | undefined {
    if ([...word].length !== MIN_LENGTH_ONE_EDIT - 1) return undefined;
    return this.likeliestFilterWord(word, (term) => term.length === word.length + 1, 0);
  }

  /**
   * A known word that is most likely a slip all the same (a noisy channel): the catalog uses it in at most
   * `RARE_USES` products, and the names use a filter word one slip away at least `COMMON_RATIO` times as often,
   * weighed by how likely that slip is (`slipOdds`: a key next to the right one counts a sixth). "shits" ->
   * "shirts", "ports" -> "sports", "shrt" -> "shirt" (which two names use for "short"). The counts are the
   * names' because labels make a season look as common as a colour ("call" would be "fall"), and the weight
   * keeps rare words of the catalog's own names from turning into filter words by a far-fetched slip ("solver"
   * is not "silver", "hail" not "nail": training-split names). A shopper who meant the rare word removes the
   * chip. Never for the vocabulary's or stop words, for words under 4 letters, or for a word used more ("back",
   * in 27 names, stays "back").
   */
  private readAsCommon(word: string): Correction | undefined {
    if (allowedEdits(word) === 0) return undefined;
    const forms = nounForms(word);
    if (forms.some((w) => this.reserved.has(w))) return undefined;
    const uses = forms.reduce((n, w) => n + (this.counts.get(w) ?? 0), 0);
    if (uses > RARE_USES) return undefined;
    return this.likeliestFilterWord(word, () => true, COMMON_RATIO * Math.max(uses, 1));
  }

  /**
   * The filter word one slip from `word` (and passing `keep`) that is likeliest meant: how often the names use it
   * (plus one, so that a value only the labels name can still be meant) times the odds of the slip, at least
   * `need`; then `better`.
   */
  private likeliestFilterWord(word: string, keep: (term: string) => boolean, need: number): Correction | undefined {
    let best: Correction | undefined;
    let bestOdds = -1;
    for (const s of this.index.search(word)) {
      const written = this.filterWords.get(s.term);
      if (s.distance !== 1 || written === undefined || !keep(s.term)) continue;
      const odds = (written + 1) * slipOdds(word, s.term);
      if (odds < need || odds === 0 || odds < bestOdds) continue;
      const c = { from: word, to: s.term, distance: 1 };
      if (odds > bestOdds || !best || this.better(c, best)) [best, bestOdds] = [c, odds];
    }
    return best;
  }

  /** The best of the index's candidates that pass `keep` (`better`). */
  private nearest(word: string, keep: (s: { term: string; distance: number }) => boolean): Correction | undefined {
    let best: Correction | undefined;
    for (const s of this.index.search(word)) {
      if (!keep(s)) continue;
      const c = { from: word, to: s.term, distance: s.distance };
      if (!best || this.better(c, best)) best = c;
    }
    return best;
  }

  /** Each unknown token read as its correction; the corrections made, in order. */
  correctTokens(tokens: readonly string[]): { tokens: string[]; corrections: Correction[] } {
    const corrections: Correction[] = [];
    const out = tokens.map((t) => {
      const c = this.correct(t);
      if (!c) return t;
      corrections.push(c);
      return c.to;
    });
    return { tokens: out, corrections };
  }

  size(): number {
    return this.counts.size;
  }

  private better(a: Correction, b: Correction): boolean {
    if (a.distance !== b.distance) return a.distance < b.distance;
    if (a.distance === 1) {
      const [ka, kb] = [isKeySlip(a.from, a.to), isKeySlip(b.from, b.to)];
      if (ka !== kb) return ka;
    }
    const ca = this.counts.get(a.to) ?? 0;
    const cb = this.counts.get(b.to) ?? 0;
    if (ca !== cb) return ca > cb;
    return a.to < b.to;
  }
}

/**
 * The text as typed with each corrected word replaced ("Snekers for men" -> "Sneakers for men"): the
 * "did you mean" line. A word keeps its capital first letter; everything else is left as it was.
 */
export function correctedText(text: string, corrections: readonly Correction[]): string {
  if (corrections.length === 0) return text;
  const to = new Map(corrections.map((c) => [c.from, c.to]));
  return text.replace(/[\p{L}\p{M}\p{N}'’`]+/gu, (run) => {
    const t = tokenize(run);
    let fix = t.length === 1 ? to.get(t[0]!) : undefined;
    if (fix === undefined) return run;
    // "wommen's" -> "women's": the apostrophe stays as many letters from the end.
    const apostrophe = run.search(/['’`][^'’`]*$/u);
    const after = apostrophe >= 0 ? run.length - apostrophe - 1 : -1;
    if (after >= 0 && after < fix.length) fix = fix.slice(0, fix.length - after) + run[apostrophe] + fix.slice(fix.length - after);
    return /^\p{Lu}/u.test(run) ? fix.charAt(0).toUpperCase() + fix.slice(1) : fix;
  });
}
