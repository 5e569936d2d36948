import type { Config } from '../config.js';
import { Recommender } from '../recommend/recommender.js';
import { buildApp } from './app.js';

/** Opens the catalog, loads the model before the first request (no cold start), and listens. */
export async function startServer(config: Config): Promise<{ close: () => Promise<void>; url: string }> {
  const rec = Recommender.open(config);
  if (rec.info().items > 0) await rec.loadModel();
  rec.prepareIndex();
  const app = await buildApp(rec, config);
  const url = await app.listen({ host: config.host, port: config.port });
  app.log.info({ url, items: rec.info().items }, `fashion recommender listening on ${url}`);
  const close = async () => {
    await app.close();
    await rec.close();
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void close().then(() => process.exit(0)));
  return { close, url };
}
