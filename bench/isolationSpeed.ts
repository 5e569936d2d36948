/**
 * Isolation alone, per photo, at several working sizes (ISOLATE_TUNING.workingSide; 0 = the decoded size), in one process
 * so that the rows compare: the values alternate round by round over the same decoded photos.
 *
 *   flock /tmp/fashion-heavy.lock node --import tsx bench/isolationSpeed.ts [--photos /work/cat/phone] [--training 200]
 *                                  [--sides 0,160,120] [--rounds 5] [--save]
 *
 * --photos DIR: query photos (e.g. /work/cat/phone), timed as a photo query runs them (src/imaging/decode.ts fitPhoto,
 * readings 'both': isolateProduct, balancedReading, cropAsIs). --training N: instead, N training copies made in memory
 * as training makes them (src/refine/augment.ts shopperCopy of the first N labelled shared photos, seeded by id), timed
 * as a training copy runs it (fitPhoto, readings 'one': isolateProduct alone). Photos are decoded once, as fitPhoto
 * decodes them; decoding is not timed. Prints p50/p95 ms per side; --save records them under `isolationSpeed-<kind>`.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { demoCatalog } from '../src/config.js';
import { decodeRgb, DECODE_MAX_SIDE } from '../src/imaging/decode.js';
import { balancedReading, ISOLATE_TUNING, isolateProduct, type IsolateTuning } from '../src/imaging/isolateProduct.js';
import { cropAsIs } from '../src/imaging/readingTransforms.js';
import { shopperCopy } from '../src/refine/augment.js';
import type { DecodedRgb } from '../src/imaging/rgb.js';
import { arg, percentile, round, saveResult } from './common.js';

const photoDir = arg('photos', '/work/cat/phone');
const training = Number(arg('training', '0'));
const sides = arg('sides', '0,160,120').split(',').map(Number);
const rounds = Number(arg('rounds', '5'));

let encoded: Buffer[];
if (training > 0) {
  const demo = demoCatalog();
  if (!demo) throw new Error('--training needs the shared catalog (FASHION_SHARED)');
  const ids = readdirSync(demo.images).filter((f) => f.endsWith('.jpg')).sort().slice(0, training);
  const photoOf = async (pick: number) => readFileSync(join(demo.images, ids[pick % ids.length]!));
  encoded = [];
  for (const f of ids) {
    const seed = createHash('sha256').update(`copy:${f.replace(/\.jpg$/, '')}`).digest().readUInt32BE(0);
    encoded.push(await shopperCopy(readFileSync(join(demo.images, f)), seed, photoOf));
  }
} else {
  encoded = readdirSync(photoDir).filter((f) => /\.(jpe?g|png|webp)$/i.test(f)).sort().map((f) => readFileSync(join(photoDir, f)));
}
const photos: DecodedRgb[] = await Promise.all(encoded.map((b) => decodeRgb(b, { maxSide: DECODE_MAX_SIDE })));

// As fitPhoto runs them: a query photo's readings ('both'), a training copy's isolation alone ('one').
const isolate = (img: DecodedRgb, tuning: IsolateTuning) => {
  const iso = isolateProduct(img, tuning);
  if (training > 0) return;
  balancedReading(img, iso, tuning);
  if (iso.method === 'replaced') cropAsIs(img, iso.box);
};

// Warm-up: every side over every photo once, so that each round measures compiled code.
for (const side of sides) for (const img of photos) isolate(img, { ...ISOLATE_TUNING, workingSide: side });
const times = new Map<number, number[]>(sides.map((s) => [s, []]));
for (let r = 0; r < rounds; r++) {
  for (const side of r % 2 === 0 ? sides : [...sides].reverse()) {
    const tuning = { ...ISOLATE_TUNING, workingSide: side };
    for (const img of photos) {
      const t = performance.now();
      isolate(img, tuning);
      times.get(side)!.push(performance.now() - t);
    }
  }
}
const kind = training > 0 ? 'training' : 'query';
const rows = sides.map((side) => {
  const xs = times.get(side)!;
  return { workingSide: side, p50: round(percentile(xs, 50)), p95: round(percentile(xs, 95)), mean: round(xs.reduce((a, b) => a + b, 0) / xs.length) };
});
const sizes = [...new Set(photos.map((p) => `${p.width}x${p.height}`))].slice(0, 4).join(', ');
console.log(`| workingSide | p50 ms | p95 ms | mean ms |\n|---|---|---|---|`);
for (const r of rows) console.log(`| ${r.workingSide}${r.workingSide === ISOLATE_TUNING.workingSide ? ' (current)' : ''} | ${r.p50} | ${r.p95} | ${r.mean} |`);
console.log(`(${photos.length} ${kind === 'training' ? 'training copies' : `photos of ${photoDir}`} (${sizes}), ${rounds} rounds)`);
if (process.argv.includes('--save')) {
  saveResult(`isolationSpeed-${kind}`, {
    photos: training > 0 ? `${training} training copies (shopperCopy of the first shared photos)` : photoDir,
    count: photos.length,
    rounds,
    path: training > 0 ? 'isolateProduct (a training copy)' : 'isolateProduct + balancedReading + cropAsIs (a query photo)',
    rows,
    command: `node --import tsx bench/isolationSpeed.ts ${training > 0 ? `--training ${training}` : `--photos ${photoDir}`} --sides ${sides.join(',')} --rounds ${rounds}`,
  });
}
