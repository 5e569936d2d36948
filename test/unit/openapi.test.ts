/**
 * The HTTP API's contract over an empty catalog (no ../shared, no model, no browser): the OpenAPI document is valid
 * and lists every /api route with its schemas, and requests that break a schema are refused with input/invalid.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import SwaggerParser from '@apidevtools/swagger-parser';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { openCatalogStore } from '../../src/catalog/openCatalog.js';
import { resolveConfig } from '../../src/config.js';
import { ERROR_TABLE, FashionError } from '../../src/errors.js';
import { MAX_K } from '../../src/query/query.js';
import { Services } from '../../src/app/services.js';
import { buildApp } from '../../src/server/app.js';

const root = mkdtempSync(join(tmpdir(), 'fashion-openapi-'));
const config = resolveConfig({ dataDir: join(root, 'data'), cacheDir: join(root, 'cache') }, {}, root);
let rec: Services;
let app: FastifyInstance;

before(async () => {
  // An empty catalog: the store is created as `fashion index` would, with no items.
  await (await openCatalogStore(config.dataDir, { create: true })).close();
  rec = await Services.open(config);
  app = await buildApp(rec, config, { logger: false });
  await app.ready();
});
after(async () => {
  await app?.close();
  await rec?.close();
  rmSync(root, { recursive: true, force: true });
});

/** Every route as [METHOD, url], read from fastify's route tree (printRoutes with one segment per line). */
function registeredRoutes(instance: FastifyInstance): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const stack: string[] = [];
  for (const line of instance.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^((?:[│ ] {3})*)(?:[├└]── )?(\S+) \(([A-Z, ]+)\)$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4 + (line.includes('── ') ? 1 : 0);
    stack.length = depth;
    stack[depth] = m[2]!;
    const url = stack.join('').replace(/^\/?/, '/').replace(/\/{2,}/g, '/');
    for (const method of m[3]!.split(', ')) out.push([method, url]);
  }
  return out;
}

test('GET /api/openapi.json is a valid OpenAPI 3 document titled from package.json', async () => {
  const res = await app.inject({ method: 'GET', url: '/api/openapi.json' });
  assert.equal(res.statusCode, 200, res.body);
  const doc = res.json();
  assert.match(doc.openapi, /^3\./);
  assert.equal(doc.info.title, 'fashion-recs');
  assert.match(doc.info.version, /^\d+\.\d+\.\d+/);
  await SwaggerParser.validate(structuredClone(doc));
});

test('every /api route is in the document, with its request and response schemas', async () => {
  const doc = (await app.inject({ method: 'GET', url: '/api/openapi.json' })).json();
  const routes = registeredRoutes(app).filter(([method, url]) => url.startsWith('/api/') && method !== 'HEAD');
  for (const [method, url] of routes) assert.ok(app.hasRoute({ method: method as 'GET', url }), `route tree read wrongly: ${method} ${url}`);
  // The reading of the tree finds the routes the page relies on (so an empty or misread list cannot pass).
  for (const known of ['GET /api/items/:id/similar', 'POST /api/search', 'GET /api/images/:id', 'GET /api/openapi.json']) {
    assert.ok(routes.some(([m, u]) => `${m} ${u}` === known), `${known} among ${routes.map((r) => r.join(' ')).join(', ')}`);
  }
  assert.ok(routes.length >= 13, `${routes.length} routes`);
  for (const [method, url] of routes) {
    const path = url.replace(/:(\w+)/g, '{$1}');
    const op = doc.paths[path]?.[method.toLowerCase()];
    assert.ok(op, `${method} ${url} is missing from the OpenAPI document`);
    const success = Object.keys(op.responses).filter((status) => /^2\d\d$/.test(status));
    assert.ok(success.length > 0, `${method} ${url}: a success response`);
    for (const status of success.filter((st) => st !== '204')) {
      const ok = op.responses[status];
      assert.ok(ok?.content && Object.values(ok.content).every((c) => (c as { schema?: unknown }).schema), `${method} ${url}: ${status} response schema`);
    }
    for (const status of ['4XX', '5XX']) {
      const schema = op.responses[status]?.content?.['application/json']?.schema;
      assert.deepEqual(schema?.required, ['error'], `${method} ${url}: ${status} error schema`);
    }
    for (const name of url.match(/:(\w+)/g) ?? []) {
      assert.ok(op.parameters?.some((p: { in: string; name: string }) => p.in === 'path' && p.name === name.slice(1)), `${method} ${url}: path parameter ${name}`);
    }
    if (method === 'POST') {
      const content = op.requestBody?.content ?? {};
      assert.ok(content['application/json']?.schema, `${method} ${url}: JSON body schema`);
      // A photo (`image`) for most; a product feed (`feed`) for POST /api/imports; none for POST /api/train (JSON alone).
      const files = Object.entries(content['multipart/form-data']?.schema?.properties ?? {}).filter(([, p]) => (p as { format?: string }).format === 'binary').map(([name]) => name);
      assert.deepEqual(files, url === '/api/train' ? [] : [url === '/api/imports' ? 'feed' : 'image'], `${method} ${url}: multipart file`);
    }
  }
  const k = doc.paths['/api/search'].post.requestBody.content['application/json'].schema.properties.k;
  assert.equal(k.maximum, MAX_K, 'the one k limit');
  assert.equal(doc.paths['/api/search'].post.requestBody.content['multipart/form-data'].schema.properties.k.maximum, MAX_K);
  assert.ok(doc.paths['/api/items/{id}/similar'].get.parameters.some((p: { name: string; schema: { maximum: number } }) => p.name === 'k' && p.schema.maximum === MAX_K));
});

test('requests that break a schema are refused with input/invalid, naming the field', async () => {
  const cases: Array<[string, InjectOptions, RegExp]> = [
    ['limit 0', { method: 'GET', url: '/api/items?limit=0' }, /Expected an integer from 1 to 200 for limit but received 0/],
    ['limit not a number', { method: 'GET', url: '/api/items?limit=many' }, /for limit but received "many"/],
    ['negative offset', { method: 'GET', url: '/api/items?offset=-1' }, /non-negative integer for offset/],
    ['unknown query parameter', { method: 'GET', url: '/api/items?limt=5' }, /unknown field "limt"/],
    ['k 0', { method: 'POST', url: '/api/search', payload: { k: 0, text: 'x' } }, /Expected an integer from 1 to 100 for k but received 0/],
    ['k over the limit', { method: 'POST', url: '/api/search', payload: { k: MAX_K + 1, text: 'x' } }, /for k but received 101/],
    ['k as text in JSON', { method: 'POST', url: '/api/search', payload: { k: '5', text: 'x' } }, /for k but received "5"/],
    ['metric', { method: 'POST', url: '/api/search', payload: { metric: 'foo', text: 'x' } }, /Expected cosine or euclidean for metric but received "foo"/],
    ['filters not an object', { method: 'POST', url: '/api/search', payload: { filters: 'Watches', text: 'x' } }, /for filters but received "Watches"/],
    ['filter value not a string', { method: 'POST', url: '/api/search', payload: { filters: { gender: 1 }, text: 'x' } }, /string of at most 200 characters or an array of strings for filters\.gender/],
    ['unknown body field', { method: 'POST', url: '/api/search', payload: { image: 'x.jpg' } }, /unknown field "image"/],
    ['body not an object', { method: 'POST', url: '/api/search', payload: [1, 2] }, /object for the JSON body/],
    ['similar k', { method: 'GET', url: '/api/items/1/similar?k=0' }, /for k but received 0/],
    ['match threshold', { method: 'POST', url: '/api/match?threshold=2', payload: { imageUrl: 'http://127.0.0.1:9/x.jpg' } }, /number from 0 to 1 for threshold/],
    ['duplicates format', { method: 'GET', url: '/api/duplicates?format=xml' }, /json or csv for format/],
    ['outfit body', { method: 'POST', url: '/api/outfit', payload: { id: 5 } }, /for id but received 5/],
  ];
  for (const [name, request, message] of cases) {
    const res = await app.inject(request);
    assert.equal(res.statusCode, 400, `${name}: ${res.body}`);
    assert.equal(res.json().error.code, 'input/invalid', name);
    assert.match(res.json().error.message, message, name);
  }
});

test('fastify\'s own errors keep the documented codes; every answered code is in the error table', async () => {
  const cases: Array<[InjectOptions, number, string]> = [
    [{ method: 'GET', url: '/api/nothing' }, 404, 'input/not-found'],
    [{ method: 'POST', url: '/api/search', headers: { 'content-type': 'text/plain' }, payload: 'hello' }, 415, 'image/unsupported-type'],
    [{ method: 'POST', url: '/api/search', headers: { 'content-type': 'application/json' }, payload: '{"text":' }, 400, 'input/invalid'],
    [{ method: 'POST', url: '/api/search', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ text: 'x'.repeat(70_000) }) }, 413, 'image/too-large'],
    [{ method: 'POST', url: '/api/search', payload: { text: 'red dress' } }, 503, 'catalog/empty'],
    [{ method: 'GET', url: '/api/items/nope' }, 404, 'item/not-found'],
  ];
  for (const [request, status, code] of cases) {
    const res = await app.inject(request);
    assert.equal(res.statusCode, status, `${request.method} ${request.url}: ${res.body}`);
    assert.equal(res.json().error.code, code);
    assert.ok(code in ERROR_TABLE && ERROR_TABLE[code as keyof typeof ERROR_TABLE].status === status, `${code} is documented with ${status}`);
  }
  assert.equal(new FashionError('server/error', 'x').status, 500);
});

test('an unexpected failure is server/error (500) and its message stays in the server', async () => {
  const broken = { info: () => { throw new Error('secret: /var/lib/internal/path'); } } as unknown as Services;
  const failing = await buildApp(broken, config, { logger: false });
  try {
    const res = await failing.inject({ method: 'GET', url: '/api/health' });
    assert.equal(res.statusCode, 500);
    assert.equal(res.json().error.code, 'server/error');
    assert.doesNotMatch(res.body, /secret|internal\/path/);
  } finally {
    await failing.close();
  }
});

test('the config file is checked: unknown keys and wrong types are refused naming the key and the file', () => {
  const write = (content: unknown) => {
    const file = join(root, `config-${Math.random().toString(16).slice(2)}.json`);
    writeFileSync(file, JSON.stringify(content));
    return file;
  };
  const refusal = (content: unknown): string => {
    const file = write(content);
    try {
      resolveConfig({ config: file }, {}, root);
    } catch (err) {
      assert.ok(err instanceof FashionError && err.code === 'input/invalid', String(err));
      assert.ok(err.message.includes(file), `names the file: ${err.message}`);
      return err.message;
    }
    return assert.fail(`accepted ${JSON.stringify(content)}`);
  };
  assert.match(refusal({ theads: 4 }), /unknown key "theads"/);
  assert.match(refusal({ threads: '4' }), /Expected an integer for threads in the config file .* but received "4"/);
  assert.match(refusal({ metric: 'manhattan' }), /cosine or euclidean for metric/);
  assert.match(refusal({ k: MAX_K + 1 }), /from 1 to 100 for k/);
  assert.match(refusal([1]), /Expected an object for the config file/);
  const ok = resolveConfig({ config: write({ $schema: './x.json', threads: 3, metric: 'euclidean', mirror: 'on' }) }, {}, root);
  assert.equal(ok.threads, 3);
  assert.equal(ok.metric, 'euclidean');
  assert.equal(ok.mirror, true);
});
