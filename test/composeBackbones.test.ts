import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { embedderOptions, resolveConfig, sharedDir } from '../src/config.js';
import { modelMismatch } from '../src/catalog/identity.js';
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

test('models that want the photo fitted differently cannot be composed', () => {
  const cut = headCutModel(readFileSync(MOBILENET), { pooling: 'max' });
  assert.throws(
    () => composeBackbones([{ cut, preprocess: IMAGENET_PREPROCESS }, { cut, preprocess: { ...CAFFE_PREPROCESS, fit: 'crop' } }], IMAGENET_PREPROCESS, { mirror: false }),
    (err: unknown) => err instanceof FashionError && /same pad fit/.test(err.message),
  );
});

/** The default backbone's composed graph, as src/embedding/embedder.ts composes it for `config`. */
function defaultGraph(config: ReturnType<typeof resolveConfig>): Uint8Array {
  const first = { cut: headCutModel(readFileSync(config.model), { pooling: config.pooling }), preprocess: config.preprocess };
  const second = { cut: headCutModel(readFileSync(config.secondModel!.model), { pooling: config.pooling }), preprocess: config.secondModel!.preprocess };
  return composeBackbones([first, second], config.preprocess, { mirror: config.mirror });
}

test('at the default sides the composed graph is the one catalogs were embedded with, byte for byte', () => {
  const env = { ...process.env, FASHION_SHARED: sharedDir()! };
  const config = resolveConfig({}, env);
  const graph = defaultGraph(config);
  // sha256 of the default composed graph before the second model had a side of its own (a99ef7b): the same graph on the
  // same runtime gives the same vectors, so catalogs embedded then are searched with vectors made the same way.
  assert.equal(createHash('sha256').update(graph).digest('hex'), '095983d9ebfb6d761220e3f766eb4a89d9867379690335071fb17e5628242604');
  assert.deepEqual(Buffer.from(defaultGraph(resolveConfig({ secondSize: 224 }, env))), Buffer.from(graph), 'the side set to the default changes nothing');
  assert.notDeepEqual(Buffer.from(defaultGraph(resolveConfig({ secondSize: 160 }, env))), Buffer.from(graph));
});

/** `x` [n,3,S,S] resized to `side` as onnxruntime's Resize (linear, half_pixel, edges clamped) does: the reference. */
function bilinear(x: Float32Array, n: number, from: number, side: number): Float32Array {
  const taps = Array.from({ length: side }, (_, o) => {
    const at = Math.min(Math.max((o + 0.5) * (from / side) - 0.5, 0), from - 1);
    const lo = Math.floor(at);
    return { lo, hi: Math.min(lo + 1, from - 1), w: at - lo };
  });
  const out = new Float32Array(n * 3 * side * side);
  for (let plane = 0; plane < n * 3; plane++) {
    const src = plane * from * from;
    for (let y = 0; y < side; y++) {
      const ty = taps[y]!;
      for (let xo = 0; xo < side; xo++) {
        const tx = taps[xo]!;
        const row = (r: number) => x[src + r * from + tx.lo]! * (1 - tx.w) + x[src + r * from + tx.hi]! * tx.w;
        out[plane * side * side + y * side + xo] = row(ty.lo) * (1 - ty.w) + row(ty.hi) * ty.w;
      }
    }
  }
  return out;
}

test('a second model at a side of its own sees the fitted photo resized in the graph, and the catalog tells it apart', async () => {
  const ids = pickIds(['Tshirts', 'Sports Shoes'], 1);
  const load = (o: Partial<Parameters<typeof Embedder.load>[0]>) => Embedder.load({ model: MOBILENET, pooling: 'max', preprocess: IMAGENET_PREPROCESS, threads: 1, cacheDir: cache, ...o });
  const SMALL = 160;
  const atDefault = await load({ second: { model: SQUEEZENET, preprocess: CAFFE_PREPROCESS } });
  const small = await load({ second: { model: SQUEEZENET, preprocess: { ...CAFFE_PREPROCESS, size: SMALL } } });
  const mirrored = await load({ second: { model: SQUEEZENET, preprocess: { ...CAFFE_PREPROCESS, size: SMALL } }, mirror: true });
  const alone = await load({ model: SQUEEZENET, preprocess: { ...CAFFE_PREPROCESS, size: SMALL } });
  assert.equal(small.dims, 1280 + 512);
  assert.notEqual(identityKey(small.identity), identityKey(atDefault.identity), 'vectors of another side are never mixed with the catalog\'s');
  const x = await tensors(ids, IMAGENET_PREPROCESS);
  const joined = await small.embedBatch(x.slice(), ids.length);
  const before = await atDefault.embedBatch(x.slice(), ids.length);
  // The reference: the same fitted square resized outside the graph, converted to Caffe pixels, through SqueezeNet alone.
  const resized = bilinear(x, ids.length, 224, SMALL);
  const plane = SMALL * SMALL;
  const caffe = new Float32Array(resized.length);
  for (let i = 0; i < ids.length; i++) {
    for (let c = 0; c < 3; c++) {
      const rgb = 2 - c; // Caffe's plane c holds BGR
      for (let p = 0; p < plane; p++) {
        const byte = (resized[(i * 3 + rgb) * plane + p]! * IMAGENET_PREPROCESS.std[rgb]! + IMAGENET_PREPROCESS.mean[rgb]!) * 255;
        caffe[(i * 3 + c) * plane + p] = byte - CAFFE_PREPROCESS.mean[c]!;
      }
    }
  }
  const b = await alone.embedBatch(caffe, ids.length);
  ids.forEach((_, i) => {
    const got = joined.subarray(i * 1792, (i + 1) * 1792);
    const a = before.subarray(i * 1792, (i + 1) * 1792);
    // MobileNetV2's part is untouched; SqueezeNet's is the resized photo's.
    for (let j = 0; j < 1280; j++) assert.equal(got[j], a[j], `photo ${i} MobileNetV2 dim ${j}`);
    unit(b.subarray(i * 512, (i + 1) * 512)).forEach((e, j) => assert.ok(Math.abs(e - got[1280 + j]!) < 2e-3, `photo ${i} SqueezeNet dim ${j}: ${got[1280 + j]} vs ${e}`));
    const cos = unit(got.subarray(1280)).reduce((s, q, j) => s + q * a[1280 + j]!, 0);
    assert.ok(cos > 0.5 && cos < 0.9999, `the smaller side changes SqueezeNet's vector: cosine ${cos}`);
  });
  // The mirror flips the resized square: a photo and its mirror image still get one vector.
  const flipped = new Float32Array(x.length);
  for (let row = 0; row < x.length / 224; row++) for (let col = 0; col < 224; col++) flipped[row * 224 + col] = x[row * 224 + 223 - col]!;
  const v = await mirrored.embedBatch(x.slice(), ids.length);
  const w = await mirrored.embedBatch(flipped, ids.length);
  v.forEach((value, j) => assert.ok(Math.abs(value - w[j]!) < 1e-5, `dim ${j}: ${value} vs ${w[j]}`));
  await Promise.all([atDefault.close(), small.close(), mirrored.close(), alone.close()]);
});

test('a catalog embedded with the second model at its own side is searched at that side, and named by it when refused', async () => {
  const env = { ...process.env, FASHION_SHARED: sharedDir()! };
  const withCache = (input: Parameters<typeof resolveConfig>[0]) => resolveConfig({ cacheDir: cache, threads: 1, ...input }, env);
  const indexed = await Embedder.load(embedderOptions(withCache({ secondSize: 160 })));
  const stored = indexed.identity;
  assert.equal(stored.secondSize, 160);
  // Left at its defaults, the configuration follows the catalog: the same vectors, the same identity.
  const following = await Embedder.load(embedderOptions(withCache({}), stored));
  assert.equal(identityKey(following.identity), identityKey(stored));
  const x = await tensors(pickIds(['Jeans'], 1), IMAGENET_PREPROCESS);
  assert.deepEqual(await following.embedBatch(x.slice(), 1), await indexed.embedBatch(x.slice(), 1));
  // A default catalog records no side of its own (its identity is what it was before the setting) and is followed at 224.
  const plain = await Embedder.load(embedderOptions(withCache({})));
  assert.equal('secondSize' in plain.identity, false);
  assert.equal(identityKey((await reload(withCache({}), plain.identity)).identity), identityKey(plain.identity));
  // Set by flag, the side is used as given, and a catalog of another side refuses it, naming both.
  const asked = await Embedder.load(embedderOptions(withCache({ secondSize: 128 }), stored));
  assert.notEqual(identityKey(asked.identity), identityKey(stored));
  assert.match(modelMismatch(stored, asked.identity).message, /second model at 160px.*second model at 128px/);
  assert.match(modelMismatch(plain.identity, indexed.identity).message, /224px pad, but .*224px pad, the second model at 160px/);
  await Promise.all([indexed.close(), following.close(), plain.close(), asked.close()]);
});

async function reload(config: ReturnType<typeof resolveConfig>, stored: Parameters<typeof embedderOptions>[1]): Promise<Embedder> {
  const e = await Embedder.load(embedderOptions(config, stored));
  await e.close();
  return e;
}
