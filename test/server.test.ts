import assert from 'node:assert/strict';
import { readFileSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { runIndex } from '../src/cli/main.js';
import { Recommender } from '../src/recommend/recommender.js';
import { buildApp } from '../src/server/app.js';
import { makeFixture, pickIds, TYPES } from './helpers.js';

const fx = makeFixture(pickIds(TYPES, 5), 'server');
const config = fx.config({ maxUploadBytes: 200_000 });
let app: FastifyInstance;
let rec: Recommender;
const photoId = fx.ids[0]!;
const photo = readFileSync(join(fx.images, `${photoId}.jpg`));

function multipart(parts: Array<{ name: string; value: string | Buffer; filename?: string; type?: string }>) {
  const boundary = '----fashiontest' + Math.random().toString(16).slice(2);
  const chunks: Buffer[] = [];
  for (const p of parts) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"${p.filename ? `; filename="${p.filename}"` : ''}\r\n`));
    if (p.filename) chunks.push(Buffer.from(`Content-Type: ${p.type ?? 'image/jpeg'}\r\n`));
    chunks.push(Buffer.from('\r\n'), Buffer.isBuffer(p.value) ? p.value : Buffer.from(p.value), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

before(async () => {
  await runIndex(config, fx.images, { metadata: fx.csv, quiet: true });
  rec = Recommender.open(config);
  app = await buildApp(rec, config, { logger: false });
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
  assert.ok(body.results[0].score > 0.99);
  assert.equal(body.results[0].imageUrl, `/api/images/${photoId}`);
  assert.ok(body.timings.embedMs > 0 && body.timings.searchMs >= 0);
  assert.ok(body.results.filter((r: { metadata: { articleType: string } }) => r.metadata.articleType === 'Tshirts').length >= 3);
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
  try {
    const ok = await app.inject({ method: 'POST', url: '/api/search', payload: { imageUrl: `${base}/shirt.jpg` } });
    assert.equal(ok.statusCode, 200, ok.body);
    assert.equal(ok.json().results[0].id, photoId);
    const lie = await app.inject({ method: 'POST', url: '/api/search', payload: { imageUrl: `${base}/page.html` } });
    assert.equal(lie.statusCode, 415);
    const missing = await app.inject({ method: 'POST', url: '/api/search', payload: { imageUrl: `${base}/gone.jpg` } });
    assert.equal(missing.statusCode, 502);
    const scheme = await app.inject({ method: 'POST', url: '/api/search', payload: { imageUrl: 'file:///etc/passwd' } });
    assert.equal(scheme.statusCode, 400);
  } finally {
    server.close();
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

test('catalog photos are served with their sniffed type, never from outside the folder', async () => {
  const img = await app.inject({ method: 'GET', url: `/api/images/${photoId}` });
  assert.equal(img.statusCode, 200);
  assert.equal(img.headers['content-type'], 'image/jpeg');
  assert.deepEqual(img.rawPayload, photo);
  // A link planted in the folder after indexing still cannot leak a file from outside it.
  symlinkSync('/etc/passwd', join(fx.images, 'planted.jpg'));
  const internal = rec as unknown as { items: Array<{ id: string; path: string }>; rowOf: Map<string, number> };
  internal.items.push({ ...internal.items[0]!, id: 'planted', path: 'planted.jpg' });
  internal.rowOf.set('planted', internal.items.length - 1);
  const leak = await app.inject({ method: 'GET', url: '/api/images/planted' });
  assert.equal(leak.statusCode, 403);
  assert.equal(leak.json().error.code, 'input/path-escape');
});

test('the page and its assets are served', async () => {
  const page = await app.inject({ method: 'GET', url: '/' });
  assert.equal(page.statusCode, 200);
  assert.match(page.headers['content-type'] as string, /text\/html/);
  assert.match(page.body, /drop-zone/);
  assert.equal((await app.inject({ method: 'GET', url: '/app.js' })).statusCode, 200);
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
