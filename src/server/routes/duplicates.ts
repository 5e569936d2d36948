import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { DuplicatesQuery, DuplicatesResponse, ERROR_RESPONSES } from '../../api/schemas.js';
import { duplicatesView } from '../../api/views.js';
import { duplicatesCsv } from '../../search/duplicates.js';
import type { ApiDeps } from '../deps.js';

/** Exact duplicates (same pixels) and near-duplicate groups of the catalog, as JSON or CSV. */
export const duplicatesRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, { svc }) => {
  app.get('/api/duplicates', {
    schema: {
      tags: ['duplicates'],
      summary: 'Exact and near-duplicate groups of the catalog\'s photos',
      querystring: DuplicatesQuery,
      response: {
        200: {
          description: 'The groups (JSON), or one row per member (CSV: group,kind,similarity,id,name)',
          content: { 'application/json': { schema: DuplicatesResponse }, 'text/csv': { schema: Type.String() } },
        },
        ...ERROR_RESPONSES,
      },
    },
  }, async (req, reply) => {
    const { threshold, format = 'json', near = true } = req.query;
    const d = svc.duplicates.find({ ...(threshold !== undefined ? { threshold } : {}), near });
    const name = (id: string) => svc.catalog.item(id).metadata.productDisplayName;
    if (format === 'csv') return reply.type('text/csv; charset=utf-8').send(duplicatesCsv(d, (id) => name(id) ?? ''));
    return reply.type('application/json; charset=utf-8').send(duplicatesView(d, (id) => name(id) ?? id));
  });
};
