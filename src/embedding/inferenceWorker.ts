/**
 * The inference thread's side (see inferenceThread.ts): one onnxruntime session, one run at a time.
 * onnxruntime-node runs a session synchronously on the thread that calls it; here that is this worker, so
 * the main thread keeps decoding the next photos (and answering HTTP) while the model runs.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import type { InferenceReply, InferenceRequest, InferenceWorkerData } from './inferenceThread.js';

const data = workerData as InferenceWorkerData;
const port = parentPort!;
/** Tests crash this thread for real (see InferenceThread.crash); a deployment never sets this. */
const crashAllowed = process.env.FASHION_INFERENCE_CRASH === 'allow';
let session: ort.InferenceSession;
try {
  session = await ort.InferenceSession.create(data.model, data.options);
  port.postMessage({ kind: 'ready' } satisfies InferenceReply);
} catch (err) {
  port.postMessage({ kind: 'failed', message: (err as Error).message } satisfies InferenceReply);
  process.exit(0);
}

port.on('message', async (req: InferenceRequest) => {
  if (req.kind === 'crash') {
    // In a worker, process.exit ends this thread only, with the exit code a crash shows the main thread.
    if (crashAllowed) process.exit(1);
    return;
  }
  try {
    // The input may hold more than the shape asks for (an embedder splitting a batch sends its first rows in the whole
    // buffer, moved rather than copied): the rows the shape names are the first ones.
    const size = req.shape.reduce((a, b) => a * b, 1);
    const input = new ort.Tensor('float32', req.input.length === size ? req.input : req.input.subarray(0, size), req.shape);
    const out = await session.run({ [req.inputName]: input });
    const t = out[req.outputName]!;
    const result = new Float32Array(t.data as Float32Array);
    const dims = [...t.dims];
    t.dispose?.();
    port.postMessage({ kind: 'result', id: req.id, data: result, dims } satisfies InferenceReply, [result.buffer]);
  } catch (err) {
    // The input goes back: the caller may retry the batch one image at a time without having kept a copy.
    port.postMessage({ kind: 'error', id: req.id, message: (err as Error).message, input: req.input } satisfies InferenceReply, [req.input.buffer as ArrayBuffer]);
  }
});
