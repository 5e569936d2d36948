import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { DuplicatesQuery, DuplicatesResponse, DuplicatesScanJobStatus, ERROR_RESPONSES } from '../../api/schemas.js';
import { duplicatesView, jobUrl, jobView } from '../../api/views.js';
import { FashionError } from '../../errors.js';
import { duplicatesCsv } from '../../search/duplicates.js';
import type { Job } from '../../jobs/jobQueue.js';
import type { DuplicatesScanStatus as ScanStatus } from '../../services/duplicates.js';
import type { ApiDeps } from '../deps.js';

const RETRY_AFTER = Type.Integer({ minimum: 1, description: 'Seconds to wait before asking again' });
const LOCATION = Type.String({ description: 'The scan\'s job: /api/jobs/{id}' });

/**
 * Exact duplicates (same pixels) and near-duplicate groups of the catalog, as JSON or CSV.
 *
 * The near-duplicate scan is a background job of kind 'duplicates' (src/services/duplicates.ts, GET /api/jobs/:id):
 * minutes of both cores on a 40,000-item catalog, on a worker thread, once per catalog version; every threshold then
 * reads it in milliseconds.
 * It is started by PUT /api/duplicates/scan and read by GET /api/duplicates, and a GET never starts it, because any
 * page the operator opens can fire a GET at this server (an <img> tag), whereas a browser sends a PUT to another
 * origin only after a CORS preflight, which must be granted first. PUT rather than POST: starting is idempotent (it
 * starts the scan of this catalog version, joins the one running, or does nothing once it is done).
 */
export const duplicatesRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, { svc }) => {
  // A scan this server started ends with it: closing never waits on minutes of work nobody will read.
  let started = false;
  app.addHook('onClose', async () => {
    if (started) await svc.duplicates.stop();
  });

  app.get('/api/duplicates', {
    schema: {
      tags: ['duplicates'],
      summary: 'Exact and near-duplicate groups of the catalog\'s photos',
      description:
        'Exact duplicates are answered at once. Near-duplicates come from the scan of this catalog version (PUT /api/duplicates/scan starts it): '
        + '200 with the groups at any threshold once it is done, 202 with its status and a Retry-After header while it runs, '
        + '404 (input/not-found) before it was started, 500 (server/error) when it failed (PUT again to retry). A GET never starts the scan.',
      querystring: DuplicatesQuery,
      response: {
        200: {
          description: 'The groups (JSON), or one row per member (CSV: group,kind,similarity,id,name)',
          content: { 'application/json': { schema: DuplicatesResponse }, 'text/csv': { schema: Type.String() } },
        },
        202: {
          description: 'The scan is running: ask again after Retry-After seconds',
          headers: { 'retry-after': RETRY_AFTER, location: LOCATION },
          content: { 'application/json': { schema: DuplicatesScanJobStatus } },
        },
        ...ERROR_RESPONSES,
      },
    },
  }, async (req, reply) => {
    const { threshold, format = 'json', near = true } = req.query;
    const dup = svc.duplicates;
    if (near) {
      const st = dup.status();
      if (st.status === 'running') {
        const job = await dup.job();
        if (job) reply.header('location', jobUrl(job));
        return reply.code(202).header('retry-after', retryAfter(st)).type('application/json; charset=utf-8').send(withJob(st, job));
      }
      if (st.status === 'idle') {
        throw new FashionError('input/not-found', `Expected a near-duplicate scan of this catalog (version ${st.generation}) but none has run yet: start it with PUT /api/duplicates/scan, then GET this again (202 while it runs); near=false answers the exact duplicates alone at once`);
      }
      if (st.status === 'failed') {
        req.log.error({ scanError: st.message, startedAt: st.startedAt, finishedAt: st.finishedAt }, 'the duplicates scan failed');
        throw new FashionError('server/error', 'The near-duplicate scan of this catalog failed (the server log says why); PUT /api/duplicates/scan runs it again');
      }
    }
    // Done (or exact duplicates only): a filter of the scan's neighbour pairs, milliseconds, at any threshold.
    const d = dup.find({ ...(threshold !== undefined ? { threshold } : {}), near });
    const name = (id: string) => svc.catalog.item(id).metadata.productDisplayName;
    if (format === 'csv') return reply.type('text/csv; charset=utf-8').send(duplicatesCsv(d, (id) => name(id) ?? ''));
    return reply.type('application/json; charset=utf-8').send(duplicatesView(d, (id) => name(id) ?? id));
  });

  app.put('/api/duplicates/scan', {
    schema: {
      tags: ['duplicates'],
      summary: 'Start the near-duplicate scan of this catalog version (or join the one running)',
      description:
        'Idempotent: 202 when the scan is running (started now or before), 200 when it is already done; a failed scan is started again. '
        + 'The answer carries the scan\'s job (its id, status and progress; Location: /api/jobs/{id}). Then GET /api/duplicates.',
      response: {
        200: { description: 'The scan of this catalog version is done', headers: { location: LOCATION }, content: { 'application/json': { schema: DuplicatesScanJobStatus } } },
        202: { description: 'The scan is running', headers: { 'retry-after': RETRY_AFTER, location: LOCATION }, content: { 'application/json': { schema: DuplicatesScanJobStatus } } },
        ...ERROR_RESPONSES,
      },
    },
  }, async (req, reply) => {
    const dup = svc.duplicates;
    const before = dup.status().status;
    const { status: st, job } = await dup.start();
    started = true;
    if (st.status === 'running' && before !== 'running') {
      req.log.info({ generation: st.generation, items: st.items, jobId: job?.id }, 'duplicates scan started');
      // The job's end, in the log (the failure's internals go nowhere else). Waiting, not scan(): that would start a failed scan again.
      void dup.settled().then((end) => {
        if (end.status === 'done') app.log.info({ generation: end.generation, durationMs: end.durationMs, pairs: end.pairs, jobId: job?.id }, 'duplicates scan done');
        else if (end.status === 'failed') app.log.error({ scanError: end.message, jobId: job?.id }, 'the duplicates scan failed');
        else app.log.info({ jobId: job?.id }, 'duplicates scan stopped');
      });
    }
    if (job) reply.header('location', jobUrl(job));
    if (st.status === 'running') return reply.code(202).header('retry-after', retryAfter(st)).send(withJob(st, job));
    return reply.code(200).send(withJob(st, job));
  });
};

/**
 * Polling interval, 1 s per 10,000 items (1 to 10 s): a poll costs a status object, and a scan takes about a second
 * on a few thousand items but minutes on 40,000 (195 s measured on two busy cores), so a client asks a few dozen times.
 */
function retryAfter(st: Extract<ScanStatus, { status: 'running' }>): number {
  return Math.max(1, Math.min(10, Math.round(st.items / 10_000)));
}

/** The scan's status as it was answered before jobs, with its job beside it (so existing clients read what they did). */
function withJob<S extends ScanStatus>(st: S, job: Job | null): S & { job?: ReturnType<typeof jobView> } {
  return { ...st, ...(job ? { job: jobView(job) } : {}) };
}
