// Training copies per second: the copy generator (src/imaging/rephotograph.ts) as training calls it (src/refine/augment.ts:
// seeded per item, copyConditions), on N shared catalog photos, photo bytes in, JPEG out, without the embedding.
// Usage: tsx bench/copies.ts [--n 300]
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { demoCatalog } from '../src/config.js';
import { rephotograph } from '../src/imaging/rephotograph.js';
import { copyConditions } from '../src/refine/augment.js';
import { mulberry32 } from '../src/util/random.js';
import { arg, round, saveResult } from './common.js';

const n = Number(arg('n', '300'));
const images = demoCatalog()!.images;
const files = readdirSync(images).sort();
const step = Math.max(1, Math.floor(files.length / n));
const photos = Array.from({ length: Math.min(n, files.length) }, (_, i) => ({ id: files[i * step]!.replace(/\.[^.]+$/, ''), bytes: readFileSync(join(images, files[i * step]!)) }));
const copy = (p: { id: string; bytes: Buffer }) => {
  const rng = mulberry32(createHash('sha256').update(`copy:${p.id}`).digest().readUInt32BE(0));
  return rephotograph(p.bytes, copyConditions(rng), rng);
};
for (const p of photos.slice(0, 10)) await copy(p); // warm-up
// In batches of 32 at once, as training makes them (src/refine/augment.ts, embedCopies).
const t0 = performance.now();
for (let i = 0; i < photos.length; i += 32) await Promise.all(photos.slice(i, i + 32).map(copy));
const seconds = (performance.now() - t0) / 1000;
const result = { copies: photos.length, seconds: round(seconds), copiesPerSecond: round(photos.length / seconds, 1) };
console.log(JSON.stringify(result));
saveResult('copies', result);
