import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { indexFolder } from '../src/app/indexFolder.js';
import { MIN_LABELLED_FOR_REFINEMENT } from '../src/app/indexFolder.js';
import { installRefinement, trainCatalog } from '../src/app/refineCatalog.js';
import { loadCatalogRefinement } from '../src/refine/loadRefinement.js';
import { openCatalogStore } from '../src/catalog/openCatalog.js';
import { embedderOptions } from '../src/config.js';
import { Embedder } from '../src/embedding/embedder.js';
import { Gemm } from '../src/linalg/gemm.js';
import { fitForModel } from '../src/imaging/decode.js';
import { IMAGENET_PREPROCESS } from '../src/imaging/preprocess.js';
import { PHOTO_CONDITIONS, rephotograph } from '../src/imaging/rephotograph.js';
import { RefineModel } from '../src/refine/refineModel.js';
import { copyConditions, getsCopy } from '../src/refine/augment.js';
import { colourHistogram, COLOUR_DIMS } from '../src/refine/colourFeatures.js';
import { evaluate } from '../src/app/evaluate.js';
import { mulberry32 } from '../src/util/random.js';
import { Recommender } from '../src/recommend/recommender.js';
import { DEMO, makeFixture, pickIds, STYLE_ROWS } from './helpers.js';

const TYPES = ['Tshirts', 'Shirts', 'Watches', 'Casual Shoes', 'Handbags', 'Jeans', 'Sunglasses', 'Kurtas', 'Heels', 'Belts'];

test('colour evidence tells a red item from a blue one and ignores the white studio background', async () => {
  const byColour = (c: string) => [...STYLE_ROWS].find(([, m]) => m.articleType === 'Tshirts' && m.baseColour === c)![0];
  const hist = async (id: string) => colourHistogram(await fitForModel(readFileSync(join(DEMO!.images, `${id}.jpg`)), IMAGENET_PREPROCESS), 224, 224);
  const [red, red2, blue, white] = await Promise.all([hist(byColour('Red')), hist([...STYLE_ROWS].filter(([, m]) => m.articleType === 'Tshirts' && m.baseColour === 'Red')[1]![0]), hist(byColour('Blue')), hist(byColour('White'))]);
  const cos = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i]!, 0);
  assert.equal(red.length, COLOUR_DIMS);
  assert.ok(cos(red, red2) > cos(red, blue), `red-red ${cos(red, red2)} vs red-blue ${cos(red, blue)}`);
  // A white T-shirt on white still has colour evidence (its own pixels are not taken for background).
  assert.ok(Math.abs(Math.hypot(...white) - 1) < 1e-4);
});

test('Gemm multiplies with and without transposes', async () => {
  const g = await Gemm.create(1);
  const a = new Float32Array([1, 2, 3, 4, 5, 6]);
  assert.deepEqual(Array.from(await g.mul(a, 2, 3, new Float32Array([1, 0, 0, 1, 1, 1]), 3, 2)), [4, 5, 10, 11]);
  assert.deepEqual(Array.from(await g.mul(a, 2, 3, a, 2, 3, false, true)), [14, 32, 32, 77]);
  await g.close();
});

test('a labelled catalog trains its refinement on index; search, categorisation and eval use it', async () => {
  const fx = makeFixture(pickIds(TYPES, 26), 'refine');
  const config = fx.config();
  const report = await indexFolder(config, fx.images, { metadata: fx.csv });
  assert.ok(fx.ids.length >= MIN_LABELLED_FOR_REFINEMENT);
  assert.ok(report.refinement?.trained, JSON.stringify(report.refinement));
  const rec = await Recommender.open(config);
  const info = rec.info();
  assert.ok(info.refinement && info.refinement.dims > 500);
  // A catalog photo: the refined search finds its kind, and categorisation names it.
  const id = fx.ids[3 * 26 + 2]!; // a Casual Shoes item
  const photo = readFileSync(join(fx.images, `${id}.jpg`));
  const res = await rec.searchImage(photo, { k: 5 });
  assert.ok(res.hits.filter((h) => h.metadata.articleType === 'Casual Shoes').length >= 3, JSON.stringify(res.hits.map((h) => h.metadata.articleType)));
  const cat = await rec.categorizeImage(photo);
  assert.equal(cat.articleType!.value, 'Casual Shoes');
  assert.ok(cat.articleType!.confidence > 0 && cat.articleType!.confidence <= 1);
  assert.ok(cat.gender && cat.baseColour);
  // More like this uses the item's labels: every result is of its kind.
  const sim = await rec.similar(id, { k: 5 });
  assert.ok(sim.hits.every((h) => h.metadata.articleType === 'Casual Shoes'));
  // The outfit for a photo searches the refined space with the photo's refined vector (it failed before: backbone vector, refined index).
  const look = await rec.outfitImage(photo);
  assert.equal(look.query.labels.articleType, 'Casual Shoes');
  assert.ok(look.picks.length > 0 && look.picks.every((p) => p.id !== id || p.group !== 'shoes'), JSON.stringify(look));
  const ev = await evaluate(rec.services, { k: 5, metric: 'cosine', limit: 60 });
  assert.equal(ev.queries, 60);
  assert.ok(ev.precisionAtK > 0.5, `P@5 ${ev.precisionAtK}`);
  await rec.close();

  // Re-training with the same seed gives the same model (deterministic).
  const store = await openCatalogStore(config.dataDir);
  const a = await trainCatalog(store, config.dataDir, { epochs: 2, seed: 7 });
  const b = await trainCatalog(store, config.dataDir, { epochs: 2, seed: 7 });
  assert.deepEqual(a.validation, b.validation);
  assert.deepEqual(a.validationAccuracy, b.validationAccuracy);

  // Training copies: made once for the chosen share, each on its original's side of the split, then reused.
  const embedder = await Embedder.load({ ...embedderOptions(config), threads: 1 });
  try {
    const c = await trainCatalog(store, config.dataDir, { epochs: 2, seed: 7, augment: { share: 0.5, embedder } });
    const made = await store.featureIds('copy');
    assert.ok(made.size > 20 && made.size < fx.ids.length, `${made.size} copies of ${fx.ids.length}`);
    assert.equal(c.copies.fit + c.copies.validation, made.size);
    assert.ok(c.copies.validation > 0 && c.copies.validationAccuracy.articleType !== undefined);
    assert.ok([...made].every((id) => getsCopy(id, 0.5)));
    const again = await trainCatalog(store, config.dataDir, { epochs: 2, seed: 7, augment: { share: 0.5, embedder } });
    assert.deepEqual(again.copies, c.copies);
    assert.equal((await store.featureIds('copy')).size, made.size);
  } finally {
    await embedder.close();
    await store.close();
  }
});

test('a photo of a listed product puts that product first through the same-product index, exact and HNSW', async () => {
  const fx = makeFixture(pickIds(TYPES, 26), 'same-product');
  const config = fx.config();
  await indexFolder(config, fx.images, { metadata: fx.csv });
  const store = await openCatalogStore(config.dataDir);
  const embedder = await Embedder.load({ ...embedderOptions(config), threads: 1 });
  const gemm = await Gemm.create(1);
  // Copies of every item give enough photo/copy pairs for the projection (the fixture is too small for validation to choose its weight).
  await trainCatalog(store, config.dataDir, { epochs: 2, seed: 7, augment: { share: 1, embedder } });
  const trained = (await loadCatalogRefinement(store, config.dataDir, fx.ids.slice().sort())).model!;
  assert.ok(trained.header.instance, 'expected a same-product projection');
  const withPin = async (pinGap: number, matchGap = 1) => {
    const header = { ...trained.header, instance: { ...trained.header.instance!, pinGap, matchGap }, fusion: { ...trained.header.fusion, instance: 1 }, trainedAt: `${trained.header.trainedAt}-${pinGap}` };
    // The model and its refined vectors switch in together (one generation).
    await installRefinement(store, config.dataDir, new RefineModel(header, trained.weights, trained.instance), gemm);
  };
  const id = fx.ids[4 * 26 + 5]!;
  const rng = mulberry32(11);
  const photo = await rephotograph(readFileSync(join(fx.images, `${id}.jpg`)), PHOTO_CONDITIONS.mild, rng);
  try {
    for (const index of ['exact', 'hnsw'] as const) {
      await withPin(0, 0.01);
      let rec = await Recommender.open({ ...config, index });
      rec.prepareIndex();
      const first = (await rec.searchImage(photo, { k: 5 })).hits[0]!;
      assert.equal(first.id, id, index);
      assert.equal(first.lookAlike, true);
      // fashion match decides in the same space, with the model's threshold.
      const m = await rec.matchImage(photo);
      assert.equal(m.space, 'same-product');
      assert.equal(m.threshold, 0.01);
      assert.equal(m.match?.id, id, JSON.stringify(m.candidates.map((c) => [c.id, c.score])));
      // The same product shot in a dim, warm room: read both ways, the light-corrected reading is the one kept.
      const dim = await sharp(readFileSync(join(fx.images, `${id}.jpg`))).linear([0.8, 0.72, 0.62], [0, 0, 0]).jpeg({ quality: 85 }).toBuffer();
      const dimmed = await rec.searchImage(dim, { k: 5 });
      assert.equal(dimmed.isolated?.method, 'balanced');
      assert.equal(dimmed.hits[0]!.id, id);
      // Filters hold for the moved item too.
      const other = (await rec.searchImage(photo, { k: 5, filters: { articleType: ['Watches'] } })).hits;
      assert.ok(other.every((h) => h.metadata.articleType === 'Watches' && !(h.id === id)));
      await rec.close();
      await withPin(2); // no cosine margin reaches 2: nothing moves
      rec = await Recommender.open({ ...config, index });
      rec.prepareIndex();
      assert.ok((await rec.searchImage(photo, { k: 5 })).hits.every((h) => !h.lookAlike), index);
      assert.equal((await rec.matchImage(photo)).match, null);
      await rec.close();
    }
  } finally {
    await gemm.close();
    await embedder.close();
    await store.close();
  }
});

test('training copies draw at least one condition, seeded', async () => {
  for (let seed = 1; seed < 50; seed++) {
    const a = copyConditions(mulberry32(seed));
    assert.ok(Object.keys(a).length >= 1);
    assert.deepEqual(copyConditions(mulberry32(seed)), a);
  }
});
