import type { Config } from '../config.js';
import { Services } from '../app/services.js';
import { buildApp } from './app.js';

/** Opens the catalog, loads the model before the first request (no cold start), and listens. */
export async function startServer(config: Config): Promise<{ close: () => Promise<void>; url: string }> {
  const svc = Services.open(config);
  if (svc.catalog.size > 0) await svc.embedding.load();
  svc.prepareIndex();
  const app = await buildApp(svc, config);
  const url = await app.listen({ host: config.host, port: config.port });
  app.log.info({ url, items: svc.catalog.size }, `fashion recommender listening on ${url}`);
  const close = async () => {
    await app.close();
    await svc.close();
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void close().then(() => process.exit(0)));
  return { close, url };
}
