import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { DEFAULT_JOBS_LIMIT, ERROR_RESPONSES, JobParams, JobsQuery, JobsResponse, JobView } from '../../api/schemas.js';
import { jobView } from '../../api/views.js';
import { FashionError } from '../../errors.js';
import type { ApiDeps } from '../deps.js';

/**
 * Background jobs (src/jobs): the duplicates scan, a folder's ingest (`fashion demo`), feed imports and trainings. Reads
 * only: a job is started by its own route (PUT /api/duplicates/scan, POST /api/imports, POST /api/train), which answers
 * with the job and a Location here.
 * The list is read from the job records, so it also shows the jobs of other processes on this catalog (a CLI run) and
 * those of earlier runs of the server.
 */
export const jobsRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, { svc }) => {
  app.get('/api/jobs', {
    schema: {
      tags: ['jobs'],
      summary: 'Background jobs, newest first: their status, progress, skipped items and result',
      querystring: JobsQuery,
      response: { 200: JobsResponse, ...ERROR_RESPONSES },
    },
  }, async (req) => {
    const { limit = DEFAULT_JOBS_LIMIT, status, kind } = req.query;
    const jobs = await svc.jobs.list({ limit, ...(status ? { status } : {}), ...(kind ? { kind } : {}) });
    return { jobs: jobs.map(jobView) };
  });

  app.get('/api/jobs/:id', {
    schema: {
      tags: ['jobs'],
      summary: 'One background job: poll it until its status is succeeded, failed, cancelled or interrupted',
      params: JobParams,
      response: { 200: JobView, ...ERROR_RESPONSES },
    },
  }, async (req) => {
    const job = await svc.jobs.get(req.params.id);
    if (!job) throw new FashionError('input/not-found', `Expected the id of a job but there is no job ${JSON.stringify(req.params.id)} (finished jobs are kept for a while, then forgotten); GET /api/jobs lists them`);
    return jobView(job);
  });
};
