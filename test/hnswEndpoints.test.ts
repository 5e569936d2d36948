/**
 * Every HTTP endpoint once against a catalog large enough for the HNSW graphs and the refinement (the threshold is
 * lowered so that 240 items are "large"): the other tests' catalogs are searched exactly, and a fault on the graph
 * path (an outfit for a photo once failed there on the demo catalog only) would pass them all.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { InjectOptions } from 'fastify';
import { multipart, pickIds, servedFixture, TYPES } from './helpers.js';

const served = servedFixture(pickIds(TYPES, 40), 'hnsw-endpoints', { annThreshold: 100, augment: 0 });
const { fx } = served;
const photoId = fx.ids[2 * 40 + 1]!; // Casual Shoes
const photo = readFileSync(join(fx.images, `${photoId}.jpg`));

async function ok(request: InjectOptions, what: string) {
  const res = await served.app.inject(request);
  assert.equal(res.statusCode, 200, `${what}: ${res.body.slice(0, 300)}`);
  return res;
}
const post = (url: string, payload: object): InjectOptions => ({ method: 'POST', url, payload });
const upload = (url: string): InjectOptions => ({ method: 'POST', url, ...multipart([{ name: 'image', value: photo, filename: 'shoe.jpg' }]) });

test('the catalog searches through HNSW graphs in the refined space', async () => {
  served.svc.prepareIndex();
  const info = (await ok({ url: '/api/info' }, 'info')).json();
  assert.equal(info.index, 'hnsw');
  assert.ok(info.refinement);
  assert.equal((await ok({ url: '/api/health' }, 'health')).json().items, fx.ids.length);
});

test('every endpoint answers on the graph path', async () => {
  await ok({ url: '/' }, 'the page');
  await ok({ url: '/api/openapi.json' }, 'openapi');
  assert.equal((await ok({ url: '/api/items?limit=5' }, 'items')).json().items.length, 5);
  await ok({ url: `/api/items/${photoId}` }, 'item');
  await ok({ url: `/api/images/${photoId}` }, 'image');
  const similar = (await ok({ url: `/api/items/${photoId}/similar?k=5&gender=Men|Women|Unisex` }, 'similar')).json();
  assert.equal(similar.results.length, 5);

  const search = (await ok(upload('/api/search'), 'search an upload')).json();
  assert.equal(search.results[0].id, photoId, 'a catalog photo finds itself first');
  const handle = search.query.handle as string;
  await ok(post('/api/search', { handle, text: 'black', k: 7 }), 'search a handle with words');
  await ok(post('/api/search', { id: photoId, filters: { articleType: 'Casual Shoes' } }), 'search an item, filtered');
  assert.ok((await ok(post('/api/search', { text: 'black watch' }), 'search words')).json().results.length > 0);

  const match = (await ok(upload('/api/match'), 'match an upload')).json();
  assert.equal(match.match?.id, photoId);
  await ok(post('/api/match', { handle }), 'match a handle');
  assert.equal((await ok(upload('/api/categorize'), 'categorize')).json().predicted.articleType.value, 'Casual Shoes');
  await ok(post('/api/categorize', { handle }), 'categorize a handle');

  const outfit = (await ok(upload('/api/outfit'), 'outfit for an upload')).json();
  assert.ok(outfit.picks.length > 0, JSON.stringify(outfit));
  assert.ok((await ok(post('/api/outfit', { id: photoId }), 'outfit for an item')).json().picks.length > 0);
  await ok(post('/api/outfit', { handle }), 'outfit for a handle');

  // Duplicates: started by PUT, read by GET once done (the graph path: the catalog is over the scan's exact limit
  // only in the benchmark, so this is the exact scan; test/duplicatesJob.test.ts forces the graph).
  assert.ok([200, 202].includes((await served.app.inject({ method: 'PUT', url: '/api/duplicates/scan' })).statusCode));
  let dup = await served.app.inject({ url: '/api/duplicates' });
  for (let i = 0; i < 200 && dup.statusCode === 202; i++) {
    await new Promise((r) => setTimeout(r, 100));
    dup = await served.app.inject({ url: '/api/duplicates' });
  }
  assert.equal(dup.statusCode, 200, dup.body);
  assert.ok(Array.isArray(dup.json().near));
  await ok({ url: '/api/duplicates?format=csv&threshold=0.9' }, 'duplicates as CSV');
});
