import { join } from 'node:path';
import multipart from '@fastify/multipart';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyInstance } from 'fastify';
import { REPO_ROOT, type Config } from '../config.js';
import type { Services } from '../app/services.js';
import type { ApiDeps } from './deps.js';
import { errorHandler, JSON_BODY_LIMIT, notFoundHandler } from './errors.js';
import { catalogRoutes } from './routes/catalog.js';
import { duplicatesRoutes } from './routes/duplicates.js';
import { matchRoutes } from './routes/match.js';
import { openapiRoutes, registerOpenApi } from './routes/openapi.js';
import { outfitRoutes } from './routes/outfit.js';
import { searchRoutes } from './routes/search.js';
import { typeboxValidatorCompiler } from './validation.js';

const WEB_DIR = join(REPO_ROOT, 'web');

export interface AppOptions {
  readonly logger?: boolean | object;
}

/**
 * The HTTP API and the page as a fastify app: one plugin per area (src/server/routes), each given its dependencies
 * as options; request and response schemas in src/api/schemas.ts, also published as OpenAPI at /api/openapi.json.
 * Tests call it with inject(), the CLI listens on a port.
 */
export async function buildApp(svc: Services, config: Config, options: AppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? { level: config.logLevel },
    bodyLimit: JSON_BODY_LIMIT,
  });
  app.setValidatorCompiler(typeboxValidatorCompiler);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);
  // Bodies are JSON or multipart; plain text is refused as an unsupported type (415) rather than parsed.
  app.removeContentTypeParser('text/plain');
  await app.register(multipart, { limits: { fileSize: config.maxUploadBytes, files: 1, fields: 10, fieldSize: 16 * 1024 } });
  await registerOpenApi(app);

  // The page: index.html at /, app.js, style.css; always revalidated, so a new version shows at once.
  await app.register(fastifyStatic, {
    root: WEB_DIR,
    wildcard: false,
    index: 'index.html',
    decorateReply: false,
    cacheControl: false,
    setHeaders: (reply) => void reply.header('cache-control', 'no-cache'),
  });

  const deps: ApiDeps = { svc, config };
  await app.register(catalogRoutes, deps);
  await app.register(searchRoutes, deps);
  await app.register(matchRoutes, deps);
  await app.register(outfitRoutes, deps);
  await app.register(duplicatesRoutes, deps);
  await app.register(openapiRoutes);
  return app;
}
