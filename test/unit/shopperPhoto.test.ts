import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { decodeRgb } from '../../src/imaging/decode.js';
import { drawRecipe, FAMILIES, FAMILY_STYLES, HELD_OUT_STYLES, stylesOf, trainingRecipe, type Family } from '../../src/imaging/shopperPhoto/recipe.js';
import { FRAME_H, FRAME_W, renderCopy } from '../../src/imaging/shopperPhoto/render.js';
import { mulberry32 } from '../../src/util/random.js';

/** A 60x80 studio shot: white, with a blue 30x50 garment in the middle. */
async function studioShot(): Promise<Buffer> {
  return sharp({ create: { width: 60, height: 80, channels: 3, background: '#ffffff' } })
    .composite([{ input: { create: { width: 30, height: 50, channels: 3, background: { r: 30, g: 60, b: 200 } } }, left: 15, top: 15 }])
    .jpeg({ quality: 95 })
    .toBuffer();
}

/** A 60x80 photo of a red-and-yellow striped product, for the 'photo' backdrop. */
async function textureShot(): Promise<Buffer> {
  const data = Buffer.alloc(60 * 80 * 3);
  for (let i = 0; i < 60 * 80; i++) data.set(Math.floor(i / 60 / 4) % 2 ? [220, 30, 30] : [230, 210, 40], i * 3);
  return sharp(data, { raw: { width: 60, height: 80, channels: 3 } }).jpeg().toBuffer();
}

test('every family has at least two styles, one of them held out; the split sides do not overlap', () => {
  for (const f of FAMILIES) {
    assert.ok(FAMILY_STYLES[f].length >= 2, f);
    assert.deepEqual(stylesOf(f, 'held-out'), [HELD_OUT_STYLES[f]]);
    assert.ok(!stylesOf(f, 'tune').includes(HELD_OUT_STYLES[f] as never), f);
    assert.equal(stylesOf(f, 'tune').length + 1, FAMILY_STYLES[f].length);
  }
});

test('recipes draw styles from their side of the split only; training copies never see a held-out style', () => {
  const rng = mulberry32(3);
  for (let i = 0; i < 300; i++) {
    const held = drawRecipe(rng, { families: FAMILIES, split: 'held-out' });
    for (const f of FAMILIES) assert.equal(held[f]!.style, HELD_OUT_STYLES[f]);
    const train = trainingRecipe(rng);
    const on = FAMILIES.filter((f) => train[f]);
    assert.ok(on.length >= 1);
    for (const f of on) assert.notEqual(train[f]!.style, HELD_OUT_STYLES[f], `${f} in a training copy`);
  }
  assert.throws(() => drawRecipe(rng, { families: ['weather' as Family], split: 'tune' }), /family/);
});

test('a mild recipe keeps to the exact-item criterion: crop <= 10%, light within 15%, JPEG quality >= 60, the product at full size', () => {
  const rng = mulberry32(9);
  for (let i = 0; i < 200; i++) {
    for (const split of ['tune', 'held-out'] as const) {
      const r = drawRecipe(rng, { families: ['geometry', 'light', 'compression'], split, strength: 'mild' });
      assert.equal(r.geometry!.scale, 1);
      assert.ok(r.geometry!.crop.every((c) => c <= 0.1));
      assert.ok(Math.abs(r.light!.brightness - 1) <= 0.15);
      assert.ok(r.compression!.quality >= 60);
      assert.equal(r.backdrop, undefined);
    }
  }
});

test('a copy is seeded: the same recipe and photos give the same bytes, another seed another photo', async () => {
  const photo = await studioShot();
  const texture = await textureShot();
  for (const split of ['tune', 'held-out'] as const) {
    for (let seed = 1; seed <= 6; seed++) {
      const recipe = drawRecipe(mulberry32(seed), { families: FAMILIES, split });
      const a = await renderCopy(photo, recipe, texture);
      const b = await renderCopy(photo, JSON.parse(JSON.stringify(recipe)), texture);
      assert.deepEqual(a, b, `${split} seed ${seed}`);
      const other = await renderCopy(photo, drawRecipe(mulberry32(seed + 100), { families: FAMILIES, split }), texture);
      assert.notDeepEqual(a, other);
      const meta = await sharp(a).metadata();
      assert.equal(meta.format, 'jpeg');
    }
  }
});

test('without conditions a copy is the studio shot in the 240x320 frame; each family changes what it should', async () => {
  const photo = await studioShot();
  const plain = await decodeRgb(await renderCopy(photo, {}));
  assert.equal(plain.width, FRAME_W);
  assert.equal(plain.height, FRAME_H);
  const at = (img: { data: Uint8Array; width: number }, x: number, y: number) => Array.from(img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3));
  // Corners white, the middle blue.
  assert.ok(at(plain, 2, 2).every((v) => v > 245));
  const mid = at(plain, 120, 160);
  assert.ok(mid[2]! > 150 && mid[0]! < 80, `middle ${mid}`);

  // A backdrop replaces the white corners; the garment stays blue.
  for (const style of FAMILY_STYLES.backdrop) {
    const r = drawRecipe(mulberry32(4), { families: ['backdrop'], split: 'tune' });
    const img = await decodeRgb(await renderCopy(photo, { backdrop: { ...r.backdrop!, style, colours: [[90, 140, 60], [40, 40, 40]], vignette: 0 } }, await textureShot()));
    assert.ok(!at(img, 2, 2).every((v) => v > 235), `${style}: corner ${at(img, 2, 2)}`);
    const m = at(img, 120, 160);
    assert.ok(m[2]! > 140 && m[0]! < 90, `${style}: middle ${m}`);
  }

  // A product at 40% of the frame leaves most of the frame to the backdrop (white here).
  const g = drawRecipe(mulberry32(5), { families: ['geometry'], split: 'held-out' }).geometry!;
  const small = await decodeRgb(await renderCopy(photo, { geometry: { ...g, scale: 0.4, crop: [0, 0] } }));
  let blue = 0;
  for (let i = 0; i < small.width * small.height; i++) if (small.data[i * 3 + 2]! > 150 && small.data[i * 3]! < 100) blue++;
  const share = blue / (small.width * small.height);
  // The garment covers 0.31 of the studio frame; at 0.4 scale about 0.16 of that, perspective moves it a little.
  assert.ok(share > 0.02 && share < 0.12, `blue share ${share}`);

  // Phone-like resampling delivers the drawn size.
  const c = drawRecipe(mulberry32(6), { families: ['compression'], split: 'held-out' }).compression!;
  const meta = await sharp(await renderCopy(photo, { compression: { ...c, longSide: 200 } })).metadata();
  assert.equal(meta.height, 200);
  assert.equal(meta.width, 150);
});

test('copies rendered on worker threads are the same bytes as on the calling thread', async () => {
  const { CopyPool } = await import('../../src/imaging/shopperPhoto/copyPool.js');
  const photo = await studioShot();
  const texture = await textureShot();
  const pool = CopyPool.create(2);
  try {
    const recipes = [1, 2, 3, 4, 5].map((seed) => trainingRecipe(mulberry32(seed)));
    const pooled = await Promise.all(recipes.map((r) => pool.render(photo, r, texture)));
    for (const [k, r] of recipes.entries()) assert.deepEqual(pooled[k], await renderCopy(photo, r, texture));
    await assert.rejects(pool.render(new Uint8Array([1, 2, 3]), recipes[0]!), /image|format|unsupported/i);
  } finally {
    await pool.close();
  }
});

test('copies fitted on worker threads give the model the same input as an ingest would make of their JPEG', async () => {
  const { CopyPool, CopyWorkerStopped } = await import('../../src/imaging/shopperPhoto/copyPool.js');
  const { fitCopy } = await import('../../src/imaging/shopperPhoto/fitCopy.js');
  const { prepareBatch } = await import('../../src/embedding/vectorize.js');
  const { IMAGENET_PREPROCESS } = await import('../../src/imaging/preprocess.js');
  const p = { ...IMAGENET_PREPROCESS, isolate: true as const };
  // prepareBatch reads only the model's preprocessing from its embedder.
  const embedder = { identity: { preprocess: p } } as unknown as Parameters<typeof prepareBatch>[0];
  const photo = await studioShot();
  const texture = await textureShot();
  const pool = CopyPool.create(2);
  try {
    const recipes = [1, 2, 3, 4, 5, 6].map((seed) => trainingRecipe(mulberry32(seed)));
    const pooled = await Promise.all(recipes.map((r) => pool.renderFitted(photo, r, texture, p)));
    const jpegs = await Promise.all(recipes.map((r) => renderCopy(photo, r, texture)));
    const batch = await prepareBatch(embedder, jpegs.map((bytes, k) => ({ bytes, label: `copy ${k}` })));
    const per = 3 * p.size * p.size;
    for (const [k, f] of pooled.entries()) {
      assert.equal(batch.slots[k], k);
      assert.deepEqual(f.tensor, batch.tensor.slice(k * per, (k + 1) * per));
      assert.deepEqual(f.colour, batch.colours[k]);
      assert.deepEqual(f, await fitCopy(jpegs[k]!, p, `copy ${k}`));
    }
    // A photo that cannot be copied fails alone; the pool goes on.
    await assert.rejects(pool.renderFitted(new Uint8Array([1, 2, 3]), recipes[0]!, undefined, p), (err) => !(err instanceof CopyWorkerStopped));
    assert.equal((await pool.renderFitted(photo, recipes[1]!, texture, p)).tensor.length, per);
  } finally {
    await pool.close();
  }
});

test('copies made at once on one thread are the same bytes as made one at a time (scratch is never held across an await)', async () => {
  const { fitCopy } = await import('../../src/imaging/shopperPhoto/fitCopy.js');
  const { IMAGENET_PREPROCESS } = await import('../../src/imaging/preprocess.js');
  const p = { ...IMAGENET_PREPROCESS, isolate: true as const };
  const photo = await studioShot();
  const texture = await textureShot();
  // Photo backdrops (a libvips step before the frame is painted) among solid, pattern and no backdrop, so that copies
  // interleave at every await of a render while another paints, warps and lights its frame.
  const recipes = Array.from({ length: 24 }, (_, seed) => trainingRecipe(mulberry32(100 + seed)));
  assert.ok(recipes.some((r) => r.backdrop?.style === 'photo') && recipes.some((r) => r.backdrop && r.backdrop.style !== 'photo') && recipes.some((r) => !r.backdrop));
  const alone: Buffer[] = [];
  for (const r of recipes) alone.push(await renderCopy(photo, r, texture));
  const together = await Promise.all(recipes.map((r) => renderCopy(photo, r, texture)));
  for (const [k, bytes] of together.entries()) assert.deepEqual(bytes, alone[k], `copy ${k}`);
  const fitted = await Promise.all(alone.map((bytes, k) => fitCopy(bytes, p, `copy ${k}`)));
  for (const [k, bytes] of alone.entries()) assert.deepEqual(fitted[k], await fitCopy(bytes, p, `copy ${k}`), `fitted copy ${k}`);
});

test('a pool that makes one copy at a time per thread answers every copy queued, with the same bytes', async () => {
  const { CopyPool } = await import('../../src/imaging/shopperPhoto/copyPool.js');
  const photo = await studioShot();
  const texture = await textureShot();
  const pool = CopyPool.create(2, 1);
  try {
    const recipes = Array.from({ length: 12 }, (_, seed) => trainingRecipe(mulberry32(200 + seed)));
    const pooled = await Promise.all(recipes.map((r) => pool.render(photo, r, texture)));
    for (const [k, r] of recipes.entries()) assert.deepEqual(pooled[k], await renderCopy(photo, r, texture));
  } finally {
    await pool.close();
  }
});

test('a pool whose workers were stopped says so instead of failing like one bad photo', async () => {
  const { CopyPool, CopyWorkerStopped } = await import('../../src/imaging/shopperPhoto/copyPool.js');
  const pool = CopyPool.create(1);
  await pool.close();
  await assert.rejects(pool.render(await studioShot(), {}), (err) => err instanceof CopyWorkerStopped);
});

test('a softened training copy keeps its size and loses fine detail; the same draws give the same bytes', async () => {
  const { softenCopy } = await import('../../src/imaging/shopperPhoto/softenCopy.js');
  // Fine stripes, 2 px wide: a copy reduced to at most 60% and enlarged back keeps them only faintly.
  const data = Buffer.alloc(240 * 320 * 3);
  for (let i = 0; i < 240 * 320; i++) data.fill((i % 240) % 4 < 2 ? 20 : 235, i * 3, i * 3 + 3);
  const jpeg = await sharp(data, { raw: { width: 240, height: 320, channels: 3 } }).jpeg({ quality: 95 }).toBuffer();
  const soft = await softenCopy(jpeg, mulberry32(5));
  assert.deepEqual(soft, await softenCopy(jpeg, mulberry32(5)));
  const spread = async (b: Buffer) => {
    const img = await decodeRgb(b);
    let lo = 255, hi = 0;
    for (let x = 100; x < 140; x++) {
      const v = img.data[(160 * img.width + x) * 3]!;
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    return { size: [img.width, img.height], range: hi - lo };
  };
  const before = await spread(jpeg), after = await spread(soft);
  assert.deepEqual(after.size, before.size);
  assert.ok(before.range > 150 && after.range < before.range * 0.75, `${before.range} -> ${after.range}`);
});
