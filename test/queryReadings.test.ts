import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { embedderOptions, resolveConfig } from '../src/config.js';
import { Embedder } from '../src/embedding/embedder.js';
import { QueryBatcher } from '../src/embedding/queryBatcher.js';
import { embedProducts } from '../src/embedding/vectorize.js';
import { fitPhoto } from '../src/imaging/decode.js';
import { QUERY_ISOLATION } from '../src/imaging/isolateProduct.js';
import { PHOTO_CONDITIONS, rephotograph } from '../src/imaging/rephotograph.js';
import { mulberry32 } from '../src/util/random.js';
import { DEMO, pickIds } from './helpers.js';

const embedder = await Embedder.load(embedderOptions(resolveConfig({ isolate: 'on', secondModel: 'none' })));
after(() => embedder.close());
const watch = pickIds(['Watches'], 1)[0]!;

test("a phone photo's readings are embedded in one inference run, with the vectors each reading gets alone", async () => {
  const bytes = await rephotograph(readFileSync(join(DEMO!.images, `${watch}.jpg`)), PHOTO_CONDITIONS.background, mulberry32(3));
  // Read as the query path reads it (src/embedding/vectorize.ts prepareReadings: isolation at the query's working side).
  const fitted = await fitPhoto(bytes, embedder.identity.preprocess, { readings: 'both', isolation: QUERY_ISOLATION });
  const others = [fitted.balanced, fitted.asIs].filter((r) => r !== undefined);
  assert.ok(others.length > 0, 'expected the photo to have another reading');
  const runs: number[] = [];
  const onRun = (e: { batch: number }) => runs.push(e.batch);
  embedder.thread.on('run', onRun);
  const q = await new QueryBatcher(embedder, { maxBytes: 10 * 2 ** 20, maxPixels: 40e6 }).embed(bytes, 'phone photo');
  embedder.thread.off('run', onRun);
  assert.deepEqual(runs, [1 + others.length], 'one run with the photo and its other readings');
  assert.equal(q.batchSize, 1);
  assert.equal(q.alternatives?.length, others.length);
  // The same vectors as the reading embedded on its own (the batch does not change a row's result).
  const alone = (await embedProducts(embedder, [fitted.product]))[0]!;
  const otherAlone = await embedProducts(embedder, others);
  const close = (a: Float32Array, b: Float32Array) => a.every((x, j) => Math.abs(x - b[j]!) <= 1e-4 * (1 + Math.abs(x)));
  assert.ok(close(q.vector, alone.vector), 'the photo reading');
  q.alternatives!.forEach((r, k) => assert.ok(close(r.vector, otherAlone[k]!.vector), `reading ${r.photo.isolation}`));
});
