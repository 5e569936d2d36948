/**
 * The ingest workers' job key (src/jobs/productJob.ts): what makes a product's write idempotent. The same job gives the
 * same key however its fields were built; another run, product or version of the row gives another.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalJson, productJobKey, type ProductJob } from '../../src/jobs/productJob.js';

const feedJob: ProductJob = {
  runId: 'run-1',
  id: '15970',
  source: { kind: 'feed', line: 2, imageUrl: 'https://shop.example/p/15970.jpg', additionalImageUrls: [], metadata: { articleType: 'Shirts', baseColour: 'Navy Blue' } },
};

test('a job delivered again, or rebuilt with its fields in another order, has the same key', () => {
  const again = JSON.parse(JSON.stringify(feedJob)) as ProductJob;
  assert.equal(productJobKey(again), productJobKey(feedJob));
  const reordered: ProductJob = {
    id: '15970',
    runId: 'run-1',
    source: { metadata: { baseColour: 'Navy Blue', articleType: 'Shirts' }, additionalImageUrls: [], imageUrl: 'https://shop.example/p/15970.jpg', line: 2, kind: 'feed' },
  };
  assert.equal(productJobKey(reordered), productJobKey(feedJob));
  assert.match(productJobKey(feedJob), /^run-1\/15970\/[0-9a-f]{32}$/, 'the run and the product, readable, then the row\'s hash');
});

test('another run, another product, or another version of the row is another key', () => {
  const key = productJobKey(feedJob);
  const variants: ProductJob[] = [
    { ...feedJob, runId: 'run-2' },
    { ...feedJob, id: '15971' },
    { ...feedJob, source: { ...feedJob.source, imageUrl: 'https://shop.example/p/15970-v2.jpg' } as ProductJob['source'] },
    { ...feedJob, source: { ...feedJob.source, metadata: { articleType: 'Shirts', baseColour: 'Blue' } } as ProductJob['source'] },
    { ...feedJob, source: { ...feedJob.source, additionalImageUrls: ['https://shop.example/p/15970-b.jpg'] } as ProductJob['source'] },
  ];
  const keys = new Set([key, ...variants.map(productJobKey)]);
  assert.equal(keys.size, variants.length + 1, 'every variant has a key of its own');
});

test("a folder product's key follows its file's state and CSV row", () => {
  const folder = (size: number, metadata: Record<string, string> | null): ProductJob => ({ runId: 'r', id: '10000', source: { kind: 'folder', root: '/photos', path: '10000.jpg', size, mtimeMs: 1, metadata, csv: metadata !== null } });
  assert.equal(productJobKey(folder(100, null)), productJobKey(folder(100, null)));
  assert.notEqual(productJobKey(folder(100, null)), productJobKey(folder(101, null)), 'a changed file');
  assert.notEqual(productJobKey(folder(100, null)), productJobKey(folder(100, {})), 'a CSV given');
});

test('canonicalJson sorts keys at every level and keeps arrays in order', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [2, 1], c: null } }), '{"a":{"c":null,"d":[2,1]},"b":1}');
});
