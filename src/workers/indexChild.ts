/**
 * `fashion index` and `fashion train` in a child process of the server (src/app/backgroundIndex.ts): the embedding, the
 * training copies and the refinement's training take both cores for minutes, partly on the JavaScript thread, which in
 * the server's own process would stall every request. The child gets the server's resolved config and what to do by
 * IPC (index a photo folder or a product feed file, or train the refinement), takes the catalog's writer lock like the
 * command would, sends its progress events back, and exits.
 */
import { indexFeed, type IndexFeedOptions, type IndexFeedResult } from '../app/indexFeed.js';
import { indexFolder, type IndexEvent, type IndexResult } from '../app/indexFolder.js';
import { trainCatalogFolder } from '../app/refineCatalog.js';
import type { TrainReport } from '../refine/train.js';
import type { Config } from '../config.js';
import { isFashionError } from '../errors.js';

export type IndexChildRequest =
  | {
      readonly kind: 'folder';
      readonly config: Config;
      readonly images: string;
      readonly metadata?: string;
    }
  | {
      readonly kind: 'feed';
      readonly config: Config;
      readonly file: string;
      /** How messages name the feed instead of its file (a server folder is never shown to API clients). */
      readonly label: string;
      readonly options: Pick<IndexFeedOptions, 'format' | 'map' | 'prune' | 'download'>;
    }
  | {
      /** `fashion train`: the refinement learned again from the catalog's labels (copies as `config.augment` asks). */
      readonly kind: 'train';
      readonly config: Config;
      readonly epochs: number;
      readonly seed: number;
      /** What the writer lock names as its holder while the child trains (other writers' catalog/locked shows it). */
      readonly holder: string;
    };

/** What each request's run returns: a folder's report, a feed's (which has the same counts and more), or the training's. */
export type IndexChildResult<K extends IndexChildRequest['kind'] = IndexChildRequest['kind']> = { folder: IndexResult; feed: IndexFeedResult; train: TrainReport }[K];

export type IndexChildMessage =
  | { readonly kind: 'event'; readonly event: IndexEvent }
  | { readonly kind: 'done'; readonly result: IndexChildResult }
  | { readonly kind: 'failed'; readonly code: string; readonly message: string };

const send = (m: IndexChildMessage): Promise<void> => new Promise((resolve) => process.send!(m, () => resolve()));

function run(req: IndexChildRequest, onEvent: (e: IndexEvent) => void): Promise<IndexChildResult> {
  switch (req.kind) {
    case 'folder':
      return indexFolder(req.config, req.images, { metadata: req.metadata, onEvent });
    case 'feed':
      return indexFeed(req.config, req.file, { ...req.options, label: req.label, onEvent });
    case 'train':
      // The training's progress as the index's refinement stage reports it: copies as counts, the rest as messages.
      return trainCatalogFolder(req.config, {
        epochs: req.epochs,
        seed: req.seed,
        holder: req.holder,
        onCopies: (done, total) => onEvent({ kind: 'copies', done, total }),
        onProgress: (message) => onEvent({ kind: 'refinement', message }),
      });
  }
}

/** An error's message as the job shows it: a feed's file named by its label. */
function shown(req: IndexChildRequest, message: string): string {
  return req.kind === 'feed' ? message.split(req.file).join(req.label) : message;
}

process.once('message', (req: IndexChildRequest) => {
  void (async () => {
    try {
      const result = await run(req, (event) => void send({ kind: 'event', event }));
      await send({ kind: 'done', result });
      process.exit(0);
    } catch (err) {
      const message = shown(req, (err as Error).message);
      await send(isFashionError(err) ? { kind: 'failed', code: err.code, message } : { kind: 'failed', code: 'server/error', message });
      process.exit(1);
    }
  })();
});
