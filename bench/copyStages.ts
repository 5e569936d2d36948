/**
 * Where one training copy's time goes, stage by stage, on the calling thread alone (nothing overlapped), so that each
 * stage's cost is its own: reading the photos, rendering the copy (src/imaging/shopperPhoto/render.ts: decode, mask,
 * backdrop, warp, light, optics, JPEG), decoding the copy again, isolating it, fitting it to the model's input, its colour
 * histogram, and the two backbones (each model alone and the composed default, batches of 32 as training sends them).
 * Copies are the ones training makes of these photos (same seeds: src/refine/augment.ts embedCopies).
 *
 *   flock /tmp/fashion-heavy.lock node --import tsx bench/copyStages.ts [--copies 300] [--profile] [--save]
 *
 * `--profile`: also samples the render + fit loop with V8's profiler (node:inspector) and lists the functions with the
 * most self time (the render's own passes are not exported, so they are told apart this way). `--save` records the
 * row under `copyStages` in bench/results.json.
 */
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ingestEmbedderOptions } from '../src/app/indexFolder.js';
import { demoCatalog, resolveConfig } from '../src/config.js';
import { Embedder } from '../src/embedding/embedder.js';
import { DECODE_MAX_SIDE, decodeRgb, readImageFile } from '../src/imaging/decode.js';
import { isolateProduct } from '../src/imaging/isolateProduct.js';
import { fitToTensor } from '../src/imaging/resample.js';
import { trainingRecipe } from '../src/imaging/shopperPhoto/recipe.js';
import { renderCopy } from '../src/imaging/shopperPhoto/render.js';
import { colourHistogram } from '../src/refine/colourFeatures.js';
import { mulberry32, sample } from '../src/util/random.js';
import { arg, round, saveResult } from './common.js';

const demo = demoCatalog();
if (!demo) throw new Error('needs the shared catalog (FASHION_SHARED)');
const n = Number(arg('copies', '300'));
const files = readdirSync(demo.images).filter((f) => f.endsWith('.jpg')).sort();
const picked = sample(files, n, 23);
const dataDir = mkdtempSync(join(tmpdir(), 'fashion-bench-copy-stages-'));
const config = resolveConfig({ dataDir });
const p = config.preprocess;

const stages = ['read photos', 'render (whole)', 'decode the copy', 'isolate', 'fit to the model', 'colour histogram'] as const;
const ms: Record<string, number> = Object.fromEntries(stages.map((s) => [s, 0]));
const time = async <T>(stage: (typeof stages)[number], f: () => Promise<T> | T): Promise<T> => {
  const t0 = performance.now();
  const out = await f();
  ms[stage]! += performance.now() - t0;
  return out;
};

const tensors: Float32Array[] = [];
const styles = new Map<string, { count: number; ms: number }>();
const makeAll = async (list: readonly string[]) => {
  tensors.length = 0;
  for (const k of Object.keys(ms)) ms[k] = 0;
  styles.clear();
  for (const f of list) {
    const id = f.replace(/\.jpg$/, '');
    const seed = createHash('sha256').update(`copy:${id}`).digest().readUInt32BE(0);
    const recipe = trainingRecipe(mulberry32(seed));
    const [photo, texture] = await time('read photos', () =>
      Promise.all([readImageFile(join(demo.images, f)), recipe.backdrop?.style === 'photo' ? readImageFile(join(demo.images, files[recipe.backdrop.texture.pick % files.length]!)) : Promise.resolve(undefined)]),
    );
    const t0 = performance.now();
    const jpeg = await time('render (whole)', () => renderCopy(photo, recipe, texture));
    const took = performance.now() - t0;
    // Each family's style present in this copy shares its render time (a family is on in about half the copies).
    for (const [family, r] of Object.entries(recipe)) {
      const key = `${family}: ${(r as { style: string }).style}`;
      const s = styles.get(key) ?? { count: 0, ms: 0 };
      s.count++;
      s.ms += took;
      styles.set(key, s);
    }
    const img = await time('decode the copy', () => decodeRgb(jpeg, { background: p.background, maxSide: DECODE_MAX_SIDE }));
    const iso = await time('isolate', () => isolateProduct(img));
    const tensor = new Float32Array(3 * p.size * p.size);
    await time('fit to the model', () => fitToTensor(iso.image, p, tensor, 0));
    await time('colour histogram', () => colourHistogram(iso.image.data, iso.image.width, iso.image.height));
    tensors.push(tensor);
  }
};

// One untimed pass over a few copies: module loading, the noise tile, libvips' first calls.
await makeAll(picked.slice(0, 8));

const profile = process.argv.includes('--profile');
const session = profile ? new Session() : null;
if (session) {
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
}
const c0 = process.cpuUsage();
const w0 = performance.now();
await makeAll(picked);
const makeWall = performance.now() - w0;
const makeCpu = process.cpuUsage(c0);
let top: Array<{ fn: string; selfMs: number; share: number }> = [];
if (session) {
  const { profile: prof } = await session.post('Profiler.stop');
  session.disconnect();
  const dt = new Map<number, number>();
  const ids = prof.samples ?? [];
  const deltas = prof.timeDeltas ?? [];
  ids.forEach((id, k) => dt.set(id, (dt.get(id) ?? 0) + (deltas[k] ?? 0) / 1000));
  const byFn = new Map<string, number>();
  let total = 0;
  for (const node of prof.nodes) {
    const t = dt.get(node.id) ?? 0;
    total += t;
    const cf = node.callFrame;
    const where = cf.url ? `${cf.url.replace(/^.*\/(src|bench|node_modules)\//, '$1/')}:${cf.lineNumber + 1}` : '';
    const key = `${cf.functionName || '(anonymous)'} ${where}`.trim();
    byFn.set(key, (byFn.get(key) ?? 0) + t);
  }
  top = [...byFn.entries()].sort((a, b) => b[1] - a[1]).slice(0, 25).map(([fn, t]) => ({ fn, selfMs: round(t / picked.length, 2), share: round(t / total, 3) }));
}

// The backbones: each model alone and the composed default, batches of 32 (as embedCopies sends them), 2 sessions.
const models: Record<string, Embedder> = {};
try {
  const stored = null;
  const base = ingestEmbedderOptions(config, stored);
  models['both (the default)'] = await Embedder.load(base);
  models['first model alone'] = await Embedder.load({ ...base, second: undefined });
  if (base.second) models['second model alone'] = await Embedder.load({ ...base, model: base.second.model, preprocess: base.second.preprocess, second: undefined });
  const embedRows: Array<{ model: string; wallMsPerCopy: number; cpuMsPerCopy: number }> = [];
  for (const [name, e] of Object.entries(models)) {
    const per = 3 * p.size * p.size;
    const batches = Math.floor(tensors.length / 32);
    const run = async () => {
      for (let b = 0; b < batches; b++) {
        const t = new Float32Array(32 * per);
        for (let j = 0; j < 32; j++) t.set(tensors[b * 32 + j]!, j * per);
        await e.embedBatch(t, 32);
      }
    };
    await run();
    const ec0 = process.cpuUsage();
    const ew0 = performance.now();
    await run();
    const cpu = process.cpuUsage(ec0);
    embedRows.push({ model: name, wallMsPerCopy: round((performance.now() - ew0) / (batches * 32), 2), cpuMsPerCopy: round((cpu.user + cpu.system) / 1000 / (batches * 32), 2) });
  }
  const stageRows = Object.entries(ms).map(([stage, t]) => ({ stage, msPerCopy: round(t / picked.length, 2) }));
  const styleRows = [...styles.entries()].sort().map(([style, s]) => ({ style, copies: s.count, renderMsWhenOn: round(s.ms / s.count, 2) }));
  const row = {
    copies: picked.length,
    makeWallMsPerCopy: round(makeWall / picked.length, 2),
    makeCpuMsPerCopy: round((makeCpu.user + makeCpu.system) / 1000 / picked.length, 2),
    stages: stageRows,
    renderByStyle: styleRows,
    embedding: embedRows,
    ...(top.length ? { profileTop: top } : {}),
  };
  console.table(stageRows);
  console.table(styleRows);
  console.table(embedRows);
  if (top.length) console.table(top);
  console.log(JSON.stringify({ makeWallMsPerCopy: row.makeWallMsPerCopy, makeCpuMsPerCopy: row.makeCpuMsPerCopy }));
  if (process.argv.includes('--save')) saveResult('copyStages', row);
} finally {
  await Promise.all(Object.values(models).map((e) => e.close()));
  rmSync(dataDir, { recursive: true, force: true });
}
