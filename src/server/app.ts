import { join } from 'node:path';
import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import multipart from '@fastify/multipart';
import rateLimit from '@fastify/rate-limit';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyInstance } from 'fastify';
import { REPO_ROOT, type Config } from '../config.js';
import { FashionError } from '../errors.js';
import type { Services } from '../app/services.js';
import type { ApiDeps } from './deps.js';
import { errorHandler, JSON_BODY_LIMIT, notFoundHandler } from './errors.js';
import { registerAuth } from './auth.js';
import { registerGuards } from './guards.js';
import { itemWriteRoutes } from './routes/items.js';
import { CatalogWriter } from '../app/catalogWriter.js';
import { catalogRoutes } from './routes/catalog.js';
import { duplicatesRoutes } from './routes/duplicates.js';
import { importRoutes } from './routes/imports.js';
import { jobsRoutes } from './routes/jobs.js';
import { matchRoutes } from './routes/match.js';
import { openapiRoutes, registerOpenApi } from './routes/openapi.js';
import { outfitRoutes } from './routes/outfit.js';
import { searchRoutes } from './routes/search.js';
import { trainRoutes } from './routes/train.js';
import { typeboxValidatorCompiler } from './validation.js';
import { MAX_PHOTOS } from '../catalog/itemFields.js';

const WEB_DIR = join(REPO_ROOT, 'web');
const HEADERS_TIMEOUT_MS = 10_000;

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
    // Receiving a whole request (slow senders hold a socket and memory) and an idle socket are both bounded; the
    // socket outlives the request deadline, so a slow query is answered 503 by the deadline rather than cut off.
    requestTimeout: config.requestTimeoutMs,
    connectionTimeout: config.requestTimeoutMs + 5_000,
    trustProxy: typeof config.trustProxy === 'boolean' ? config.trustProxy : [...config.trustProxy],
    // Item ids are short; a longer path parameter is refused before routing.
    routerOptions: { maxParamLength: 200 },
  });
  // Headers arrive first and are small: a client that has not sent them in this time is dropped (slowloris).
  app.server.headersTimeout = Math.min(HEADERS_TIMEOUT_MS, config.requestTimeoutMs);
  app.server.maxConnections = config.maxConnections;
  // Node checks the receive deadlines every 30 s by default, which lets a stalled upload live 30 s past its deadline.
  // (An option of http.createServer, which fastify does not pass on; Node reads the property when the server listens.)
  (app.server as { connectionsCheckingInterval?: number }).connectionsCheckingInterval = 1_000;
  app.setValidatorCompiler(typeboxValidatorCompiler);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);
  await app.register(helmet, {
    // The page loads its script and style from this server, shows photos from it and as data:/blob: URLs, and is
    // never framed. HSTS and the upgrade to https belong to the TLS-terminating proxy (docs/security.md).
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        // https: the photo a shopper searches by URL is shown from where it is (an image cannot run code).
        imgSrc: ["'self'", 'data:', 'blob:', 'https:'],
        connectSrc: ["'self'"],
        fontSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
      },
    },
    strictTransportSecurity: false,
    // The photos of /api/images may be shown by the shop's own pages on another origin.
    crossOriginResourcePolicy: { policy: config.corsOrigins.length ? 'cross-origin' : 'same-origin' },
  });
  // After helmet, so that a refusal carries its headers too.
  registerGuards(app, config);
  registerAuth(app, config, svc.store);
  if (config.corsOrigins.length) {
    await app.register(cors, { origin: config.corsOrigins.includes('*') ? '*' : [...config.corsOrigins], methods: ['GET', 'POST'], maxAge: 600 });
  }
  if (config.rateLimit > 0) {
    await app.register(rateLimit, {
      max: config.rateLimit,
      timeWindow: 60_000,
      // The page and the catalog's photos are cheap static files, and a results page shows dozens of them; health is
      // polled by proxies and orchestrators, and costs nothing.
      allowList: (req) => !req.url.startsWith('/api/') || req.url.startsWith('/api/images/') || req.url === '/api/health',
      errorResponseBuilder: (_req, ctx) =>
        new FashionError('request/rate-limited', `Expected at most ${ctx.max} requests a minute from one client but this one sent more; try again in ${Math.ceil(ctx.ttl / 1000)} s`),
    });
  }
  // Bodies are JSON or multipart; plain text is refused as an unsupported type (415) rather than parsed.
  app.removeContentTypeParser('text/plain');
  await app.register(multipart, { limits: { fileSize: config.maxUploadBytes, files: MAX_PHOTOS, fields: 10, fieldSize: 16 * 1024, parts: MAX_PHOTOS + 11, headerPairs: 100 } });
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

  const writer = new CatalogWriter(svc, config);
  app.addHook('onClose', async () => writer.close());
  const deps: ApiDeps = { svc, config, writer };
  await app.register(catalogRoutes, deps);
  await app.register(itemWriteRoutes, deps);
  await app.register(importRoutes, deps);
  await app.register(searchRoutes, deps);
  await app.register(matchRoutes, deps);
  await app.register(outfitRoutes, deps);
  await app.register(duplicatesRoutes, deps);
  await app.register(jobsRoutes, deps);
  await app.register(trainRoutes, deps);
  await app.register(openapiRoutes);
  return app;
}
