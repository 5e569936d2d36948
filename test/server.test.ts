import assert from 'node:assert/strict';
import { readFileSync, symlinkSync, unlinkSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { indexFolder } from '../src/app/indexFolder.js';
import { MAX_K } from '../src/query/query.js';
import { Recommender } from '../src/recommend/recommender.js';
import { buildApp } from '../src/server/app.js';
import { Services } from '../src/app/services.js';
import { makeFixture, multipart, pickIds, TYPES } from './helpers.js';

const fx = makeFixture(pickIds(TYPES, 5), 'server');
const config = fx.config({ maxUploadBytes: 200_000 });
let app: FastifyInstance;
let rec: Recommender;
const photoId = fx.ids[0]!;
const photo = readFileSync(join(fx.images, `${photoId}.jpg`));

before(async () => {
  await indexFolder(config, fx.images, { metadata: fx.csv });
  rec = await Recommender.open(config);
  app = await buildApp(rec.services, config, { logger: false });
});
after(async () => {
  await app.close();
  await rec.close();
});

test('health and info describe the catalog', async () => {
  const h = await app.inject({ method: 'GET', url: '/api/health' });
  assert.equal(h.statusCode, 200);
  assert.equal(h.json().items, fx.ids.length);
  const info = (await app.inject({ method: 'GET', url: '/api/info' })).json();
  assert.equal(info.dims, 1280 + 512);
  assert.ok(info.facets.articleType.some((f: { value: string }) => f.value === 'Watches'));
});

test('an uploaded catalog photo finds itself first, then 4 more of the same kind', async () => {
  const res = await app.inject({ method: 'POST', url: '/api/search', ...multipart([{ name: 'image', value: photo, filename: 'shirt.jpg' }]) });
  assert.equal(res.statusCode, 200, res.body);
  const body = res.json();
  assert.equal(body.results.length, 5);
  assert.equal(body.results[0].id, photoId);
  assert.ok(body.results[0].score > 0.99, `its own photo's score ${body.results[0].score}`);
  assert.equal(body.results[0].imageUrl, `/api/images/${photoId}`);
  assert.ok(body.timings.embedMs > 0 && body.timings.searchMs >= 0);
  const kinds = body.results.map((r: { metadata: { articleType: string } }) => r.metadata.articleType);
  assert.ok(kinds.filter((k: string) => k === 'Tshirts').length >= 3, `kinds ${kinds.join(', ')}`);
});

test('a searched photo gets a handle: match, categorize, outfit and search reuse it without a second upload', async () => {
  const search = await app.inject({ method: 'POST', url: '/api/search', ...multipart([{ name: 'image', value: photo, filename: 'shirt.jpg' }]) });
  const handle = search.json().query.handle as string;
  assert.match(handle, /^[0-9a-f]{24}$/);
  const json = (url: string, payload: object) => app.inject({ method: 'POST', url, payload });
  const match = await json('/api/match', { handle });
  assert.equal(match.statusCode, 200, match.body);
  assert.equal(match.json().candidates[0].id, photoId);
  const cat = await json('/api/categorize', { handle });
  assert.equal(cat.json().predicted.articleType.value, search.json().predicted.articleType.value);
  const outfit = await json('/api/outfit', { handle });
  assert.equal(outfit.statusCode, 200, outfit.body);
  assert.ok(Array.isArray(outfit.json().picks));
  const again = await json('/api/search', { handle, k: 3 });
  assert.deepEqual(again.json().results.map((r: { id: string }) => r.id), search.json().results.slice(0, 3).map((r: { id: string }) => r.id));
  const unknown = await json('/api/match', { handle: 'f'.repeat(24) });
  assert.equal(unknown.statusCode, 404);
  assert.equal(unknown.json().error.code, 'input/not-found');
});

test('a photo is categorised (API), and uploads carry the prediction beside their results', async () => {
  const res = await app.inject({ method: 'POST', url: '/api/categorize', ...multipart([{ name: 'image', value: photo, filename: 'shirt.jpg' }]) });
  assert.equal(res.statusCode, 200, res.body);
  const p = res.json().predicted;
  assert.equal(p.articleType.value, 'Tshirts');
  assert.ok(p.articleType.confidence >= 0.3 && p.articleType.confidence <= 1, String(p.articleType.confidence));
  assert.ok(p.gender.value && p.baseColour.value);
  const search = await app.inject({ method: 'POST', url: '/api/search', ...multipart([{ name: 'image', value: photo, filename: 'shirt.jpg' }]) });
  assert.equal(search.json().predicted.articleType.value, 'Tshirts');
  const bad = await app.inject({ method: 'POST', url: '/api/categorize', payload: { id: photoId } });
  assert.equal(bad.statusCode, 400);
});

test('search by catalog id excludes the item; filters and k apply', async () => {
  const res = await app.inject({ method: 'POST', url: '/api/search', payload: { id: photoId, k: 3, filters: { articleType: 'Watches' } } });
  assert.equal(res.statusCode, 200, res.body);
  const body = res.json();
  assert.equal(body.results.length, 3);
  assert.ok(body.results.every((r: { id: string; metadata: { articleType: string } }) => r.id !== photoId && r.metadata.articleType === 'Watches'));
  const sim = await app.inject({ method: 'GET', url: `/api/items/${photoId}/similar?k=4&gender=Men` });
  assert.equal(sim.statusCode, 200);
  assert.equal(sim.json().results.length, 4);
  assert.ok(sim.json().results.every((r: { metadata: { gender: string } }) => r.metadata.gender === 'Men'));
  const multi = await app.inject({ method: 'POST', url: '/api/search', ...multipart([{ name: 'image', value: photo, filename: 'a.jpg' }, { name: 'k', value: '2' }, { name: 'filters', value: '{"gender":"Women"}' }]) });
  assert.equal(multi.json().results.length, 2);
});

test('search by image URL downloads the photo with limits', async () => {
  const server = createServer((req, res) => {
    if (req.url === '/shirt.jpg') res.writeHead(200, { 'content-type': 'image/jpeg' }).end(photo);
    else if (req.url === '/page.html') res.writeHead(200, { 'content-type': 'image/jpeg' }).end('<html>not a photo</html>');
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // By default a URL on the server's own network is refused (server-side request forgery); an operator can allow it.
  const lenient = await Services.open({ ...config, fetchAllow: ['127.0.0.1'] });
  const allowing = await buildApp(lenient, lenient.config, { logger: false });
  try {
    const refused = await app.inject({ method: 'POST', url: '/api/search', payload: { imageUrl: `${base}/shirt.jpg` } });
    assert.equal(refused.statusCode, 403, refused.body);
    assert.equal(refused.json().error.code, 'url/not-allowed');
    const ok = await allowing.inject({ method: 'POST', url: '/api/search', payload: { imageUrl: `${base}/shirt.jpg` } });
    assert.equal(ok.statusCode, 200, ok.body);
    assert.equal(ok.json().results[0].id, photoId);
    const lie = await allowing.inject({ method: 'POST', url: '/api/search', payload: { imageUrl: `${base}/page.html` } });
    assert.equal(lie.statusCode, 415);
    const missing = await allowing.inject({ method: 'POST', url: '/api/search', payload: { imageUrl: `${base}/gone.jpg` } });
    assert.equal(missing.statusCode, 502);
    const scheme = await allowing.inject({ method: 'POST', url: '/api/search', payload: { imageUrl: 'file:///etc/passwd' } });
    assert.equal(scheme.statusCode, 400);
  } finally {
    server.close();
    await allowing.close();
    await lenient.close();
  }
});

test('bad input gets a JSON error with the right status', async () => {
  const cases: Array<[string, Awaited<ReturnType<FastifyInstance['inject']>>, number, string]> = [
    ['not an image', await app.inject({ method: 'POST', url: '/api/search', ...multipart([{ name: 'image', value: 'plain text', filename: 'x.jpg' }]) }), 415, 'image/unsupported-type'],
    ['truncated', await app.inject({ method: 'POST', url: '/api/search', ...multipart([{ name: 'image', value: photo.subarray(0, 400), filename: 'x.jpg' }]) }), 422, 'image/corrupt'],
    ['too large', await app.inject({ method: 'POST', url: '/api/search', ...multipart([{ name: 'image', value: Buffer.concat([photo, Buffer.alloc(300_000)]), filename: 'x.jpg' }]) }), 413, 'image/too-large'],
    ['no file', await app.inject({ method: 'POST', url: '/api/search', ...multipart([{ name: 'k', value: '3' }]) }), 400, 'input/invalid'],
    ['wrong content type', await app.inject({ method: 'POST', url: '/api/search', headers: { 'content-type': 'text/plain' }, payload: 'hello' }), 415, 'image/unsupported-type'],
    ['bad json', await app.inject({ method: 'POST', url: '/api/search', headers: { 'content-type': 'application/json' }, payload: '{"id":' }), 400, 'input/invalid'],
    ['unknown item', await app.inject({ method: 'POST', url: '/api/search', payload: { id: 'nope' } }), 404, 'item/not-found'],
    ['bad k', await app.inject({ method: 'GET', url: `/api/items/${photoId}/similar?k=0` }), 400, 'input/invalid'],
    ['unknown filter field', await app.inject({ method: 'GET', url: `/api/items/${photoId}/similar?colour=Red` }), 400, 'input/invalid'],
    ['unknown image', await app.inject({ method: 'GET', url: '/api/images/999999999' }), 404, 'item/not-found'],
    ['escaping image id', await app.inject({ method: 'GET', url: '/api/images/..%2F..%2Fetc%2Fpasswd' }), 404, 'item/not-found'],
    ['unknown route', await app.inject({ method: 'GET', url: '/api/nothing' }), 404, 'input/not-found'],
  ];
  for (const [name, res, status, code] of cases) {
    assert.equal(res.statusCode, status, `${name}: ${res.body}`);
    assert.equal(res.json().error.code, code, name);
    assert.ok(res.json().error.message.length > 10, name);
  }
});

test('requests that break the schemas are refused with input/invalid, JSON and multipart alike, with one k limit', async () => {
  const upload = (fields: Array<{ name: string; value: string }>) => multipart([{ name: 'image', value: photo, filename: 'shirt.jpg' }, ...fields]);
  const cases: Array<[string, Awaited<ReturnType<FastifyInstance['inject']>>, RegExp]> = [
    ['k=0', await app.inject({ method: 'POST', url: '/api/search', payload: { id: photoId, k: 0 } }), /integer from 1 to 100 for k but received 0/],
    ['k=101', await app.inject({ method: 'POST', url: '/api/search', payload: { id: photoId, k: MAX_K + 1 } }), /integer from 1 to 100 for k but received 101/],
    ['k=2.5', await app.inject({ method: 'POST', url: '/api/search', payload: { id: photoId, k: 2.5 } }), /for k but received 2\.5/],
    ['metric=foo', await app.inject({ method: 'POST', url: '/api/search', payload: { id: photoId, metric: 'foo' } }), /cosine or euclidean for metric but received "foo"/],
    ['filters a string', await app.inject({ method: 'POST', url: '/api/search', payload: { id: photoId, filters: '{"gender":"Men"}' } }), /object .* for filters/],
    ['filters an array', await app.inject({ method: 'POST', url: '/api/search', payload: { id: photoId, filters: ['Men'] } }), /for filters but received \["Men"\]/],
    ['dropFilters not an array', await app.inject({ method: 'POST', url: '/api/search', payload: { text: 'red', dropFilters: 'baseColour' } }), /array of strings for dropFilters/],
    ['unknown body field', await app.inject({ method: 'POST', url: '/api/search', payload: { id: photoId, limit: 3 } }), /unknown field "limit"/],
    ['id not a string', await app.inject({ method: 'POST', url: '/api/search', payload: { id: Number(photoId) } }), /for id but received \d+/],
    ['empty JSON body', await app.inject({ method: 'POST', url: '/api/search', payload: {} }), /Expected a photo upload, an "imageUrl", an item "id" or "text"/],
    ['multipart k=0', await app.inject({ method: 'POST', url: '/api/search', ...upload([{ name: 'k', value: '0' }]) }), /integer from 1 to 100 for k but received 0/],
    ['multipart k=101', await app.inject({ method: 'POST', url: '/api/search', ...upload([{ name: 'k', value: '101' }]) }), /for k but received 101/],
    ['multipart k=abc', await app.inject({ method: 'POST', url: '/api/search', ...upload([{ name: 'k', value: 'abc' }]) }), /for k but received "abc"/],
    ['multipart metric', await app.inject({ method: 'POST', url: '/api/search', ...upload([{ name: 'metric', value: 'foo' }]) }), /cosine or euclidean for metric/],
    ['multipart filters not JSON', await app.inject({ method: 'POST', url: '/api/search', ...upload([{ name: 'filters', value: '{gender' }]) }), /JSON object for filters/],
    ['multipart filters not an object', await app.inject({ method: 'POST', url: '/api/search', ...upload([{ name: 'filters', value: '["Men"]' }]) }), /for filters but received \["Men"\]/],
    ['multipart filter value', await app.inject({ method: 'POST', url: '/api/search', ...upload([{ name: 'filters', value: '{"gender":3}' }]) }), /for filters\.gender but received 3/],
    ['multipart dropFilters', await app.inject({ method: 'POST', url: '/api/search', ...upload([{ name: 'text', value: 'red' }, { name: 'dropFilters', value: '"x"' }]) }), /array of strings for dropFilters/],
    ['multipart unknown field', await app.inject({ method: 'POST', url: '/api/search', ...upload([{ name: 'limit', value: '3' }]) }), /unknown field "limit"/],
    ['multipart photo in another field', await app.inject({ method: 'POST', url: '/api/search', ...multipart([{ name: 'photo', value: photo, filename: 'a.jpg' }]) }), /field "image"/],
    ['match with a field', await app.inject({ method: 'POST', url: '/api/match', ...upload([{ name: 'k', value: '3' }]) }), /unknown field "k"/],
    ['similar k=101', await app.inject({ method: 'GET', url: `/api/items/${photoId}/similar?k=101` }), /for k but received 101/],
    ['similar metric', await app.inject({ method: 'GET', url: `/api/items/${photoId}/similar?metric=dot` }), /cosine or euclidean for metric/],
    ['items limit', await app.inject({ method: 'GET', url: '/api/items?limit=201' }), /from 1 to 200 for limit/],
    ['duplicates threshold', await app.inject({ method: 'GET', url: '/api/duplicates?threshold=0' }), /above 0, at most 1 for threshold/],
    ['duplicates near', await app.inject({ method: 'GET', url: '/api/duplicates?near=maybe' }), /true or false for near/],
  ];
  for (const [name, res, message] of cases) {
    assert.equal(res.statusCode, 400, `${name}: ${res.body}`);
    assert.equal(res.json().error.code, 'input/invalid', name);
    assert.match(res.json().error.message, message, name);
  }
  // The limit itself is accepted, by JSON, multipart and query string alike (the catalog has fewer items).
  const atLimit = [
    await app.inject({ method: 'POST', url: '/api/search', payload: { id: photoId, k: MAX_K } }),
    await app.inject({ method: 'POST', url: '/api/search', ...upload([{ name: 'k', value: String(MAX_K) }, { name: 'filters', value: '' }]) }),
    await app.inject({ method: 'GET', url: `/api/items/${photoId}/similar?k=${MAX_K}&metric=euclidean` }),
  ];
  for (const res of atLimit) {
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().k, MAX_K);
    assert.equal(res.json().results.length, fx.ids.length - (res.json().query.id ? 1 : 0));
  }
  // A JSON body over the limit is image/too-large, as an oversized upload is.
  const big = await app.inject({ method: 'POST', url: '/api/search', payload: { text: 'x'.repeat(70_000) } });
  assert.equal(big.statusCode, 413);
  assert.equal(big.json().error.code, 'image/too-large');
});

test('words and photos: the text info, the predictions and the isolated query reach the page (nothing dropped by the schemas)', async () => {
  const words = await app.inject({ method: 'POST', url: '/api/search', payload: { k: 5, filters: {}, text: 'black watch', dropFilters: [] } });
  assert.equal(words.statusCode, 200, words.body);
  const body = words.json();
  assert.deepEqual(body.query, { text: 'black watch' });
  assert.equal(body.text.text, 'black watch');
  assert.deepEqual(body.text.filters.map((f: { field: string }) => f.field).sort(), ['articleType', 'baseColour']);
  assert.ok(body.text.filters.every((f: { values: string[]; words: string }) => f.values.length > 0 && f.words.length > 0));
  for (const key of ['removed', 'relaxed', 'words', 'unmatchedWords']) assert.ok(Array.isArray(body.text[key]), key);
  assert.equal(typeof body.text.engine, 'string');
  const dropped = (await app.inject({ method: 'POST', url: '/api/search', payload: { text: 'black watch', dropFilters: ['baseColour'] } })).json();
  assert.deepEqual(dropped.text.removed.map((f: { field: string }) => f.field), ['baseColour']);
  const both = await app.inject({
    method: 'POST',
    url: '/api/search',
    ...multipart([{ name: 'image', value: photo, filename: 'shirt.jpg' }, { name: 'k', value: '5' }, { name: 'filters', value: '{}' }, { name: 'text', value: 'blue' }, { name: 'dropFilters', value: '[]' }]),
  });
  assert.equal(both.statusCode, 200, both.body);
  assert.deepEqual({ ...both.json().query, handle: undefined }, { text: 'blue', kind: 'upload', handle: undefined });
  assert.match(both.json().query.handle, /^[0-9a-f]{24}$/);
  assert.equal(both.json().text.filters[0].field, 'baseColour');
  assert.ok(both.json().results.every((r: { metadata: { baseColour: string } }) => r.metadata.baseColour === 'Blue'));
  const itemWords = (await app.inject({ method: 'POST', url: '/api/search', payload: { id: photoId, text: 'watch' } })).json();
  assert.deepEqual(itemWords.query, { text: 'watch', id: photoId });
  assert.ok(itemWords.results.every((r: { metadata: { articleType: string } }) => r.metadata.articleType === 'Watches'));
  const upload = (await app.inject({ method: 'POST', url: '/api/search', ...multipart([{ name: 'image', value: photo, filename: 'shirt.jpg' }]) })).json();
  assert.equal(upload.query.kind, 'upload');
  assert.match(upload.query.isolated.imageUrl, /^data:image\/jpeg;base64,/);
  assert.equal(typeof upload.query.isolated.method, 'string');
  assert.equal(upload.results[0].lookAlike ?? true, true);
  assert.equal(typeof upload.predicted.gender.confidence, 'number');
  assert.equal(upload.metric, 'cosine');
  assert.equal(upload.k, 5);
  assert.equal(typeof upload.results[0].metadata.productDisplayName, 'string');
  const outfit = (await app.inject({ method: 'POST', url: '/api/outfit', ...multipart([{ name: 'image', value: photo, filename: 'shirt.jpg' }]) })).json();
  assert.ok(outfit.picks.length > 0 && outfit.picks.every((p: { imageUrl: string; reason: string; group: string }) => p.imageUrl && p.reason && p.group));
  assert.ok(outfit.query.labels.articleType);
});

test('catalog photos are served with their sniffed type, never from outside the folder', async () => {
  const img = await app.inject({ method: 'GET', url: `/api/images/${photoId}` });
  assert.equal(img.statusCode, 200);
  assert.equal(img.headers['content-type'], 'image/jpeg');
  assert.deepEqual(img.rawPayload, photo);
  // A link planted in the folder after indexing (in place of an indexed photo) still cannot leak a file from outside it.
  const planted = fx.ids[fx.ids.length - 1]!;
  unlinkSync(join(fx.images, `${planted}.jpg`));
  symlinkSync('/etc/passwd', join(fx.images, `${planted}.jpg`));
  const leak = await app.inject({ method: 'GET', url: `/api/images/${planted}` });
  assert.equal(leak.statusCode, 403);
  assert.equal(leak.json().error.code, 'input/path-escape');
});

test('the page and its assets are served', async () => {
  const page = await app.inject({ method: 'GET', url: '/' });
  assert.equal(page.statusCode, 200);
  assert.match(page.headers['content-type'] as string, /text\/html/);
  assert.match(page.body, /drop-zone/);
  assert.equal(page.headers['cache-control'], 'no-cache');
  for (const asset of ['/app.js', '/style.css']) {
    const res = await app.inject({ method: 'GET', url: asset });
    assert.equal(res.statusCode, 200, asset);
    assert.equal(res.headers['cache-control'], 'no-cache', asset);
  }
  assert.match((await app.inject({ method: 'GET', url: '/app.js' })).headers['content-type'] as string, /javascript/);
  assert.equal((await app.inject({ method: 'GET', url: '/web/app.js' })).statusCode, 404);
  const items = (await app.inject({ method: 'GET', url: '/api/items?limit=6' })).json();
  assert.equal(items.items.length, 6);
});

test('concurrent uploads are batched and all answered', async () => {
  const replies = await Promise.all(
    fx.ids.slice(0, 12).map((id) =>
      app.inject({ method: 'POST', url: '/api/search', ...multipart([{ name: 'image', value: readFileSync(join(fx.images, `${id}.jpg`)), filename: `${id}.jpg` }]) }),
    ),
  );
  replies.forEach((r, i) => {
    assert.equal(r.statusCode, 200);
    assert.equal(r.json().results[0].id, fx.ids[i]);
  });
  assert.ok(replies.some((r) => r.json().timings.batchSize > 1));
});
