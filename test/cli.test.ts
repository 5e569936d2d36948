import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { before, test } from 'node:test';
import { DEMO, makeFixture, pickIds, TYPES } from './helpers.js';
import { defaultSecondModel, resolveConfig } from '../src/config.js';

const run = promisify(execFile);
const fx = makeFixture(pickIds(TYPES, 6), 'cli');
const cache = fx.config().cacheDir;

async function fashion(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  return fashionOn(fx.data, ...args);
}

async function fashionOn(data: string, ...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['bin/fashion.js', ...args, '--data', data, '--cache', cache], { maxBuffer: 10 * 1024 * 1024 });
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

before(async () => {
  const r = await fashion('index', fx.images, '--metadata', fx.csv, '--json');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).added, fx.ids.length);
});

test('info reports size, model and dimensions', async () => {
  const r = await fashion('info', '--json');
  const info = JSON.parse(r.stdout);
  assert.equal(info.items, fx.ids.length);
  // The default backbone: MobileNetV2 (1280) joined by SqueezeNet 1.0 (512).
  assert.equal(info.dims, 1280 + 512);
  assert.equal(info.model.modelName, 'mobilenetv2-12-int8.onnx + squeezenet1.0-fp16.onnx');
  const text = await fashion('info');
  assert.match(text.stdout, /max pooling of 627_quantized \+ fire9\/concat_1, 1792-d/);
});

test('the second model is the shared SqueezeNet with the default model only; none turns it off', () => {
  const d = resolveConfig({}, {});
  assert.equal(d.secondModel?.model, defaultSecondModel().model);
  assert.equal(d.secondModel?.preprocess.channelOrder, 'BGR');
  assert.equal(d.backboneDefaulted, true);
  assert.equal(resolveConfig({ secondModel: 'none' }, {}).secondModel, undefined);
  assert.equal(resolveConfig({}, { FASHION_SECOND_MODEL: 'none' }).backboneDefaulted, false);
  assert.equal(resolveConfig({ model: '/models/resnet50.onnx' }, {}).secondModel, undefined);
  assert.equal(resolveConfig({ mirror: 'on' }, {}).backboneDefaulted, false);
});

test('a catalog embedded with one model keeps it where the flags are left at their defaults', async () => {
  const one = makeFixture(pickIds(['Watches', 'Jeans'], 2), 'cli-one');
  const made = await fashionOn(one.data, 'index', one.images, '--metadata', one.csv, '--second-model', 'none', '--json');
  assert.equal(made.code, 0, made.stderr);
  assert.equal(JSON.parse((await fashionOn(one.data, 'info', '--json')).stdout).dims, 1280);
  // Incremental indexing and queries with the defaults follow the catalog's backbone instead of refusing it.
  const extra = pickIds(['Watches'], 1, 2)[0]!;
  copyFileSync(join(DEMO!.images, `${extra}.jpg`), join(one.images, `${extra}.jpg`));
  const more = await fashionOn(one.data, 'index', one.images, '--json');
  assert.equal(more.code, 0, more.stderr);
  assert.equal(JSON.parse(more.stdout).added, 1);
  const hits = JSON.parse((await fashionOn(one.data, 'search', join(one.images, `${extra}.jpg`), '--json', '--k', '1')).stdout).results;
  assert.equal(hits[0].id, extra);
  // Named explicitly, another backbone is refused by the catalog's identity.
  const other = await fashionOn(one.data, 'search', join(one.images, `${extra}.jpg`), '--second-model', defaultSecondModel().model, '--second-preprocess', 'caffe');
  assert.notEqual(other.code, 0);
  assert.match(other.stderr, /catalog\/model-mismatch/);
});

test('a catalog embedded with the second model at its own side keeps that side where the flags are left at their defaults', async () => {
  const small = makeFixture(pickIds(['Jeans', 'Sunglasses'], 2), 'cli-second-size');
  const made = await fashionOn(small.data, 'index', small.images, '--metadata', small.csv, '--second-size', '160', '--json');
  assert.equal(made.code, 0, made.stderr);
  assert.match((await fashionOn(small.data, 'info')).stdout, /224px pad, the second model at 160px/);
  // Incremental indexing and queries with the defaults embed at the catalog's sides.
  const extra = pickIds(['Jeans'], 1, 2)[0]!;
  copyFileSync(join(DEMO!.images, `${extra}.jpg`), join(small.images, `${extra}.jpg`));
  const more = await fashionOn(small.data, 'index', small.images, '--json');
  assert.equal(more.code, 0, more.stderr);
  assert.equal(JSON.parse(more.stdout).added, 1);
  const hits = JSON.parse((await fashionOn(small.data, 'search', join(small.images, `${extra}.jpg`), '--json', '--k', '1')).stdout).results;
  assert.equal(hits[0].id, extra);
  // Another side, named explicitly, is refused by the catalog's identity, the message naming both sides.
  const other = await fashionOn(small.data, 'search', join(small.images, `${extra}.jpg`), '--second-size', '128');
  assert.notEqual(other.code, 0);
  assert.match(other.stderr, /catalog\/model-mismatch.*second model at 160px.*second model at 128px/s);
  const bad = await fashionOn(small.data, 'search', join(small.images, `${extra}.jpg`), '--second-size', '8');
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /secondSize/);
});

test('search prints a table, or JSON with k results', async () => {
  const photo = join(fx.images, `${fx.ids[0]}.jpg`);
  const table = await fashion('search', photo);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /Tshirts/);
  const json = JSON.parse((await fashion('search', photo, '--json', '--k', '3', '--metric', 'euclidean')).stdout);
  assert.equal(json.results.length, 3);
  assert.equal(json.results[0].id, fx.ids[0]);
  assert.equal(json.metric, 'euclidean');
  const filtered = JSON.parse((await fashion('search', photo, '--json', '--filter', 'articleType=Watches')).stdout);
  assert.ok(filtered.results.every((h: { metadata: { articleType: string } }) => h.metadata.articleType === 'Watches'));
});

test('similar excludes the item itself', async () => {
  const json = JSON.parse((await fashion('similar', fx.ids[0]!, '--json')).stdout);
  assert.equal(json.results.length, 5);
  assert.ok(json.results.every((h: { id: string }) => h.id !== fx.ids[0]));
});

test('eval prints one JSON line last', async () => {
  const r = await fashion('eval', '--json', '--k', '5');
  const last = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  assert.equal(last.k, 5);
  assert.equal(last.queries, fx.ids.length);
  for (const key of ['precisionAtK', 'strictPrecisionAtK', 'mapAt10']) assert.ok(last[key] >= 0 && last[key] <= 1, key);
});

test('errors exit non-zero with a coded message', async () => {
  const missing = await fashion('search', '/nowhere/photo.jpg');
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /error \[input\/not-found\]/);
  const unknown = await fashion('similar', 'no-such-id');
  assert.match(unknown.stderr, /item\/not-found/);
  const badK = await fashion('similar', fx.ids[0]!, '--k', 'many');
  assert.match(badK.stderr, /Expected an integer/);
  const r = await run(process.execPath, ['bin/fashion.js', 'info', '--data', join(fx.root, 'empty')]).catch((e) => e);
  assert.match(r.stderr, /catalog\/not-found/);
});

test('numeric flags are checked before any work: a bad number is refused, the model on disk untouched', async () => {
  const before = await fashion('info', '--json');
  for (const args of [['train', '--epochs', 'abc'], ['eval', '--limit', 'abc'], ['eval', '--seed', '-1'], ['match', join(fx.images, `${fx.ids[0]}.jpg`), '--candidates', '0'], ['duplicates', '--threshold', '2']]) {
    const r = await fashion(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /input\/invalid/);
  }
  assert.deepEqual(JSON.parse((await fashion('info', '--json')).stdout), JSON.parse(before.stdout));
});
