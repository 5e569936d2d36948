import { rm } from 'node:fs/promises';
import { basename } from 'node:path';
import { FashionError, isErrorCode } from '../errors.js';
import { FEED_JOB, INDEX_JOB } from '../jobs/indexJob.js';
import type { Job, JsonValue } from '../jobs/jobQueue.js';
import { submitAsJob } from '../jobs/runAsJob.js';
import { TRAIN_JOB } from '../jobs/trainJob.js';
import { DEFAULT_TRAIN } from '../refine/mlp.js';
import type { TrainReport } from '../refine/train.js';
import type { IndexChildMessage, IndexChildRequest, IndexChildResult } from '../workers/indexChild.js';
import type { IndexEvent } from './indexFolder.js';
import type { IndexFeedOptions } from './indexFeed.js';
import type { Services } from './services.js';
import { forkModule } from '../workers/start.js';

/**
 * Indexes a photo folder while the catalog is served: `fashion index` runs in a child process (src/workers/indexChild.ts)
 * as an 'ingest' job, and every second the server applies what it has committed (`Services.follower`), so search covers
 * the catalog as it grows; when the child has finished (embedded, trained the refinement, saved the graphs) the server
 * reads the catalog again (`Services.reload`) and answers from the refined space, without a restart. Answers at once
 * with the job (GET /api/jobs/:id follows it); one such job per folder at a time.
 */
export function indexInBackground(svc: Services, images: string, metadata?: string): Promise<Job> {
  const req: IndexChildRequest = { kind: 'folder', config: svc.config, images, ...(metadata ? { metadata } : {}) };
  return submitAsJob<IndexEvent, IndexChildResult<'folder'>>(svc.jobs, 'ingest', { folder: basename(images) }, INDEX_JOB, (onEvent, signal) => runChild(svc, req, onEvent, signal, INDEXED), {
    dedupeKey: `ingest:${images}`,
  });
}

/** A product feed to index in the background: its file (the job's own, removed once the job has ended) and how to read it. */
export interface FeedImport extends Pick<IndexFeedOptions, 'format' | 'map' | 'prune'> {
  readonly file: string;
  /** How the job's messages name the feed (never by its file: a server folder). */
  readonly label: string;
  /** What the job record shows it was asked (no server path, no secret). */
  readonly params: JsonValue;
}

/**
 * Indexes a product feed that came through the API, as a 'feed' job, in the same child process and with the same
 * following and reloading as a folder. Such a feed is untrusted input: its photos are downloaded through the server's
 * guarded request, public addresses only unless FASHION_FETCH_ALLOW allows (a row whose photo is refused is reported
 * as failed, url/not-allowed, and nothing is requested from it).
 *
 * Feed jobs run one at a time (the job queue's concurrency per kind): a second submitted while one runs is queued and
 * starts when the first has ended. Each runs, whatever came before; none is merged into another, as a later feed is
 * the shop's newer word. The writer lock still decides against other writers: a feed job that starts while a folder
 * is being indexed fails with catalog/locked.
 */
export async function importFeedInBackground(svc: Services, feed: FeedImport): Promise<Job> {
  const req: IndexChildRequest = {
    kind: 'feed',
    config: svc.config,
    file: feed.file,
    label: feed.label,
    options: { format: feed.format, map: feed.map, prune: feed.prune, download: { guard: { allow: svc.config.fetchAllow } } },
  };
  const job = await submitAsJob<IndexEvent, IndexChildResult<'feed'>>(svc.jobs, 'feed', feed.params, FEED_JOB, (onEvent, signal) => runChild(svc, req, onEvent, signal, INDEXED));
  // Whatever its end (done, failed, cancelled while queued, interrupted by the server's close), the file has served.
  void svc.jobs.wait(job.id).then(() => rm(feed.file, { force: true })).catch(() => {});
  return job;
}

/** What to ask for a retraining (the defaults: `fashion train`'s). */
export interface TrainRequest {
  /** Training epochs (default DEFAULT_TRAIN.epochs). */
  readonly epochs?: number;
  /** Share of labelled items that also train as a re-photographed copy (default: the config's, FASHION_AUGMENT). */
  readonly augment?: number;
  /** What the writer lock names as its holder meanwhile, i.e. what writers refused with catalog/locked are told. */
  readonly holder?: string;
}

/**
 * The fewest labelled items a refinement can learn from: trainRefinement (src/refine/training/dataset.ts) needs 20 to
 * fit and 5 to validate. Fewer is refused before a job is made; a catalog at the limit may still fall short when its
 * validation split (by id hash) is short, and then the job fails with the training's own message.
 */
export const MIN_LABELLED_TO_TRAIN = 25;

/**
 * `fashion train` while the catalog is served: the refinement is learned again from the catalog's labels (those
 * written through the API since included) as a 'train' job in the same child process as an index, holding the
 * catalog's writer lock (API writes answer catalog/locked meanwhile); when the child has committed the new refinement
 * and saved its graphs, the server reads the catalog again and answers from the new space, without a restart.
 * One retraining at a time: asked again while one is queued or running, that job is answered (its params say what it
 * was asked). A catalog with too few labels is refused at once (catalog/too-few-labels).
 */
export function trainInBackground(svc: Services, asked: TrainRequest = {}): Promise<Job> {
  requireLabels(svc);
  const epochs = asked.epochs ?? DEFAULT_TRAIN.epochs;
  const augment = asked.augment ?? svc.config.augment;
  const req: IndexChildRequest = { kind: 'train', config: { ...svc.config, augment }, epochs, seed: DEFAULT_TRAIN.seed, holder: asked.holder ?? 'training (background job)' };
  return submitAsJob<IndexEvent, TrainReport>(svc.jobs, 'train', { epochs, augment }, TRAIN_JOB, (onEvent, signal) => runChild(svc, req, onEvent, signal, TRAINED), {
    dedupeKey: 'train',
  });
}

/** Counts the labelled items the served catalog has now, up to the minimum (cheap: no hashing, stops there). */
function requireLabels(svc: Services): void {
  let labelled = 0;
  for (const it of svc.catalog.current()) {
    if (it.metadata.articleType && ++labelled >= MIN_LABELLED_TO_TRAIN) return;
  }
  throw new FashionError(
    'catalog/too-few-labels',
    `Expected at least ${MIN_LABELLED_TO_TRAIN} items with an articleType to learn the refinement from but the catalog has ${labelled}; add labels (PATCH /api/items/:id, a feed's --map articleType=...) and train again`,
  );
}

/** How the server follows a child: its committed items as they come, and whether to read the catalog again after it. */
interface Following<R> {
  /** Hold the server's follow loop for the job's run. */
  readonly follow: boolean;
  readonly reloadAfter: (result: R) => boolean;
}
/** An index: changed rows, the trained refinement and the saved graphs are read by a reload; nothing new, nothing to read. */
const INDEXED: Following<IndexChildResult<'folder'>> = {
  follow: true,
  reloadAfter: (r) => r.added + r.updated + r.removed + r.metadataUpdated > 0 || !!r.refinement?.trained,
};
/**
 * A training adds no items (writes wait for its lock) and always commits a new refinement: the loop is held all the
 * same, so that a server's loop leaves that refinement to the read at the end (after the child has saved the graphs).
 */
const TRAINED: Following<TrainReport> = { follow: true, reloadAfter: () => true };

function runChild<R extends IndexChildResult>(svc: Services, req: IndexChildRequest, onEvent: (e: IndexEvent) => void, signal: AbortSignal, following: Following<NoInfer<R>>): Promise<R> {
  const child = forkModule(import.meta.url, '../workers/indexChild', { serialization: 'advanced', stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  // The server's one follow loop (src/app/followLoop.ts) applies what the child commits, every second: held for the
  // job's run, it runs even on a server that does not follow otherwise, and leaves the new refinement to the read below.
  const release = following.follow ? svc.follower.hold() : () => undefined;
  const stop = () => child.kill('SIGTERM');
  signal.addEventListener('abort', stop, { once: true });
  return new Promise<R>((resolve, reject) => {
    let outcome: IndexChildMessage | null = null;
    child.on('message', (m: IndexChildMessage) => {
      if (m.kind === 'event') onEvent(m.event);
      else outcome = m;
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      release();
      signal.removeEventListener('abort', stop);
      const o = outcome as IndexChildMessage | null;
      if (o?.kind === 'done') {
        const result = o.result as R;
        // After a pass still applying changes (reloads and passes take turns): the reload reads them all.
        Promise.resolve(following.reloadAfter(result) ? svc.reload() : undefined).then(() => resolve(result), reject);
      } else if (o?.kind === 'failed') {
        reject(new FashionError(isErrorCode(o.code) ? o.code : 'server/error', o.message));
      } else {
        reject(new FashionError('server/error', `The background ${req.kind === 'train' ? 'training' : 'index'} stopped before it finished (exit code ${code})`));
      }
    });
    child.send(req);
  });
}
