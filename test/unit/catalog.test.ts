import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isValidId, parseMetadataCsv, readMetadataCsv } from '../../src/catalog/metadataCsv.js';
import { isHeldBack } from '../../src/catalog/split.js';
import { FashionError } from '../../src/errors.js';

const coded = (code: string) => (e: unknown) => e instanceof FashionError && e.code === code;

test('metadata CSV: BOM, quoted commas and quotes, trimmed cells, extra columns kept, the image column dropped', () => {
  const csv = '\uFEFFid, gender ,articleType,image,fabric\n' + '10, Men ,"Tshirts, Polo",10.jpg,"cotton ""combed"""\n' + '\n' + 'a-b_c.1,Women,Heels,x.jpg,\n';
  const t = parseMetadataCsv(csv);
  assert.deepEqual(t.columns, ['id', 'gender', 'articleType', 'image', 'fabric']);
  assert.deepEqual([...t.rows.keys()], ['10', 'a-b_c.1']);
  assert.deepEqual(t.rows.get('10'), { gender: 'Men', articleType: 'Tshirts, Polo', fabric: 'cotton "combed"' });
  assert.deepEqual(t.rows.get('a-b_c.1'), { gender: 'Women', articleType: 'Heels', fabric: '' });
  assert.deepEqual(t.problems, []);
});

const MALFORMED = [
  'id,articleType,baseColour',
  '1,Tshirts,Blue', // line 2
  '2,Tops', // line 3: too few fields
  '3,Tops,Red,extra', // line 4: too many
  ',Tops,Red', // line 5: no id
  '.hidden,Tops,Red', // line 6: an id may not start with a dot
  '1,Shirts,Red', // line 7: repeated id
  '5,Jeans,Black', // line 8
].join('\n');

test('metadata CSV: each malformed row is reported and skipped, the rest still load', () => {
  const t = parseMetadataCsv(MALFORMED, 'styles.csv');
  assert.deepEqual([...t.rows.keys()], ['1', '5']);
  assert.equal(t.rows.get('1')!.articleType, 'Tshirts', 'the first row of a repeated id is kept');
  assert.equal(t.problems.length, 5);
  assert.ok(t.problems.every((p) => p.line >= 2 && p.line <= 8));
  assert.match(t.problems[0]!.message, /3\D+2/, 'expected and found field counts');
  assert.match(t.problems[2]!.message, /found ""/);
  assert.match(t.problems[3]!.message, /found "\.hidden"/);
  assert.match(t.problems[4]!.message, /id 1 appears again/);
});

test('metadata CSV: each problem names its line in the file', () => {
  assert.deepEqual(parseMetadataCsv(MALFORMED).problems.map((p) => p.line), [3, 4, 5, 6, 7]);
});

test('metadata CSV: no header, no id column, or an unreadable file are errors; ids are checked', async () => {
  assert.throws(() => parseMetadataCsv(''), coded('input/invalid'));
  assert.throws(() => parseMetadataCsv('name,colour\nx,y\n'), (e: unknown) => coded('input/invalid')(e) && /"id" column/.test((e as Error).message));
  await assert.rejects(readMetadataCsv('/nonexistent/styles.csv'), coded('input/not-found'));
  const dir = mkdtempSync(join(tmpdir(), 'fashion-unit-csv-'));
  writeFileSync(join(dir, 'styles.csv'), 'id,articleType\n7,Watches\n');
  assert.deepEqual((await readMetadataCsv(join(dir, 'styles.csv'))).rows.get('7'), { articleType: 'Watches' });
  rmSync(dir, { recursive: true, force: true });
  for (const ok of ['1', 'abc', 'A_b-9', '_x', 'x.y']) assert.equal(isValidId(ok), true, ok);
  for (const bad of ['', '.x', '../etc', 'a/b', 'a b', 'x'.repeat(129), 'é']) assert.equal(isValidId(bad), false, bad);
});

test('held-back split: a hash of the id alone, nested by fraction, about the asked share', () => {
  // Written out here: held back when the first 4 bytes of sha256("fashion-split:" + id), as a share of 2^32, are >= 1 - fraction.
  const share = (id: string) => createHash('sha256').update(`fashion-split:${id}`).digest().readUInt32BE(0) / 2 ** 32;
  const ids = Array.from({ length: 4000 }, (_, i) => `item-${i}`);
  for (const id of ids.slice(0, 300)) {
    assert.equal(isHeldBack(id), share(id) >= 0.8, id);
    assert.equal(isHeldBack(id, 0.5), share(id) >= 0.5, id);
  }
  const at = (f: number) => ids.filter((id) => isHeldBack(id, f));
  const tenth = at(0.1), fifth = at(0.2);
  assert.ok(Math.abs(fifth.length / ids.length - 0.2) < 0.02, `0.2 -> ${fifth.length / ids.length}`);
  assert.ok(Math.abs(tenth.length / ids.length - 0.1) < 0.015, `0.1 -> ${tenth.length / ids.length}`);
  const inFifth = new Set(fifth);
  assert.ok(tenth.every((id) => inFifth.has(id)), 'an item held back at 0.1 is held back at 0.2');
  assert.equal(at(0).length, 0);
  assert.equal(at(1).length, ids.length);
  assert.equal(isHeldBack('item-1'), isHeldBack('item-1'));
});
