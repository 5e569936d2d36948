import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import sharp from 'sharp';
import { PHOTO_CONDITIONS, rephotograph } from '../src/imaging/rephotograph.js';
import { groupPairs, nearDuplicatePairs } from '../src/search/duplicates.js';
import { mulberry32 } from '../src/util/random.js';
import { Recommender } from '../src/recommend/recommender.js';
import { buildApp } from '../src/server/app.js';
import { DEMO, makeFixture, pickIds, TYPES } from './helpers.js';

const run = promisify(execFile);
const ids = pickIds(TYPES, 4);
const fx = makeFixture(ids, 'match');
const config = fx.config();
const [exactOf, nearOf, matchOf] = [ids[1]!, ids[6]!, ids[12]!];
// A product the catalog does not carry (another kind altogether).
const absent = pickIds(['Perfume and Body Mist'], 1)[0]!;
let app: FastifyInstance;
let rec: Recommender;
let mildCopy: Buffer;

async function fashion(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['bin/fashion.js', ...args, '--data', fx.data, '--cache', config.cacheDir], { maxBuffer: 10 * 1024 * 1024 });
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

before(async () => {
  // An exact duplicate (the same file under another id) and a near-duplicate (re-encoded at JPEG quality 70).
  copyFileSync(join(fx.images, `${exactOf}.jpg`), join(fx.images, 'dup-exact.jpg'));
  writeFileSync(join(fx.images, 'dup-near.jpg'), await sharp(readFileSync(join(fx.images, `${nearOf}.jpg`))).jpeg({ quality: 70 }).toBuffer());
  mildCopy = await rephotograph(readFileSync(join(fx.images, `${matchOf}.jpg`)), PHOTO_CONDITIONS.mild, mulberry32(11));
  writeFileSync(join(fx.root, 'mild.jpg'), mildCopy);
  const r = await fashion('index', fx.images, '--metadata', fx.csv, '--json');
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.deepEqual(report.duplicates.map((d: { id: string; duplicateOf: string }) => [d.id, d.duplicateOf].sort()), [['dup-exact', exactOf].sort()]);
  rec = await Recommender.open(config);
  app = await buildApp(rec.services, config, { logger: false });
});

after(async () => {
  await app?.close();
  await rec?.close();
});

test('fashion match finds the exact product in a re-photographed copy, and says so with a confidence', async () => {
  const r = await fashion('match', join(fx.root, 'mild.jpg'), '--json');
  assert.equal(r.code, 0, r.stderr);
  const m = JSON.parse(r.stdout);
  assert.equal(m.match?.id, matchOf);
  assert.ok(m.confidence >= m.threshold);
  const table = await fashion('match', join(fx.root, 'mild.jpg'));
  assert.match(table.stdout, new RegExp(`match: item ${matchOf}`));
});

test('fashion match answers "no confident match" for a product the shop does not carry', async () => {
  const r = await fashion('match', join(DEMO!.images, `${absent}.jpg`));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /no confident match/);
  const strict = await fashion('match', join(fx.root, 'mild.jpg'), '--threshold', '0.99', '--json');
  assert.equal(JSON.parse(strict.stdout).match, null);
  const bad = await fashion('match', join(fx.root, 'mild.jpg'), '--threshold', 'lots');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /threshold/);
});

test('fashion duplicates lists exact and near-duplicate groups as JSON and CSV', async () => {
  // JPEG quality 70 moves the backbone vector to ~0.94 cosine; the threshold is given here so that the
  // test does not depend on the default chosen by measurement.
  const r = await fashion('duplicates', '--format', 'json', '--threshold', '0.9');
  assert.equal(r.code, 0, r.stderr);
  const d = JSON.parse(r.stdout);
  assert.deepEqual(d.exact.map((g: { ids: string[] }) => g.ids), [['dup-exact', exactOf].sort()]);
  assert.ok(d.near.some((g: { ids: string[] }) => g.ids.includes('dup-near') && g.ids.includes(nearOf)), JSON.stringify(d.near));
  assert.ok(d.near.every((g: { similarity: number }) => g.similarity >= 0.9));
  const csv = await fashion('duplicates', '--format', 'csv');
  const lines = csv.stdout.trim().split('\n');
  assert.equal(lines[0], 'group,kind,similarity,id,name');
  assert.ok(lines.some((l) => l.startsWith('1,exact,1,dup-exact,')));
  const table = await fashion('duplicates', '--exact-only');
  assert.match(table.stdout, /1 exact duplicate groups, 0 near-duplicate groups/);
});

test('API: /api/match and /api/duplicates; photo searches carry the isolated query for the page', async () => {
  const boundary = '----fashionmatch';
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="mild.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`),
    mildCopy,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  const headers = { 'content-type': `multipart/form-data; boundary=${boundary}` };
  const m = await app.inject({ method: 'POST', url: '/api/match', payload: body, headers });
  assert.equal(m.statusCode, 200, m.body);
  assert.equal(m.json().match.id, matchOf);
  assert.match(m.json().query.isolated.imageUrl, /^data:image\/jpeg;base64,/);
  const none = await app.inject({ method: 'POST', url: '/api/match?threshold=0.99', payload: body, headers });
  assert.equal(none.json().match, null);
  assert.match(none.json().message, /No confident match/);
  assert.equal((await app.inject({ method: 'POST', url: '/api/match?threshold=2', payload: body, headers })).statusCode, 400);

  const s = await app.inject({ method: 'POST', url: '/api/search', payload: body, headers });
  assert.equal(s.statusCode, 200, s.body);
  assert.match(s.json().query.isolated.imageUrl, /^data:image\/jpeg;base64,/);
  assert.ok(['studio', 'replaced'].includes(s.json().query.isolated.method));

  // Near-duplicates come from a background scan: a GET does not start it, PUT does, GET answers 202 until it is done.
  const before = await app.inject({ method: 'GET', url: '/api/duplicates?threshold=0.9' });
  assert.equal(before.statusCode, 404, before.body);
  assert.match(before.json().error.message, /PUT \/api\/duplicates\/scan/);
  const put = await app.inject({ method: 'PUT', url: '/api/duplicates/scan' });
  assert.equal(put.statusCode, 202, put.body);
  assert.equal(put.json().status, 'running');
  const jobId = put.json().job.id;
  assert.equal(put.headers.location, `/api/jobs/${jobId}`, 'the scan is a job');
  let d = await app.inject({ method: 'GET', url: '/api/duplicates?threshold=0.9' });
  assert.equal(d.statusCode, 202, 'the scan runs on its thread; the GET does not wait for it');
  assert.ok(Number(d.headers['retry-after']) >= 1);
  while (d.statusCode === 202) {
    await new Promise((r) => setTimeout(r, 50));
    d = await app.inject({ method: 'GET', url: '/api/duplicates?threshold=0.9' });
  }
  assert.equal(d.statusCode, 200, d.body);
  assert.deepEqual(d.json().exact[0].ids, ['dup-exact', exactOf].sort());
  assert.equal(d.json().exact[0].items[0].imageUrl, `/api/images/${[exactOf, 'dup-exact'].sort()[0]}`);
  assert.ok(d.json().near.some((g: { ids: string[] }) => g.ids.includes('dup-near')));
  const job = (await app.inject({ method: 'GET', url: `/api/jobs/${jobId}` })).json();
  assert.equal(job.kind, 'duplicates');
  assert.equal(job.status, 'succeeded');
  assert.equal(job.result.pairs, d.json().scan.pairs);
  const csv = await app.inject({ method: 'GET', url: '/api/duplicates?format=csv&near=false' });
  assert.match(csv.headers['content-type'] as string, /text\/csv/);
  assert.equal(csv.body.trim().split('\n').length, 3);
  const nearCsv = await app.inject({ method: 'GET', url: '/api/duplicates?format=csv&threshold=0.9' });
  assert.ok(nearCsv.body.split('\n').some((l) => /^\d+,near,[\d.]+,dup-near,/.test(l)), nearCsv.body);

  // Every threshold is read from the one scan and equals what the synchronous scan at that threshold gave.
  const { vectors, dims } = rec.services.spaces.backbone.exact;
  const items = rec.services.catalog.items;
  for (const threshold of [0.6, 0.8, 0.9, 0.95, 0.99]) {
    const want = groupPairs(items.length, nearDuplicatePairs(vectors, dims, { threshold })).map((g) => ({
      kind: 'near',
      ids: g.rows.map((r) => items[r]!.id).sort(),
      similarity: Math.round(g.similarity * 1e6) / 1e6,
    }));
    const got = await app.inject({ method: 'GET', url: `/api/duplicates?threshold=${threshold}` });
    assert.deepEqual(got.json().near.map((g: { kind: string; ids: string[]; similarity: number }) => ({ kind: g.kind, ids: g.ids, similarity: g.similarity })), want, `threshold ${threshold}`);
  }
  assert.equal(rec.services.duplicates.scans, 1);
});
