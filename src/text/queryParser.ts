import { correctedText, type Correction, type Spelling } from './spelling.js';
import { FILTER_FIELDS, tokenize, type FilterField, type Vocabulary } from './vocabulary.js';

/** Words that carry no meaning for a product search ("like this, but in blue"). */
export const STOP_WORDS = new Set(
  ('a an and the for in on of with without to this that these those it its but like same similar more less some any ' +
    'one ones thing things something me my i want need looking look find show please version style colour color shade ' +
    'tone toned other another instead only just very also or by from at as is are be new')
    .split(' '),
);

/** A run of the query's words that became a metadata filter. */
export interface WordFilter {
  readonly field: FilterField;
  readonly values: string[];
  /**
   * The main value when the words name several apart: the colour of "white and pink" or of "Red Card Grey
   * T-shirt" (grey), the type that is the head noun ("chain ... handbag"). Absent when one phrase names
   * several ("shoes"): the name model ranks those.
   */
  readonly first?: string;
  /** The words as the shopper wrote them, e.g. "navy" or "for men" (or "hanbdag"). */
  readonly words: string;
  /** The words as they were read, when a slip was corrected ("handbag" for "hanbdag"). */
  readonly corrected?: string;
}

export interface ParsedText {
  readonly text: string;
  /** One entry per field (several phrases for one field are merged: "red or blue"). */
  readonly filters: WordFilter[];
  /** Content words left for the full-text ranking ("floral", "fleece"). */
  readonly words: string[];
  /** Words that carried no meaning. */
  readonly stopWords: string[];
  /** Every content word, filter words included (for ranking names that repeat them). */
  readonly allWords: string[];
  /** Words the catalog does not know, read as the nearest words it does ("snekers" -> "sneakers"). */
  readonly corrections: Correction[];
  /** The text with those words corrected (the text itself when none was): "did you mean". */
  readonly corrected: string;
}

export const MAX_TEXT_LENGTH = 200;
/** Words that keep a run of colours going ("white and pink", "black & white" loses its "&" to the tokenizer). */
const COLOUR_JOINERS = new Set(['and', 'or']);

/** "for men": keep the preposition in the chip so that it reads as the shopper wrote it. */
function phraseShown(field: FilterField, phrase: string, prev: string | undefined): string {
  return field === 'gender' && prev === 'for' ? `for ${phrase}` : phrase;
}

/**
 * Greedy longest match of the vocabulary's phrases over the tokens; the rest are free words or stop words. With a
 * `spelling`, words the catalog does not know are first read as their corrections, so that "hanbdag" is a filter
 * word like "handbag" (its chip says where it came from).
 */
export function parseText(text: string, vocab: Vocabulary, spelling?: Spelling): ParsedText {
  const typed = tokenize(text);
  const { tokens, corrections } = spelling ? spelling.correctTokens(typed) : { tokens: typed, corrections: [] };
  const byField = new Map<FilterField, { values: Set<string>; words: string[]; read: string[]; first: string; named: boolean }>();
  let afterWith = false;
  const words: string[] = [];
  const stopWords: string[] = [];
  const allWords: string[] = [];
  let prev: string | undefined;
  // Whether the last meaningful phrase was a colour ("navy and white": one run of colours).
  let inColourRun = false;
  let at = 0;
  for (const { phrase, tokens: run, meaning } of vocab.segment(tokens)) {
    const asTyped = typed.slice(at, at + run.length).join(' ');
    at += run.length;
    const before = prev;
    prev = run.at(-1);
    const startsColourRun = meaning?.field === 'baseColour' && !inColourRun;
    if (meaning) inColourRun = meaning.field === 'baseColour';
    else if (!COLOUR_JOINERS.has(phrase)) inColourRun = false;
    if (meaning) {
      const entry = byField.get(meaning.field);
      if (!entry) {
        byField.set(meaning.field, {
          values: new Set(meaning.values),
          words: [phraseShown(meaning.field, asTyped, before)],
          read: [phraseShown(meaning.field, phrase, before)],
          first: meaning.values[0]!,
          named: false,
        });
      } else {
        // Two phrases for one field: a narrower reading when they overlap ("pyjama set" -> Night suits),
        // either one when they do not ("red and blue").
        const common = meaning.values.filter((v) => entry.values.has(v));
        if (common.length > 0) entry.values = new Set(common);
        else {
          meaning.values.forEach((v) => entry.values.add(v));
          entry.named = true;
        }
        entry.words.push(phraseShown(meaning.field, asTyped, before));
        entry.read.push(phraseShown(meaning.field, phrase, before));
        // The main type is the head noun, the last one before "with". The main colour is the first of the last
        // run of colours before "with": "navy and white shirt" is navy, but in "Red Card Grey T-shirt" the
        // colour next to the noun is the product's (measured on the catalog's training-split names that name
        // two colours: adjacent, the first is the label 1,387 times to 241; apart, the last 392 to 38).
        if (common.length > 0) entry.first = common.includes(entry.first) ? entry.first : common[0]!;
        else if (meaning.field === 'articleType' && !afterWith) entry.first = meaning.values[0]!;
        else if (meaning.field === 'baseColour' && startsColourRun && !afterWith) entry.first = meaning.values[0]!;
      }
      allWords.push(...run);
      continue;
    }
    const t = phrase;
    if (t === 'with') afterWith = true;
    if (STOP_WORDS.has(t) || t.length < 2) stopWords.push(t);
    else {
      if (!words.includes(t)) words.push(t);
      allWords.push(t);
    }
  }
  const filters = FILTER_FIELDS.filter((f) => byField.has(f)).map((field) => {
    const e = byField.get(field)!;
    const [words, read] = [e.words.join(', '), e.read.join(', ')];
    return { field, values: [...e.values].sort(), ...(e.named ? { first: e.first } : {}), words, ...(read !== words ? { corrected: read } : {}) };
  });
  return { text, filters, words, stopWords, allWords: [...new Set(allWords)], corrections, corrected: correctedText(text, corrections) };
}
