// The write API on a large catalog: copies the catalog of --data to a temporary folder (the bench writes into it),
// starts `fashion serve` on the copy with a write key, then
//   1. --writes times: deletes a catalog item and PUTs its photo and labels as a new product, then searches by the
//      photo until the new product comes first: PUT latency and PUT-to-found time, p50/p95;
//   2. searches by catalog photos for --seconds with no writes, then again while --rate PUTs a second arrive (photos
//      of --photos, e.g. bench/conditions.ts copies, under new ids):
//      search p50/p95 without and with the writes.
// Usage: node --import tsx bench/writes.ts --data /path/to/catalog --photos DIR [--writes 100] [--rate 10] [--seconds 20]
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMetadataCsv } from '../src/catalog/metadataCsv.js';
import { demoCatalog } from '../src/config.js';
import { arg, percentile, round, saveResult, startServerProcess } from './common.js';

const source = arg('data', '.fashion');
const photoDir = arg('photos', '');
if (!photoDir) throw new Error('--photos DIR is needed: photos that are not in the catalog (e.g. bench/conditions.ts copies)');
const writes = Number(arg('writes', '100'));
const rate = Number(arg('rate', '10'));
const seconds = Number(arg('seconds', '20'));
const KEY = 'bench-write-key-0123456789abcdef';

const work = mkdtempSync(join(tmpdir(), 'fashion-bench-writes-'));
cpSync(source, work, { recursive: true, filter: (f) => !/writer\.lock|\.tmp-/.test(f) });
const photoFiles = readdirSync(photoDir).filter((f) => /\.jpe?g$/i.test(f)).sort();
const photos = photoFiles.map((f) => readFileSync(join(photoDir, f)));
// A copy named after a catalog item (bench/conditions.ts names them so) arrives with that item's labels, as a shop's
// new product would come with its own; others with a name only.
const styles = parseMetadataCsv(readFileSync(demoCatalog()!.metadata, 'utf8')).rows;
const metadataOf = (i: number): Record<string, string> => {
  const { id: _id, image: _image, ...m } = (styles.get(photoFiles[i % photoFiles.length]!.replace(/\.[^.]+$/, '')) ?? {}) as Record<string, string>;
  return { ...m, productDisplayName: `Bench arrival ${i}` };
};
const catalogPhotos = readdirSync(demoCatalog()!.images).sort().filter((_, i) => i % 97 === 0).slice(0, 200).map((f) => readFileSync(join(demoCatalog()!.images, f)));

const { url, stop } = await startServerProcess(work, { FASHION_API_KEY: KEY, FASHION_RATE_LIMIT: '0' });

async function put(id: string, bytes: Buffer, metadata: Record<string, string>): Promise<number> {
  const form = new FormData();
  form.append('image', new Blob([new Uint8Array(bytes)], { type: 'image/jpeg' }), `${id}.jpg`);
  form.append('metadata', JSON.stringify(metadata));
  const res = await fetch(`${url}/api/items/${id}`, { method: 'PUT', body: form, headers: { authorization: `Bearer ${KEY}` } });
  await res.arrayBuffer();
  return res.status;
}
async function search(bytes: Buffer): Promise<{ status: number; first?: string }> {
  const form = new FormData();
  form.append('image', new Blob([new Uint8Array(bytes)], { type: 'image/jpeg' }), 'q.jpg');
  const res = await fetch(`${url}/api/search`, { method: 'POST', body: form });
  const body = (await res.json()) as { results?: Array<{ id: string }> };
  return { status: res.status, ...(body.results?.[0] ? { first: body.results[0].id } : {}) };
}

try {
  // 1. PUT, then search by the photo until the product comes first.
  const putMs: number[] = [];
  const foundMs: number[] = [];
  const misses: Array<{ id: string; first: string | null }> = [];
  // A product that is new to the catalog: a catalog item is deleted, then its photo and labels arrive under a new id
  // (a re-photographed copy of a product the catalog still holds would compete with it for first place).
  const catalogFiles = readdirSync(demoCatalog()!.images).sort();
  for (let i = 0; i < writes; i++) {
    const old = catalogFiles[(i * 389 + 7) % catalogFiles.length]!.replace(/\.[^.]+$/, '');
    const id = `bench-${old}`;
    const bytes = readFileSync(join(demoCatalog()!.images, `${old}.jpg`));
    const gone = await fetch(`${url}/api/items/${old}`, { method: 'DELETE', headers: { authorization: `Bearer ${KEY}` } });
    if (gone.status !== 204) throw new Error(`DELETE ${old}: ${gone.status}`);
    const { id: _id, image: _image, ...labels } = (styles.get(old) ?? {}) as Record<string, string>;
    const t0 = performance.now();
    const status = await put(id, bytes, labels);
    if (status !== 201 && status !== 200) throw new Error(`PUT ${id}: ${status}`);
    putMs.push(performance.now() - t0);
    let found = false;
    for (let tries = 0; tries < 20 && !found; tries++) found = (await search(bytes)).first === id;
    if (found) foundMs.push(performance.now() - t0);
    else misses.push({ id: old, first: (await search(bytes)).first ?? null });
  }

  // 2. Searches alone, then with writes arriving at `rate` a second.
  const searchFor = async (ms: number): Promise<{ latencies: number[]; errors: number }> => {
    const latencies: number[] = [];
    let errors = 0;
    const end = performance.now() + ms;
    for (let i = 0; performance.now() < end; i++) {
      const t = performance.now();
      const r = await search(catalogPhotos[i % catalogPhotos.length]!);
      latencies.push(performance.now() - t);
      if (r.status !== 200) errors++;
    }
    return { latencies, errors };
  };
  const quiet = await searchFor(seconds * 1000);
  let writing = true;
  let written = 0;
  let writeErrors = 0;
  const writer = (async () => {
    for (let i = 0; writing; i++) {
      const started = performance.now();
      void put(`bench-load-${i}`, photos[(writes + i) % photos.length]!, metadataOf(writes + i)).then((s) => (s === 200 || s === 201 ? written++ : writeErrors++));
      await new Promise((r) => setTimeout(r, Math.max(0, 1000 / rate - (performance.now() - started))));
    }
  })();
  const busy = await searchFor(seconds * 1000);
  writing = false;
  await writer;

  const stats = (xs: number[]) => ({ p50: round(percentile(xs, 50)), p95: round(percentile(xs, 95)) });
  const result = {
    catalogItems: JSON.parse(await (await fetch(`${url}/api/health`)).text()).items,
    writes,
    putMs: stats(putMs),
    putToFoundFirstMs: stats(foundMs),
    // What came first instead, for the products not found first (often another id with the same photo).
    notFoundFirst: misses,
    searchAloneMs: { ...stats(quiet.latencies), n: quiet.latencies.length, errors: quiet.errors },
    searchDuringWritesMs: { ...stats(busy.latencies), n: busy.latencies.length, errors: busy.errors, writesPerSecond: round(written / seconds, 1), writeErrors },
  };
  console.log(JSON.stringify(result, null, 2));
  saveResult('writes', result);
} finally {
  await stop();
  rmSync(work, { recursive: true, force: true });
}
