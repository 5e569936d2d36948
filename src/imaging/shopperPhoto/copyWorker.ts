/**
 * A worker thread that renders shopper-photo copies (src/imaging/shopperPhoto/copyPool.ts): a copy's typed-array passes
 * run on the JavaScript thread, so copies made on one thread leave the second core to libvips alone. Asked with `fit`,
 * it also decodes, isolates and fits the copy for the model (fitCopy) and answers with the model's input row instead
 * of the JPEG: training copies are only ever read that way, and isolating a phone-sized copy costs as much as making
 * it, which the calling thread would otherwise do alone while these threads wait.
 */
import { parentPort } from 'node:worker_threads';
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
port.on('message', (req: CopyRequest) => {
  renderCopy(req.photo, req.recipe, req.texture)
    .then(async (bytes) => {
      if (!req.fit) return port.postMessage({ id: req.id, bytes } satisfies CopyReply);
      const fitted = await fitCopy(bytes, req.fit, 'a training copy');
      // Handed over, not copied: the row is 600 KB at 224px.
      port.postMessage({ id: req.id, fitted } satisfies CopyReply, [fitted.tensor.buffer as ArrayBuffer, fitted.colour.buffer as ArrayBuffer]);
    })
    .catch((err: unknown) => port.postMessage({ id: req.id, error: err instanceof Error ? err.message : String(err) } satisfies CopyReply));
});
