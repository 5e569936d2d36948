import { needsPrune, MAX_UNPRUNED_SHARE } from '../catalog/ingest.js';
import { storedIdentity } from '../catalog/identity.js';
import { readMetadataCsv } from '../catalog/metadataCsv.js';
import { openCatalogStore } from '../catalog/openCatalog.js';
import { scanImages } from '../catalog/scanImages.js';
import { withWriterLock } from '../catalog/writerLock.js';
import type { Config } from '../config.js';
import { FashionError } from '../errors.js';
import { readFeed, type FeedFormat, type FeedMapping, type FeedRow } from '../feeds/readFeed.js';
import type { Job, JobItemError, JsonValue } from '../jobs/jobQueue.js';
import type { ProductJob } from '../jobs/productJob.js';
import type { RunRecords } from '../jobs/runRecords.js';
import { WRITE_KEY_KEEP_MS } from '../store/catalogStore.js';
import { requireQueue, type QueueHandles } from './queueHandles.js';
import { loadEmbedder, prepareSearch, refineIngested, type IndexEvent } from './indexFolder.js';

/**
 * Ingest on the worker queue: `fashion index --queue` and a queue-configured server's POST /api/imports enqueue one job
 * per product (src/jobs/productJob.ts) under a run (the parent record, src/jobs/runRecords.ts), and `fashion worker`
 * processes (src/app/ingestWorker.ts) on any number of machines take them.
 *
 * What happens once every product has finished is decided here, and run by whichever worker finished the last one (a
 * `finish` job, queued once): the products that left the feed or folder are deleted (the list is made when the run is
 * enqueued, as `fashion index` makes it before its first write: the same refusal beyond MAX_UNPRUNED_SHARE without
 * --prune), the catalog's fields are recorded, the refinement is trained (a catalog with labels and none yet) or brought
 * to the new and relabelled items, and the search indexes are built, under the catalog's writer lock. A worker does it,
 * not the enqueuer, so that a run finishes whether or not anyone waits for it (`--no-wait`, a server that restarted).
 */

/**
 * A run still being queued whose enqueuer has not been heard from for this long (it reports every 1000 products) was
 * abandoned: the next run queued for the catalog ends it (RunRecords.endAbandoned).
 */
export const ABANDONED_AFTER_MS = 10 * 60_000;

/** A queued run's settings, kept with its record for its finishing step. */
interface RunPlan {
  /** The catalog's fields (metadataColumns), when the run says them (a feed's columns, a CSV's). */
  readonly columns: readonly string[] | null;
  readonly refine: boolean;
}

export interface EnqueueOptions {
  /** false: finish without refinement. */
  readonly refine?: boolean;
  readonly prune?: boolean;
  /** Called with the run's id as soon as it exists (the CLI prints it before enqueuing thousands of products). */
  readonly onRun?: (id: string) => void;
}

export interface EnqueueFeedOptions extends EnqueueOptions {
  readonly format?: FeedFormat | undefined;
  readonly map?: readonly FeedMapping[] | undefined;
  /** Photo URLs held to these fetch guards (a feed that came through the API). */
  readonly guard?: { readonly allow: readonly string[] };
  /** How messages name the feed (never by a server's file). */
  readonly label?: string;
  /** What the run's record shows it was asked. */
  readonly params?: JsonValue;
}

/** `fashion index --feed FILE --queue`: one job per valid row; malformed rows are the run's errors at once. */
export async function enqueueFeed(config: Config, handles: QueueHandles, feedFile: string, options: EnqueueFeedOptions = {}): Promise<Job> {
  const label = options.label ?? feedFile;
  const feed = { format: options.format, map: options.map };
  const present = new Set<string>();
  const columns = new Set<string>();
  const problems: JobItemError[] = [];
  let valid = 0;
  // First pass: what can refuse the run comes before anything is queued.
  for await (const entry of readFeed(feedFile, feed)) {
    if (entry.kind === 'row') {
      valid++;
      present.add(entry.row.id);
      for (const c of Object.keys(entry.row.metadata)) columns.add(c);
    } else if (entry.kind === 'problem') {
      problems.push({ item: entry.problem.id ?? `line ${entry.problem.line}`, message: `line ${entry.problem.line}: ${entry.problem.message}` });
      if (entry.problem.id) present.add(entry.problem.id);
    }
  }
  if (valid === 0) throw new FashionError('input/no-photos', `Expected products in the feed ${label} but it has no valid row${problems.length ? ` (${problems.slice(0, 3).map((p) => p.message).join('; ')})` : ''}. Nothing was queued.`);
  const removals = await plannedRemovals(config, present, options.prune ?? false, `the feed ${label}`);
  await handles.runs.endAbandoned(ABANDONED_AFTER_MS);
  const run = await handles.runs.create({ kind: 'feed', params: options.params ?? { feed: label, queued: true }, plan: { columns: [...columns], refine: options.refine !== false } satisfies RunPlan });
  options.onRun?.(run);
  await handles.runs.addErrors(run, problems);
  await handles.runs.setRemovals(run, removals);
  const guard = options.guard ? { guard: { allow: [...options.guard.allow] } } : {};
  const toJob = (row: FeedRow): ProductJob => ({
    runId: run,
    id: row.id,
    source: { kind: 'feed', line: row.line, imageUrl: row.imageUrl, additionalImageUrls: [...row.additionalImageUrls], metadata: row.metadata },
    ...guard,
  });
  const seen = new Set<string>();
  let batch: ProductJob[] = [];
  let total = 0;
  for await (const entry of readFeed(feedFile, feed)) {
    // A product once per run (readFeed reports a repeated id as a problem already).
    if (entry.kind !== 'row' || seen.has(entry.row.id)) continue;
    seen.add(entry.row.id);
    batch.push(toJob(entry.row));
    if (batch.length >= 1000) {
      await handles.queue.addProducts(batch);
      total += batch.length;
      batch = [];
      await handles.runs.enqueued(run, total);
    }
  }
  await handles.queue.addProducts(batch);
  total += batch.length;
  await sealRun(handles, run, total);
  return (await handles.runs.get(run))!;
}

/** `fashion index DIR --queue`: one job per photo of the folder (with its CSV row); workers read it by path. */
export async function enqueueFolder(config: Config, handles: QueueHandles, imagesDir: string, options: EnqueueOptions & { readonly metadata?: string | undefined } = {}): Promise<Job> {
  const scan = await scanImages(imagesDir);
  if (scan.files.length === 0) throw new FashionError('input/no-photos', `Expected product photos in ${imagesDir} but it has none that can be read. Nothing was queued.`);
  const csv = options.metadata ? await readMetadataCsv(options.metadata) : null;
  const removals = await plannedRemovals(config, new Set(scan.files.map((f) => f.id)), options.prune ?? false, imagesDir);
  await handles.runs.endAbandoned(ABANDONED_AFTER_MS);
  const columns = csv ? csv.columns.filter((c) => c !== 'id' && c !== 'image') : null;
  const run = await handles.runs.create({ kind: 'ingest', params: { folder: imagesDir.split('/').filter(Boolean).at(-1) ?? imagesDir, queued: true }, plan: { columns, refine: options.refine !== false } satisfies RunPlan });
  options.onRun?.(run);
  await handles.runs.addErrors(run, [
    ...scan.problems.map((p) => ({ item: p.path, message: p.message })),
    ...(csv?.problems ?? []).map((p) => ({ item: `line ${p.line}`, message: `${options.metadata}:${p.line}: ${p.message}; row skipped` })),
  ]);
  await handles.runs.setRemovals(run, removals);
  const jobs: ProductJob[] = scan.files.map((f) => ({
    runId: run,
    id: f.id,
    source: { kind: 'folder', root: scan.root, path: f.path, size: f.size, mtimeMs: f.mtimeMs, metadata: csv?.rows.get(f.id) ?? null, csv: csv !== null },
  }));
  for (let i = 0; i < jobs.length; i += 1000) {
    await handles.queue.addProducts(jobs.slice(i, i + 1000));
    await handles.runs.enqueued(run, Math.min(i + 1000, jobs.length));
  }
  await sealRun(handles, run, jobs.length);
  return (await handles.runs.get(run))!;
}

/** All products are queued: the run completes when they have finished (workers may have finished them all already). */
async function sealRun(handles: QueueHandles, run: string, total: number): Promise<void> {
  const done = await handles.runs.setTotal(run, total);
  if (done >= total) await handles.queue.addFinish(run);
}

/** The catalog's items that `present` lacks: deleted when the run finishes; refused beyond the share without `prune`. */
async function plannedRemovals(config: Config, present: ReadonlySet<string>, prune: boolean, source: string): Promise<string[]> {
  const store = await openCatalogStore(config, { create: true });
  try {
    const known = await store.fileStates();
    const removing = [...known.keys()].filter((id) => !present.has(id));
    if (!prune && needsPrune(known.size, removing.length)) {
      throw new FashionError(
        'catalog/prune-refused',
        `Expected most of the catalog's ${known.size} items in ${source}, but ${removing.length} of them are not, more than the ${MAX_UNPRUNED_SHARE * 100}% an index run deletes unless told to; nothing was queued. If those products left on purpose, run again with --prune.`,
      );
    }
    return removing;
  } finally {
    await store.close();
  }
}

/**
 * A run's finishing step (a worker's `finish` job): deletions, fields, refinement and search indexes, under the
 * catalog's writer lock in the worker's --data (where the refinement's model file is written: share it with the
 * servers, README "Ingest workers"). Stages go to the run's record as they pass. Idempotent: a finish delivered again
 * deletes nothing more and refines only what lacks a refined vector; a run already finished is left alone.
 */
export async function finishRun(config: Config, runs: RunRecords, runId: string): Promise<Job | null> {
  const status = await runs.status(runId);
  if (status !== 'running') return runs.get(runId);
  const plan = ((await runs.plan(runId)) ?? { columns: null, refine: true }) as unknown as RunPlan;
  await runs.setStage(runId, 'finish', 'deleting what left the feed or folder, recording fields');
  const report = await withWriterLock(config.dataDir, `fashion worker: finishing ingest run ${runId}`, async (lock) => {
    const store = await openCatalogStore(config);
    try {
      const removals = await runs.removals(runId);
      lock.assertHeld();
      await store.removeItems(removals);
      if (plan.columns && (await store.getSetting('metadataColumns')) !== JSON.stringify(plan.columns)) await store.setSetting('metadataColumns', JSON.stringify(plan.columns));
      await store.pruneWriteKeys(WRITE_KEY_KEEP_MS);
      let refinement: JsonValue = null;
      if (plan.refine && (await storedIdentity(store))) {
        const embedder = await loadEmbedder(config, await storedIdentity(store));
        try {
          const emit = (e: IndexEvent) => {
            if (e.kind === 'refinement') void runs.setStage(runId, 'refinement', e.message);
            else if (e.kind === 'copies') void runs.setStage(runId, 'copies', `training copies ${e.done}/${e.total}`);
          };
          const r = await refineIngested(config, store, embedder, lock, emit);
          refinement = { trained: r.trained !== null, updated: r.updated, ...(r.skipped !== undefined ? { skipped: r.skipped } : {}) };
        } finally {
          await embedder.close();
        }
      }
      await runs.setStage(runId, 'index', 'preparing search');
      const index = await prepareSearch(config, lock);
      return { removed: removals.length, refinement, index: { kind: index.kind, items: index.items, ...(index.sqlIndexes ? { sqlIndexes: index.sqlIndexes.map((x) => ({ ...x })) } : {}) } };
    } finally {
      await store.close();
    }
  });
  const counts = await runs.counts(runId);
  await runs.setStage(runId, 'done', '');
  await runs.finish(runId, 'succeeded', { result: { products: counts, ...report } });
  return runs.get(runId);
}

/**
 * `fashion index --queue --retry RUN`: a run whose products all finished but whose finishing step failed is finished
 * again by the workers (its record reopened, its finish job queued once more), nothing ingested again. The finish is
 * idempotent (finishRun), so what the failed attempt already did (deletions, a stored refinement) is not done twice.
 */
export async function retryRun(handles: QueueHandles, runId: string): Promise<Job> {
  const outcome = await handles.runs.reopen(runId);
  if (outcome === 'unknown') throw new FashionError('input/not-found', `Expected the ingest run ${runId} in the queue's records but it is not there (expired, or another catalog's?)`);
  if (outcome !== 'reopened') {
    const why = outcome === 'unfinished' ? 'some of its products have not finished (its workers still have them)' : `it is ${outcome}`;
    throw new FashionError('input/invalid', `Expected a failed run whose products have all finished, to finish it again, but ${why}; nothing was queued`);
  }
  if (!(await handles.queue.retryFinish(runId))) throw new FashionError('input/invalid', `Expected the ingest run ${runId}'s finishing step not to be running, but a worker has it; nothing was queued`);
  return (await handles.runs.get(runId))!;
}

/**
 * Follows a run until it has finished, as the bars of `fashion index` read it: its products (done/total, failures) as
 * embed progress, then its finishing stages as refinement messages. Returns the finished record.
 */
export async function followRun(runs: RunRecords, runId: string, onEvent: (e: IndexEvent) => void, pollMs = 500): Promise<Job> {
  let lastMessage = '';
  for (;;) {
    const job = await runs.get(runId);
    if (!job) throw new FashionError('input/not-found', `Expected the ingest run ${runId} in the queue's records but it is not there (expired?)`);
    const failed = Number(((job.result as { products?: Record<string, number> } | null)?.products ?? {}).failed ?? 0);
    const stage = job.progress.stage ?? 'embed';
    if (stage === 'enqueue' || stage === 'embed') onEvent({ kind: 'embed', progress: { phase: 'embed', done: job.progress.done, total: job.progress.total, failed } });
    else {
      if (lastMessage === '') onEvent({ kind: 'embed', progress: { phase: 'done', done: job.progress.done, total: job.progress.total, failed } });
      // The refinement's own messages, as `fashion index` prints them (deletions and indexes say nothing on their own).
      const message = stage === 'refinement' || stage === 'copies' ? (job.progress.message ?? '') : '';
      if (message && message !== lastMessage) onEvent({ kind: 'refinement', message });
      lastMessage = message || lastMessage || ' ';
    }
    if (job.status !== 'running' && job.status !== 'queued') {
      onEvent({ kind: 'embed', progress: { phase: 'done', done: job.progress.done, total: job.progress.total, failed } });
      return job;
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
