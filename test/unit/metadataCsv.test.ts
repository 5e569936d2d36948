import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMetadataCsv } from '../../src/catalog/metadataCsv.js';
import { FashionError } from '../../src/errors.js';

test('reads rows by id, keeps every column, and skips malformed rows with their line', () => {
  const csv = [
    'id,gender,articleType,baseColour,productDisplayName',
    '1,Men,Tshirts,Blue,"Nike Men Blue, Round Neck Tee"',
    '2,Women,Tops',
    '3,Women,Tops,Red,"broken "" quote" here"',
    '../etc,Men,Tshirts,Blue,escape attempt',
    '4,Women,Heels,Black,Heels',
    '1,Men,Tshirts,Red,duplicate',
  ].join('\n');
  const t = parseMetadataCsv(csv);
  assert.deepEqual([...t.rows.keys()], ['1', '4']);
  assert.equal(t.rows.get('1')!.productDisplayName, 'Nike Men Blue, Round Neck Tee');
  assert.equal(t.rows.get('4')!.articleType, 'Heels');
  assert.equal(t.problems.length, 4);
  assert.ok(t.problems.some((p) => /duplicate|again/.test(p.message)));
  assert.ok(t.problems.every((p) => p.line > 0));
});

test('a CSV without an id column is refused', () => {
  assert.throws(() => parseMetadataCsv('name,colour\nx,y\n'), (e: unknown) => e instanceof FashionError && /"id" column/.test(e.message));
});
