import type { Config } from '../config.js';
import { Services } from '../app/services.js';
import { buildApp } from './app.js';
import { sweepStaleImports } from '../feeds/feedImport.js';
import { requireQueue } from '../app/queueHandles.js';
import { tuneHeapForServing } from './heap.js';

/**
 * Opens the catalog, loads the model before the first request (no cold start), and listens. The server only reads the
 * catalog: it opens the HNSW graphs `fashion index`/`train` saved, or builds them in memory, and never saves them.
 * Several servers may serve one catalog (one data folder, or one PostgreSQL schema): each follows the others' writes.
 */
export async function startServer(config: Config): Promise<{ close: () => Promise<void>; url: string; svc: Services }> {
  // A queue's workers write a PostgreSQL catalog: refused at once rather than imports that silently run here.
  if (config.queueUrl) requireQueue(config);
  // Fewer full collections of the heap under queries (src/server/heap.ts).
  tuneHeapForServing();
  const svc = await Services.open(config);
  const embedder = svc.catalog.size > 0 ? await svc.embedding.load() : null;
  // Feeds that a server which died mid-import left behind (their jobs ended as interrupted and never run).
  const swept = await sweepStaleImports(config.dataDir);
  svc.prepareIndex({ save: false });
  const app = await buildApp(svc, config);
  // The inference thread's life, in the server's log: a crash, its restart, or giving up (health says degraded meanwhile).
  embedder?.thread.on('down', (e) => app.log.error({ err: e.error, restart: e.restart, delayMs: e.delayMs }, 'inference thread stopped; restarting'));
  embedder?.thread.on('up', (e) => app.log.warn({ restart: e.restart }, 'inference thread restarted'));
  // Every background job's life (not its progress, which /api/jobs shows), as JSON lines.
  svc.jobs.onChange((e) => {
    if (e.type === 'progress') return;
    const { id, kind, status } = e.job;
    if (e.type === 'finished' && status !== 'succeeded') app.log.warn({ job: id, kind, status, failure: e.job.failure, err: e.error }, `job ${status}`);
    else app.log.info({ job: id, kind, status, ...(e.type === 'finished' ? { result: e.job.result } : {}) }, `job ${e.type}`);
  });
  embedder?.thread.on('gave-up', (e) => app.log.error({ err: e.error, restarts: e.restarts }, 'inference thread gave up restarting; restart the server'));
  // What other writers commit (other servers on the same catalog, a `fashion index` run by hand) is applied every
  // FASHION_FOLLOW_MS; a new refinement in the store reads the catalog again (src/app/followLoop.ts).
  svc.follower.onError = (err) => app.log.warn({ err }, 'following the catalog failed; trying again');
  if (config.followMs > 0) svc.follower.start();
  const url = await app.listen({ host: config.host, port: config.port });
  app.log.info({ url, items: svc.catalog.size }, `fashion recommender listening on ${url}`);
  if (swept > 0) app.log.info({ removed: swept }, 'removed feed files that imports of an earlier server left behind');
  const close = async () => {
    await app.close();
    await svc.close();
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void close().then(() => process.exit(0)));
  return { close, url, svc };
}
