import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { itemOrPhotoFromForm, itemOrPhotoFromJson } from '../../api/requests.js';
import { ERROR_RESPONSES, ItemOrPhotoJsonBody, ItemParams, jsonOrForm, OutfitResponse, PhotoForm, type ItemOrPhotoJson } from '../../api/schemas.js';
import { outfitView } from '../../api/views.js';
import type { ItemOrPhoto } from '../../query/query.js';
import type { ApiDeps } from '../deps.js';
import { readForm, requireJsonOrForm } from '../multipart.js';

/** Complete the look (docs/outfits.md) for a catalog item or a photo. */
export const outfitRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, { svc }) => {
  app.get('/api/items/:id/outfit', {
    schema: { tags: ['outfit'], summary: 'Complete the look for a catalog item', params: ItemParams, response: { 200: OutfitResponse, ...ERROR_RESPONSES } },
  }, async (req) => outfitView(await svc.pipeline.outfit({ kind: 'item', id: req.params.id })));

  app.post('/api/outfit', {
    schema: {
      tags: ['outfit'],
      summary: 'Complete the look for a photo (upload or imageUrl) or a catalog item (id)',
      body: jsonOrForm(ItemOrPhotoJsonBody, PhotoForm),
      response: { 200: OutfitResponse, ...ERROR_RESPONSES },
    },
  }, async (req) => {
    return outfitView(await svc.pipeline.outfit(await outfitRequest(req)));
  });
};

async function outfitRequest(req: FastifyRequest): Promise<ItemOrPhoto> {
  requireJsonOrForm(req);
  return req.isMultipart() ? itemOrPhotoFromForm(await readForm(req)) : itemOrPhotoFromJson(req.body as ItemOrPhotoJson);
}
