import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, test } from 'node:test';
import { isFashionError } from '../../src/errors.js';
import { feedFormat, parseMappings, readFeed, readFeedStream, sniffFeedFormat, urlProblem, type FeedEntry, type FeedFormat, type FeedMapping, type FeedProblem, type FeedRow } from '../../src/feeds/readFeed.js';
import { IMPORTS_DIR, STALE_FEED_MS, STALE_PART_MS, sweepStaleImports } from '../../src/feeds/feedImport.js';

const dir = mkdtempSync(join(tmpdir(), 'fashion-feeds-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function read(text: string, format: FeedFormat, map: readonly FeedMapping[] = []) {
  const entries: FeedEntry[] = [];
  // Small chunks: a row split across chunks must read the same.
  const chunks = text.match(/[\s\S]{1,7}/g) ?? [];
  for await (const e of readFeedStream(Readable.from(chunks.map((c) => Buffer.from(c))), format, { map, label: 'feed' })) entries.push(e);
  const rows = entries.flatMap((e) => (e.kind === 'row' ? [e.row] : []));
  const problems = entries.flatMap((e) => (e.kind === 'problem' ? [e.problem] : []));
  const notes = entries.flatMap((e) => (e.kind === 'note' ? [e.message] : []));
  return { rows, problems, notes, byId: new Map<string, FeedRow>(rows.map((r) => [r.id, r])) };
}

const problemAt = (problems: readonly FeedProblem[], line: number) => problems.find((p) => p.line === line);

test('a Merchant Center CSV: id, image_link, additional images, availability, every other column as metadata', async () => {
  const csv = [
    'id,title,image_link,additional_image_link,availability,product_type,price',
    'SKU-1,"Linen shirt, white",https://cdn.example/1.jpg,"https://cdn.example/1b.jpg,https://cdn.example/1c.jpg",in stock,Shirts,19.99 EUR',
    'SKU-2,Jeans,http://cdn.example/2.jpg,https://cdn.example/2b.jpg https://cdn.example/2c.jpg,out_of_stock,Jeans,',
  ].join('\r\n');
  const { rows, problems, byId } = await read(csv, 'csv');
  assert.deepEqual(problems, []);
  assert.equal(rows.length, 2);
  const one = byId.get('SKU-1')!;
  assert.equal(one.line, 2);
  assert.equal(one.imageUrl, 'https://cdn.example/1.jpg');
  assert.deepEqual(one.additionalImageUrls, ['https://cdn.example/1b.jpg', 'https://cdn.example/1c.jpg']);
  assert.equal(one.availability, 'in_stock');
  assert.deepEqual(one.metadata, {
    title: 'Linen shirt, white',
    additional_image_link: 'https://cdn.example/1b.jpg https://cdn.example/1c.jpg',
    availability: 'in_stock',
    product_type: 'Shirts',
    price: '19.99 EUR',
  });
  const two = byId.get('SKU-2')!;
  assert.deepEqual(two.additionalImageUrls, ['https://cdn.example/2b.jpg', 'https://cdn.example/2c.jpg']);
  assert.equal(two.availability, 'out_of_stock');
  assert.equal('price' in two.metadata, false, 'an empty cell is no field');
});

test('malformed rows are reported with their line and skipped; a row naming a valid id says so', async () => {
  const csv = [
    'id,image_link,title',
    ',https://cdn.example/a.jpg,no id',
    '../etc,https://cdn.example/b.jpg,bad id',
    'c1,,no image',
    'c2,ftp://cdn.example/c.jpg,bad scheme',
    'c3,https://user:pw@cdn.example/c.jpg,credentials',
    'c4,not a url,not a url',
    'ok1,https://cdn.example/ok1.jpg,fine',
    'ok1,https://cdn.example/ok1-again.jpg,duplicate',
    'c5,https://cdn.example/c5.jpg,"broken "" quote" here"',
    'c6,https://cdn.example/c6.jpg',
    'ok2,https://cdn.example/ok2.jpg,"a value over',
    'two lines"',
  ].join('\n');
  const { rows, problems } = await read(csv, 'csv');
  assert.deepEqual(rows.map((r) => [r.id, r.line]), [['ok1', 8], ['ok2', 13]]);
  assert.equal(rows[1]!.metadata.title, 'a value over\ntwo lines');
  assert.match(problemAt(problems, 2)!.message, /no product id/);
  assert.match(problemAt(problems, 3)!.message, /expected an id of letters/);
  assert.match(problemAt(problems, 4)!.message, /no image URL/);
  assert.equal(problemAt(problems, 4)!.id, 'c1', 'the product is still in the feed');
  assert.match(problemAt(problems, 5)!.message, /ftp: scheme/);
  assert.match(problemAt(problems, 6)!.message, /user name or password/);
  assert.match(problemAt(problems, 7)!.message, /not a URL/);
  assert.match(problemAt(problems, 9)!.message, /appears again/);
  assert.ok(problemAt(problems, 10), 'broken quoting');
  assert.match(problemAt(problems, 11)!.message, /expected 3 fields but found 2/);
  assert.equal(problems.length, 9);
});

test('TSV with quotes inside values, item_id and image_url, the g: prefix and spaces in names', async () => {
  const tsv = ['g:item_id\timage url\ttitle\tbrand', 'A1\thttps://cdn.example/a1.png\t12" screen cover\tAcme', 'A2\thttps://cdn.example/a2.png\t"quoted"\tAcme'].join('\n');
  const { rows, problems } = await read(tsv, 'tsv');
  assert.deepEqual(problems, []);
  assert.deepEqual(rows.map((r) => r.id), ['A1', 'A2']);
  assert.equal(rows[0]!.imageUrl, 'https://cdn.example/a1.png');
  assert.equal(rows[0]!.metadata.title, '12" screen cover');
  assert.equal(rows[1]!.metadata.title, 'quoted');
  assert.deepEqual(Object.keys(rows[0]!.metadata), ['title', 'brand']);
});

test('sku names the product when there is no id column; with an id column it is kept as metadata', async () => {
  const a = await read('sku,image\nS-9,https://cdn.example/s.jpg\n', 'csv');
  assert.equal(a.rows[0]!.id, 'S-9');
  const b = await read('id,sku,image_link\n7,S-7,https://cdn.example/7.jpg\n,S-8,https://cdn.example/8.jpg\n', 'csv');
  assert.equal(b.rows[0]!.id, '7');
  assert.equal(b.rows[0]!.metadata.sku, 'S-7');
  assert.match(b.problems[0]!.message, /no product id/, 'an empty id does not fall back to the sku');
});

test('JSON Lines: arrays of additional images, numbers as text, bad lines reported', async () => {
  const jsonl = [
    JSON.stringify({ id: 'J1', image_link: 'https://cdn.example/j1.jpg', additional_image_link: ['https://cdn.example/j1b.jpg', 'ftp://x/y.jpg'], availability: 'preorder', price: 12.5, tags: ['a', 'b'] }),
    '',
    '{"id": "J2", "image_link": ',
    '[1, 2]',
    JSON.stringify({ id: 'J3', image: 'https://cdn.example/j3.jpg', gender: null }),
  ].join('\n');
  const { rows, problems } = await read(jsonl, 'jsonl');
  assert.deepEqual(rows.map((r) => [r.id, r.line]), [['J1', 1], ['J3', 5]]);
  assert.deepEqual(rows[0]!.additionalImageUrls, ['https://cdn.example/j1b.jpg']);
  assert.deepEqual(rows[0]!.metadata, { additional_image_link: 'https://cdn.example/j1b.jpg', availability: 'preorder', price: '12.5', tags: 'a, b' });
  assert.deepEqual(rows[1]!.metadata, {});
  assert.match(problemAt(problems, 3)!.message, /not JSON/);
  assert.match(problemAt(problems, 4)!.message, /an array/);
});

test('--map renames a shop column to a label, and can name the id or the photo column', async () => {
  const map = parseMappings(['articleType=product_type', 'baseColour=color', 'id=offer_id', 'image_link=picture']);
  const { rows, notes } = await read('offer_id,picture,product_type,color,title\nX1,https://cdn.example/x.jpg,Tshirts,Navy Blue,Tee\n', 'csv', map);
  assert.equal(rows[0]!.id, 'X1');
  assert.equal(rows[0]!.imageUrl, 'https://cdn.example/x.jpg');
  assert.deepEqual(rows[0]!.metadata, { articleType: 'Tshirts', baseColour: 'Navy Blue', title: 'Tee' });
  assert.deepEqual(notes, []);
  const missing = await read('id,image_link\n1,https://cdn.example/1.jpg\n', 'csv', parseMappings(['articleType=product_type']));
  assert.match(missing.notes[0]!, /no column product_type/);
  assert.throws(() => parseMappings(['articleType']), (e: unknown) => isFashionError(e) && e.code === 'input/invalid');
  assert.throws(() => parseMappings(['9x=y']), (e: unknown) => isFashionError(e) && /--map/.test(e.message));
  assert.throws(() => parseMappings(['a=']), (e: unknown) => isFashionError(e) && e.code === 'input/invalid');
});

test('metadata is bounded as the catalog bounds it: long values cut, odd column names left out, each said once', async () => {
  const long = 'x'.repeat(1500);
  const { rows, notes } = await read(`id,image_link,description,weird.name\n1,https://cdn.example/1.jpg,${long},a\n2,https://cdn.example/2.jpg,${long},b\n`, 'csv');
  assert.equal(rows[0]!.metadata.description!.length, 1000);
  assert.equal('weird.name' in rows[0]!.metadata, false);
  assert.equal(notes.length, 2);
  assert.ok(notes.some((n) => /2 values of description/.test(n)));
  assert.ok(notes.some((n) => /weird\.name/.test(n)));
  const many = Array.from({ length: 60 }, (_, i) => `f${i}`);
  const wide = await read(`id,image_link,${many.join(',')}\n1,https://cdn.example/1.jpg,${many.map(() => 'v').join(',')}\n`, 'csv');
  assert.equal(Object.keys(wide.rows[0]!.metadata).length, 50);
  assert.ok(wide.notes.some((n) => /at most 50 fields/.test(n)));
});

test('a header without an id or image column is refused before any row', async () => {
  await assert.rejects(read('name,image_link\nx,https://cdn.example/x.jpg\n', 'csv'), (e: unknown) => isFashionError(e) && e.code === 'input/invalid' && /id column/.test(e.message));
  await assert.rejects(read('id,title\n1,x\n', 'csv'), (e: unknown) => isFashionError(e) && /image URL column/.test(e.message));
  await assert.rejects(read('', 'csv'), (e: unknown) => isFashionError(e) && /header row/.test(e.message));
});

test('the format comes from the extension, else from the first bytes; a missing file is input/not-found', async () => {
  assert.equal(sniffFeedFormat('\uFEFF  {"id": 1}\n'), 'jsonl');
  assert.equal(sniffFeedFormat('id\ttitle\timage_link\n1\ta, b\thttp://x/y.jpg'), 'tsv');
  assert.equal(sniffFeedFormat('id,title,image_link\n'), 'csv');
  const txt = join(dir, 'feed.txt');
  writeFileSync(txt, 'id\timage_link\tnote\n1\thttps://cdn.example/1.jpg\ta, b, c\n');
  assert.equal(await feedFormat(txt), 'tsv');
  assert.equal(await feedFormat(join(dir, 'x.ndjson')), 'jsonl');
  const rows: FeedRow[] = [];
  for await (const e of readFeed(txt)) if (e.kind === 'row') rows.push(e.row);
  assert.deepEqual(rows.map((r) => r.metadata.note), ['a, b, c']);
  await assert.rejects(async () => {
    for await (const _ of readFeed(join(dir, 'absent.csv'))) void _;
  }, (e: unknown) => isFashionError(e) && e.code === 'input/not-found');
});

test('a __proto__ key or column is a cell like any other, not a prototype', async () => {
  const { rows, notes } = await read('{"id":"P1","image_link":"https://cdn.example/p.jpg","__proto__":["x"],"constructor":"c"}\n', 'jsonl');
  assert.equal(rows.length, 1);
  assert.equal(Object.getPrototypeOf(rows[0]!.metadata), Object.prototype);
  assert.deepEqual(rows[0]!.metadata, { constructor: 'c' });
  assert.ok(notes.some((n) => /__proto__/.test(n)));
  const csv = await read('id,image_link,__proto__\n1,https://cdn.example/1.jpg,x\n', 'csv');
  assert.deepEqual(csv.rows[0]!.metadata, {});
});

test('urlProblem accepts http(s) only', () => {
  assert.equal(urlProblem('https://cdn.example/a.jpg?w=800'), null);
  assert.match(urlProblem('file:///etc/passwd')!, /file: scheme/);
  assert.match(urlProblem('//cdn.example/a.jpg')!, /not a URL/);
});

test('feeds that a dead server left under imports/ are swept by age only: a stale part after an hour, a kept feed after a week', async () => {
  const data = mkdtempSync(join(tmpdir(), 'fashion-sweep-'));
  try {
    const dir = join(data, IMPORTS_DIR);
    assert.equal(await sweepStaleImports(data), 0, 'no imports folder yet');
    mkdirSync(dir);
    const now = Date.now();
    const make = (name: string, ageMs: number) => {
      writeFileSync(join(dir, name), 'id,image_link\n');
      const t = new Date(now - ageMs);
      utimesSync(join(dir, name), t, t);
    };
    make('a.part', STALE_PART_MS + 60_000); // an upload cut off by a crash
    make('b.part', 60_000); // an upload arriving now
    make('c.csv', STALE_FEED_MS + 60_000); // a feed whose job never ran
    make('d.jsonl', 2 * STALE_PART_MS); // a feed queued behind another import
    assert.equal(await sweepStaleImports(data, now), 2);
    assert.deepEqual(readdirSync(dir).sort(), ['b.part', 'd.jsonl']);
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
});
