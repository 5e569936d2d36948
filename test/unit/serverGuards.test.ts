/**
 * What protects the server on a network (docs/security.md), over an empty catalog (no ../shared, no model): the Host
 * check against DNS rebinding, security headers and the page's CSP, CORS off unless configured, the per-client rate
 * limit, admission of photo requests before their body is read, the receive and answer deadlines, the bounds of the
 * request schemas, and no server folder in any answer.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { openCatalogStore } from '../../src/catalog/openCatalog.js';
import { resolveConfig, type ConfigInput } from '../../src/config.js';
import { Services } from '../../src/app/services.js';
import { buildApp } from '../../src/server/app.js';
import { hostAllowed, hostName } from '../../src/server/guards.js';

const root = mkdtempSync(join(tmpdir(), 'fashion-guards-'));
const opened: Array<{ app: FastifyInstance; svc: Services }> = [];
after(async () => {
  for (const { app, svc } of opened) {
    await app.close();
    await svc.close();
  }
  rmSync(root, { recursive: true, force: true });
});

let made = 0;
/** A server over its own empty catalog, with these settings; `extra` adds routes before it is ready. */
async function server(flags: ConfigInput = {}, extra?: (app: FastifyInstance) => void) {
  const dir = join(root, `c${made++}`);
  const config = resolveConfig({ dataDir: join(dir, 'data'), cacheDir: join(dir, 'cache'), ...flags }, {}, dir);
  await (await openCatalogStore(config.dataDir, { create: true })).close();
  const svc = await Services.open(config);
  const app = await buildApp(svc, config, { logger: false });
  extra?.(app);
  await app.ready();
  opened.push({ app, svc });
  return { app, config, dir };
}

const errorCode = (body: string) => (JSON.parse(body) as { error: { code: string } }).error.code;

test('the Host header must name one of the server\'s hosts: a rebinding page\'s own name is refused', async () => {
  const { app } = await server();
  for (const host of ['localhost:8080', '127.0.0.1', '[::1]:8080', 'LOCALHOST']) {
    const res = await app.inject({ url: '/api/health', headers: { host } });
    assert.equal(res.statusCode, 200, host);
  }
  for (const host of ['evil.example', 'localhost.evil.example:8080', '10.0.0.5']) {
    const res = await app.inject({ url: '/api/health', headers: { host } });
    assert.equal(res.statusCode, 403, host);
    assert.equal(errorCode(res.body), 'request/host-not-allowed');
  }
  const page = await app.inject({ url: '/', headers: { host: 'evil.example' } });
  assert.equal(page.statusCode, 403, 'the page is guarded too');

  const { app: shop } = await server({ allowedHosts: '.shop.example, 10.0.0.5' });
  assert.equal((await shop.inject({ url: '/api/health', headers: { host: 'www.shop.example' } })).statusCode, 200);
  assert.equal((await shop.inject({ url: '/api/health', headers: { host: 'shop.example:443' } })).statusCode, 200);
  assert.equal((await shop.inject({ url: '/api/health', headers: { host: '10.0.0.5:8080' } })).statusCode, 200);
  assert.equal((await shop.inject({ url: '/api/health', headers: { host: 'evilshop.example' } })).statusCode, 403);
  const { app: any } = await server({ allowedHosts: '*' });
  assert.equal((await any.inject({ url: '/api/health', headers: { host: 'whatever.example' } })).statusCode, 200);
});

test('host names are read without port or brackets', () => {
  assert.equal(hostName('Example.COM:8080'), 'example.com');
  assert.equal(hostName('[::1]:8080'), '::1');
  assert.equal(hostName('::1'), '::1');
  assert.equal(hostName(undefined), '');
  assert.equal(hostAllowed('', ['localhost']), false, 'no Host header is not a local one');
  assert.equal(hostAllowed('::1', ['[::1]']), true);
});

test('the page and the API carry security headers; the CSP lets the page run and forbids framing', async () => {
  const { app } = await server();
  for (const url of ['/', '/api/health', '/api/nothing-here']) {
    const res = await app.inject({ url });
    const csp = String(res.headers['content-security-policy']);
    assert.match(csp, /default-src 'self'/, url);
    assert.match(csp, /script-src 'self'(;|$)/, `${url}: no inline script`);
    assert.match(csp, /frame-ancestors 'none'/, url);
    assert.equal(res.headers['x-content-type-options'], 'nosniff', url);
    assert.ok(res.headers['x-frame-options'], url);
  }
});

test('CORS is off unless origins are configured, and then only for those', async () => {
  const preflight = (app: FastifyInstance, origin: string) =>
    app.inject({ method: 'OPTIONS', url: '/api/search', headers: { origin, 'access-control-request-method': 'POST' } });
  const { app } = await server();
  const off = await preflight(app, 'https://shop.example');
  assert.equal(off.headers['access-control-allow-origin'], undefined);
  const plain = await app.inject({ url: '/api/health', headers: { origin: 'https://shop.example' } });
  assert.equal(plain.headers['access-control-allow-origin'], undefined);

  const { app: shop } = await server({ corsOrigins: 'https://shop.example' });
  const ok = await preflight(shop, 'https://shop.example');
  assert.equal(ok.headers['access-control-allow-origin'], 'https://shop.example');
  const other = await preflight(shop, 'https://evil.example');
  assert.notEqual(other.headers['access-control-allow-origin'], 'https://evil.example');
  assert.throws(() => resolveConfig({ corsOrigins: 'shop.example/path' }, {}, root), /corsOrigins/);
});

test('one client past the rate limit gets 429 with Retry-After; the page, photos and health are not counted', async () => {
  const { app } = await server({ rateLimit: 3 });
  for (let i = 0; i < 5; i++) assert.equal((await app.inject({ url: '/' })).statusCode, 200, 'the page is not counted');
  for (let i = 0; i < 5; i++) assert.equal((await app.inject({ url: '/api/health' })).statusCode, 200, 'health is not counted');
  for (let i = 0; i < 3; i++) assert.equal((await app.inject({ url: '/api/info' })).statusCode, 200);
  const res = await app.inject({ url: '/api/info' });
  assert.equal(res.statusCode, 429);
  assert.equal(errorCode(res.body), 'request/rate-limited');
  assert.ok(Number(res.headers['retry-after']) > 0);
  const other = await app.inject({ url: '/api/info', remoteAddress: '192.0.2.7' });
  assert.equal(other.statusCode, 200, 'another client has its own allowance');
});

/** Sends a request's head and the start of its body on a raw socket, and keeps the body open. */
function openUpload(port: number): Promise<{ socket: Socket; answer: Promise<string>; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(
        'POST /api/search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 5000000\r\n\r\n--b\r\n' +
          'Content-Disposition: form-data; name="image"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n',
      );
      let data = '';
      const answer = new Promise<string>((done) => {
        socket.on('data', (d) => {
          data += d.toString();
          if (data.includes('\r\n\r\n{')) done(data);
        });
        socket.on('close', () => done(data));
        socket.on('error', () => done(data));
      });
      const closed = new Promise<void>((done) => socket.on('close', () => done()));
      resolve({ socket, answer, closed });
    });
    socket.on('error', reject);
  });
}

test('photo requests past the in-flight limit get 503 with Retry-After before their body is read', async () => {
  const { app } = await server({ maxInflight: 2 });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as { port: number }).port;
  const held = [await openUpload(port), await openUpload(port)];
  await new Promise((r) => setTimeout(r, 100));
  const third = await openUpload(port);
  const answer = await Promise.race([third.answer, new Promise<string>((r) => setTimeout(() => r('no answer'), 3000))]);
  assert.match(answer, /^HTTP\/1\.1 503/, 'answered at once, with 4.99 MB of its body never sent');
  assert.match(answer, /retry-after: \d+/i);
  assert.match(answer, /server\/busy/);
  third.socket.destroy();
  for (const h of held) h.socket.destroy();
  await new Promise((r) => setTimeout(r, 100));
  // The places are given back when the held clients go away.
  const res = await fetch(`http://127.0.0.1:${port}/api/search`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'red dress' }) });
  assert.notEqual(((await res.json()) as { error?: { code: string } }).error?.code, 'server/busy');
});

test('a client that stalls mid-body is cut off by the receive deadline, and a slow answer becomes 503', async () => {
  const { app } = await server({ requestTimeoutMs: 1000 }, (a) => {
    a.get('/api/slow-for-test', async () => {
      await new Promise((r) => setTimeout(r, 2500));
      return { late: true };
    });
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as { port: number }).port;
  const t0 = Date.now();
  const stalled = await openUpload(port);
  const closed = await Promise.race([stalled.closed.then(() => 'closed'), new Promise<string>((r) => setTimeout(() => r('still open'), 8000))]);
  assert.equal(closed, 'closed');
  assert.ok(Date.now() - t0 < 4000, `cut off after ${Date.now() - t0} ms`);

  const t1 = Date.now();
  const res = await fetch(`http://127.0.0.1:${port}/api/slow-for-test`);
  assert.equal(res.status, 503);
  assert.ok(res.headers.get('retry-after'));
  assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'server/busy');
  assert.ok(Date.now() - t1 < 2000, `answered after ${Date.now() - t1} ms`);
  await new Promise((r) => setTimeout(r, 1800));
  assert.equal((await fetch(`http://127.0.0.1:${port}/api/health`)).status, 200, 'the late handler did not break the server');
});

test('every list and string of a request is bounded by the schemas', async () => {
  const { app } = await server();
  const search = (body: object) => app.inject({ method: 'POST', url: '/api/search', payload: body });
  const manyFields = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`f${i}`, 'x']));
  const cases: Array<[string, object]> = [
    ['21 filter fields', { text: 'dress', filters: manyFields }],
    ['51 values of a filter', { text: 'dress', filters: { gender: Array.from({ length: 51 }, (_, i) => `v${i}`) } }],
    ['a 300-character value', { text: 'dress', filters: { gender: 'x'.repeat(300) } }],
    ['a 3,000-character URL', { imageUrl: `https://example.com/${'a'.repeat(3000)}.jpg` }],
    ['21 dropped filters', { text: 'dress', dropFilters: Array.from({ length: 21 }, (_, i) => `f${i}`) }],
    ['a 300-character id', { id: 'x'.repeat(300) }],
  ];
  for (const [what, body] of cases) {
    const res = await search(body);
    assert.equal(res.statusCode, 400, what);
    assert.equal(errorCode(res.body), 'input/invalid', what);
  }
  const pipes = await app.inject({ url: `/api/items/x/similar?gender=${Array.from({ length: 51 }, (_, i) => `v${i}`).join('|')}` });
  assert.equal(pipes.statusCode, 400, '51 values as a|b|c');
  const longId = await app.inject({ url: `/api/items/${'x'.repeat(300)}` });
  assert.equal(longId.statusCode, 414, 'a path parameter over fastify\'s limit');
});

test('no answer shows the server\'s folders', async () => {
  const { app, dir, config } = await server();
  const info = await app.inject({ url: '/api/info' });
  assert.equal(info.statusCode, 200);
  assert.ok(!info.body.includes(dir), info.body);
  assert.ok(!info.body.includes(config.dataDir));
  const body = JSON.parse(info.body) as Record<string, unknown>;
  assert.equal(body.dataDir, undefined);
  assert.equal(body.imagesRoot, undefined);
  assert.equal(typeof body.photos, 'boolean');
});
