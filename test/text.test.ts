import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import { indexFolder } from '../src/app/indexFolder.js';
import { catalogFile, openCatalogStore } from '../src/catalog/openCatalog.js';
import { isFashionError } from '../src/errors.js';
import { pairColours } from '../src/search/colourPairing.js';
import { COMPLEMENTS, genderGoes, ROLE_OF, seasonGoes, usageGoes } from '../src/search/outfit.js';
import { Recommender } from '../src/recommend/recommender.js';
import { buildApp } from '../src/server/app.js';
import { voteLabels } from '../src/text/autoLabels.js';
import { evaluateText } from '../src/app/evaluateText.js';
import { FTS_TABLE } from '../src/text/ftsIndex.js';
import { NameModel, nameFeatures } from '../src/text/nameModel.js';
import { parseText } from '../src/text/queryParser.js';
import { tokenize, Vocabulary } from '../src/text/vocabulary.js';
import { isHeldBack } from '../src/catalog/split.js';
import { csvLine, makeFixture, pickIds, STYLE_ROWS } from './helpers.js';

const OUTFIT_TYPES = ['Tshirts', 'Shirts', 'Jeans', 'Trousers', 'Casual Shoes', 'Heels', 'Watches', 'Handbags', 'Belts', 'Dresses', 'Earrings', 'Deodorant'];
const fx = makeFixture(pickIds(OUTFIT_TYPES, 4), 'text');
const config = fx.config();
let rec: Recommender;

const vocab = new Vocabulary({
  articleType: ['Tshirts', 'Casual Shoes', 'Sports Shoes', 'Formal Shoes', 'Dresses', 'Jackets', 'Watches', 'Perfume and Body Mist', 'Tablet Sleeve', 'Shirts'],
  baseColour: ['Navy Blue', 'Blue', 'Red', 'White', 'Black'],
  gender: ['Men', 'Women', 'Unisex'],
  usage: ['Casual', 'Sports', 'Formal'],
  season: ['Summer', 'Winter', 'Fall'],
});

before(async () => {
  await indexFolder(config, fx.images, { metadata: fx.csv });
  rec = await Recommender.open(config);
});

after(async () => {
  await rec?.close();
});

test('words that name catalog values become filters: synonyms, plurals, "for men", head nouns', async () => {
  const f = (q: string) => Object.fromEntries(parseText(q, vocab).filters.map((x) => [x.field, x.values]));
  assert.deepEqual(f('navy tee for men'), { articleType: ['Tshirts'], baseColour: ['Navy Blue'], gender: ['Men'] });
  assert.deepEqual(f('sneakers'), { articleType: ['Casual Shoes', 'Sports Shoes'] });
  assert.deepEqual(f('Red Dresses'), { articleType: ['Dresses'], baseColour: ['Red'] });
  assert.deepEqual(f('shoes'), { articleType: ['Casual Shoes', 'Formal Shoes', 'Sports Shoes'] });
  assert.deepEqual(f('casual shoes'), { articleType: ['Casual Shoes'] }, 'the longest phrase wins over the usage "casual"');
  assert.deepEqual(f('perfume'), { articleType: ['Perfume and Body Mist'] });
  assert.deepEqual(f('full sleeve shirt'), { articleType: ['Shirts'] }, 'a head noun of one type only ("Tablet Sleeve") is not a filter');
  const p = parseText('like this, but in blue', vocab);
  assert.deepEqual(p.filters.map((x) => [x.field, x.values]), [['baseColour', ['Blue']]]);
  assert.deepEqual(p.words, []);
  assert.equal(parseText('black fleece jacket for men', vocab).filters.find((x) => x.field === 'gender')!.words, 'for men');
  assert.deepEqual(parseText('red floral dress', vocab).words, ['floral']);
  assert.equal(parseText('white and black shirt', vocab).filters.find((x) => x.field === 'baseColour')!.first, 'White');
});

test('the main colour: the first of the last run of colours before "with"; one phrase naming several has none', async () => {
  const first = (q: string) => parseText(q, vocab).filters.find((x) => x.field === 'baseColour')?.first;
  assert.equal(first('navy and white shirt'), 'Navy Blue');
  assert.equal(first('Men Red Card White T-shirt'), 'White', 'a colour word apart from the noun names a print, not the product');
  assert.equal(first('white shirt with red collar'), 'White', 'after "with" is a detail');
  assert.equal(parseText('shoes', vocab).filters[0]!.first, undefined, 'the name model ranks "shoes", not the alphabet');
});

test('name model: learns from names which type words mean, with stated labels as conditions', async () => {
  const v = new Vocabulary({ articleType: ['Heels', 'Flats', 'Lip Gloss', 'Casual Shoes', 'Sports Shoes'], baseColour: ['Black', 'Pink'], gender: ['Men', 'Women'] });
  const item = (name: string, articleType: string, gender: string, baseColour = 'Black') => ({ name, labels: { articleType, gender, baseColour } });
  const items = [
    ...Array.from({ length: 8 }, (_, i) => item(`Women Stylish ${i} Black Flats`, 'Heels', 'Women')),
    ...Array.from({ length: 2 }, (_, i) => item(`Women Ballet ${i} Flats`, 'Flats', 'Women')),
    ...Array.from({ length: 12 }, (_, i) => item(`Men Runner ${i} Shoe`, 'Sports Shoes', 'Men')),
    ...Array.from({ length: 12 }, (_, i) => item(`Men Loafer ${i} Shoes`, 'Casual Shoes', 'Men')),
    ...Array.from({ length: 3 }, (_, i) => item(`Shine ${i} Lip Gloss Pink`, 'Lip Gloss', 'Women', 'Pink')),
  ];
  const skip = new Set(['gender', 'baseColour'] as const);
  const model = new NameModel(items.map((it) => ({ features: nameFeatures(it.name, v, skip), labels: it.labels })), { target: 'articleType', given: ['gender', 'baseColour'] });
  assert.equal(model.size, items.length);
  assert.deepEqual(nameFeatures('Men Black Suede Shoe', v, skip), ['suede', 'shoe'], 'gender and colour words are labels, not features');
  const best = (text: string, given = {}) => [...model.posterior(nameFeatures(text, v, skip), given)].sort((a, b) => b[1] - a[1])[0]![0];
  assert.equal(best('black flats'), 'Heels', 'this shop labels most "flats" Heels');
  assert.equal(best('runner shoe'), 'Sports Shoes');
  assert.equal(best('loafer shoes'), 'Casual Shoes');
  // No word for the type: the stated gender and colour decide (names of lip gloss do not say "women").
  assert.equal(best('shine', { gender: ['Women'], baseColour: ['Pink'] }), 'Lip Gloss');
  assert.equal(best('', { gender: ['Men'] }).endsWith('Shoes'), true);
  const total = [...model.posterior(['flats'])].reduce((s, [, l]) => s + Math.exp(l), 0);
  assert.ok(Math.abs(total - 1) < 1e-9, 'a distribution');
  assert.deepEqual(model.usedFor(['flat', 'flats'], 0.1, 5), ['Flats', 'Heels']);
  assert.deepEqual(model.usedFor(['flats'], 0.1, 100), [], 'too few names to say');
  // The vocabulary takes the learned meaning: "flats" finds the flats labelled Heels too.
  const learned = new Vocabulary({ articleType: ['Heels', 'Flats'] }, (w) => model.usedFor([w], 0.1, 5));
  assert.deepEqual(learned.lookup('flats')!.values, ['Flats', 'Heels']);
  assert.deepEqual(learned.lookup('heels')!.values, ['Heels']);
});

test('auto-categorisation: a majority vote of neighbours fills missing labels only', async () => {
  const n = [{ articleType: 'Tshirts', baseColour: 'Red' }, { articleType: 'Tshirts', baseColour: 'Blue' }, { articleType: 'Shirts', baseColour: 'Blue' }];
  assert.deepEqual(voteLabels({ articleType: '', baseColour: 'NA', gender: 'Men' }, n), {
    articleType: { value: 'Tshirts', confidence: 0.67 },
    baseColour: { value: 'Blue', confidence: 0.67 },
  });
});

test('text search on real catalog items: every hit satisfies the words, ranked by BM25, deterministic', async () => {
  const tee = rec.item(pickIds(['Tshirts'], 1)[0]!).metadata;
  const q = `${tee.baseColour} tshirt for ${tee.gender}`;
  const res = await rec.searchText(q, { k: 3 });
  assert.ok(res.hits.length > 0, 'hits');
  assert.deepEqual(res.text.filters.map((f) => f.field), ['articleType', 'baseColour', 'gender']);
  assert.ok(res.hits[0]!.unmatched === undefined, 'the first hit satisfies every word');
  for (const h of res.hits.filter((x) => !x.unmatched)) {
    assert.equal(h.metadata.articleType, 'Tshirts');
    assert.equal(h.metadata.baseColour, tee.baseColour);
    assert.ok([tee.gender, 'Unisex'].includes(h.metadata.gender!), 'gender');
  }
  assert.deepEqual((await rec.searchText(q, { k: 3 })).hits.map((h) => h.id), res.hits.map((h) => h.id));
  // Free words rank: the item whose name has the word comes first.
  const name = rec.item(fx.ids[0]!).metadata.productDisplayName!;
  const word = name.split(' ').find((w) => w.length > 4 && !/shirt/i.test(w))!;
  const top = (await rec.searchText(`${word} tshirt`, { k: 1 })).hits[0]!;
  assert.match(top.metadata.productDisplayName!, new RegExp(word, 'i'));
});

test('words that leave the type open rank by the name model; an engine can learn from some items only', async () => {
  const engine = await rec.services.text();
  const res = await rec.searchText('black for women', { k: 8 });
  assert.equal(res.text.filters.some((f) => f.field === 'articleType'), false);
  const post = engine.names.posterior(nameFeatures('black for women', engine.vocabulary, new Set(['gender', 'baseColour'])), { gender: ['Women'], baseColour: ['Black'] });
  const p = res.hits.filter((h) => !h.unmatched).map((h) => post.get(h.metadata.articleType!)!);
  assert.ok(p.length > 2 && new Set(p).size > 1, JSON.stringify(res.hits.map((h) => h.metadata.articleType)));
  assert.deepEqual(p, [...p].sort((a, b) => b - a), 'the most likely types first');
  const none = await rec.services.text({ learnFrom: () => false });
  assert.equal(none.names.size, 0);
  assert.ok((await none.search('black for women', { k: 3 })).hits.length > 0, 'works without a name model');
  assert.equal((await rec.services.text({ learnFrom: (id) => id !== fx.ids[0] })).names.size, engine.names.size - 1);
});

test('a removed word filter only ranks; impossible words relax the least specific filter and say so', async () => {
  const kept = await rec.searchText('black watch', { k: 5 });
  assert.ok(kept.hits.filter((h) => !h.unmatched).every((h) => h.metadata.articleType === 'Watches'), 'watches');
  const dropped = await rec.searchText('black watch', { k: 5, dropFilters: ['articleType'] });
  assert.deepEqual(dropped.text.removed.map((f) => f.field), ['articleType']);
  const black = dropped.hits.filter((h) => !h.unmatched);
  assert.ok(black.length > 0 && black.every((h) => h.metadata.baseColour === 'Black'), 'black');
  assert.ok(dropped.hits.filter((h) => h.unmatched).every((h) => h.unmatched!.includes('baseColour')), 'fill-up hits say what they miss');
  const none = await rec.searchText('lavender heels for men', { k: 5 });
  assert.ok(none.text.relaxed.length > 0, JSON.stringify(none.text));
  assert.ok(none.hits.length > 0, 'relaxed hits');
});

test('a typing slip still finds the product type, the API says what it read, a correct word is left alone', async () => {
  const slipped = await rec.searchText('hanbdag', { k: 3 });
  assert.deepEqual(slipped.text.filters.map((f) => [f.field, f.values, f.words, f.corrected]), [['articleType', ['Handbags'], 'hanbdag', 'handbag']]);
  assert.equal(slipped.text.didYouMean, 'handbag');
  assert.ok(slipped.hits.length === 3 && slipped.hits.every((h) => h.metadata.articleType === 'Handbags'), JSON.stringify(slipped.hits.map((h) => h.metadata.articleType)));
  // The same words read as typed (the engine without corrections) find no type: the correction is what finds them.
  const asTyped = await (await rec.services.text({ correctSlips: false })).search('hanbdag', { k: 3 });
  assert.deepEqual([asTyped.text.filters, asTyped.text.unmatchedWords, asTyped.text.didYouMean], [[], ['hanbdag'], undefined]);
  const name = rec.item(pickIds(['Watches'], 1)[0]!).metadata.productDisplayName!;
  const brand = tokenize(name).find((w) => /^[a-z]{5,8}$/.test(w) && w[2] !== w[3] && !['watch', 'watches', 'women', 'unisex'].includes(w))!;
  const swapped = brand.slice(0, 2) + brand[3] + brand[2] + brand.slice(4);
  const brandHits = await rec.searchText(`${swapped} watch`, { k: 3 });
  assert.deepEqual(brandHits.text.corrections.map((c) => [c.from, c.to]), [[swapped, brand]], `${brand} as ${swapped}`);
  assert.deepEqual(brandHits.text.words, [brand], 'the corrected free word ranks');
  const having = rec.allItems().filter((it) => it.metadata.articleType === 'Watches' && tokenize(it.metadata.productDisplayName ?? '').includes(brand)).length;
  assert.equal(brandHits.hits.filter((h) => tokenize(h.metadata.productDisplayName!).includes(brand)).length, Math.min(3, having), 'the watches that have it first');

  const app = await buildApp(rec.services, config, { logger: false });
  const r = await app.inject({ method: 'POST', url: '/api/search', payload: { text: 'balck watchse for men', k: 3 } });
  assert.equal(r.statusCode, 200);
  const body = r.json();
  assert.equal(body.text.didYouMean, 'black watches for men');
  assert.deepEqual(body.text.corrections, [{ from: 'balck', to: 'black', distance: 1 }, { from: 'watchse', to: 'watches', distance: 1 }]);
  assert.deepEqual(body.text.filters.map((f: { field: string; corrected?: string; words: string }) => [f.field, f.words, f.corrected ?? null]), [['articleType', 'watchse', 'watches'], ['baseColour', 'balck', 'black'], ['gender', 'for men', null]]);
  assert.ok(body.results.every((x: { metadata: { articleType: string } }) => x.metadata.articleType === 'Watches'), 'watches');
  const right = (await app.inject({ method: 'POST', url: '/api/search', payload: { text: 'black watches for men', k: 3 } })).json();
  assert.deepEqual([right.text.corrections, right.text.didYouMean], [[], undefined], 'nothing to correct');
  // Removing a corrected filter: its word still ranks, as read.
  const dropped = (await app.inject({ method: 'POST', url: '/api/search', payload: { text: 'balck watchse', k: 3, dropFilters: ['articleType'] } })).json();
  assert.deepEqual(dropped.text.words, ['watches']);
  await app.close();
});

test('photo plus words: visual ranking among the items that satisfy the words', async () => {
  const id = pickIds(['Tshirts'], 1)[0]!;
  const res = await rec.similarText(id, 'like this, but in black', { k: 5 });
  assert.ok(res.hits.length > 0, 'hits');
  assert.ok(res.hits.every((h) => h.metadata.baseColour === 'Black' && h.id !== id), 'black, not itself');
  const scores = res.hits.map((h) => h.score);
  assert.deepEqual([...scores].sort((a, b) => b - a), scores, 'ranked by visual similarity');
  const { readFile } = await import('node:fs/promises');
  const viaPhoto = await rec.searchImageText(await readFile(join(fx.images, `${id}.jpg`)), 'black', { k: 5 });
  assert.ok(viaPhoto.hits.length > 0 && viaPhoto.hits.every((h) => h.metadata.baseColour === 'Black'), 'photo + black');
});

test('bad words get coded errors', async () => {
  const code = async (fn: () => unknown) => {
    try {
      await fn();
    } catch (err) {
      return isFashionError(err) ? err.code : String(err);
    }
    return 'no error';
  };
  assert.equal(await code(() => rec.searchText('   ')), 'text/empty');
  assert.equal(await code(() => rec.searchText('x'.repeat(201))), 'text/too-long');
  assert.equal(await code(() => rec.outfit('no-such-id')), 'item/not-found');
  const app = await buildApp(rec.services, config, { logger: false });
  const r = await app.inject({ method: 'POST', url: '/api/search', payload: { text: '' } });
  assert.equal(r.statusCode, 400);
  assert.equal(r.json().error.code, 'text/empty');
  const ok = await app.inject({ method: 'POST', url: '/api/search', payload: { text: 'black watch', k: 3 } });
  assert.equal(ok.statusCode, 200);
  assert.equal(ok.json().text.filters[0].field, 'articleType');
  assert.ok(ok.json().results.every((x: { metadata: { articleType: string } }) => x.metadata.articleType === 'Watches'), 'watches');
  const outfit = await app.inject({ method: 'GET', url: `/api/items/${pickIds(['Shirts'], 1)[0]}/outfit` });
  assert.equal(outfit.statusCode, 200);
  assert.ok(outfit.json().picks.length > 0, 'picks');
  assert.equal((await app.inject({ method: 'GET', url: '/api/items/nope/outfit' })).json().error.code, 'item/not-found');
  await app.close();
});

test('the FTS table follows ingest: added, re-labelled and removed items', async () => {
  const extra = pickIds(['Sunglasses'], 1)[0]!;
  const { copyFileSync, unlinkSync } = await import('node:fs');
  const { DEMO } = await import('./helpers.js');
  copyFileSync(join(DEMO!.images, `${extra}.jpg`), join(fx.images, `${extra}.jpg`));
  const lines = [...fx.ids, extra].map(csvLine);
  const header = 'id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName';
  writeFileSync(fx.csv, [header, ...lines].join('\n') + '\n');
  await indexFolder(config, fx.images, { metadata: fx.csv });
  const ftsIds = () => new Database(catalogFile(fx.data), { readonly: true }).prepare(`SELECT id FROM ${FTS_TABLE} WHERE ${FTS_TABLE} MATCH ?`).all('"zzyzxquux"').length;
  assert.equal(ftsIds(), 0);
  // A metadata edit: the new name is searchable at once.
  const renamed = lines.map((l) => (l.startsWith(`${extra},`) ? l.replace(STYLE_ROWS.get(extra)!.productDisplayName!, 'Zzyzxquux Shades') : l));
  writeFileSync(fx.csv, [header, ...renamed].join('\n') + '\n');
  await indexFolder(config, fx.images, { metadata: fx.csv });
  assert.equal(ftsIds(), 1);
  // Removal: gone from the index.
  unlinkSync(join(fx.images, `${extra}.jpg`));
  await indexFolder(config, fx.images, { metadata: fx.csv });
  assert.equal(ftsIds(), 0);
  // An old catalog without the table gets it back, filled from items.
  const db = new Database(catalogFile(fx.data));
  db.exec(`DROP TABLE ${FTS_TABLE}; DELETE FROM settings WHERE key = 'ftsVersion'`);
  db.close();
  const store = await openCatalogStore(fx.data);
  const n = (await store.textSearch!()!.score(['tshirt'], 100)).length;
  await store.close();
  assert.ok(n > 0, 'refilled');
  await rec.close();
  rec = await Recommender.open(config);
});

test('text eval: P@5 and strict P@5 from a query CSV', async () => {
  const file = join(fx.root, 'queries.csv');
  const trainId = fx.ids.find((id) => !isHeldBack(id))!;
  writeFileSync(file, `query,articleType,baseColour,gender,id\nblack watch,Watches,Black,,${trainId}\nwhite tshirt for men,Tshirts,White,Men,\n`);
  const r = await evaluateText(rec.services, file, { k: 5 });
  assert.equal(r.queries, 2);
  // The name model learned from the training split without the queries' items.
  const training = rec.allItems().filter((it) => !isHeldBack(it.id) && it.metadata.productDisplayName && it.metadata.articleType);
  assert.ok(training.length < rec.allItems().length, 'the fixture has held-back items');
  assert.equal(r.nameModelNames, training.length - 1);
  assert.ok(r.precisionAtK > 0.5 && r.strictPrecisionAtK > 0 && r.strictPrecisionAtK <= r.precisionAtK, JSON.stringify(r));
});

test('outfits on real items: groups, gender, usage, season, colour rules, reasons; deterministic', async () => {
  let checked = 0;
  for (const id of fx.ids) {
    const q = rec.item(id).metadata;
    const role = ROLE_OF[q.articleType!];
    const o = await rec.outfit(id);
    assert.deepEqual(await rec.outfit(id), o, 'deterministic');
    if (!role) {
      assert.equal(o.picks.length, 0);
      assert.match(o.message!, /No outfit/);
      continue;
    }
    const groups = COMPLEMENTS[role];
    assert.deepEqual([...o.picks.map((p) => p.group), ...o.unfilled].sort(), groups.map((g) => g.name).sort());
    let gender = q.gender;
    for (const p of o.picks) {
      const m = p.metadata;
      const group = groups.find((g) => g.name === p.group)!;
      assert.ok(group.roles.includes(ROLE_OF[m.articleType!]!), `${m.articleType} is a ${p.group}`);
      assert.ok(genderGoes(gender, m.gender), `${q.gender} with ${m.gender}`);
      if (gender === 'Unisex' && m.gender !== 'Unisex') gender = m.gender;
      assert.ok(usageGoes(q.usage, m.usage), `${q.usage} with ${m.usage}`);
      assert.ok(seasonGoes(q.season, m.season), `${q.season} with ${m.season}`);
      assert.ok(pairColours(q.baseColour, m.baseColour).ok, `${q.baseColour} with ${m.baseColour}`);
      for (const other of o.picks) assert.ok(pairColours(other.metadata.baseColour, m.baseColour).ok, 'picks go together');
      assert.ok(p.reason.includes(';') && p.reason.length < 120, p.reason);
      assert.notEqual(p.id, id);
      checked++;
    }
  }
  assert.ok(checked > 20, `checked ${checked} picks`);
  // Written out by hand, not with the module's helpers (those have their own unit tests): a men's T-shirt gets
  // bottoms, shoes and an accessory, each for men or unisex, never summer with winter.
  const tee = fx.ids.find((id) => rec.item(id).metadata.articleType === 'Tshirts' && rec.item(id).metadata.gender === 'Men')!;
  const look = await rec.outfit(tee);
  const teeSeason = rec.item(tee).metadata.season;
  assert.deepEqual([...look.picks.map((p) => p.group), ...look.unfilled].sort(), ['accessory', 'bottoms', 'shoes']);
  const kinds: Record<string, string[]> = {
    bottoms: ['Jeans', 'Trousers', 'Shorts', 'Track Pants', 'Capris', 'Lounge Pants', 'Lounge Shorts', 'Rain Trousers', 'Skirts', 'Leggings', 'Jeggings', 'Patiala', 'Salwar', 'Churidar', 'Tights'],
    shoes: ['Casual Shoes', 'Sports Shoes', 'Formal Shoes', 'Heels', 'Flats', 'Sandals', 'Sports Sandals', 'Flip Flops', 'Booties'],
    accessory: ['Handbags', 'Clutches', 'Backpacks', 'Messenger Bag', 'Laptop Bag', 'Duffel Bag', 'Rucksacks', 'Waist Pouch', 'Watches', 'Belts'],
  };
  for (const p of look.picks) {
    assert.ok(kinds[p.group]!.includes(p.metadata.articleType!), `${p.metadata.articleType} as ${p.group}`);
    assert.ok(['Men', 'Unisex'].includes(p.metadata.gender!), `${p.metadata.gender} with a men's T-shirt`);
    if (teeSeason === 'Summer') assert.notEqual(p.metadata.season, 'Winter');
    if (teeSeason === 'Winter') assert.notEqual(p.metadata.season, 'Summer');
  }
  // The rules themselves.
  assert.ok(pairColours('Navy Blue', 'Red').ok && pairColours('Blue', 'Yellow').ok && pairColours('Blue', 'Turquoise Blue').ok, 'pairs');
  assert.ok(!pairColours('Red', 'Pink').ok && !pairColours('Orange', 'Purple').ok && !pairColours('Multi', 'Red').ok, 'clashes');
  assert.ok(!usageGoes('Formal', 'Sports') && usageGoes('Casual', 'Smart Casual') && usageGoes('NA', 'Sports'), 'usage');
  assert.ok(!seasonGoes('Summer', 'Winter') && seasonGoes('Fall', 'Winter'), 'season');
  assert.ok(genderGoes('Men', 'Unisex') && !genderGoes('Men', 'Women') && genderGoes('Unisex', 'Women'), 'gender');
});
