import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Embedder } from '../../src/embedding/embedder.js';
import { resolveModelFile } from '../../src/embedding/modelSource.js';
import { FashionError } from '../../src/errors.js';
import { IMAGENET_PREPROCESS } from '../../src/imaging/preprocess.js';
import { toyClassifier } from './toys.js';

// A toy classifier built here (test/unit/toys.ts) stands in for a real one: what is under test is the download.
const toy = toyClassifier({ channels: 5, seed: 11 });
const modelBytes = Buffer.from(toy.bytes);

async function serve(handler: RequestListener): Promise<{ server: Server; base: string }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

test('a model given by URL is downloaded once into the cache, then reused offline', async () => {
  let requests = 0;
  const { server, base } = await serve((_req, res) => {
    requests++;
    res.writeHead(200, { 'content-length': modelBytes.length });
    res.end(modelBytes);
  });
  const cacheDir = mkdtempSync(join(tmpdir(), 'fashion-dl-'));
  try {
    const url = `${base}/models/toy-classifier.onnx`;
    const e = await Embedder.load({ model: url, pooling: 'max', preprocess: { ...IMAGENET_PREPROCESS, size: 32 }, threads: 1, cacheDir });
    assert.equal(e.dims, toy.channels);
    await e.close();
    const again = await resolveModelFile(url, { cacheDir });
    assert.equal(requests, 1);
    assert.deepEqual(readFileSync(again), modelBytes);
  } finally {
    server.close();
  }
});

test('an unreachable model URL fails fast with a clear error, not a hang', async () => {
  const cacheDir = mkdtempSync(join(tmpdir(), 'fashion-dl-'));
  const started = Date.now();
  await assert.rejects(resolveModelFile('http://127.0.0.1:9/resnet50-v2-7.onnx', { cacheDir }), (err: unknown) => {
    assert.ok(err instanceof FashionError);
    assert.equal(err.code, 'model/download-failed');
    assert.match(err.message, /--model/);
    return true;
  });
  assert.ok(Date.now() - started < 10_000);
});

test('a server that stops sending is abandoned after the stall timeout, leaving no partial file', async () => {
  const { server, base } = await serve((_req, res) => {
    res.writeHead(200, { 'content-length': 1_000_000 });
    res.write(Buffer.alloc(1000));
    // ...and never another byte
  });
  const cacheDir = mkdtempSync(join(tmpdir(), 'fashion-dl-'));
  try {
    await assert.rejects(resolveModelFile(`${base}/stall.onnx`, { cacheDir, stallTimeoutMs: 300 }), /no data for 0.3 s/);
    await assert.rejects(resolveModelFile(`${base}/stall.onnx`, { cacheDir, stallTimeoutMs: 300 }), FashionError);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

test('a missing model path names the flag to set', async () => {
  await assert.rejects(resolveModelFile('/nowhere/resnet50.onnx', { cacheDir: tmpdir() }), (err: unknown) => err instanceof FashionError && err.code === 'model/not-found' && /--model/.test(err.message));
});
