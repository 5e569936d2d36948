import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { photoFromForm, photoFromJson } from '../../api/requests.js';
import { CategorizeResponse, ERROR_RESPONSES, jsonOrForm, MatchQuery, MatchResponse, PhotoForm, PhotoJsonBody, type PhotoJson } from '../../api/schemas.js';
import { categorizeView, matchView } from '../../api/views.js';
import type { PhotoSource } from '../../query/query.js';
import type { ApiDeps } from '../deps.js';
import { readForm, requireJsonOrForm } from '../multipart.js';

/** What a photo is: the exact catalog product (second-hand matching), and its predicted labels. */
export const matchRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, { svc }) => {
  app.post('/api/match', {
    schema: {
      tags: ['match'],
      summary: 'The exact catalog product in a photo, or match: null (no confident match)',
      description: '`space` says where similarity was measured: the refinement\'s same-product space or the backbone vectors.',
      querystring: MatchQuery,
      body: jsonOrForm(PhotoJsonBody, PhotoForm),
      response: { 200: MatchResponse, ...ERROR_RESPONSES },
    },
  }, async (req) => {
    const photo = await photoRequest(req, 'to match');
    const threshold = req.query.threshold;
    return matchView(photo, await svc.pipeline.match(photo, threshold === undefined ? {} : { threshold }));
  });

  app.post('/api/categorize', {
    schema: {
      tags: ['match'],
      summary: 'The predicted articleType, baseColour and gender of a photo, with confidences',
      body: jsonOrForm(PhotoJsonBody, PhotoForm),
      response: { 200: CategorizeResponse, ...ERROR_RESPONSES },
    },
  }, async (req) => {
    const photo = await photoRequest(req, 'to categorize');
    return categorizeView((await svc.pipeline.categorize(photo)).predicted);
  });
};

async function photoRequest(req: FastifyRequest, purpose: string): Promise<PhotoSource> {
  requireJsonOrForm(req);
  return req.isMultipart() ? photoFromForm(await readForm(req)) : photoFromJson(req.body as PhotoJson, purpose);
}
