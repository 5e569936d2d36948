import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { ERROR_RESPONSES, ItemParams, ItemView, PatchItemBody, PutItemForm, PutItemJsonBody, type PatchItemJson, type PutItemJson } from '../../api/schemas.js';
import { putItemFromForm } from '../../api/requests.js';
import { itemView } from '../../api/views.js';
import type { PutItem } from '../../app/catalogWriter.js';
import { MAX_PHOTOS } from '../../catalog/itemFields.js';
import { FashionError } from '../../errors.js';
import { fetchImage } from '../../imaging/fetchImage.js';
import type { ApiDeps } from '../deps.js';
import { readForm, requireJsonOrForm } from '../multipart.js';

const WRITE = { access: 'write' as const };
const SECURITY = [{ bearer: [] }];

/**
 * The catalog's write API: a shop's backend creates or replaces a product with its photo, changes its metadata, or
 * deletes it; each call returns once the change is searchable. Every route needs a write key (src/server/auth.ts).
 */
export const itemWriteRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, { writer, config }) => {
  app.put('/api/items/:id', {
    config: WRITE,
    schema: {
      tags: ['catalog'],
      summary: 'Create or replace a product: its photo and metadata; searchable when this returns',
      description:
        'Multipart with the photos in `image` (one or more, the first first) and the metadata as JSON text in `metadata`, or JSON ' +
        '`{"imageUrl": "https://…", "imageUrls": ["https://…"], "metadata": {...}}` (the URLs are downloaded with the same guards as a search\'s). ' +
        'Each photo is embedded: a search by any of them finds the product, listed once with its nearest photo. 201 when created, 200 when replaced.',
      security: SECURITY,
      params: ItemParams,
      body: { required: true, content: { 'application/json': { schema: PutItemJsonBody }, 'multipart/form-data': { schema: PutItemForm } } },
      response: { 200: ItemView, 201: ItemView, ...ERROR_RESPONSES },
    },
  }, async (req, reply) => {
    const input = await putInput(req, config);
    const { item, created } = await writer.put(req.params.id, input);
    return reply.status(created ? 201 : 200).send(itemView(item));
  });

  app.patch('/api/items/:id', {
    config: WRITE,
    schema: {
      tags: ['catalog'],
      summary: 'Change a product\'s metadata (a null value removes a field); the photo is not embedded again',
      security: SECURITY,
      params: ItemParams,
      body: PatchItemBody,
      response: { 200: ItemView, ...ERROR_RESPONSES },
    },
  }, async (req) => {
    const { item } = await writer.patch(req.params.id, (req.body as PatchItemJson).metadata);
    return itemView(item);
  });

  app.delete('/api/items/:id', {
    config: WRITE,
    schema: {
      tags: ['catalog'],
      summary: 'Delete a product: gone from every result, listing and photo when this returns',
      security: SECURITY,
      params: ItemParams,
      response: { 204: Type.Null({ description: 'Deleted' }), ...ERROR_RESPONSES },
    },
  }, async (req, reply) => {
    await writer.remove(req.params.id);
    return reply.status(204).send(null);
  });
};

async function putInput(req: FastifyRequest, config: ApiDeps['config']): Promise<PutItem> {
  requireJsonOrForm(req);
  if (req.isMultipart()) {
    return putItemFromForm(await readForm(req, MAX_PHOTOS));
  }
  const body = req.body as PutItemJson;
  const urls = [...(body.imageUrl ? [body.imageUrl] : []), ...(body.imageUrls ?? [])];
  if (urls.length === 0) throw new FashionError('input/invalid', 'Expected the product\'s photo as imageUrl or imageUrls (or a multipart upload in "image")');
  if (urls.length > MAX_PHOTOS) throw new FashionError('input/invalid', `Expected at most ${MAX_PHOTOS} photos of one product but received ${urls.length}`);
  // Fetched at once, each through the same guards as a search's URL (and the fetch concurrency cap).
  const photos = await Promise.all(urls.map(async (url) => ({ bytes: await fetchImage(url, { maxBytes: config.maxUploadBytes, allow: config.fetchAllow }), label: url })));
  return { photos, metadata: body.metadata ?? {} };
}
