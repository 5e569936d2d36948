import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import swagger from '@fastify/swagger';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import { ERROR_RESPONSES } from '../../api/schemas.js';
import { REPO_ROOT } from '../../config.js';

export const OPENAPI_PATH = '/api/openapi.json';

/**
 * @fastify/swagger, registered on the root before the route plugins so that it sees every route: it builds the
 * OpenAPI 3.1 document from their schemas (3.1, as the TypeBox schemas are JSON Schema: records, consts).
 */
export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { name: string; version: string; description?: string };
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: pkg.name, version: pkg.version, ...(pkg.description ? { description: pkg.description } : {}) },
      tags: [
        { name: 'catalog', description: 'The catalog, its items and photos' },
        { name: 'search', description: 'Similar products to a photo, an item or words' },
        { name: 'match', description: 'The exact product in a photo; its predicted labels' },
        { name: 'outfit', description: 'Complete the look' },
        { name: 'duplicates', description: 'Duplicate photos in the catalog' },
        { name: 'jobs', description: 'Background jobs: the duplicates scan, ingests, training' },
        { name: 'meta', description: 'This document' },
      ],
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'A write key: FASHION_API_KEY, or one `fashion keys create` made' },
        },
      },
    },
  });
}

/** GET /api/openapi.json: the document @fastify/swagger generated. */
export const openapiRoutes: FastifyPluginAsync = async (app) => {
  app.get(OPENAPI_PATH, {
    schema: {
      tags: ['meta'],
      summary: 'This API as an OpenAPI 3.1 document',
      response: { 200: Type.Object({ openapi: Type.String(), info: Type.Object({ title: Type.String(), version: Type.String() }, { additionalProperties: true }) }, { additionalProperties: true }), ...ERROR_RESPONSES },
    },
  }, async () => app.swagger());
};
