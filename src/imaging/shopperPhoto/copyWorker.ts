/**
 * A worker thread that renders shopper-photo copies (src/imaging/shopperPhoto/copyPool.ts): a copy's typed-array passes
 * run on the JavaScript thread, so copies made on one thread leave the second core to libvips alone.
 */
import { parentPort } from 'node:worker_threads';
import type { CopyRecipe } from './recipe.js';
import { renderCopy } from './render.js';

export interface CopyRequest {
  readonly id: number;
  readonly photo: Uint8Array;
  readonly recipe: CopyRecipe;
  readonly texture?: Uint8Array;
}
export type CopyReply = { readonly id: number; readonly bytes: Uint8Array } | { readonly id: number; readonly error: string };

const port = parentPort!;
port.on('message', (req: CopyRequest) => {
  renderCopy(req.photo, req.recipe, req.texture).then(
    (bytes) => port.postMessage({ id: req.id, bytes } satisfies CopyReply),
    (err: unknown) => port.postMessage({ id: req.id, error: err instanceof Error ? err.message : String(err) } satisfies CopyReply),
  );
});
