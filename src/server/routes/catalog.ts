import { readFile } from 'node:fs/promises';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import {
  DEFAULT_ITEMS_LIMIT,
  ERROR_RESPONSES,
  ErrorBody,
  HealthResponse,
  ImageQuery,
  InfoResponse,
  ItemParams,
  ItemsPage,
  ItemsQuery,
  ItemView,
} from '../../api/schemas.js';
import { browseView, healthView, infoView, itemView } from '../../api/views.js';
import { FashionError } from '../../errors.js';
import { sniffImageType } from '../../imaging/imageType.js';
import type { ApiDeps } from '../deps.js';

const IMAGE_MIME = { jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp' } as const;
const PHOTO = { schema: Type.String({ format: 'binary' }) };

/** The catalog: liveness, description, a browsable spread of items, one item, and the items' photos. */
export const catalogRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, { svc }) => {
  // Degraded health is 503, as load balancers and orchestrators expect of a server that cannot do its work now: a
  // crashed inference thread is restarting (it says ok again once it is back), or gave up (then restart the process).
  app.get('/api/health', {
    schema: {
      tags: ['catalog'],
      summary: 'Liveness, with the catalog size and model: 200 ok, or 503 degraded with the reason (photos cannot be embedded now)',
      response: { 200: HealthResponse, 503: Type.Union([HealthResponse, ErrorBody]), ...ERROR_RESPONSES },
    },
  }, async (_req, reply) => {
    const view = healthView(svc.info());
    const inference = svc.embedding.health();
    if (inference.status === 'ok') return view;
    return reply.status(503).send({ ...view, status: 'degraded', reason: inference.reason });
  });

  app.get('/api/info', {
    schema: { tags: ['catalog'], summary: 'The catalog: size, model, metadata columns, refinement, facets for filters', response: { 200: InfoResponse, ...ERROR_RESPONSES } },
  }, async () => infoView(svc.info(), svc.catalog.facets()));

  app.get('/api/items', {
    schema: { tags: ['catalog'], summary: 'A spread of catalog items (the page\'s first view)', querystring: ItemsQuery, response: { 200: ItemsPage, ...ERROR_RESPONSES } },
  }, async (req) => browseView(svc.catalog.size, svc.catalog.spread(req.query.limit ?? DEFAULT_ITEMS_LIMIT, req.query.offset ?? 0)));

  app.get('/api/items/:id', {
    schema: { tags: ['catalog'], summary: 'One item and its metadata', params: ItemParams, response: { 200: ItemView, ...ERROR_RESPONSES } },
  }, async (req) => itemView(svc.catalog.item(req.params.id)));

  app.get('/api/images/:id', {
    schema: {
      tags: ['catalog'],
      summary: 'The item\'s photo, or another of a product with several (`photo`; only from inside the catalog folder)',
      params: ItemParams,
      querystring: ImageQuery,
      response: { 200: { description: 'The photo', content: { 'image/jpeg': PHOTO, 'image/png': PHOTO, 'image/webp': PHOTO } }, ...ERROR_RESPONSES },
    },
  }, async (req, reply) => {
    const bytes = await readFile(svc.catalog.imagePath(req.params.id, req.query.photo ?? 0));
    const type = sniffImageType(bytes);
    if (!type) throw new FashionError('image/unsupported-type', `The stored photo of ${req.params.id} is not an image`);
    // The photo's bytes as they are (no serialization); the type provider only knows the JSON responses.
    return reply.type(IMAGE_MIME[type]).header('cache-control', 'public, max-age=3600').send(bytes as unknown as string);
  });
};
