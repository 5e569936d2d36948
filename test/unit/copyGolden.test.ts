import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import sharp from 'sharp';
import { IMAGENET_PREPROCESS } from '../../src/imaging/preprocess.js';
import { fitCopy } from '../../src/imaging/shopperPhoto/fitCopy.js';
import { drawRecipe, FAMILIES, trainingRecipe } from '../../src/imaging/shopperPhoto/recipe.js';
import { renderCopy } from '../../src/imaging/shopperPhoto/render.js';
import { mulberry32 } from '../../src/util/random.js';

/**
 * Training copies are seeded, and training's choices are fragile to copies that differ even slightly (docs/bench.md,
 * issue 23): speeding up the generator, the decode or isolation must leave every byte of a copy and every float of its
 * model input as it was. These hashes were taken from the code before those speed-ups; a change that moves any of them
 * changes the copies, and with them the stored vectors and every figure chosen on them.
 */

/** A 60x80 studio shot of a garment with shading, a collar and a dark sleeve, on white (JPEG, as the catalog's are). */
async function studioShot(tone: number): Promise<Buffer> {
  const w = 60, h = 80;
  const data = Buffer.alloc(w * h * 3, 255);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const inside = Math.abs(x - 30) < 14 + y / 8 && y > 10 && y < 72;
      const sleeve = y > 16 && y < 45 && Math.abs(x - 30) >= 14 + y / 8 && Math.abs(x - 30) < 24 + y / 10;
      if (!inside && !sleeve) continue;
      const o = (y * w + x) * 3;
      const shade = 0.7 + 0.3 * Math.sin((x + y) / 9);
      data[o] = sleeve ? 40 : Math.round((tone * 0.9 + 20) * shade);
      data[o + 1] = sleeve ? 45 : Math.round((255 - tone) * 0.6 * shade);
      data[o + 2] = sleeve ? 60 : Math.round((90 + (x * 2) % 60) * shade);
    }
  }
  return sharp(data, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
}

/** A 60x80 photo of a striped product, for the 'photo' backdrop. */
async function textureShot(): Promise<Buffer> {
  const data = Buffer.alloc(60 * 80 * 3);
  for (let i = 0; i < 60 * 80; i++) data.set(Math.floor(i / 60 / 4) % 2 ? [220, 30, 30] : [230, 210, 40], i * 3);
  return sharp(data, { raw: { width: 60, height: 80, channels: 3 } }).jpeg().toBuffer();
}

const digest = (parts: Array<Uint8Array | Float32Array>) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(new Uint8Array(p.buffer, p.byteOffset, p.byteLength));
  return h.digest('hex');
};

test('seeded training and phone-like copies, and their model inputs, are byte for byte what they were', async () => {
  const photos = await Promise.all([30, 120, 200].map(studioShot));
  const texture = await textureShot();
  const p = { ...IMAGENET_PREPROCESS, isolate: true as const };
  const jpegs: Buffer[] = [];
  const fitted: Float32Array[] = [];
  for (let seed = 1; seed <= 48; seed++) {
    const rng = mulberry32(seed * 7919);
    // Training copies (TUNE styles) and, every third seed, a HELD-OUT phone-like copy (every family on), so every style renders.
    const recipe = seed % 3 === 0 ? drawRecipe(rng, { families: FAMILIES, split: 'held-out' }) : trainingRecipe(rng);
    const jpeg = await renderCopy(photos[seed % photos.length]!, recipe, texture);
    jpegs.push(jpeg);
    const f = await fitCopy(jpeg, p, `copy ${seed}`);
    fitted.push(f.tensor, f.colour);
  }
  assert.equal(digest(jpegs), 'e6eb051d807d8910ccf496c9eea4b9d9ec85b612b20c79c36561d0a71222749e');
  assert.equal(digest(fitted), '5542403cc8a9d98fb82c481f97b3dc9e2a0faa8f38355ab771e4a67e745e386f');
});
