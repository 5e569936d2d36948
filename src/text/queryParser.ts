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
  /** The value named first (the main colour of "white and pink"; the first of a phrase naming several). */
  readonly first: string;
  /** The words as the shopper wrote them, e.g. "navy" or "for men". */
  readonly words: string;
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
}

export const MAX_TEXT_LENGTH = 200;

/** "for men": keep the preposition in the chip so that it reads as the shopper wrote it. */
function phraseShown(field: FilterField, phrase: string, prev: string | undefined): string {
  return field === 'gender' && prev === 'for' ? `for ${phrase}` : phrase;
}

/** Greedy longest match of the vocabulary's phrases over the tokens; the rest are free words or stop words. */
export function parseText(text: string, vocab: Vocabulary): ParsedText {
  const tokens = tokenize(text);
  const byField = new Map<FilterField, { values: Set<string>; words: string[]; first: string; afterWith: boolean }>();
  let afterWith = false;
  const words: string[] = [];
  const stopWords: string[] = [];
  const allWords: string[] = [];
  let i = 0;
  while (i < tokens.length) {
    let matched = 0;
    for (let n = Math.min(vocab.maxPhraseTokens, tokens.length - i); n >= 1; n--) {
      const phrase = tokens.slice(i, i + n).join(' ');
      const meaning = vocab.lookup(phrase);
      if (!meaning) continue;
      const entry = byField.get(meaning.field);
      if (!entry) {
        byField.set(meaning.field, { values: new Set(meaning.values), words: [phraseShown(meaning.field, phrase, tokens[i - 1])], first: meaning.values[0]!, afterWith: afterWith });
      } else {
        // Two phrases for one field: a narrower reading when they overlap ("pyjama set" -> Night suits),
        // either one when they do not ("red and blue").
        const common = meaning.values.filter((v) => entry.values.has(v));
        if (common.length > 0) entry.values = new Set(common);
        else meaning.values.forEach((v) => entry.values.add(v));
        entry.words.push(phraseShown(meaning.field, phrase, tokens[i - 1]));
        // The main colour is the one named first; the main type is the head noun, the last one before "with".
        if (common.length > 0) entry.first = common.includes(entry.first) ? entry.first : common[0]!;
        else if (meaning.field === 'articleType' && !afterWith) entry.first = meaning.values[0]!;
      }
      allWords.push(...tokens.slice(i, i + n));
      matched = n;
      break;
    }
    if (matched > 0) {
      i += matched;
      continue;
    }
    const t = tokens[i]!;
    if (t === 'with') afterWith = true;
    if (STOP_WORDS.has(t) || t.length < 2) stopWords.push(t);
    else {
      if (!words.includes(t)) words.push(t);
      allWords.push(t);
    }
    i++;
  }
  const filters = FILTER_FIELDS.filter((f) => byField.has(f)).map((field) => {
    const e = byField.get(field)!;
    return { field, values: [...e.values].sort(), first: e.first, words: e.words.join(', ') };
  });
  return { text, filters, words, stopWords, allWords: [...new Set(allWords)] };
}
