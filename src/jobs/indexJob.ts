// Types only: the adapter reads the use case's events and report; the use case knows nothing of jobs.
import type { IndexFeedResult } from '../app/indexFeed.js';
import type { IndexEvent, IndexResult } from '../app/indexFolder.js';
import type { JobProgress, JsonValue } from './jobQueue.js';
import type { JobEventAdapter } from './runAsJob.js';

/**
 * `fashion index` (src/app/indexFolder.ts) as an 'ingest' job: its IndexEvents become the job's progress by stage
 * (scan, embed, copies, refinement), the photos it skipped become the job's item errors (paths inside the photo folder),
 * and its report becomes a result of counts. With runAsJob and `onEvent`, the CLI keeps drawing its bars from the
 * same events:
 *
 *   runAsJob(svc.jobs, 'ingest', { folder: name }, INDEX_JOB, (onEvent) => indexFolder(config, dir, { ...options, onEvent }), { onEvent: bars })
 */
export const INDEX_JOB: JobEventAdapter<IndexEvent, IndexResult> = {
  progress: indexEventProgress,
  result(report, fail) {
    for (const f of report.failed) fail(f.path, `${f.code}: ${f.message}`);
    const r = report.refinement;
    return {
      scanned: report.scanned,
      added: report.added,
      updated: report.updated,
      removed: report.removed,
      unchanged: report.unchanged,
      metadataUpdated: report.metadataUpdated,
      failed: report.failed.length,
      duplicates: report.duplicates.length,
      warnings: report.warnings.length,
      seconds: report.seconds,
      imagesPerSecond: report.imagesPerSecond,
      refinement: r ? { trained: r.trained !== null, updated: r.updated, ...(r.skipped !== undefined ? { skipped: r.skipped } : {}) } : null,
      index: report.index ? { kind: report.index.kind, items: report.index.items } : null,
    };
  },
};

/**
 * `fashion index --feed` (src/app/indexFeed.ts) as a 'feed' job: the same events and counts as INDEX_JOB, and the
 * feed's own skipped rows as item errors, each named by its product id (by its line when it has none): rows whose photo
 * could not be had (the code says why: url/not-allowed, url/fetch-failed, image/...) and malformed rows. The result
 * adds how many rows were malformed and what the downloads did.
 */
export const FEED_JOB: JobEventAdapter<IndexEvent, IndexFeedResult> = {
  progress: indexEventProgress,
  result(report, fail) {
    const counts = INDEX_JOB.result({ ...report, failed: [] }, fail) as Record<string, JsonValue>;
    const skipped = [
      ...report.failed.map((f) => ({ line: f.line, item: f.id, message: `line ${f.line}: ${f.code}: ${f.message}` })),
      ...report.problems.map((p) => ({ line: p.line, item: p.id, message: `line ${p.line}: ${p.message}` })),
    ].sort((a, b) => a.line - b.line);
    for (const s of skipped) fail(s.item ?? `line ${s.line}`, s.message);
    const { requests, fetched, notModified, failed, retries, bytes } = report.downloads;
    return { ...counts, failed: report.failed.length, problems: report.problems.length, downloads: { requests, fetched, notModified, failed, retries, bytes } };
  },
};

/** An IndexEvent as job progress. Training reports words, not counts: its stage has total 0 (unknown). */
export function indexEventProgress(e: IndexEvent): JobProgress | null {
  switch (e.kind) {
    case 'embed': {
      const { phase, done, total, failed } = e.progress;
      return { stage: phase === 'scan' ? 'scan' : 'embed', done, total, ...(failed > 0 ? { message: `${failed} photos could not be read` } : {}) };
    }
    case 'copies':
      return { stage: 'copies', done: e.done, total: e.total };
    case 'refinement':
      return { stage: 'refinement', done: 0, total: 0, message: e.message };
  }
}
