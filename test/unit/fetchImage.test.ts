import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { isFashionError } from '../../src/errors.js';
import { addressAllowed, fetchImage } from '../../src/imaging/fetchImage.js';

let server: Server;
let base: string;
let port: number;
let photo: Buffer;

before(async () => {
  photo = await sharp({ create: { width: 32, height: 32, channels: 3, background: { r: 200, g: 30, b: 30 } } }).jpeg().toBuffer();
  server = createServer((req, res) => {
    if (req.url === '/photo.jpg') res.writeHead(200, { 'content-type': 'image/jpeg' }).end(photo);
    else if (req.url === '/page.html') res.writeHead(200, { 'content-type': 'image/jpeg' }).end('<html>secret admin page</html>');
    else if (req.url === '/to-private') res.writeHead(302, { location: 'http://10.0.0.1/photo.jpg' }).end();
    else if (req.url === '/to-file') res.writeHead(302, { location: 'file:///etc/passwd' }).end();
    else if (req.url === '/to-photo') res.writeHead(301, { location: '/photo.jpg' }).end();
    else if (req.url?.startsWith('/loop')) res.writeHead(302, { location: `/loop${Number(req.url.slice(5) || 0) + 1}` }).end();
    else res.writeHead(500).end('stack trace: /srv/internal');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
});
after(() => server.close());

const code = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
    return 'no error';
  } catch (err) {
    return isFashionError(err) ? err.code : String(err);
  }
};
const message = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
    return '';
  } catch (err) {
    return (err as Error).message;
  }
};

test('only public unicast addresses pass, whatever the notation (ipaddr.js ranges)', () => {
  for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255', '::1', '::', 'fc00::1', 'fe80::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', 'not-an-ip']) {
    assert.equal(addressAllowed(a), false, a);
  }
  for (const a of ['8.8.8.8', '151.101.1.69', '2001:4860:4860::8888']) assert.equal(addressAllowed(a), true, a);
  assert.equal(addressAllowed('10.1.2.3', ['10.0.0.0/8']), true, 'an allowed range');
  assert.equal(addressAllowed('::ffff:10.1.2.3', ['10.0.0.0/8']), true, 'an allowed range, IPv4-mapped');
  assert.equal(addressAllowed('10.1.2.3', ['192.168.0.0/16']), false);
});

test('a photo on loopback is refused by default, fetched when the operator allows the host or range', async () => {
  assert.equal(await code(fetchImage(`${base}/photo.jpg`, { maxBytes: 100_000 })), 'url/not-allowed');
  assert.equal(await code(fetchImage(`http://localhost:${port}/photo.jpg`, { maxBytes: 100_000 })), 'url/not-allowed', 'a name that resolves to loopback');
  assert.equal(await code(fetchImage(`http://2130706433:${port}/photo.jpg`, { maxBytes: 100_000 })), 'url/not-allowed', 'a decimal IPv4 literal');
  assert.equal(await code(fetchImage(`http://[::ffff:127.0.0.1]:${port}/photo.jpg`, { maxBytes: 100_000 })), 'url/not-allowed', 'an IPv4-mapped IPv6 literal');
  assert.deepEqual(Buffer.from(await fetchImage(`${base}/photo.jpg`, { maxBytes: 100_000, allow: ['127.0.0.1'] })), photo);
  assert.deepEqual(Buffer.from(await fetchImage(`${base}/photo.jpg`, { maxBytes: 100_000, allow: ['127.0.0.0/8'] })), photo);
  assert.deepEqual(Buffer.from(await fetchImage(`http://localhost:${port}/photo.jpg`, { maxBytes: 100_000, allow: ['localhost'] })), photo);
});

test('every redirect hop is checked; a few at most', async () => {
  const allow = ['127.0.0.1'];
  assert.deepEqual(Buffer.from(await fetchImage(`${base}/to-photo`, { maxBytes: 100_000, allow })), photo);
  assert.equal(await code(fetchImage(`${base}/to-private`, { maxBytes: 100_000, allow })), 'url/not-allowed');
  assert.equal(await code(fetchImage(`${base}/to-file`, { maxBytes: 100_000, allow })), 'url/not-allowed');
  assert.equal(await code(fetchImage(`${base}/loop`, { maxBytes: 100_000, allow })), 'url/fetch-failed');
});

test('errors never repeat what the upstream said (no port scanner, no page reader)', async () => {
  const allow = ['127.0.0.1'];
  const page = await message(fetchImage(`${base}/page.html`, { maxBytes: 100_000, allow }));
  assert.match(page, /not one/);
  assert.doesNotMatch(page, /3c68746d|<html|secret/i);
  const failing = await message(fetchImage(`${base}/error`, { maxBytes: 100_000, allow }));
  assert.doesNotMatch(failing, /500|stack|\/srv/);
  // A closed port and an open one read the same.
  const closed = await message(fetchImage('http://127.0.0.1:1/photo.jpg', { maxBytes: 100_000, allow }));
  assert.doesNotMatch(closed, /ECONNREFUSED|refused/i);
  assert.equal(await code(fetchImage(`${base}/photo.jpg`, { maxBytes: 100, allow })), 'image/too-large');
  assert.equal(await code(fetchImage('ftp://example.com/x.jpg', { maxBytes: 100 })), 'input/invalid');
  assert.equal(await code(fetchImage('http://user:pw@example.com/x.jpg', { maxBytes: 100 })), 'input/invalid');
});

test('FASHION_FETCH_ALLOW is read once, as a list, and a malformed range is refused', async () => {
  const { resolveConfig } = await import('../../src/config.js');
  assert.deepEqual(resolveConfig({}, { FASHION_FETCH_ALLOW: '127.0.0.1, cdn.internal ,10.0.0.0/8' }).fetchAllow, ['127.0.0.1', 'cdn.internal', '10.0.0.0/8']);
  assert.deepEqual(resolveConfig({}, {}).fetchAllow, []);
  assert.throws(() => resolveConfig({}, { FASHION_FETCH_ALLOW: '10.0.0.0/99' }), (e: unknown) => isFashionError(e) && e.code === 'input/invalid');
});
