/**
 * The first run of `npm start`: the server answers on an empty catalog at once, a folder is indexed in a child process
 * as an 'ingest' job, search covers the catalog as it grows, and when the job has finished (the refinement trained,
 * the graphs saved) the served catalog is read again and answers from the refined space, without a restart.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { indexInBackground } from '../src/app/backgroundIndex.js';
import { Services } from '../src/app/services.js';
import { openCatalogStore } from '../src/catalog/openCatalog.js';
import { buildApp } from '../src/server/app.js';
import { makeFixture, multipart, pickIds, TYPES } from './helpers.js';

const fx = makeFixture(pickIds(TYPES, 40), 'background');
const config = fx.config({ annThreshold: 100, augment: 0 });
let svc: Services | undefined;
let app: FastifyInstance | undefined;
after(async () => {
  await app?.close();
  await svc?.close();
  rmSync(fx.root, { recursive: true, force: true });
});

test('an empty catalog is served at once, grows while a folder is indexed in the background, then answers refined', async () => {
  await (await openCatalogStore(config.dataDir, { create: true })).close();
  const services = await Services.open(config);
  svc = services;
  const server = await buildApp(services, config, { logger: false });
  app = server;
  const health = await server.inject({ url: '/api/health' });
  assert.equal(health.statusCode, 200);
  assert.equal(health.json().items, 0);
  const empty = await server.inject({ method: 'POST', url: '/api/search', payload: { text: 'watch' } });
  assert.equal(empty.json().error.code, 'catalog/empty');

  const job = await indexInBackground(services, fx.images, fx.csv);
  assert.equal(job.kind, 'ingest');
  assert.equal((await indexInBackground(services, fx.images, fx.csv)).id, job.id, 'one job per folder at a time');

  // While it runs: the job is listed with its progress, and every answer is whole (0 items, or as many as are in).
  const seen = new Set<number>();
  const photo = readFileSync(join(fx.images, `${fx.ids[5]}.jpg`));
  type JobBody = { status: string; result: { added: number; refinement: { trained: boolean } } };
  let finished: JobBody | null = null;
  for (let i = 0; i < 600 && !finished; i++) {
    const items = (await server.inject({ url: '/api/health' })).json().items as number;
    seen.add(items);
    if (items > 0) {
      const res = await server.inject({ method: 'POST', url: '/api/search', ...multipart([{ name: 'image', value: photo, filename: 'q.jpg' }]) });
      assert.equal(res.statusCode, 200, res.body);
    }
    const listed: JobBody = (await server.inject({ url: `/api/jobs/${job.id}` })).json();
    if (listed.status !== 'running' && listed.status !== 'queued') finished = listed;
    else await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(finished?.status, 'succeeded', JSON.stringify(finished));
  assert.equal(finished!.result.added, fx.ids.length);
  assert.ok(finished!.result.refinement.trained, 'trained once the catalog was complete');

  // Read again at the end: every item, the refined space and the graphs the child saved, with no restart.
  const info = (await server.inject({ url: '/api/info' })).json();
  assert.equal(info.items, fx.ids.length);
  assert.ok(info.refinement, 'the refined space answers');
  assert.equal(info.index, 'hnsw');
  const res = await server.inject({ method: 'POST', url: '/api/search', ...multipart([{ name: 'image', value: photo, filename: 'q.jpg' }]) });
  assert.equal(res.json().results[0].id, fx.ids[5]);
  assert.ok(seen.has(0) || seen.size > 1, `the catalog was seen growing: ${[...seen].join(', ')}`);
});
