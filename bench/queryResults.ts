// Whether a change to the query path changes answers: uploads N catalog photos (every step-th of the shared set) through
// the HTTP API (fastify inject) and records each photo's top 10 ids and scores, the predicted labels and the isolated view;
// with --compare FILE, compares them with a file recorded before the change (ids, labels and isolated views must be equal,
// scores and confidences within --tolerance, default 0: identical) and exits 1 on any difference. Writes nothing into the catalog.
// --photos DIR: the photos of DIR instead (e.g. /work/cat/phone: phone-like photos, which take isolation, the other
// readings, the kind prior and the backbone re-rank).
// Usage: tsx bench/queryResults.ts --data DIR [--n 100] [--photos DIR] [--out FILE] [--compare FILE] [--tolerance 0]
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { demoCatalog, resolveConfig } from '../src/config.js';
import { Services } from '../src/app/services.js';
import { buildApp } from '../src/server/app.js';
import { tuneHeapForServing } from '../src/server/heap.js';
import { arg } from './common.js';

interface Answer {
  readonly photo: string;
  readonly ids: string[];
  readonly scores: number[];
  readonly predicted: unknown;
  readonly isolated: string | null;
}

const n = Number(arg('n', '100'));
// The heap as the server sets it (src/server/start.ts); --v8-heap default keeps V8's own growth (the base of the comparison).
if (arg('v8-heap', 'server') === 'server') tuneHeapForServing();
const config = resolveConfig({ dataDir: arg('data', '.fashion') });
const rec = await Services.open(config);
await rec.embedding.load();
rec.prepareIndex();
const app = await buildApp(rec, config, { logger: false });
const images = arg('photos', '') || demoCatalog()!.images;
const all = readdirSync(images).filter((f) => /\.(jpe?g|png|webp)$/i.test(f)).sort();
const step = Math.max(1, Math.floor(all.length / n));
const answers: Answer[] = [];
for (let i = 0; i < Math.min(n, all.length); i++) {
  const file = all[i * step]!;
  const b = 'resultsboundary';
  const payload = Buffer.concat([
    Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="image"; filename="q.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`),
    readFileSync(join(images, file)),
    Buffer.from(`\r\n--${b}\r\nContent-Disposition: form-data; name="k"\r\n\r\n10\r\n--${b}--\r\n`),
  ]);
  const res = await app.inject({ method: 'POST', url: '/api/search', payload, headers: { 'content-type': `multipart/form-data; boundary=${b}` } });
  if (res.statusCode !== 200) throw new Error(`${file}: HTTP ${res.statusCode} ${res.body}`);
  const body = res.json() as { results: Array<{ id: string; score: number }>; predicted?: unknown; query: { isolated?: { imageUrl: string } } };
  answers.push({ photo: file, ids: body.results.map((r) => r.id), scores: body.results.map((r) => r.score), predicted: body.predicted ?? null, isolated: body.query.isolated?.imageUrl ?? null });
}
await app.close();
await rec.close();

const out = arg('out', '');
if (out) writeFileSync(out, JSON.stringify(answers));
const compare = arg('compare', '');
if (!compare) {
  console.log(JSON.stringify({ photos: answers.length, written: out || null }));
} else {
  const tolerance = Number(arg('tolerance', '0'));
  /** Equal, numbers within the tolerance (the predicted labels' confidences). */
  const near = (x: unknown, y: unknown, tol: number): boolean => {
    if (typeof x === 'number' && typeof y === 'number') return Math.abs(x - y) <= tol;
    if (x === null || y === null || typeof x !== 'object' || typeof y !== 'object') return x === y;
    const kx = Object.keys(x), ky = Object.keys(y);
    return kx.length === ky.length && kx.every((k) => near((x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k], tol));
  };
  const before = new Map((JSON.parse(readFileSync(compare, 'utf8')) as Answer[]).map((a) => [a.photo, a]));
  let idsDiffer = 0, predictedDiffer = 0, isolatedDiffer = 0, scoresOutside = 0, maxScoreDiff = 0, missing = 0;
  for (const a of answers) {
    const b = before.get(a.photo);
    if (!b) {
      missing++;
      continue;
    }
    if (a.ids.join() !== b.ids.join()) idsDiffer++;
    if (!near(a.predicted, b.predicted, tolerance)) predictedDiffer++;
    if (a.isolated !== b.isolated) isolatedDiffer++;
    const d = Math.max(0, ...a.scores.map((s, j) => (b.ids[j] === a.ids[j] ? Math.abs(s - b.scores[j]!) : 0)));
    maxScoreDiff = Math.max(maxScoreDiff, d);
    if (d > tolerance) scoresOutside++;
  }
  const same = idsDiffer + predictedDiffer + isolatedDiffer + scoresOutside + missing === 0;
  console.log(JSON.stringify({ photos: answers.length, same, idsDiffer, predictedDiffer, isolatedDiffer, scoresOutsideTolerance: scoresOutside, maxScoreDiff, tolerance, missing }));
  if (!same) process.exitCode = 1;
}
