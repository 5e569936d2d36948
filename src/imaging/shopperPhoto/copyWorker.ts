/**
 * A worker thread that renders shopper-photo copies (src/imaging/shopperPhoto/copyPool.ts): a copy's typed-array passes
 * run on the JavaScript thread, so copies made on one thread leave the second core to libvips alone. Asked with `fit`,
 * it also decodes, isolates and fits the copy for the model (fitCopy) and answers with the model's input row instead
 * of the JPEG: training copies are only ever read that way, and isolating a phone-sized copy costs as much as making
 * it, which the calling thread would otherwise do alone while these threads wait.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Preprocess } from '../preprocess.js';
import { fitCopy, type FittedCopy } from './fitCopy.js';
import type { CopyRecipe } from './recipe.js';
import { renderCopy } from './render.js';

export interface CopyRequest {
  readonly id: number;
  readonly photo: Uint8Array;
  readonly recipe: CopyRecipe;
  readonly texture?: Uint8Array;
  /** Fit the copy for a model with this preprocessing, and answer with its input row and colour evidence. */
  readonly fit?: Preprocess;
}
export type CopyReply =
  | { readonly id: number; readonly bytes: Uint8Array }
  | { readonly id: number; readonly fitted: FittedCopy }
  | { readonly id: number; readonly error: string };

const port = parentPort!;

/**
 * Copies made at once on this thread (CopyPool.create's `atOnce`). The pool hands each thread every copy of the batches
 * ahead at once (dozens); started together, each held its buffers across its awaits on libvips, and the thread's live
 * memory, and with it its garbage collections, grew with the queue. Each copy is made from its own request alone, so the
 * answers are the same whatever the order.
 */
const AT_ONCE = Math.max(1, Number((workerData as { atOnce?: number } | null)?.atOnce ?? Infinity));
const waiting: CopyRequest[] = [];
let running = 0;

port.on('message', (req: CopyRequest) => {
  waiting.push(req);
  pump();
});

function pump(): void {
  while (running < AT_ONCE && waiting.length > 0) {
    const req = waiting.shift()!;
    running++;
    void answer(req).finally(() => {
      running--;
      pump();
    });
  }
}

async function answer(req: CopyRequest): Promise<void> {
  try {
    const bytes = await renderCopy(req.photo, req.recipe, req.texture);
    if (!req.fit) return port.postMessage({ id: req.id, bytes } satisfies CopyReply);
    const fitted = await fitCopy(bytes, req.fit, 'a training copy');
    // Handed over, not copied: the row is 600 KB at 224px.
    port.postMessage({ id: req.id, fitted } satisfies CopyReply, [fitted.tensor.buffer as ArrayBuffer, fitted.colour.buffer as ArrayBuffer]);
  } catch (err) {
    port.postMessage({ id: req.id, error: err instanceof Error ? err.message : String(err) } satisfies CopyReply);
  }
}
