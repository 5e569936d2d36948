/**
 * `fashion index` in a child process of the server (src/app/backgroundIndex.ts): the embedding, the training copies and
 * the refinement's training take both cores for minutes, partly on the JavaScript thread, which in the server's own
 * process would stall every request. The child gets the server's resolved config and the folder by IPC, takes the
 * catalog's writer lock like any `fashion index`, sends its progress events back, and exits.
 */
import { indexFolder, type IndexEvent, type IndexResult } from '../app/indexFolder.js';
import type { Config } from '../config.js';
import { isFashionError } from '../errors.js';

export interface IndexChildRequest {
  readonly config: Config;
  readonly images: string;
  readonly metadata?: string;
}

export type IndexChildMessage =
  | { readonly kind: 'event'; readonly event: IndexEvent }
  | { readonly kind: 'done'; readonly result: IndexResult }
  | { readonly kind: 'failed'; readonly code: string; readonly message: string };

const send = (m: IndexChildMessage): Promise<void> => new Promise((resolve) => process.send!(m, () => resolve()));

process.once('message', (req: IndexChildRequest) => {
  void (async () => {
    try {
      const result = await indexFolder(req.config, req.images, { metadata: req.metadata, onEvent: (event) => void send({ kind: 'event', event }) });
      await send({ kind: 'done', result });
      process.exit(0);
    } catch (err) {
      await send(isFashionError(err) ? { kind: 'failed', code: err.code, message: err.message } : { kind: 'failed', code: 'server/error', message: (err as Error).message });
      process.exit(1);
    }
  })();
});
