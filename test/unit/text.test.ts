import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { ensureFtsIndex, FtsTextSearch } from '../../src/text/ftsIndex.js';
import { parseText, STOP_WORDS } from '../../src/text/queryParser.js';
import { allowedEdits, correctedText, isKeySlip, slipOdds, Spelling } from '../../src/text/spelling.js';
import { nounForms, tokenize, Vocabulary } from '../../src/text/vocabulary.js';

/** A tiny catalog's values, and the names of its products (two write "T-shirt" as two words). */
const VALUES = {
  articleType: ['Tshirts', 'Casual Shoes', 'Sports Shoes', 'Handbags', 'Watches', 'Perfume and Body Mist', 'Tablet Sleeve', 'Flip Flops', 'Jeans', 'Tops'],
  baseColour: ['Navy Blue', 'Blue', 'Red', 'White', 'Black', 'Green', 'NA'],
  gender: ['Men', 'Women'],
  usage: ['Casual', 'Sports'],
  season: ['Summer', 'Fall'],
};
const NAMES = ['Men Navy T-Shirt', 'Women Red T-shirt', 'Women Black Leather Handbag', 'Men Black Loafer', 'Men Grey Slim Jean', 'Unisex Aviator Sunglasses', 'Women Black Tote Hand Bag', 'Men Brown Hand Bag'];
const vocab = new Vocabulary(VALUES, undefined, NAMES);

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
  assert.deepEqual(meaning('t shirt'), ['articleType', ['Tshirts']], 'learned: two names write "T-shirt" apart');
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
  assert.deepEqual(meaning('handbags'), ['articleType', ['Handbags']]);
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

/** The toy catalog's dictionary: its names' and labels' words with how many products use them, and the vocabulary's. */
function toySpelling(names = NAMES, values = VALUES): Spelling {
  const counts = new Map<string, number>();
  for (const text of [...names, ...Object.values(values).flat()]) for (const w of new Set(tokenize(text))) counts.set(w, (counts.get(w) ?? 0) + 1);
  const v = new Vocabulary(values, undefined, names);
  const written = new Map([...v.words()].map((w) => [w, 0]));
  for (const name of names) for (const w of new Set(tokenize(name))) if (written.has(w)) written.set(w, written.get(w)! + 1);
  return new Spelling(counts, [...v.words(), ...STOP_WORDS], written);
}

test('spelling variants and plurals come from the catalog: joined phrases, words the names write apart, singular and plural', () => {
  const plain = new Vocabulary(VALUES);
  assert.deepEqual(meaning('flipflops'), ['articleType', ['Flip Flops']], 'a phrase written as one word');
  assert.deepEqual(meaning('flip flop'), ['articleType', ['Flip Flops']]);
  assert.deepEqual(meaning('navyblue'), ['baseColour', ['Navy Blue']]);
  assert.deepEqual(meaning('hand bags'), ['articleType', ['Handbags']], '"Hand Bag" in two names');
  assert.deepEqual(meaning('jean'), ['articleType', ['Jeans']]);
  assert.equal(plain.lookup('t shirt'), undefined, 'without names, "t shirt" is no phrase: it is learned, not listed');
  assert.equal(plain.lookup('hand bag'), undefined);
  const one = new Vocabulary(VALUES, undefined, ['Men Brown Hand Bag']);
  assert.equal(one.lookup('hand bag'), undefined, 'one name is not enough');
  assert.deepEqual(parseText('flip-flops for women', vocab).filters.map((f) => [f.field, f.values]), [['articleType', ['Flip Flops']], ['gender', ['Women']]]);
  const sp = toySpelling();
  assert.ok(sp.known('aviators') && sp.known('aviator') && sp.known('leathers'), 'a plural of a catalog word is known');
  assert.equal(sp.correct('aviators'), undefined, 'and never corrected');
  assert.ok(sp.known('loafers') && sp.known('loafer'));
  assert.ok(sp.known('jeans') && sp.known('jean'));
  assert.equal(sp.correct('loafers'), undefined);
  assert.deepEqual(sp.correct('tshirst'), { from: 'tshirst', to: 'tshirts', distance: 1 }, 'a slip in a learned variant');
});

test('corrections: one edit for words of 4-8 letters, two from 9, none under 4 but a dropped letter; swaps are one edit', () => {
  assert.deepEqual(['bag', 'shoe', 'sneakers', 'sunglasss', 'sunglasses'].map(allowedEdits), [0, 1, 1, 2, 2]);
  const sp = toySpelling();
  const to = (w: string) => sp.correct(w)?.to;
  assert.equal(to('balck'), 'black', 'swapped');
  assert.equal(to('hanbdag'), 'handbag', 'swapped');
  assert.equal(to('blackk'), 'black', 'doubled');
  assert.equal(to('whte'), 'white', 'dropped');
  assert.equal(to('wgite'), 'white', 'a neighbouring key');
  assert.equal(to('sunglsasez'), 'sunglasses', 'two edits in a word of 10 letters');
  assert.equal(to('sunglas'), undefined, 'three edits is too many');
  assert.equal(to('waches'), 'watches', 'one edit in 6 letters');
  assert.equal(to('wtcahes'), undefined, 'two edits in a word of 7 letters is too many');
  assert.equal(to('bga'), undefined, 'a word of 3 letters is corrected only when it dropped a letter of a filter word');
  assert.equal(to('rde'), undefined);
  assert.equal(to('wht'), undefined, 'and only by one letter ("white" is two)');
  assert.equal(to('fs4545'), undefined, 'model codes are not slips');
  assert.equal(to('zzzzzz'), undefined, 'nothing near');
});

test('exact beats corrected: a word the catalog has is never changed, and fewer edits win', () => {
  const sp = toySpelling(NAMES, { ...VALUES, articleType: [...VALUES.articleType, 'Tees'] });
  assert.equal(sp.correct('tops'), undefined, '"tops" is not read as "tees" or anything else');
  assert.equal(sp.correct('tees'), undefined);
  for (const w of [...vocab.words(), ...NAMES.flatMap(tokenize)]) assert.equal(sp.correct(w), undefined, `${w} is a catalog word`);
  // "grene" is one edit from "green" and two from "grey": the nearer wins even though Grey is used more.
  const sp2 = toySpelling([...NAMES, 'Men Grey Tee', 'Women Grey Top', 'Men Grey Cap'], { ...VALUES, baseColour: [...VALUES.baseColour, 'Grey'] });
  assert.equal(sp2.correct('grene')?.to, 'green');
  // Equally near: a slip of the fingers beats a far key ("gren": "green" lost a letter; "grey" would need n for y).
  assert.equal(sp2.correct('gren')?.to, 'green');
  assert.ok(isKeySlip('gren', 'green') && isKeySlip('balck', 'black') && isKeySlip('wgite', 'white'));
  assert.equal(isKeySlip('gren', 'grey'), false);
  assert.ok(isKeySlip('blackk', 'black') && isKeySlip('blacl', 'black') && isKeySlip('deoz', 'deos'), 'a doubled letter, a key beside it');
  assert.equal(isKeySlip('deoz', 'deo'), false, 'a stray far key');
  const long = new Spelling([['abcdefghij', 1], ['abcdefghxy', 100]]);
  assert.deepEqual(long.correct('abcdefghiz'), { from: 'abcdefghiz', to: 'abcdefghij', distance: 1 }, 'one edit beats two, however common');
  assert.equal(long.correct('abcdefghzz')?.to, 'abcdefghxy', 'two edits are allowed in 10 letters; as near as each other, the more used word');
});

/**
 * A dictionary shaped like the demo catalog's (its counts, rounded): how many products use each word (names or
 * labels), and how many names write each filter word.
 */
function catalogLikeSpelling(): Spelling {
  const filter = new Map([
    ['shirts', 969], ['shirt', 6840], ['suits', 60], ['sports', 1303], ['black', 8705], ['blue', 5918], ['navy', 1679],
    ['grey', 2720], ['green', 2051], ['red', 2600], ['pink', 1562], ['orange', 488], ['silver', 1036], ['fall', 1], ['tops', 1412],
    ['tees', 0], ['tee', 70], ['ring', 108], ['rain', 24], ['tan', 100],
  ]);
  const used = new Map([
    ['shits', 1], ['port', 1], ['back', 27], ['range', 2], ['solver', 2], ['call', 2], ['ink', 4], ['lee', 471], ['hue', 1],
    ['shirts', 3103], ['shirt', 6840], ['sports', 3792], ['black', 9347], ['fall', 10268], ['tops', 1590], ['pink', 1807],
  ]);
  return new Spelling(used, [...filter.keys(), ...STOP_WORDS], filter);
}

test('a known word that a product or two use is read as the far commoner filter word one slip away', () => {
  const sp = catalogLikeSpelling();
  assert.deepEqual(sp.correct('shits'), { from: 'shits', to: 'shirts', distance: 1 }, 'one name says "shits", 969 say "shirts"');
  assert.equal(sp.correct('ports')?.to, 'sports', 'known as the plural of "port", in one name');
  // Never a word used more, however close to a common one, nor a common word, nor a vocabulary word.
  assert.equal(sp.correct('back'), undefined, '27 products say "back": it stays "back", not "black"');
  for (const w of ['shirts', 'black', 'tops', 'tees', 'tee', 'tan']) assert.equal(sp.correct(w), undefined, `${w} is left as it is`);
  // Not common enough, a far-fetched slip, or common only as a label.
  assert.equal(sp.correct('range'), undefined, '"orange" is in 488 names, under 300 times the 2 of "range"');
  assert.equal(sp.correct('solver'), undefined, 'o for i is a key next to it, a sixth as likely: 1,036 / 6 < 600');
  assert.equal(sp.correct('call'), undefined, 'every item is labelled with a season, but one name says "fall"');
  assert.equal(slipOdds('shits', 'shirts'), 1);
  assert.equal(slipOdds('browwn', 'brown'), 1);
  assert.equal(slipOdds('solver', 'silver'), 1 / 6);
  assert.equal(slipOdds('deoz', 'deos'), 1 / 6);
  assert.equal(slipOdds('gren', 'grey'), 0);
});

test('a word of 3 letters the catalog does not know: a filter word with the letter it dropped', () => {
  const sp = catalogLikeSpelling();
  assert.deepEqual(sp.correct('lue'), { from: 'lue', to: 'blue', distance: 1 }, 'not "lee" or "hue", which are no filter words');
  assert.equal(sp.correct('nav')?.to, 'navy');
  assert.equal(sp.correct('gre')?.to, 'grey', 'one letter more: "green" is two');
  assert.equal(sp.correct('rin')?.to, 'ring', 'the names say "ring" more than "rain"');
  assert.equal(sp.correct('ink'), undefined, 'a word the catalog knows stays, though "pink" is a letter away');
  assert.equal(sp.correct('tee'), undefined);
  assert.equal(sp.correct('ble')?.to, 'blue');
  assert.equal(sp.correct('rde'), undefined, 'only a dropped letter: "red" is a swap away');
  assert.equal(sp.correct('bkr'), undefined, 'no filter word of 4 is a letter more');
  assert.equal(sp.correct('re'), undefined, 'under 3 letters, never');
  const p = parseText('lue t-shits for men', vocab, toySpelling(NAMES, { ...VALUES, articleType: [...VALUES.articleType, 'Shirts'] }));
  assert.deepEqual(p.filters.find((f) => f.field === 'baseColour'), { field: 'baseColour', values: ['Blue'], words: 'lue', corrected: 'blue' });
});

test('a query with a slip: its filters, their chips and the did-you-mean', () => {
  const sp = toySpelling();
  const p = parseText('Hanbdag in balck for women', vocab, sp);
  assert.deepEqual(p.filters, [
    { field: 'articleType', values: ['Handbags'], words: 'hanbdag', corrected: 'handbag' },
    { field: 'baseColour', values: ['Black'], words: 'balck', corrected: 'black' },
    { field: 'gender', values: ['Women'], words: 'for women' },
  ]);
  assert.deepEqual(p.corrections.map((c) => [c.from, c.to]), [['hanbdag', 'handbag'], ['balck', 'black']]);
  assert.equal(p.corrected, 'Handbag in black for women', 'the text as typed, the slips corrected, a capital kept');
  const plain = parseText('Hanbdag in balck for women', vocab);
  assert.deepEqual([plain.filters.map((f) => f.field), plain.words], [['gender'], ['hanbdag', 'balck']], 'without the spelling: free words');
  const right = parseText('tops for women', vocab, sp);
  assert.deepEqual([right.corrections, right.corrected], [[], 'tops for women']);
  assert.equal(correctedText("Men's Balck T-shrit!", [{ from: 'balck', to: 'black', distance: 1 }, { from: 'shrit', to: 'shirt', distance: 1 }]), "Men's Black T-shirt!");
  const tee = parseText('navy t-shrit', vocab, sp);
  assert.deepEqual(tee.filters.map((f) => [f.field, f.values, f.words, f.corrected]), [['articleType', ['Tshirts'], 't shrit', 't shirt'], ['baseColour', ['Navy Blue'], 'navy', undefined]]);
});

test('BM25 word by word: the same scores as one OR query, and a write from any connection is seen', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fts-'));
  try {
    const file = join(dir, 'catalog.sqlite');
    const writer = new Database(file);
    writer.exec('CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL); CREATE TABLE items (id TEXT PRIMARY KEY, metadata TEXT NOT NULL)');
    ensureFtsIndex(writer);
    const put = writer.prepare('INSERT OR REPLACE INTO items (id, metadata) VALUES (?, ?)');
    NAMES.forEach((name, i) => put.run(`p${i}`, JSON.stringify({ productDisplayName: name, gender: name.split(' ')[0], articleType: i % 2 ? 'Handbags' : 'Tshirts' })));
    const reader = new Database(file);
    const fts = new FtsTextSearch(reader);
    const words = ['black', 'hand', 'bag', 'men', 'tshirts'];
    const all = await fts.score(words, 100);
    assert.ok(all.length >= 5);
    const scorer = await fts.scorer(words);
    for (const s of all) assert.ok(Math.abs(scorer(s.id)! - s.score) < 1e-9, `${s.id}: ${scorer(s.id)} vs ${s.score}`);
    assert.equal(scorer('nope'), undefined, 'no word: no score');
    // Another connection commits a new product: the kept scores are dropped, the new one is scored.
    put.run('new', JSON.stringify({ productDisplayName: 'Men Black Bag', gender: 'Men', articleType: 'Handbags' }));
    const after = await fts.scorer(words);
    assert.ok((after('new') ?? 0) > 0, 'a product written since is scored');
    const again = await fts.score(words, 100);
    for (const s of again) assert.ok(Math.abs(after(s.id)! - s.score) < 1e-9, 'the same as FTS5 after the write');
    // This connection's own write is seen too.
    reader.prepare('DELETE FROM items WHERE id = ?').run('new');
    assert.equal((await fts.scorer(words))('new'), undefined);
    reader.close();
    writer.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
