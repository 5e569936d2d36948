import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config.js';
import { FashionError } from '../errors.js';

/**
 * Requests that carry or fetch a photo, and so hold a body in memory and a place in the inference queue. They are
 * admitted (or refused) before their body is read: refusing after a 10 MB upload is buffered protects nothing.
 */
const PHOTO_ROUTES = new Set(['POST /api/search', 'POST /api/match', 'POST /api/categorize', 'POST /api/outfit', 'PUT /api/items/:id']);

/** How long a refused client is told to wait, s. */
export const RETRY_AFTER_S = 2;

/** The Host header's name without port or brackets, lower case. */
export function hostName(host: string | undefined): string {
  if (!host) return '';
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') > 0 ? h.indexOf(']') : undefined);
  const colon = h.lastIndexOf(':');
  // A bare IPv6 address has several colons and no port.
  return colon > 0 && h.indexOf(':') === colon ? h.slice(0, colon) : h;
}

/** Whether `name` is one the server answers: listed, under a listed `.domain`, or anything with `*`. */
export function hostAllowed(name: string, allowed: readonly string[]): boolean {
  for (const a of allowed) {
    if (a === '*') return true;
    const bare = a.startsWith('[') ? a.slice(1, -1) : a;
    if (name === bare) return true;
    if (a.startsWith('.') && (name.endsWith(a) || name === a.slice(1))) return true;
  }
  return false;
}

/**
 * The hooks that run before any route: the Host check (a page on another site that rebinds its name to this
 * server's address sends its own name as Host, and is refused), admission of photo requests (at most
 * `maxInflight` at once; the next gets 503 with Retry-After before its body is read), and a deadline per request
 * (a query that has not been answered within `requestTimeoutMs` gets 503, whatever it waits on).
 */
export function registerGuards(app: FastifyInstance, config: Config): void {
  let inflight = 0;
  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    const name = hostName(req.headers.host);
    if (!hostAllowed(name, config.allowedHosts)) {
      throw new FashionError('request/host-not-allowed', `Expected a request for one of this server's host names but the Host header names ${JSON.stringify(name.slice(0, 100))}; an operator can add it with FASHION_ALLOWED_HOSTS`);
    }
    if (PHOTO_ROUTES.has(`${req.method} ${req.routeOptions.url ?? ''}`)) {
      if (inflight >= config.maxInflight) {
        void reply.header('retry-after', String(RETRY_AFTER_S));
        throw new FashionError('server/busy', `Expected a free place for the photo request but ${inflight} are being answered; try again in ${RETRY_AFTER_S} s`);
      }
      inflight++;
      // 'close' comes once per response, whether it was sent or the client went away.
      reply.raw.once('close', () => inflight--);
    }
    if (req.url.startsWith('/api/')) {
      const timer = setTimeout(() => {
        if (reply.sent || reply.raw.headersSent) return;
        req.log.warn({ url: req.url, timeoutMs: config.requestTimeoutMs }, 'request deadline passed');
        void reply.status(503).header('retry-after', String(RETRY_AFTER_S)).send({
          error: { code: 'server/busy', message: `Expected an answer within ${config.requestTimeoutMs / 1000} s but the server is too busy; try again shortly` },
        });
      }, config.requestTimeoutMs);
      timer.unref();
      reply.raw.once('close', () => clearTimeout(timer));
    }
  });
}
