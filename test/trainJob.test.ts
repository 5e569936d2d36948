/**
 * POST /api/train: the refinement learned again while the catalog is served, as a background 'train' job in the index
 * child process, holding the catalog's writer lock; when the job has succeeded the server answers from the new
 * refinement (a new trainedAt), without a restart.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { readLockHolder } from '../src/catalog/writerLock.js';
import { TRAIN_JOB, trainEventProgress } from '../src/jobs/trainJob.js';
import type { TrainReport } from '../src/refine/train.js';
import { TRAIN_LOCK_HOLDER } from '../src/server/routes/train.js';
import { multipart, pickIds, servedFixture, STYLE_ROWS, TYPES } from './helpers.js';

const KEY = 'test-train-key-0123456789';
const auth = { authorization: `Bearer ${KEY}` };
// 204 labelled items: over the 200 from which an index trains the refinement, so the catalog is served refined.
const served = servedFixture(pickIds(TYPES, 34), 'train-job', { augment: 0, apiKeys: KEY });
// 18 labelled items: too few to learn from.
const small = servedFixture(pickIds(TYPES, 3), 'train-small', { augment: 0, apiKeys: KEY });

const train = (body?: Record<string, unknown>, headers: Record<string, string> = auth): InjectOptions => ({
  method: 'POST',
  url: '/api/train',
  headers,
  ...(body ? { payload: body } : {}),
});

interface JobBody {
  id: string;
  kind: string;
  status: string;
  params: Record<string, unknown>;
  progress: { done: number; total: number; stage?: string; message?: string };
  result: (Record<string, unknown> & { epochs: number; trainSeconds: number; validation: { precisionAt5: number; strictPrecisionAt5: number }; copies: { fit: number } }) | null;
  failure: { code: string; message: string } | null;
}
const job = async (app: FastifyInstance, id: string): Promise<JobBody> => {
  const res = await app.inject({ url: `/api/jobs/${id}` });
  assert.equal(res.statusCode, 200, res.body);
  return res.json() as JobBody;
};
const trainedAt = async (app: FastifyInstance): Promise<string | undefined> => (await app.inject({ url: '/api/info' })).json().refinement?.trainedAt;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('training events become job progress by stage, and its report the job\'s result', () => {
  const at = { done: 0, total: 0 };
  assert.deepEqual(trainEventProgress({ kind: 'refinement', message: 'colour evidence 64/120' }, at), { stage: 'colours', done: 64, total: 120, message: 'colour evidence 64/120' });
  assert.deepEqual(trainEventProgress({ kind: 'copies', done: 30, total: 50 }, at), { stage: 'copies', done: 30, total: 50 });
  const copies = { stage: 'copies', done: 50, total: 50 };
  assert.deepEqual(trainEventProgress({ kind: 'refinement', message: '50 training copies made' }, copies), { ...copies, message: '50 training copies made' });
  assert.equal(trainEventProgress({ kind: 'refinement', message: 'training on 170 items and 0 copies (34 items kept for validation)' }, copies)?.stage, 'epochs');
  assert.deepEqual(trainEventProgress({ kind: 'refinement', message: 'epoch 3/24 loss 1.234' }, at), { stage: 'epochs', done: 3, total: 24, message: 'epoch 3/24 loss 1.234' });
  assert.deepEqual(trainEventProgress({ kind: 'refinement', message: 'fusion {"type":1}: P@5 0.9 strict 0.8' }, at), { stage: 'tuning', done: 0, total: 0, message: 'fusion {"type":1}: P@5 0.9 strict 0.8' });

  const report: TrainReport = {
    items: 10, fitItems: 8, validationItems: 2, epochs: 3, trainSeconds: 1.5, seed: 42, modelBytes: 1000,
    validationAccuracy: { articleType: 0.9 },
    copies: { fit: 0, validation: 0, validationAccuracy: {} },
    validation: { precisionAt5: 0.8, strictPrecisionAt5: 0.7 },
    fusion: { type: 1, colour: 0.5, histogram: 0.2, hidden: 1 } as TrainReport['fusion'],
    instance: null,
  };
  const result = TRAIN_JOB.result(report, () => assert.fail('a training skips no item'));
  assert.deepEqual(JSON.parse(JSON.stringify(result)), JSON.parse(JSON.stringify(report)), 'the whole report, as JSON');
});

test('POST /api/train needs a write key, and its body is bounded; nothing is started', async () => {
  const { app } = served;
  const none = await app.inject(train(undefined, {}));
  assert.equal(none.statusCode, 401, none.body);
  assert.equal(none.json().error.code, 'auth/missing-key');
  const wrong = await app.inject(train({}, { authorization: 'Bearer not-the-key-at-all-000' }));
  assert.equal(wrong.statusCode, 401, wrong.body);
  assert.equal(wrong.json().error.code, 'auth/invalid-key');
  for (const [body, field] of [[{ epochs: 0 }, /epochs/], [{ epochs: 1.5 }, /epochs/], [{ epochs: 10_001 }, /epochs/], [{ augment: 1.5 }, /augment/], [{ augment: -0.1 }, /augment/], [{ seed: 3 }, /seed/]] as const) {
    const res = await app.inject(train(body));
    assert.equal(res.statusCode, 400, `${JSON.stringify(body)}: ${res.body}`);
    assert.equal(res.json().error.code, 'input/invalid');
    assert.match(res.json().error.message, field);
  }
  // A form is not taken for "no body" (which would train with the defaults).
  const form = multipart([{ name: 'epochs', value: '3' }]);
  const formRes = await app.inject({ method: 'POST', url: '/api/train', payload: form.payload, headers: { ...form.headers, ...auth } });
  assert.equal(formRes.statusCode, 400, formRes.body);
  assert.equal(formRes.json().error.code, 'input/invalid');
  assert.deepEqual((await app.inject({ url: '/api/jobs?kind=train' })).json().jobs, []);
});

test('a catalog with too few labels is refused at once: 409 catalog/too-few-labels, no job', async () => {
  const { app } = small;
  const res = await app.inject(train());
  assert.equal(res.statusCode, 409, res.body);
  assert.equal(res.json().error.code, 'catalog/too-few-labels');
  assert.match(res.json().error.message, /at least 25 .* has 18/);
  assert.deepEqual((await app.inject({ url: '/api/jobs?kind=train' })).json().jobs, []);
});

test('a training job: 202 + Location, one at a time, writes locked meanwhile; then the server answers from the new refinement', async () => {
  const { app, fx, config } = served;
  const before = await trainedAt(app);
  assert.ok(before, 'the catalog is served refined before');

  const res = await app.inject(train({ epochs: 6, augment: 0 }));
  assert.equal(res.statusCode, 202, res.body);
  const submitted = res.json() as JobBody;
  assert.equal(res.headers.location, `/api/jobs/${submitted.id}`);
  assert.equal(submitted.kind, 'train');
  assert.ok(['queued', 'running'].includes(submitted.status), submitted.status);
  assert.deepEqual(submitted.params, { epochs: 6, augment: 0 });
  const again = await app.inject(train());
  assert.equal(again.statusCode, 202, again.body);
  assert.equal(again.json().id, submitted.id, 'a second request while it runs answers the same job');
  assert.equal(again.headers.location, res.headers.location);

  // While the child trains it holds the writer lock: a write is refused, naming the training.
  const id = fx.ids[3]!;
  const patch: InjectOptions = { method: 'PATCH', url: `/api/items/${id}`, headers: auth, payload: { metadata: { productDisplayName: STYLE_ROWS.get(id)!.productDisplayName! } } };
  let locked: { code: string; message: string } | null = null;
  let current = submitted;
  const stages = new Set<string>();
  for (let i = 0; i < 1200 && ['queued', 'running'].includes(current.status); i++) {
    if (!locked && readLockHolder(config.dataDir)?.command === TRAIN_LOCK_HOLDER) {
      const w = await app.inject(patch);
      if (w.statusCode === 409) locked = w.json().error;
      else assert.equal(w.statusCode, 200, w.body);
    }
    current = await job(app, submitted.id);
    if (current.progress.stage) stages.add(current.progress.stage);
    await sleep(25);
  }
  assert.equal(current.status, 'succeeded', JSON.stringify(current));
  assert.ok(locked, 'a write was refused while the training held the lock');
  assert.equal(locked.code, 'catalog/locked');
  assert.ok(locked.message.includes(TRAIN_LOCK_HOLDER), locked.message);

  // Its progress and its report.
  assert.ok(stages.size > 0 && [...stages].every((s) => ['colours', 'copies', 'epochs', 'tuning'].includes(s)), [...stages].join(', '));
  assert.ok(current.progress.message, JSON.stringify(current.progress));
  const r = current.result!;
  assert.equal(r.epochs, 6);
  assert.equal(r.items, fx.ids.length);
  assert.equal(r.copies.fit, 0, 'augment 0: no copies');
  assert.ok(r.trainSeconds > 0, JSON.stringify(r));
  assert.ok(r.validation.precisionAt5 > 0 && r.validation.precisionAt5 <= 1, JSON.stringify(r.validation));

  // Without a restart: the server answers from the refinement this job trained.
  const info = (await app.inject({ url: '/api/info' })).json();
  assert.ok(info.refinement, 'still refined');
  assert.notEqual(info.refinement.trainedAt, before, 'a new refinement');
  assert.ok(Date.parse(info.refinement.trainedAt) > Date.parse(before), `${info.refinement.trainedAt} after ${before}`);
  assert.equal(info.refinement.report.epochs, 6, 'the one this job trained');
  assert.equal(info.refinement.report.trainSeconds, r.trainSeconds);
  const search = await app.inject({ method: 'POST', url: '/api/search', payload: { id, k: 5 } });
  assert.equal(search.statusCode, 200, search.body);
  assert.equal(search.json().results.length, 5);
  // The lock is free again, and the job is listed.
  assert.equal((await app.inject(patch)).statusCode, 200);
  const listed = (await app.inject({ url: '/api/jobs?kind=train' })).json().jobs as JobBody[];
  assert.deepEqual(listed.map((j) => [j.id, j.status]), [[submitted.id, 'succeeded']]);
});
