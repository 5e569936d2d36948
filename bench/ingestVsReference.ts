// Equal-work ingest against the Python reference, in one run, on the same first N shared photos (REFERENCE-MEASUREMENTS.md):
// the reference (bench/reference_ingest.py: PIL decode, white pad, bilinear 224, onnxruntime MobileNetV2-int8 batches of
// 32 on 2 threads, vectors to a file) when this machine's python3 has onnxruntime, numpy and PIL; else it is skipped
// with a message and the recorded figure is quoted (and marked as such). Then the product doing the same work plus
// its store (bench/ingest.ts: MobileNetV2 alone, isolation off), and its default ingest (both models, isolation on).
// Usage: tsx bench/ingestVsReference.ts [--n 5000]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdirSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { demoCatalog, embedderOptions, REPO_ROOT, resolveConfig } from '../src/config.js';
import { Embedder } from '../src/embedding/embedder.js';
import { arg, round, saveResult } from './common.js';

/** The reference measured on this machine before (REFERENCE-MEASUREMENTS.md: 344-351 images/s, 5,000 photos). */
const RECORDED_REFERENCE = 344;
const n = Number(arg('n', '5000'));
const tsx = (script: string, ...args: string[]) =>
  JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'bench', script), ...args], { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').at(-1)!) as { imagesPerSecond: number };

function reference(): { imagesPerSecond: number; measured: boolean; note?: string } {
  try {
    execFileSync('python3', ['-c', 'import onnxruntime, numpy, PIL'], { stdio: 'ignore' });
  } catch {
    const note = `python3 with onnxruntime, numpy and PIL is not available here: the reference was not run; quoting its recorded ${RECORDED_REFERENCE} images/s (REFERENCE-MEASUREMENTS.md, same 5,000 photos, same machine)`;
    console.error(note);
    return { imagesPerSecond: RECORDED_REFERENCE, measured: false, note };
  }
  return { ...runReference(), measured: true };
}

function runReference(): { imagesPerSecond: number } {
  const dir = mkdtempSync(join(tmpdir(), 'fashion-bench-reference-'));
  try {
    // The reference reads the same first N photos, through links.
    const photos = join(dir, 'photos');
    mkdirSync(photos);
    const images = demoCatalog()!.images;
    for (const f of readdirSync(images).sort().slice(0, n)) symlinkSync(join(images, f), join(photos, f));
    const config = resolveConfig({ isolate: 'off', secondModel: 'none' });
    const cut = join(config.cacheDir, 'headcut');
    // The product's own head-cut MobileNetV2 (src/embedding/embedder.ts cutTrunk names it by the source's sha256).
    const sha = createHash('sha256').update(readFileSync(config.model)).digest('hex');
    const model = `${sha.slice(0, 16)}-max-auto-v2.onnx`;
    const out = execFileSync('python3', [join(REPO_ROOT, 'bench', 'reference_ingest.py'), join(cut, model), photos, String(n), join(dir, 'vectors.f32')], { encoding: 'utf8' });
    return JSON.parse(out.trim().split('\n').at(-1)!);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// The head-cut model is made (and cached) before anything is timed.
await (await Embedder.load(embedderOptions(resolveConfig({ isolate: 'off', secondModel: 'none' })))).close();
const ref = reference();
const equal = tsx('ingest.ts', '--n', String(n), '--isolate', 'off', '--second-model', 'none');
const defaults = tsx('ingest.ts', '--n', String(n), '--isolate', 'on');
const result = {
  photos: n,
  reference: ref,
  equalWork: equal,
  equalWorkVsReference: round(equal.imagesPerSecond / ref.imagesPerSecond, 2),
  defaultIngest: defaults,
};
console.log(JSON.stringify(result));
saveResult('ingestVsReference', result);
