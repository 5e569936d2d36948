import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { sharedDir } from '../src/config.js';
import { composeBackbones } from '../src/embedding/composeBackbones.js';
import { Embedder, identityKey, isComposed } from '../src/embedding/embedder.js';
import { headCutModel } from '../src/embedding/headCut.js';
import { FashionError } from '../src/errors.js';
import { fitPhoto } from '../src/imaging/decode.js';
import { CAFFE_PREPROCESS, IMAGENET_PREPROCESS, type Preprocess } from '../src/imaging/preprocess.js';
import { fitToTensor } from '../src/imaging/resample.js';
import { DEMO, pickIds } from './helpers.js';

const models = join(sharedDir()!, 'models');
const cache = mkdtempSync(join(tmpdir(), 'fashion-compose-'));
const MOBILENET = join(models, 'mobilenetv2-12-int8.onnx');
const SQUEEZENET = join(models, 'squeezenet1.0-fp16.onnx');
const SIDE = 224 * 224;

/** Real catalog photos fitted to the model input as `p` normalises them, one after another. */
async function tensors(ids: readonly string[], p: Preprocess): Promise<Float32Array> {
  const out = new Float32Array(ids.length * 3 * SIDE);
  for (const [i, id] of ids.entries()) fitToTensor((await fitPhoto(readFileSync(join(DEMO!.images, `${id}.jpg`)), p)).product, p, out, i * 3 * SIDE);
  return out;
}

const unit = (v: Float32Array) => {
  const n = Math.hypot(...v);
  return Array.from(v, (x) => x / n);
};

test('a composed backbone gives each model its own pixels and joins their unit vectors', async () => {
  const ids = pickIds(['Tshirts', 'Watches', 'Handbags'], 1);
  const load = (o: Partial<Parameters<typeof Embedder.load>[0]>) => Embedder.load({ model: MOBILENET, pooling: 'max', preprocess: IMAGENET_PREPROCESS, threads: 1, cacheDir: cache, ...o });
  const mobilenet = await load({});
  const squeezenet = await load({ model: SQUEEZENET, preprocess: CAFFE_PREPROCESS });
  const both = await load({ second: { model: SQUEEZENET, preprocess: CAFFE_PREPROCESS } });
  assert.equal(both.dims, 1280 + 512);
  assert.match(both.identity.modelName, /mobilenetv2.*\+ squeezenet/);
  assert.equal(isComposed(both.identity), true);
  // The composed graph converts ImageNet-normalised RGB to SqueezeNet's BGR bytes less their means itself.
  const a = await mobilenet.embedBatch(await tensors(ids, IMAGENET_PREPROCESS), ids.length);
  const b = await squeezenet.embedBatch(await tensors(ids, CAFFE_PREPROCESS), ids.length);
  const joined = await both.embedBatch(await tensors(ids, IMAGENET_PREPROCESS), ids.length);
  ids.forEach((_, i) => {
    const expected = [...unit(a.subarray(i * 1280, (i + 1) * 1280)), ...unit(b.subarray(i * 512, (i + 1) * 512))];
    const got = joined.subarray(i * 1792, (i + 1) * 1792);
    // The composed graph converts the pixels in float32 (scale and shift), so SqueezeNet's part agrees to about 1e-4.
    expected.forEach((x, j) => assert.ok(Math.abs(x - got[j]!) < 2e-3, `photo ${i} dim ${j}: ${got[j]} vs ${x}`));
  });
  await Promise.all([mobilenet.close(), squeezenet.close(), both.close()]);
});

test('with the mirror, a photo and its mirror image get the same vector, and the catalog can tell the setups apart', async () => {
  const ids = pickIds(['Casual Shoes', 'Sunglasses'], 1);
  const plain = await Embedder.load({ model: MOBILENET, pooling: 'max', preprocess: IMAGENET_PREPROCESS, threads: 1, cacheDir: cache });
  const mirrored = await Embedder.load({ model: MOBILENET, pooling: 'max', preprocess: IMAGENET_PREPROCESS, threads: 1, cacheDir: cache, mirror: true });
  const x = await tensors(ids, IMAGENET_PREPROCESS);
  const flipped = new Float32Array(x.length);
  for (let plane = 0; plane < x.length / 224; plane++) for (let col = 0; col < 224; col++) flipped[plane * 224 + col] = x[plane * 224 + 223 - col]!;
  const v = await mirrored.embedBatch(x.slice(), ids.length);
  const w = await mirrored.embedBatch(flipped, ids.length);
  v.forEach((value, j) => assert.ok(Math.abs(value - w[j]!) < 1e-5, `dim ${j}: ${value} vs ${w[j]}`));
  const once = await plain.embedBatch(x.slice(), ids.length);
  // Shoes and sunglasses are not symmetric: the mirror changes the vector, though not by much.
  const cos = unit(once.subarray(0, 1280)).reduce((s, q, j) => s + q * v[j]!, 0);
  assert.ok(cos > 0.8 && cos < 0.9999, `cosine ${cos}`);
  assert.notEqual(identityKey(plain.identity), identityKey(mirrored.identity));
  assert.match(mirrored.identity.featureTensor, /mirror/);
  assert.equal(isComposed(mirrored.identity), true);
  assert.equal(isComposed(plain.identity), false);
  await Promise.all([plain.close(), mirrored.close()]);
});

test('models that want the photo at different sizes cannot be composed', () => {
  const cut = headCutModel(readFileSync(MOBILENET), { pooling: 'max' });
  assert.throws(
    () => composeBackbones([{ cut, preprocess: IMAGENET_PREPROCESS }, { cut, preprocess: { ...CAFFE_PREPROCESS, size: 160 } }], IMAGENET_PREPROCESS, { mirror: false }),
    (err: unknown) => err instanceof FashionError && /same 224px pad fit/.test(err.message),
  );
});
