/**
 * The same-product ground (tuneSameProduct.ts sameProductGround) on its own thread, while the calling thread fits the
 * network: given its input, answers with the ground or the error, then ends.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Gemm } from '../../linalg/gemm.js';
import { sameProductGround, type GroundInput } from './tuneSameProduct.js';

const { input, threads } = workerData as { input: GroundInput; threads: number };
const gemm = await Gemm.create(threads);
try {
  parentPort!.postMessage({ ground: await sameProductGround(gemm, input) });
} catch (err) {
  parentPort!.postMessage({ error: err instanceof Error ? err.message : String(err) });
} finally {
  await gemm.close();
}
