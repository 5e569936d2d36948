// Query latency on a warm catalog: uploads real catalog photos one at a time through the HTTP API
// (fastify inject: routing, multipart, decode, embed, search, JSON) and reports p50/p95 of the total and
// of each stage, and the process's resident memory once warm. Usage: tsx bench/query.ts --data /tmp/full [--n 300]
// [--photos DIR]: query with the photos of DIR (e.g. bench/conditions.ts copies) instead of catalog photos; a phone-like
// photo is embedded more than once (src/imaging/decode.ts, fitPhoto: the photo as it is, and balanced on a light-grey backdrop).
// --label NAME: saved under `query-NAME` / `queryPhone-NAME` instead of the shipped keys (runs of a branch, a base, a setting).
// FASHION_QUERY_WORKING_SIDE=N: query photos isolated at a working side of N (Config.queryWorkingSide).
// Where the tail comes from: each query's CPU time (every thread of this process), the time its threads waited for a core
// (the kernel's run-queue delay, /proc/self/task/*/schedstat: another process, or this one's own threads, had the cores),
// V8's garbage collection pauses, and its number of readings; `tail` compares the slowest tenth with the middle of the queries.
import { readdirSync, readFileSync } from 'node:fs';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { demoCatalog, queryIsolation, resolveConfig } from '../src/config.js';
import { fitPhoto } from '../src/imaging/decode.js';
import { Services } from '../src/app/services.js';
import { buildApp } from '../src/server/app.js';
import { tuneHeapForServing } from '../src/server/heap.js';
import { arg, percentile, round, saveResult } from './common.js';

const dataDir = arg('data', '.fashion');
const label = arg('label', '');
const n = Number(arg('n', '300'));
// The heap as the server sets it (src/server/start.ts); --v8-heap default keeps V8's own growth (the base of the comparison).
if (arg('v8-heap', 'server') === 'server') tuneHeapForServing();
const config = resolveConfig({ dataDir });
const t0 = performance.now();
const rec = await Services.open(config);
const openMs = performance.now() - t0;
await rec.embedding.load();
rec.prepareIndex();
const app = await buildApp(rec, config, { logger: false });
const photoDir = arg('photos', '') || demoCatalog()!.images;
const files = readdirSync(photoDir).sort();
const step = Math.max(1, Math.floor(files.length / n));
const photos = Array.from({ length: Math.min(n, files.length) }, (_, i) => readFileSync(join(photoDir, files[i * step]!)));
// Warm-up photos that are not among the measured ones, or else the last measured ones: the server keeps recent photos'
// embeddings under a handle (the last 32), so warming up with the first measured photos served those from memory (20 of
// 100 queries never decoded nor embedded). By the time the last ones are measured, the others have pushed them out.
const measured = new Set(Array.from({ length: photos.length }, (_, i) => files[i * step]!));
const unmeasured = files.filter((f) => !measured.has(f)).slice(0, 20).map((f) => readFileSync(join(photoDir, f)));
const warmUp = unmeasured.length >= 20 ? unmeasured : photos.slice(-20);

// Where "other" goes: fastify's hooks split the request (routing and validation before the handler; the handler, which
// reads the multipart form, runs the pipeline and builds the view; the response's serialisation; the send), and the
// pipeline's services are wrapped to time the refinement pass, the choice between readings and the search apart.
// Each stage's time of the current request, ms (the wrappers cost microseconds).
const stage: Record<string, number> = {};
const marks: Record<string, number> = {};
const add = (name: string, ms: number) => (stage[name] = (stage[name] ?? 0) + ms);
for (const hook of ['onRequest', 'preValidation', 'preHandler', 'preSerialization', 'onSend', 'onResponse'] as const) {
  app.addHook(hook, async () => {
    marks[hook] = performance.now();
  });
}
function wrap<T extends object>(obj: T, method: keyof T & string, name: string): void {
  const f = (obj as Record<string, (...a: unknown[]) => unknown>)[method]!.bind(obj);
  (obj as Record<string, unknown>)[method] = (...a: unknown[]) => {
    const s = performance.now();
    const r = f(...a);
    if (r instanceof Promise) return r.finally(() => add(name, performance.now() - s));
    add(name, performance.now() - s);
    return r;
  };
}
wrap(rec.pipeline, 'search', 'pipeline');
wrap(rec.embedding, 'embed', 'embedding');
wrap(rec.refinement, 'analyse', 'refinement');
wrap(rec.refinement, 'sameProductVectors', 'refinement');
wrap(rec.search, 'chooseReading', 'chooseReading');
wrap(rec.search, 'nearest', 'nearest');

function upload(bytes: Buffer) {
  const b = 'benchboundary';
  const payload = Buffer.concat([Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="image"; filename="q.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`), bytes, Buffer.from(`\r\n--${b}--\r\n`)]);
  return app.inject({ method: 'POST', url: '/api/search', payload, headers: { 'content-type': `multipart/form-data; boundary=${b}` } });
}

for (const p of warmUp) await upload(p);
const total: number[] = [], decode: number[] = [], embed: number[] = [], search: number[] = [];
const twoReadings: number[] = [];
// What the three reported stages leave: HTTP (routing, multipart, response schema and JSON), the refinement's pass,
// choosing between readings and encoding the isolated product shown beside the query.
const other: number[] = [];
const preprocess = rec.info().model?.preprocess ?? config.preprocess;
// A photo's other readings are embedded only when the catalog can choose between them (a same-product space).
const readsTwice = rec.refinement.instancePart !== null;
const stages: Record<string, number[]> = {};
// How many readings each photo is embedded with (the isolated product, balanced, as it is); one where the catalog reads once.
const readingCounts = await Promise.all(photos.map(async (p) => {
  if (!readsTwice) return 1;
  const fitted = await fitPhoto(p, preprocess, { readings: 'both', isolation: queryIsolation(config) });
  return 1 + (fitted.balanced ? 1 : 0) + (fitted.asIs ? 1 : 0);
}));
/** Run and run-queue wait time of every thread of this process so far, ms (Linux schedstat; zeros elsewhere). */
function schedTimes(): Map<string, [number, number]> {
  const out = new Map<string, [number, number]>();
  try {
    for (const tid of readdirSync('/proc/self/task')) {
      try {
        const [run, wait] = readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ').map(Number);
        out.set(tid, [run! / 1e6, wait! / 1e6]);
      } catch {
        // the thread ended meanwhile
      }
    }
  } catch {
    // not Linux
  }
  return out;
}
function schedDelta(a: Map<string, [number, number]>, b: Map<string, [number, number]>): { run: number; wait: number } {
  let run = 0, wait = 0;
  for (const [tid, [r, w]] of b) {
    const [r0, w0] = a.get(tid) ?? [0, 0];
    run += r - r0;
    wait += w - w0;
  }
  return { run, wait };
}
// V8's pauses: each collection's start and duration, matched to the query they fell in.
const gcs: Array<{ at: number; ms: number; kind: number }> = [];
const gcObserver = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcs.push({ at: e.startTime, ms: e.duration, kind: (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ?? 0 });
});
gcObserver.observe({ entryTypes: ['gc'] });
const perQuery: Array<{ total: number; cpu: number; wait: number; gc: number; readings: number; at: number; end: number; stages: Record<string, number> }> = [];
for (const [i, p] of photos.entries()) {
  for (const k of Object.keys(stage)) delete stage[k];
  const sched0 = schedTimes();
  const cpu0 = process.cpuUsage();
  const s = performance.now();
  const res = await upload(p);
  total.push(performance.now() - s);
  const end = s + total[total.length - 1]!;
  const cpu = process.cpuUsage(cpu0);
  const sched = schedDelta(sched0, schedTimes());
  perQuery.push({ total: end - s, cpu: (cpu.user + cpu.system) / 1000, wait: sched.wait, gc: 0, readings: readingCounts[i]!, at: s, end, stages: {} });
  const split: Record<string, number> = {
    // inject's own work: building the request, and the response object after the send.
    inject: marks.onRequest! - s + (end - marks.onResponse!),
    routing: marks.preHandler! - marks.onRequest!,
    handler: marks.preSerialization! - marks.preHandler!,
    serialise: marks.onSend! - marks.preSerialization!,
    send: marks.onResponse! - marks.onSend!,
    ...stage,
  };
  // The handler less the pipeline: reading the multipart form and building the view (the isolated product's JPEG as base64).
  split.formAndView = split.handler! - (stage.pipeline ?? 0);
  // The pipeline less its services: the handle, averaging readings, the isolated view's start, the timings.
  split.pipelineOwn = (stage.pipeline ?? 0) - (stage.embedding ?? 0) - (stage.refinement ?? 0) - (stage.chooseReading ?? 0) - (stage.nearest ?? 0);
  const timings = (res.json() as { timings: { decodeMs: number; embedMs: number } }).timings;
  // The embedding service less the batch's decode and inference: the handle's hash, the queue, resolving back.
  split.embeddingOwn = (stage.embedding ?? 0) - timings.decodeMs - timings.embedMs;
  for (const [k, v] of Object.entries(split)) (stages[k] ??= []).push(v);
  const body = res.json();
  // The batch's own split too, so that the slowest tenth can be compared stage by stage with the middle (`tail`).
  Object.assign(perQuery[perQuery.length - 1]!.stages, split, { decode: body.timings.decodeMs, model: body.timings.embedMs, search: body.timings.searchMs });
  if (readingCounts[i]! > 1) twoReadings.push(total[total.length - 1]!);
  const t = body.timings;
  decode.push(t.decodeMs);
  embed.push(t.embedMs);
  search.push(t.searchMs);
  other.push(total[total.length - 1]! - t.decodeMs - t.embedMs - t.searchMs);
}
const stats = (xs: number[]) => ({ p50: round(percentile(xs, 50)), p95: round(percentile(xs, 95)) });
// The observer reports after the fact: wait for the last entries, then give each pause to the query it fell in.
await new Promise((r) => setTimeout(r, 50));
gcObserver.disconnect();
for (const g of gcs) {
  const q = perQuery.find((x) => g.at >= x.at && g.at < x.end);
  if (q) q.gc += g.ms;
}
const mean = (xs: number[]) => (xs.length ? round(xs.reduce((a, b) => a + b, 0) / xs.length) : null);
/** Means over a group of queries: what their time was made of. */
const profile = (qs: typeof perQuery) => ({
  count: qs.length,
  totalMs: mean(qs.map((q) => q.total)),
  cpuMs: mean(qs.map((q) => q.cpu)),
  waitMs: mean(qs.map((q) => q.wait)),
  gcMs: mean(qs.map((q) => q.gc)),
  readings: mean(qs.map((q) => q.readings)),
  threeReadings: qs.length ? round(qs.filter((q) => q.readings === 3).length / qs.length) : null,
  // Each stage's mean over the group (0 where a query did not pass through it: choosing the reading of a one-reading photo).
  stagesMs: Object.fromEntries([...new Set(qs.flatMap((q) => Object.keys(q.stages)))].sort().map((k) => [k, mean(qs.map((q) => q.stages[k] ?? 0))])),
});
const byTotal = [...perQuery].sort((a, b) => a.total - b.total);
const tenth = Math.max(1, Math.floor(byTotal.length / 10));
// Search alone, over more queries: catalog vectors as queries.
const searchOnly: number[] = [];
const items = rec.catalog.items;
for (let i = 0; i < 500; i++) {
  const id = items[(i * 7919) % items.length]!.id;
  const s = performance.now();
  await rec.search.nearest((await rec.spaces.search.get(id))!, { k: 5 });
  searchOnly.push(performance.now() - s);
}
const result = {
  catalogItems: items.length,
  dims: rec.info().dims,
  index: rec.info().index,
  refined: rec.info().refinement !== null,
  photos: arg('photos', '') ? photoDir : 'catalog photos',
  queries: photos.length,
  readings: readsTwice ? 'every reading in one inference run' : 'one reading per photo: the catalog has no same-product space to choose with',
  openCatalogMs: round(openMs, 0),
  rssMB: Math.round(process.memoryUsage().rss / 2 ** 20),
  totalMs: stats(total),
  decodeMs: stats(decode),
  embedMs: stats(embed),
  searchMs: stats(search),
  otherMs: stats(other),
  // Each stage's p50/p95 on its own (they do not add up: percentiles of different queries).
  stagesMs: Object.fromEntries(Object.entries(stages).map(([k, v]) => [k, stats(v)])),
  searchOnlyMs: stats(searchOnly),
  // Photos embedded more than once (as isolated, and as they are or balanced).
  twoReadingsTotalMs: twoReadings.length > 0 ? { count: twoReadings.length, ...stats(twoReadings) } : null,
  // Per query: CPU time of every thread, time its threads waited for a core, GC pauses; by number of readings.
  cpuMs: stats(perQuery.map((q) => q.cpu)),
  waitMs: stats(perQuery.map((q) => q.wait)),
  gcMs: stats(perQuery.map((q) => q.gc)),
  // This thread's collections while the queries ran, by kind: count and pauses in all, ms.
  gcByKind: Object.fromEntries(
    Object.entries({ major: constants.NODE_PERFORMANCE_GC_MAJOR, minor: constants.NODE_PERFORMANCE_GC_MINOR, incremental: constants.NODE_PERFORMANCE_GC_INCREMENTAL, weakcb: constants.NODE_PERFORMANCE_GC_WEAKCB }).map(([name, kind]) => {
      const of = gcs.filter((g) => g.kind === kind && g.at >= perQuery[0]!.at && g.at < perQuery[perQuery.length - 1]!.end);
      return [name, { count: of.length, ms: round(of.reduce((a, g) => a + g.ms, 0)) }];
    }),
  ),
  byReadings: Object.fromEntries([1, 2, 3].map((n) => [n, perQuery.filter((q) => q.readings === n)]).filter(([, qs]) => (qs as typeof perQuery).length > 0).map(([n, qs]) => [n, { count: (qs as typeof perQuery).length, ...stats((qs as typeof perQuery).map((q) => q.total)) }])),
  // The slowest tenth against the middle fifth (40th-60th percentile) of the queries by total time.
  tail: { slowestTenth: profile(byTotal.slice(-tenth)), middle: profile(byTotal.slice(Math.floor(byTotal.length * 0.4), Math.ceil(byTotal.length * 0.6))) },
  // The same among photos read the fewest times (one reading for catalog photos): what the tail is made of besides more readings.
  tailFewestReadings: (() => {
    const fewest = Math.min(...perQuery.map((q) => q.readings));
    const of = byTotal.filter((q) => q.readings === fewest);
    const t = Math.max(1, Math.floor(of.length / 10));
    return { readings: fewest, count: of.length, ...stats(of.map((q) => q.total)), slowestTenth: profile(of.slice(-t)), middle: profile(of.slice(Math.floor(of.length * 0.4), Math.ceil(of.length * 0.6))) };
  })(),
  load: loadavg().map((x) => round(x)),
  v8Heap: arg('v8-heap', 'server'),
  // The query photos' working side (FASHION_QUERY_WORKING_SIDE, Config.queryWorkingSide; 0: the decoded size).
  queryWorkingSide: config.queryWorkingSide,
  ...(label ? { label } : {}),
};
console.log(JSON.stringify(result));
// Catalog photos and phone-like photos are kept apart: they measure different paths (isolation, second readings).
saveResult(`${arg('photos', '') ? 'queryPhone' : 'query'}${label ? `-${label}` : ''}`, result);
await app.close();
await rec.close();
