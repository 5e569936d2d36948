// The server under concurrent shoppers: starts `fashion serve` on a catalog in its own process, then `--clients`
// clients each upload `--uploads` photos to /api/search at once (real HTTP over loopback), while /api/health is
// polled every 200 ms. Reports answers by status, upload latency p50/p95/max, throughput, and the slowest health
// answer. With `--duplicates`, a duplicates scan is started first, and health is polled until the scan is done.
// Usage: node --import tsx bench/load.ts --data /path/to/catalog [--clients 16] [--uploads 20] [--photos DIR] [--duplicates]
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { demoCatalog } from '../src/config.js';
import { arg, percentile, round, saveResult, startServerProcess } from './common.js';

const dataDir = arg('data', '.fashion');
const clients = Number(arg('clients', '16'));
const uploads = Number(arg('uploads', '20'));
const withDuplicates = process.argv.includes('--duplicates');
const photoDir = arg('photos', '') || demoCatalog()!.images;
const files = readdirSync(photoDir).filter((f) => /\.(jpe?g|png|webp)$/i.test(f)).sort();
const step = Math.max(1, Math.floor(files.length / (clients * uploads)));
const photos = Array.from({ length: Math.min(clients * uploads, files.length) }, (_, i) => readFileSync(join(photoDir, files[i * step]!)));

const { url, stop } = await startServerProcess(dataDir);

try {
  const scanStart = performance.now();
  if (withDuplicates) {
    const res = await fetch(`${url}/api/duplicates/scan`, { method: 'PUT' });
    console.error(`duplicates scan: ${res.status} ${(await res.text()).slice(0, 200)}`);
  }
  let polling = true;
  const health: number[] = [];
  const healthStatus = new Map<number, number>();
  const poller = (async () => {
    while (polling) {
      const t = performance.now();
      const res = await fetch(`${url}/api/health`);
      await res.arrayBuffer();
      health.push(performance.now() - t);
      healthStatus.set(res.status, (healthStatus.get(res.status) ?? 0) + 1);
      await new Promise((r) => setTimeout(r, 200));
    }
  })();

  const latencies: number[] = [];
  const statuses = new Map<string, number>();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let u = 0; u < uploads; u++) {
        const bytes = photos[(c * uploads + u) % photos.length]!;
        const form = new FormData();
        form.append('image', new Blob([bytes], { type: 'image/jpeg' }), 'photo.jpg');
        const t = performance.now();
        const res = await fetch(`${url}/api/search`, { method: 'POST', body: form });
        const body = (await res.json()) as { error?: { code: string } };
        latencies.push(performance.now() - t);
        const key = res.status === 200 ? '200' : `${res.status} ${body.error?.code ?? ''}`;
        statuses.set(key, (statuses.get(key) ?? 0) + 1);
      }
    }),
  );
  const wallS = (performance.now() - t0) / 1000;
  // With a scan running, health is watched until the scan is done, not only while the uploads ran.
  let scanS: number | null = null;
  if (withDuplicates) {
    while ((await fetch(`${url}/api/duplicates?near=true`).then(async (r) => (await r.arrayBuffer(), r.status))) === 202) {
      await new Promise((r) => setTimeout(r, 2000));
    }
    scanS = round((performance.now() - scanStart) / 1000, 1);
  }
  polling = false;
  await poller;

  const result = {
    clients,
    uploads,
    duplicatesScanS: scanS,
    answers: Object.fromEntries(statuses),
    errors: latencies.length - (statuses.get('200') ?? 0),
    uploadMs: { p50: round(percentile(latencies, 50)), p95: round(percentile(latencies, 95)), max: round(Math.max(...latencies)) },
    perSecond: round(latencies.length / wallS),
    healthMs: { p50: round(percentile(health, 50)), max: round(Math.max(...health)), polls: health.length, statuses: Object.fromEntries(healthStatus) },
  };
  console.log(JSON.stringify(result, null, 2));
  saveResult(withDuplicates ? 'load+duplicates' : 'load', result);
} finally {
  await stop();
}
