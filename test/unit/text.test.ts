import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseText } from '../../src/text/queryParser.js';
import { nounForms, tokenize, Vocabulary } from '../../src/text/vocabulary.js';

/** A tiny catalog's values. */
const vocab = new Vocabulary({
  articleType: ['Tshirts', 'Casual Shoes', 'Sports Shoes', 'Handbags', 'Watches', 'Perfume and Body Mist', 'Tablet Sleeve'],
  baseColour: ['Navy Blue', 'Blue', 'Red', 'White', 'NA'],
  gender: ['Men', 'Women'],
  usage: ['Casual', 'Sports'],
  season: ['Summer', 'Fall'],
});

const meaning = (phrase: string) => {
  const m = vocab.lookup(phrase);
  return m ? [m.field, m.values] : undefined;
};

test('tokens: lower case letters and digits, accents and apostrophes dropped, anything else splits', () => {
  assert.deepEqual(tokenize("Men's T-Shirt, Café-au-lait 2 pack!"), ['mens', 't', 'shirt', 'cafe', 'au', 'lait', '2', 'pack']);
  assert.deepEqual(tokenize('  '), []);
  assert.deepEqual(tokenize('NAVY/blue'), ['navy', 'blue']);
});

test('noun forms: singular and plural of catalog nouns', () => {
  const forms = (w: string) => [...nounForms(w)].sort();
  assert.deepEqual(forms('dresses'), ['dress', 'dresses']);
  assert.deepEqual(forms('watches'), ['watch', 'watches']);
  assert.deepEqual(forms('jeans'), ['jean', 'jeans']);
  assert.deepEqual(forms('party'), ['parties', 'party']);
  assert.deepEqual(forms('boy'), ['boy', 'boys']);
  assert.deepEqual(forms('accessories'), ['accessories', 'accessory']);
  assert.deepEqual(forms('shoe'), ['shoe', 'shoes']);
});

test('the vocabulary: catalog values and their forms, head nouns shared by several types, synonyms of values the catalog has', () => {
  assert.deepEqual(meaning('tshirts'), ['articleType', ['Tshirts']]);
  assert.deepEqual(meaning('tshirt'), ['articleType', ['Tshirts']]);
  assert.deepEqual(meaning('t shirt'), ['articleType', ['Tshirts']], 'synonym');
  assert.deepEqual(meaning('watch'), ['articleType', ['Watches']]);
  assert.deepEqual(meaning('casual shoes'), ['articleType', ['Casual Shoes']]);
  assert.deepEqual(meaning('shoes'), ['articleType', ['Casual Shoes', 'Sports Shoes']], 'head noun of two types');
  assert.deepEqual(meaning('shoe'), ['articleType', ['Casual Shoes', 'Sports Shoes']]);
  assert.equal(meaning('sleeve'), undefined, 'head noun of one type only');
  assert.deepEqual(meaning('perfume'), ['articleType', ['Perfume and Body Mist']], 'part of an "and" value');
  assert.deepEqual(meaning('body mist'), ['articleType', ['Perfume and Body Mist']]);
  assert.deepEqual(meaning('sneakers'), ['articleType', ['Casual Shoes', 'Sports Shoes']]);
  assert.deepEqual(meaning('bag'), ['articleType', ['Handbags']], 'a synonym keeps only the values the catalog has');
  assert.deepEqual(meaning('navy'), ['baseColour', ['Navy Blue']]);
  assert.deepEqual(meaning('navy blue'), ['baseColour', ['Navy Blue']]);
  assert.equal(meaning('gray'), undefined, 'no Grey in this catalog');
  assert.equal(meaning('na'), undefined, 'NA is no value');
  assert.deepEqual(meaning('casual'), ['usage', ['Casual']]);
  assert.deepEqual(meaning('gym'), ['usage', ['Sports']]);
  assert.deepEqual(meaning('autumn'), ['season', ['Fall']]);
  assert.deepEqual(meaning('ladies'), ['gender', ['Women']]);
  assert.equal(meaning('kids'), undefined, 'no Boys or Girls here');
  assert.equal(vocab.maxPhraseTokens, 4, '"perfume and body mist"');
  const seg = vocab.segment(tokenize('navy blue t-shirt for men'));
  assert.deepEqual(seg.map((s) => [s.phrase, s.meaning?.field ?? null]), [['navy blue', 'baseColour'], ['t shirt', 'articleType'], ['for', null], ['men', 'gender']]);
});

test('a query becomes filters, free words and stop words', () => {
  const p = parseText('Navy blue T-shirt for men', vocab);
  assert.deepEqual(p.filters, [
    { field: 'articleType', values: ['Tshirts'], words: 't shirt' },
    { field: 'baseColour', values: ['Navy Blue'], words: 'navy blue' },
    { field: 'gender', values: ['Men'], words: 'for men' },
  ]);
  assert.deepEqual(p.words, []);
  assert.deepEqual(p.stopWords, ['for']);
  assert.deepEqual(p.allWords, ['navy', 'blue', 't', 'shirt', 'men']);
  assert.equal(p.text, 'Navy blue T-shirt for men');

  const q = parseText('red or blue sneakers with floral floral print', vocab);
  assert.deepEqual(q.filters, [
    { field: 'articleType', values: ['Casual Shoes', 'Sports Shoes'], words: 'sneakers' },
    { field: 'baseColour', values: ['Blue', 'Red'], first: 'Red', words: 'red, blue' },
  ]);
  assert.deepEqual(q.words, ['floral', 'print'], 'each free word once');
  assert.deepEqual(q.stopWords, ['or', 'with']);
});

test('the main colour: the first of the last run of colours before "with"', () => {
  const first = (text: string) => parseText(text, vocab).filters.find((f) => f.field === 'baseColour')?.first;
  assert.equal(first('white and red watch'), 'White');
  assert.equal(first('red card white tshirt'), 'White', 'a colour apart from the noun names a print');
  assert.equal(first('white tshirt with red print'), 'White', 'after "with" is a detail');
  assert.equal(first('red watch'), undefined, 'one colour: no main one to name');
  // Overlapping phrases narrow: "navy" and "navy blue" both mean Navy Blue.
  assert.deepEqual(parseText('navy navy blue', vocab).filters, [{ field: 'baseColour', values: ['Navy Blue'], words: 'navy, navy blue' }]);
  const none = parseText('something nice', vocab);
  assert.deepEqual([none.filters, none.words, none.stopWords], [[], ['nice'], ['something']]);
});
