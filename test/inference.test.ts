/**
 * Self-healing inference: a crashed inference thread is restarted (requests in flight get a 503 that says to retry,
 * health is degraded meanwhile), and a failed batched run costs that batch only. The crashes are real: the worker
 * thread exits (process.exit(1) on its thread, allowed by FASHION_INFERENCE_CRASH=allow); onnxruntime is not mocked.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import onnxProto from 'onnx-proto';
import { Embedder } from '../src/embedding/embedder.js';
import { headCutModel } from '../src/embedding/headCut.js';
import { InferenceThread } from '../src/embedding/inferenceThread.js';
import { FashionError } from '../src/errors.js';
import { IMAGENET_PREPROCESS, type Preprocess } from '../src/imaging/preprocess.js';
import { pickIds, servedFixture, TYPES } from './helpers.js';
import { mulberry32, toyClassifier, toyFeatures, type ToyClassifier } from './unit/toys.js';

// Read by each inference worker when it starts (workers copy the environment): lets InferenceThread.crash() work.
process.env.FASHION_INFERENCE_CRASH = 'allow';

const { onnx } = onnxProto;
const SIZE = 16;
const P: Preprocess = { ...IMAGENET_PREPROCESS, size: SIZE };
const PLANE = 3 * SIZE * SIZE;
const root = mkdtempSync(join(tmpdir(), 'fashion-inference-'));
const open: Array<{ close(): Promise<void> }> = [];

const served = servedFixture(pickIds(TYPES, 2), 'inference', { maxUploadBytes: 200_000 });
const { fx } = served;

after(async () => {
  for (const o of open) await o.close();
  rmSync(root, { recursive: true, force: true });
});

function upload(bytes: Buffer) {
  const boundary = '----fashioninference' + Math.random().toString(16).slice(2);
  const payload = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="photo.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`),
    bytes,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  return { payload, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

/**
 * Makes the thread's worker crash for real with the next run handed to it and unanswered, as a crash in the middle of
 * the run leaves it ('run' is emitted just before the run is posted, so the crash reaches the worker first: no race).
 */
function crashDuringNextRun(thread: InferenceThread): void {
  thread.once('run', () => thread.crash());
}

/** The batch sizes of the runs the thread is handed from now on. */
function countRuns(thread: InferenceThread): number[] {
  const runs: number[] = [];
  thread.on('run', (r) => runs.push(r.batch));
  return runs;
}

test('a worker that crashes mid-request: that request gets 503 server/unavailable, health is degraded, then the thread is back and search works', async () => {
  const [first, second] = fx.ids;
  const photo = (id: string) => readFileSync(join(fx.images, `${id}.jpg`));
  const search = (id: string) => served.app.inject({ method: 'POST', url: '/api/search', ...upload(photo(id)) });
  const health = () => served.app.inject({ method: 'GET', url: '/api/health' });

  assert.equal((await search(first!)).statusCode, 200);
  const thread = (await served.svc.embedding.load()).thread;
  crashDuringNextRun(thread);
  const lost = await search(second!);
  assert.equal(lost.statusCode, 503, lost.body);
  assert.equal(lost.json().error.code, 'server/unavailable');
  assert.match(lost.json().error.message, /retry/);

  const down = await health();
  assert.equal(down.statusCode, 503, down.body);
  assert.equal(down.json().status, 'degraded');
  assert.match(down.json().reason, /inference thread stopped .*restart/);
  assert.equal(down.json().items, fx.ids.length);

  // The health check itself says when the thread is back (the restart waits 250 ms, then loads the model).
  let up = await health();
  for (const deadline = Date.now() + 30_000; up.statusCode !== 200 && Date.now() < deadline; up = await health()) await sleep(100);
  assert.equal(up.statusCode, 200, up.body);
  assert.equal(up.json().status, 'ok');
  assert.equal(up.json().reason, undefined);
  const again = await search(second!);
  assert.equal(again.statusCode, 200, again.body);
  assert.equal(again.json().results[0].id, second);
});

/** The toy classifier, with a branch that refuses some batches: a Gather indexed by the sum of the images' maxima. */
function batchSensitive(toy: ToyClassifier, file: string): string {
  const m = onnx.ModelProto.decode(toy.bytes);
  const g = m.graph as onnxProto.onnx.GraphProto;
  const INT = onnx.AttributeProto.AttributeType.INT;
  const INTS = onnx.AttributeProto.AttributeType.INTS;
  // max of each image -> summed over the batch -> an index into a table of 4 zeros: a sum of 4 or more is out of
  // range and onnxruntime refuses the run. The zero it picks is added to the image, so the features are the toy's.
  g.node.unshift(
    onnx.NodeProto.create({ name: 'mark_max', opType: 'ReduceMax', input: ['image'], output: ['mark_max'], attribute: [{ name: 'axes', type: INTS, ints: [1, 2, 3] }, { name: 'keepdims', type: INT, i: 0 }] }),
    onnx.NodeProto.create({ name: 'mark_sum', opType: 'ReduceSum', input: ['mark_max'], output: ['mark_sum'], attribute: [{ name: 'keepdims', type: INT, i: 0 }] }),
    onnx.NodeProto.create({ name: 'mark_idx', opType: 'Cast', input: ['mark_sum'], output: ['mark_idx'], attribute: [{ name: 'to', type: INT, i: onnx.TensorProto.DataType.INT64 }] }),
    onnx.NodeProto.create({ name: 'mark_pick', opType: 'Gather', input: ['mark_table', 'mark_idx'], output: ['mark_pick'] }),
    onnx.NodeProto.create({ name: 'mark_add', opType: 'Add', input: ['image', 'mark_pick'], output: ['image_marked'] }),
  );
  g.node.find((n) => n.name === 'conv1')!.input![0] = 'image_marked';
  g.initializer.push(onnx.TensorProto.create({ name: 'mark_table', dims: [4], dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(16) }));
  writeFileSync(file, onnx.ModelProto.encode(m).finish());
  return file;
}

/** An image with values in [-1, 0] and a maximum of `peak`. */
function image(seed: number, peak: number): Float32Array {
  const rand = mulberry32(seed);
  const img = Float32Array.from({ length: PLANE }, () => -rand());
  img[(seed * 37) % PLANE] = peak;
  return img;
}

function batchOf(...images: Float32Array[]): Float32Array {
  const out = new Float32Array(images.length * PLANE);
  images.forEach((im, i) => out.set(im, i * PLANE));
  return out;
}

async function loadToy(toy: ToyClassifier, name: string): Promise<Embedder> {
  const e = await Embedder.load({ model: batchSensitive(toy, join(root, `${name}.onnx`)), pooling: 'max', preprocess: P, threads: 1, cacheDir: join(root, 'cache') });
  open.push(e);
  return e;
}

function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) <= 1e-4 * Math.max(1, Math.abs(want[i]!)), `${what}[${i}]: ${got[i]} vs ${want[i]}`);
}

test('a batched run that fails is retried one image at a time for that batch only: the next batch runs batched again', async () => {
  const toy = toyClassifier({ channels: 5, classes: 3, seed: 11 });
  const e = await loadToy(toy, 'open-batch');
  const runs = countRuns(e.thread);
  // Two images whose maxima sum to 6: the batched run is refused, each alone (3) runs.
  const a = image(1, 3), b = image(2, 3);
  const odd = await e.embedBatch(batchOf(a, b), 2);
  assert.deepEqual(runs, [2, 1, 1], 'refused batched, then one at a time');
  assertClose(odd.subarray(0, 5), toyFeatures(toy, a, SIZE, SIZE, 'max'), 'first of the retried batch');
  assertClose(odd.subarray(5), toyFeatures(toy, b, SIZE, SIZE, 'max'), 'second of the retried batch');
  runs.length = 0;
  const c = image(3, 0), d = image(4, 0);
  const next = await e.embedBatch(batchOf(c, d), 2);
  assert.deepEqual(runs, [2], 'the next batch is one batched run');
  assertClose(next.subarray(5), toyFeatures(toy, d, SIZE, SIZE, 'max'), 'second of the next batch');
});

test('a graph that declared a batch of one goes one image at a time for good once a batched run fails', async () => {
  const toy = toyClassifier({ channels: 5, classes: 3, seed: 12, fixedBatch: true });
  const e = await loadToy(toy, 'fixed-batch');
  const runs = countRuns(e.thread);
  await e.embedBatch(batchOf(image(5, 3), image(6, 3)), 2);
  runs.length = 0;
  const c = image(7, 0);
  const next = await e.embedBatch(batchOf(c, image(8, 0)), 2);
  assert.deepEqual(runs, [1, 1]);
  assertClose(next.subarray(0, 5), toyFeatures(toy, c, SIZE, SIZE, 'max'), 'first');
});

test('a graph that declared a batch of one but has run batches keeps batching after a failed batch', async () => {
  // The default backbone is such a graph: SqueezeNet 1.0 declares a batch of one, and the cut opens it.
  const toy = toyClassifier({ channels: 5, classes: 3, seed: 15, fixedBatch: true });
  const e = await loadToy(toy, 'fixed-batch-works');
  const runs = countRuns(e.thread);
  await e.embedBatch(batchOf(image(10, 0), image(11, 0)), 2);
  await e.embedBatch(batchOf(image(12, 3), image(13, 3)), 2);
  runs.length = 0;
  await e.embedBatch(batchOf(image(14, 0), image(15, 0)), 2);
  assert.deepEqual(runs, [2]);
});

test('a crashed thread restarts from its model: the run in flight gets server/unavailable, a run asked meanwhile waits for the new worker', async () => {
  const toy = toyClassifier({ channels: 4, classes: 3, seed: 13 });
  const e = await loadToy(toy, 'restart');
  const img = image(9, 0);
  const want = toyFeatures(toy, img, SIZE, SIZE, 'max');
  crashDuringNextRun(e.thread);
  await assert.rejects(e.embedBatch(img.slice(), 1), (err: unknown) => err instanceof FashionError && err.code === 'server/unavailable' && err.status === 503 && /retry/.test(err.message));
  assert.equal(e.thread.health.state, 'restarting');
  // Asked while the worker is down: it waits for the restart rather than failing.
  assertClose(await e.embedBatch(img.slice(), 1), want, 'after the restart');
  assert.equal(e.thread.health.state, 'up');
});

test('a thread that crashes after every restart gives up after the cap instead of spinning, and says so', { timeout: 30_000 }, async () => {
  const cut = headCutModel(toyClassifier({ channels: 4, classes: 3, seed: 14 }).bytes, { pooling: 'max' });
  const thread = await InferenceThread.start(cut.bytes, { intraOpNumThreads: 1 }, { firstDelayMs: 5, maxDelayMs: 20, maxRestarts: 3 });
  open.push(thread);
  const delays: number[] = [];
  thread.on('down', (d) => delays.push(d.delayMs));
  // Every restarted worker crashes at once, as a model that crashes on load or on its first run would.
  thread.on('up', () => thread.crash());
  const gaveUp = once(thread, 'gave-up');
  // Nothing waits on the thread here, so its worker and timers do not keep the process alive: this does.
  const alive = setInterval(() => undefined, 1000);
  thread.crash();
  const [{ restarts }] = (await gaveUp.finally(() => clearInterval(alive))) as [{ restarts: number }];
  assert.equal(restarts, 3);
  assert.deepEqual(delays, [5, 10, 20], 'backoff doubles up to the cap');
  assert.equal(thread.health.state, 'failed');
  await assert.rejects(thread.run(new Float32Array(PLANE), [1, 3, SIZE, SIZE], cut.inputName, cut.outputName), (err: unknown) => err instanceof FashionError && err.code === 'server/unavailable' && /restart the server/.test(err.message));
});
