// One photo sample's vectors through several backbone graphs (bench/backboneGraphs.ts), for the benches that compare how
// a change of graph moves the vectors (float32Vectors.ts, int8Vectors.ts): the photos are decoded, isolated and fitted
// once by the product's own code, as the default ingest does, then each graph runs on the same tensors.
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { embedderOptions, type Config } from '../src/config.js';
import { Embedder } from '../src/embedding/embedder.js';
import { prepareBatch } from '../src/embedding/vectorize.js';
import { backboneGraph } from './backboneGraphs.js';

export interface FittedPhotos {
  readonly tensors: Float32Array[];
  readonly side: number;
}

/** The photos at `paths` fitted into model tensors, 32 a batch (prepareBatch needs an embedder for its pixels; the first model alone is enough). */
export async function fitPhotos(config: Config, paths: readonly string[]): Promise<FittedPhotos> {
  const fitter = await Embedder.load({ ...embedderOptions(config), second: undefined, mirror: false });
  const tensors: Float32Array[] = [];
  try {
    for (let i = 0; i < paths.length; i += 32) {
      const part = paths.slice(i, i + 32);
      const prepared = await prepareBatch(fitter, part.map((p) => ({ bytes: readFileSync(p), label: p })));
      if (prepared.count !== part.length) throw new Error(`${part.length - prepared.count} photos failed to decode`);
      tensors.push(prepared.tensor);
    }
  } finally {
    await fitter.close();
  }
  return { tensors, side: config.preprocess.size };
}

/** Each fitted photo's output vector from the named graph, in the photos' order. */
export async function graphVectors(name: string, config: Config, photos: FittedPhotos): Promise<Float32Array[]> {
  const { side } = photos;
  const per = 3 * side * side;
  const s = await ort.InferenceSession.create(backboneGraph(name, config), { intraOpNumThreads: 2 });
  const out: Float32Array[] = [];
  try {
    for (const t of photos.tensors) {
      const rows = t.length / per;
      const r = await s.run({ [s.inputNames[0]!]: new ort.Tensor('float32', t, [rows, 3, side, side]) });
      const data = r[s.outputNames[0]!]!.data as Float32Array;
      const dims = data.length / rows;
      for (let k = 0; k < rows; k++) out.push(data.slice(k * dims, (k + 1) * dims));
    }
  } finally {
    await s.release();
  }
  return out;
}
