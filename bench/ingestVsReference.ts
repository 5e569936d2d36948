// Equal-work ingest against the Python reference, in one run, on the same first N shared photos (REFERENCE-MEASUREMENTS.md):
// the reference (bench/reference_ingest.py: PIL decode, white pad, bilinear 224, onnxruntime MobileNetV2-int8 batches of
// 32 on 2 threads, vectors to a file) run with a Python that has onnxruntime, numpy and PIL (`--python PATH`, or
// FASHION_BENCH_PYTHON, else `python3`); without one it is skipped with a message and the recorded figure is quoted (and
// marked as such). Then the product doing the same work plus its store (bench/ingest.ts: MobileNetV2 alone, isolation
// off), and its default ingest (both models, isolation on). Both sides read the same head-cut model file and use the same
// number of threads. The reference's vectors are compared with the product's (cosine of the same photo's two vectors),
// so "equal work" is checked, not assumed.
// Usage: tsx bench/ingestVsReference.ts [--n 5000] [--threads 2] [--python PATH] [--rounds 1] [--no-save] [--skip-default]
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { demoCatalog, embedderOptions, REPO_ROOT, resolveConfig } from '../src/config.js';
import { Embedder, headCutCacheFile } from '../src/embedding/embedder.js';
import { cosine } from '../src/linalg/cosine.js';
import { arg, round, saveResult } from './common.js';

/** The reference measured on this machine before (REFERENCE-MEASUREMENTS.md: 344-351 images/s, 5,000 photos). */
const RECORDED_REFERENCE = 344;
const n = Number(arg('n', '5000'));
const threads = Number(arg('threads', '2'));
const rounds = Number(arg('rounds', '1'));
const python = arg('python', process.env.FASHION_BENCH_PYTHON ?? 'python3');
const save = !process.argv.includes('--no-save');
const skipDefault = process.argv.includes('--skip-default');
// bench/ingest.ts saves its own rows (ingest_224px_...) unless told not to.
const noSave = save ? [] : ['--no-save'];

interface Throughput {
  imagesPerSecond: number;
  seconds?: number;
}

const tsx = (script: string, ...args: string[]) =>
  JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'bench', script), ...args], { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').at(-1)!) as Throughput & Record<string, unknown>;

/** Whether `python` can run the reference; the reason when it cannot. */
function pythonProblem(): string | null {
  try {
    execFileSync(python, ['-c', 'import onnxruntime, numpy, PIL'], { stdio: 'ignore' });
    return null;
  } catch {
    return `${python} with onnxruntime, numpy and PIL is not available here (pass --python PATH or set FASHION_BENCH_PYTHON)`;
  }
}

const config = resolveConfig({ isolate: 'off', secondModel: 'none', threads });
// The product's own head-cut MobileNetV2 (src/embedding/embedder.ts cutTrunk names it by the source's sha256): both sides
// run this file.
const headCut = headCutCacheFile(config.cacheDir, createHash('sha256').update(readFileSync(config.model)).digest('hex'), 'max', undefined);

/** One reference run on the first n photos (through links in a folder of their own); its vectors, in file-name order. */
function runReference(): Throughput & { vectors: Float32Array; onnxruntime: string } {
  const dir = mkdtempSync(join(tmpdir(), 'fashion-bench-reference-'));
  try {
    const photos = join(dir, 'photos');
    mkdirSync(photos);
    const images = demoCatalog()!.images;
    for (const f of readdirSync(images).sort().slice(0, n)) symlinkSync(join(images, f), join(photos, f));
    const vectorsFile = join(dir, 'vectors.f32');
    const out = execFileSync(python, [join(REPO_ROOT, 'bench', 'reference_ingest.py'), headCut, photos, String(n), vectorsFile, String(threads)], { encoding: 'utf8' });
    const bytes = readFileSync(vectorsFile);
    return { ...(JSON.parse(out.trim().split('\n').at(-1)!) as Throughput & { onnxruntime: string }), vectors: new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** How close the product's vectors are to the reference's, photo by photo (cosine), over the first n in file-name order. */
async function agreement(reference: Float32Array): Promise<{ photos: number; minCosine: number; meanCosine: number }> {
  const { prepareBatch, embedPrepared } = await import('../src/embedding/vectorize.js');
  const embedder = await Embedder.load(embedderOptions(config));
  try {
    const dims = embedder.dims;
    const images = demoCatalog()!.images;
    const files = readdirSync(images).sort().slice(0, n);
    // A sample spread over the run is enough to show the two pipelines make the same vectors.
    const sample = files.map((f, i) => ({ f, i })).filter((_, k) => k % Math.max(1, Math.floor(files.length / 256)) === 0);
    let min = 1;
    let sum = 0;
    for (let s = 0; s < sample.length; s += 32) {
      const part = sample.slice(s, s + 32);
      const prepared = await prepareBatch(embedder, part.map(({ f }) => ({ bytes: readFileSync(join(images, f)), label: f })));
      const vectors = await embedPrepared(embedder, prepared);
      vectors.forEach((v, k) => {
        if (!(v instanceof Float32Array)) throw new Error(`Expected ${part[k]!.f} to embed but: ${v.message}`);
        const r = reference.subarray(part[k]!.i * dims, (part[k]!.i + 1) * dims);
        const c = cosine(v, r);
        min = Math.min(min, c);
        sum += c;
      });
    }
    return { photos: sample.length, minCosine: round(min, 5), meanCosine: round(sum / sample.length, 5) };
  } finally {
    await embedder.close();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// The head-cut model is made (and cached) before anything is timed.
await (await Embedder.load(embedderOptions(config))).close();
const problem = pythonProblem();
if (problem) console.error(`${problem}: the reference is not run; quoting its recorded ${RECORDED_REFERENCE} images/s`);
// Rounds alternate the two sides, so that a machine that gets busier or quieter during the run affects both alike.
const refRuns: number[] = [];
const equalRuns: Array<Throughput & Record<string, unknown>> = [];
let lastVectors: Float32Array | null = null;
let onnxruntimePython: string | undefined;
for (let r = 0; r < rounds; r++) {
  if (!problem) {
    const ref = runReference();
    refRuns.push(ref.imagesPerSecond);
    lastVectors = ref.vectors;
    onnxruntimePython = ref.onnxruntime;
  }
  equalRuns.push(tsx('ingest.ts', '--n', String(n), '--threads', String(threads), '--isolate', 'off', '--second-model', 'none', ...noSave));
}
const reference = problem
  ? { imagesPerSecond: RECORDED_REFERENCE, measured: false, note: `${problem}: the reference was not run; quoting its recorded ${RECORDED_REFERENCE} images/s (REFERENCE-MEASUREMENTS.md, same 5,000 photos, same machine)` }
  : { imagesPerSecond: median(refRuns), measured: true, runs: refRuns, python, onnxruntime: onnxruntimePython };
const equal = equalRuns.find((e) => e.imagesPerSecond === median(equalRuns.map((x) => x.imagesPerSecond)))!;
const vectorsAgree = lastVectors ? await agreement(lastVectors) : null;
const defaults = skipDefault ? null : tsx('ingest.ts', '--n', String(n), '--threads', String(threads), '--isolate', 'on', ...noSave);
const result = {
  photos: n,
  threads,
  reference,
  equalWork: { ...equal, ...(rounds > 1 ? { runs: equalRuns.map((e) => e.imagesPerSecond) } : {}) },
  equalWorkVsReference: round(equal.imagesPerSecond / reference.imagesPerSecond, 2),
  ...(vectorsAgree ? { vectorsAgree } : {}),
  ...(defaults ? { defaultIngest: defaults } : {}),
};
console.log(JSON.stringify(result));
if (save && defaults) saveResult('ingestVsReference', result);
