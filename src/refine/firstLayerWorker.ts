/**
 * The first layer's second share on its own thread (see splitFirstLayer.ts): waits for a command in shared memory,
 * runs it on its share (forward: its part of z1; backward: its rows of W1's gradient and their Adam step; copy out:
 * its weights) and says which command it finished.
 */
import { workerData } from 'node:worker_threads';
import { Gemm } from '../linalg/gemm.js';
import { FirstLayerShare } from './firstLayerShare.js';
import type { FirstLayerWorkerData } from './splitFirstLayer.js';

const data = workerData as FirstLayerWorkerData;
const control = new Int32Array(data.control);
const scalars = new Float64Array(data.scalars);
const rows = new Int32Array(data.rows);
const z = new Float32Array(data.z);
const dh = new Float32Array(data.dh);
const wOut = new Float32Array(data.wOut);
const gemm = await Gemm.create(1);
const share = new FirstLayerShare(gemm, new Float32Array(data.x), data.dims, 0, data.dims, data.w, data.hidden, data.maxBatch);

let seen = 0;
for (;;) {
  Atomics.wait(control, 0, seen);
  const seq = Atomics.load(control, 0);
  if (seq === seen) continue;
  seen = seq;
  const command = Atomics.load(control, 2);
  if (command < 0) break;
  const bs = scalars[0]!;
  if (command === 1) z.set(await share.forward(rows, bs));
  // onnxruntime takes no shared memory: dh is copied.
  else if (command === 2) await share.backward(dh.slice(0, bs * data.hidden), { step: scalars[1]!, eps: scalars[2]!, decay: scalars[3]! });
  else if (command === 3) wOut.set(share.w);
  Atomics.store(control, 1, seq);
  Atomics.notify(control, 1);
}
await gemm.close();
