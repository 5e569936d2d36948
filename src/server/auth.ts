import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hashKey, keyMatches, storedKeys } from '../catalog/apiKeys.js';
import type { Config } from '../config.js';
import { FashionError } from '../errors.js';
import type { CatalogStore } from '../store/catalogStore.js';

/** What a route needs: `write` routes change the catalog; every other /api route is a read. */
export type Access = 'read' | 'write';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** `write`: the route needs a write key (src/server/auth.ts). */
    access?: Access;
  }
}

/** How long the keys read from the catalog are trusted before being read again (a revoke takes effect within it). */
const KEYS_TTL_MS = 2_000;

/**
 * Keys at the door: a route marked `config: { access: 'write' }` needs `Authorization: Bearer <key>` with a key of
 * FASHION_API_KEY or one `fashion keys create` made (kept hashed in the catalog); with FASHION_READ_KEY set, every
 * other /api route but health needs that key or a write key. Missing: 401 auth/missing-key; wrong or revoked: 401
 * auth/invalid-key; both with `WWW-Authenticate: Bearer`.
 */
export function registerAuth(app: FastifyInstance, config: Config, store: Pick<CatalogStore, 'getSetting'>): void {
  const fromConfig = config.apiKeys.map(hashKey);
  const readHash = config.readKey ? [hashKey(config.readKey)] : [];
  let cached: { hashes: string[]; at: number } | null = null;
  const writeHashes = async (): Promise<string[]> => {
    if (!cached || Date.now() - cached.at > KEYS_TTL_MS) {
      cached = { hashes: [...fromConfig, ...(await storedKeys(store)).filter((k) => !k.revokedAt).map((k) => k.sha256)], at: Date.now() };
    }
    return cached.hashes;
  };
  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    const access = req.routeOptions.config?.access ?? 'read';
    if (access === 'read' && (readHash.length === 0 || !req.url.startsWith('/api/') || req.url === '/api/health')) return;
    const presented = bearer(req);
    if (presented === null) {
      void reply.header('www-authenticate', 'Bearer');
      const how = (await writeHashes()).length === 0 && access === 'write' ? ' (this server has none yet: set FASHION_API_KEY or run `fashion keys create`)' : '';
      throw new FashionError('auth/missing-key', `Expected "Authorization: Bearer <key>" with ${access === 'write' ? 'a key that may write the catalog' : 'the read key'}${how}`);
    }
    const allowed = access === 'write' ? await writeHashes() : [...readHash, ...(await writeHashes())];
    if (!keyMatches(presented, allowed)) {
      void reply.header('www-authenticate', 'Bearer error="invalid_token"');
      throw new FashionError('auth/invalid-key', `Expected ${access === 'write' ? 'a key that may write the catalog' : 'the read key or a write key'} but the key sent is not one (or was revoked)`);
    }
  });
}

function bearer(req: FastifyRequest): string | null {
  const h = req.headers.authorization;
  if (!h) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m ? m[1]! : null;
}
