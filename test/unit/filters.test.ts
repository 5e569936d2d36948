import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FashionError } from '../../src/errors.js';
import { checkFilters, hasFilters, matchesFilters, parseFilterArgs } from '../../src/search/filters.js';

const invalid = (e: unknown) => e instanceof FashionError && e.code === 'input/invalid';

test('field=value arguments: alternatives with |, repeated fields merged, spaces trimmed', () => {
  assert.deepEqual(parseFilterArgs(['gender=Women', 'baseColour= Red | Navy Blue ', 'gender=Unisex']), { gender: ['Women', 'Unisex'], baseColour: ['Red', 'Navy Blue'] });
  assert.deepEqual(parseFilterArgs(['usage=Casual||']), { usage: ['Casual'] });
  assert.deepEqual(parseFilterArgs(['a=b=c']), { a: ['b=c'] }, 'the first = splits');
  assert.deepEqual(parseFilterArgs([]), {});
  for (const bad of ['gender', '=Women', 'gender=']) {
    assert.throws(() => parseFilterArgs([bad]), (e: unknown) => invalid(e) && /field=value/.test((e as Error).message), bad);
  }
});

test('filters from JSON: strings or arrays of strings; empty arrays dropped; anything else refused', () => {
  assert.deepEqual(checkFilters(undefined), {});
  assert.deepEqual(checkFilters(null), {});
  assert.deepEqual(checkFilters({ gender: 'Men', season: ['Summer', 'Fall'], usage: [] }), { gender: ['Men'], season: ['Summer', 'Fall'] });
  for (const bad of [[], 'gender=Men', 5, { gender: 5 }, { gender: ['Men', 1] }, { gender: { a: 1 } }]) assert.throws(() => checkFilters(bad), invalid, JSON.stringify(bad));
});

test('an item matches when every field equals one of the values, case ignored; a missing field matches nothing', () => {
  const item = { gender: 'Women', baseColour: 'Navy Blue', articleType: 'Tops' };
  assert.equal(matchesFilters(item, {}), true);
  assert.equal(matchesFilters(item, { gender: 'women' }), true);
  assert.equal(matchesFilters(item, { gender: ['Men', 'WOMEN'] }), true);
  assert.equal(matchesFilters(item, { gender: ['Men', 'Unisex'] }), false);
  assert.equal(matchesFilters(item, { gender: 'Women', baseColour: 'Navy' }), false, 'whole values, not prefixes');
  assert.equal(matchesFilters(item, { gender: 'Women', baseColour: 'navy blue' }), true);
  assert.equal(matchesFilters(item, { season: 'Summer' }), false, 'the item has no season');
  assert.equal(matchesFilters(item, { season: [] }), true, 'no values: no condition');
  assert.equal(hasFilters(undefined), false);
  assert.equal(hasFilters({}), false);
  assert.equal(hasFilters({ season: [] }), false);
  assert.equal(hasFilters({ season: '' }), false);
  assert.equal(hasFilters({ season: ['Fall'] }), true);
  assert.equal(hasFilters({ gender: 'Men' }), true);
});
