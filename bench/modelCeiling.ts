// The model alone, the ceiling of equal-work ingest (bench/ingestVsReference.ts): MobileNetV2-int8's head-cut graph run
// on batches filled beforehand (the first N shared photos, fitted as the product fits them; nothing decoded while
// timed), in onnxruntime-node under several session settings and thread layouts, and in Python's onnxruntime (the
// reference's script, `model-only`) on the same file with the same threads. Prints one JSON line.
// Usage: tsx bench/modelCeiling.ts [--n 2000] [--batch 32] [--threads 2] [--python PATH] [--variants a,b,...]
//        [--size PX] [--second-size PX]: the photos fitted at --size (default 224) for every variant; SqueezeNet at its own
//        side in the per-model contenders (the graph resizes the square, as the product does with --second-size); a
//        contender `composed-fp32#160` is fed the photos fitted at 160 px (as --size 160), `composed-fp32~160` sets SqueezeNet's
//        side for itself (the square at --size), so that sides are compared in one interleaved run
// The variant `per-model` measures what each model of the default backbone costs, on the calling thread (the process's CPU
// time is onnxruntime's alone): MobileNetV2-int8, SqueezeNet 1.0 as its float16 file runs (between casts) and widened to
// float32 (src/embedding/float32Graph.ts), and the two composed as the product composes them; ingest-style (batches of
// --batch, one session of one thread, no spinning: core-ms per photo) and query-style (batches of 1-3, one session of
// --threads threads, not spinning, as the server runs it: ms per run p50/p95 and core-ms per run), contenders interleaved
// over rounds (see perModel: --contenders, --rounds, --chunk, --query-runs).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { demoCatalog, embedderOptions, REPO_ROOT, resolveConfig } from '../src/config.js';
import { Embedder, headCutCacheFile } from '../src/embedding/embedder.js';
import { InferenceThread } from '../src/embedding/inferenceThread.js';
import { prepareBatch } from '../src/embedding/vectorize.js';
import { BACKBONE_GRAPHS, backboneGraph } from './backboneGraphs.js';
import { arg, percentile, round } from './common.js';

const n = Number(arg('n', '2000'));
const batch = Number(arg('batch', '32'));
const threads = Number(arg('threads', '2'));
const python = arg('python', process.env.FASHION_BENCH_PYTHON ?? 'python3');
const variants = arg('variants', 'python,main-spin,main-nospin,worker-nospin,worker-spin,two-workers-1thread').split(',');

// --size: the side every photo is fitted to (and the first model's); --second-size: SqueezeNet's, resized in the graph
// (src/embedding/composeBackbones.ts) for the per-model contenders.
const size = arg('size', '');
const secondSize = arg('second-size', '');
const config = resolveConfig({ isolate: 'off', secondModel: 'none', threads, ...(size ? { size } : {}) });
const graphConfig = resolveConfig({ isolate: 'off', threads, ...(size ? { size } : {}), ...(secondSize ? { secondSize } : {}) });
const headCut = headCutCacheFile(config.cacheDir, createHash('sha256').update(readFileSync(config.model)).digest('hex'), 'max', undefined);
await (await Embedder.load(embedderOptions(config))).close(); // makes the head-cut file when it is not cached yet
const modelBytes = readFileSync(headCut);

const images = demoCatalog()!.images;
const files = readdirSync(images).sort().slice(0, n);
const embedder = await Embedder.load(embedderOptions(config));
const side = embedder.identity.preprocess.size;
const per = 3 * side * side;
const batches: Float32Array[] = [];
for (let i = 0; i < files.length; i += batch) {
  const part = files.slice(i, i + batch);
  const prepared = await prepareBatch(embedder, part.map((f) => ({ bytes: readFileSync(join(images, f)), label: f })));
  batches.push(prepared.tensor);
}
await embedder.close();

const noSpin = { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } };
const options = (intra: number, spinning: boolean): ort.InferenceSession.SessionOptions => ({
  intraOpNumThreads: intra,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
  ...(spinning ? {} : { extra: noSpin }),
});

async function mainThread(spinning: boolean): Promise<number> {
  const session = await ort.InferenceSession.create(modelBytes, options(threads, spinning));
  const feed = (t: Float32Array) => ({ [session.inputNames[0]!]: new ort.Tensor('float32', t, [t.length / per, 3, side, side]) });
  await session.run(feed(batches[0]!));
  const u0 = process.cpuUsage();
  const t0 = performance.now();
  for (const b of batches) await session.run(feed(b));
  const s = (performance.now() - t0) / 1000;
  const u = process.cpuUsage(u0);
  // The process's CPU time: onnxruntime's threads, nothing else runs meanwhile.
  coreMs[spinning ? 'main-spin' : 'main-nospin'] = round((u.user + u.system) / 1000 / files.length, 2);
  await session.release();
  return s;
}

/** Through the product's inference thread(s): `workers` of them, `intra` threads each, batches handed out in turn. */
async function worker(workers: number, intra: number, spinning: boolean): Promise<number> {
  const pool = await Promise.all(Array.from({ length: workers }, () => InferenceThread.start(modelBytes, options(intra, spinning))));
  const { inputName: input, outputName } = JSON.parse(readFileSync(`${headCut}.json`, 'utf8')) as { inputName: string; outputName: string };
  const run = (w: InferenceThread, t: Float32Array) => w.run(t.slice(), [t.length / per, 3, side, side], input, outputName, { transfer: true });
  await Promise.all(pool.map((w) => run(w, batches[0]!)));
  const t0 = performance.now();
  let next = 0;
  await Promise.all(pool.map(async (w) => {
    while (next < batches.length) await run(w, batches[next++]!);
  }));
  const s = (performance.now() - t0) / 1000;
  await Promise.all(pool.map((w) => w.close()));
  return s;
}

function pythonModelOnly(): number {
  const dir = mkdtempSync(join(tmpdir(), 'fashion-bench-ceiling-'));
  try {
    const photos = join(dir, 'photos');
    mkdirSync(photos);
    for (const f of files) symlinkSync(join(images, f), join(photos, f));
    const out = execFileSync(python, [join(REPO_ROOT, 'bench', 'reference_ingest.py'), headCut, photos, String(n), join(dir, 'v.f32'), String(threads), 'model-only'], { encoding: 'utf8' });
    return (JSON.parse(out.trim().split('\n').at(-1)!) as { seconds: number }).seconds;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Session options on top of the product's, `k=v,...`: top-level options (graphOptimizationLevel, executionMode,
 * enableCpuMemArena, enableMemPattern, interOpNumThreads, intraOpNumThreads for the query runs), `spin=0|1` for the
 * query runs (default 0, as the server), and onnxruntime's config entries by their dotted names (session.dynamic_block_base=4, ...), which go to `extra`.
 */
interface Overrides {
  readonly top: Record<string, unknown>;
  readonly entries: Record<string, string>;
  readonly querySpin: boolean;
}

function parseOverrides(spec: string): Overrides {
  const top: Record<string, unknown> = {};
  const entries: Record<string, string> = {};
  let querySpin = false; // as the server's session (src/embedding/embedder.ts, `spinning`)
  for (const kv of spec.split(',').filter(Boolean)) {
    const [k, v] = kv.split('=') as [string, string];
    if (k === 'spin') querySpin = v === '1';
    else if (k.includes('.')) entries[k] = v;
    else if (v === 'true' || v === 'false') top[k] = v === 'true';
    else if (/^\d+$/.test(v)) top[k] = Number(v);
    else top[k] = v;
  }
  return { top, entries, querySpin };
}

/** The product's options for `intra` threads and spinning, with the overrides; config entries nested as `extra` wants them. */
function withOverrides(intra: number, spinning: boolean, o: Overrides, forQuery: boolean): ort.InferenceSession.SessionOptions {
  const flat: Record<string, string> = spinning ? {} : { 'session.intra_op.allow_spinning': '0', 'session.inter_op.allow_spinning': '0' };
  Object.assign(flat, o.entries);
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(flat)) {
    const path = k.split('.');
    let at = extra;
    for (const p of path.slice(0, -1)) at = (at[p] ??= {}) as Record<string, unknown>;
    at[path.at(-1)!] = v;
  }
  const { extra: _ignored, ...base } = options(intra, spinning);
  const top = forQuery ? o.top : Object.fromEntries(Object.entries(o.top).filter(([k]) => k !== 'intraOpNumThreads'));
  return { ...base, ...top, ...(Object.keys(extra).length ? { extra } : {}) } as ort.InferenceSession.SessionOptions;
}

/**
 * Each contender (a graph of bench/backboneGraphs.ts, `@` and session overrides: `composed-fp32@session.dynamic_block_base=4`)
 * gets an ingest session (one thread, no spinning) and a query session (--threads, not spinning unless spin=1); over --rounds
 * rounds, every contender in turn runs --chunk photos in batches and --query-runs runs of 1, 2 and 3 photos, so that what
 * else runs on the machine falls on every contender alike. Each figure is the median over the rounds.
 */
/** The same photos fitted at another side (the first --n, in batches of --batch), made once per side. */
const bySide = new Map<number, Float32Array[]>([[side, batches]]);
async function batchesAt(at: number): Promise<Float32Array[]> {
  if (bySide.has(at)) return bySide.get(at)!;
  const fitter = await Embedder.load(embedderOptions(resolveConfig({ isolate: 'off', secondModel: 'none', threads, size: at })));
  const out: Float32Array[] = [];
  for (let i = 0; i < files.length; i += batch) {
    out.push((await prepareBatch(fitter, files.slice(i, i + batch).map((f) => ({ bytes: readFileSync(join(images, f)), label: f })))).tensor);
  }
  await fitter.close();
  bySide.set(at, out);
  return out;
}

async function perModel(): Promise<Record<string, unknown>> {
  const queryRuns = Number(arg('query-runs', '30'));
  const rounds = Number(arg('rounds', '5'));
  const chunk = Math.max(1, Math.floor(Number(arg('chunk', '320')) / batch));
  const specs = arg('contenders', [...BACKBONE_GRAPHS].join(';')).split(';').filter(Boolean);
  const feed = (s: ort.InferenceSession, t: Float32Array, at: number, rows?: number) => {
    const n = rows ?? t.length / (3 * at * at);
    return { [s.inputNames[0]!]: new ort.Tensor('float32', t.subarray(0, n * 3 * at * at), [n, 3, at, at]) };
  };
  const contenders = [];
  for (const spec of specs) {
    const [named, over = ''] = spec.split('@') as [string, string?];
    // `graph#SIDE`: the photos fitted at SIDE px (as --size) for this contender; `graph~SIDE`: SqueezeNet at SIDE px,
    // resized in the graph from the photos' square (as --second-size).
    const [graph, photoSide, ownSide] = /^([^#~]+)(?:#(\d+))?(?:~(\d+))?$/.exec(named)?.slice(1) ?? [named];
    const sd = photoSide ? Number(photoSide) : side;
    const b = await batchesAt(sd);
    const o = parseOverrides(over);
    const bytes = backboneGraph(graph!, photoSide || ownSide ? resolveConfig({ isolate: 'off', threads, size: sd, ...(ownSide ? { secondSize: ownSide } : secondSize ? { secondSize } : {}) }) : graphConfig);
    const t0 = performance.now();
    const ingest = await ort.InferenceSession.create(bytes, withOverrides(1, false, o, false));
    const loadMs = performance.now() - t0;
    const query = await ort.InferenceSession.create(bytes, withOverrides(threads, o.querySpin, o, true));
    await ingest.run(feed(ingest, b[0]!, sd));
    for (const rows of [1, 2, 3]) await query.run(feed(query, b[0]!, sd, rows));
    contenders.push({ spec, b, sd, ingest, query, loadMs, coreMs: [] as number[], perSecond: [] as number[], q: { 1: [] as number[], 2: [] as number[], 3: [] as number[] }, qCore: { 1: [] as number[], 2: [] as number[], 3: [] as number[] } });
  }
  let at = 0;
  for (let r = 0; r < rounds; r++) {
    for (const c of contenders) {
      const part = Array.from({ length: chunk }, (_, i) => c.b[(at + i) % c.b.length]!);
      const u0 = process.cpuUsage();
      const t0 = performance.now();
      for (const b of part) await c.ingest.run(feed(c.ingest, b, c.sd));
      const s = (performance.now() - t0) / 1000;
      const u = process.cpuUsage(u0);
      const photos = part.reduce((n, b) => n + b.length / (3 * c.sd * c.sd), 0);
      c.coreMs.push((u.user + u.system) / 1000 / photos);
      c.perSecond.push(photos / s);
      for (const rows of [1, 2, 3] as const) {
        const ms: number[] = [];
        const q0 = process.cpuUsage();
        for (let i = 0; i < queryRuns; i++) {
          const t = performance.now();
          await c.query.run(feed(c.query, c.b[(at + i) % c.b.length]!, c.sd, rows));
          ms.push(performance.now() - t);
        }
        const qu = process.cpuUsage(q0);
        c.q[rows].push(...ms);
        c.qCore[rows].push((qu.user + qu.system) / 1000 / queryRuns);
      }
    }
    at += chunk;
  }
  const median = (xs: number[]) => percentile(xs, 50);
  const out: Record<string, unknown> = {};
  for (const c of contenders) {
    const row: Record<string, unknown> = { ingestCoreMsPerPhoto: round(median(c.coreMs), 2), ingestImagesPerSecondOneThread: round(median(c.perSecond), 1), sessionLoadMs: round(c.loadMs, 0) };
    for (const rows of [1, 2, 3] as const) row[`query${rows}`] = { p50Ms: round(percentile(c.q[rows], 50)), p95Ms: round(percentile(c.q[rows], 95)), coreMsPerRun: round(median(c.qCore[rows]), 2) };
    out[c.spec] = row;
    console.error(`${c.spec}: ${JSON.stringify(row)}`);
    await c.ingest.release();
    await c.query.release();
  }
  return out;
}

const result: Record<string, number> = {};
/** Core-milliseconds per photo of the main-thread variants. */
const coreMs: Record<string, number> = {};
let models: Record<string, unknown> | undefined;
for (const v of variants) {
  let s: number;
  if (v === 'per-model') {
    models = await perModel();
    continue;
  }
  if (v === 'python') s = pythonModelOnly();
  else if (v === 'main-spin') s = await mainThread(true);
  else if (v === 'main-nospin') s = await mainThread(false);
  else if (v === 'worker-nospin') s = await worker(1, threads, false);
  else if (v === 'worker-spin') s = await worker(1, threads, true);
  else if (v === 'two-workers-1thread') s = await worker(2, 1, false);
  else if (v === 'two-workers-1thread-spin') s = await worker(2, 1, true);
  else throw new Error(`unknown variant ${v}`);
  result[v] = round(files.length / s, 1);
  console.error(`${v}: ${result[v]} images/s`);
}
console.log(JSON.stringify({ photos: files.length, batch, threads, side, secondSide: graphConfig.secondModel!.preprocess.size, imagesPerSecond: result, coreMsPerPhoto: coreMs, ...(models ? { perModel: models, rounds: Number(arg('rounds', '5')), load: loadavg().map((l) => round(l, 2)) } : {}) }));
