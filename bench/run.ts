// `npm run bench`: every speed benchmark in turn (one at a time: they would share the same cores), then
// bench/results.json and the table in docs/bench.md. Needs an indexed demo catalog: `npm start` makes one
// in ./.fashion, or pass --data DIR. From one run: equal-work ingest against the Python reference and default ingest
// (bench/ingestVsReference.ts), training copies per second (bench/copies.ts: made; bench/trainingCopies.ts: made and embedded), training time (bench/train.ts, on a copy
// of the catalog), query latency of catalog photos and of phone-like photos (bench/query.ts), and the HNSW figures.
// --synthetic N sets the synthetic ANN size (default 1,000,000; 0 skips it). --phone-photos DIR queries with those
// photos (default: 300 phone-like copies of held-back catalog photos, made once under the system's temp folder).
// --full-index on (opt-in: many minutes) also times the first full index of the demo catalog from an empty catalog
// (bench/firstIndex.ts; --full-index-limit N: of a sample of N photos).
// --only ingest|copies|train|query|ann runs one part.
// The PostgreSQL block (bench/postgres.ts on the catalog migrated into PostgreSQL, bench/pgScale.ts on synthetic vectors) runs when a database
// is given (--database URL, or FASHION_DATABASE_URL / FASHION_TEST_DATABASE_URL) and is skipped with a message otherwise;
// --pg-sizes sets pgScale's sizes.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { catalogFile } from '../src/catalog/openCatalog.js';
import { isHeldBack } from '../src/catalog/split.js';
import { demoCatalog, REPO_ROOT } from '../src/config.js';
import { arg, makeCopies, seedFrom } from './common.js';
import { writeBenchTable } from './benchTable.js';

const data = arg('data', '.fashion');
const synthetic = arg('synthetic', '1000000');
const only = arg('only', '');
const part = (name: string) => only === '' || only === name;
const tsx = (script: string, ...args: string[]) => {
  console.error(`\n> ${script} ${args.join(' ')}`);
  execFileSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'bench', script), ...args], { stdio: 'inherit', cwd: REPO_ROOT });
};
const demo = demoCatalog();

// The first full index of the demo catalog from an empty one, as `npm start` runs it: embedding, copies, training, graph
// (bench/firstIndex.ts, each stage timed; --full-index-limit N indexes a sample of N photos instead, saved as a subset).
if (arg('full-index', 'off') === 'on') {
  const limit = arg('full-index-limit', '0');
  tsx('firstIndex.ts', '--save', ...(limit !== '0' ? ['--limit', limit] : []));
}
if (!existsSync(catalogFile(data))) {
  if (!demo) throw new Error('No catalog at --data and no shared demo catalog to index');
  execFileSync(process.execPath, [join(REPO_ROOT, 'bin', 'fashion.js'), 'index', demo.images, '--metadata', demo.metadata, '--data', data], { stdio: 'inherit' });
}
if (part('ingest')) tsx('ingestVsReference.ts', '--n', '5000');
if (part('copies')) {
  tsx('copies.ts', '--photos', '300');
  // Copies made AND embedded as training makes them, on a copy of the catalog (its stored copies made again and compared).
  tsx('trainingCopies.ts', '--data', data, '--limit', '1000', '--save');
}
if (part('train')) tsx('train.ts', '--data', data, '--save');
if (part('query')) {
  tsx('query.ts', '--data', data, '--n', '300');
  tsx('query.ts', '--data', data, '--n', '300', '--photos', await phonePhotos());
}
if (part('ann')) {
  tsx('ann.ts', '--data', data, '--synthetic', '0', '--space', 'refined', '--storage', 'f16,i8');
  if (synthetic !== '0') tsx('ann.ts', '--data', data, '--catalog', '0', '--synthetic', synthetic, '--storage', 'f16');
}
if (part('postgres')) {
  const database = arg('database', '') || process.env.FASHION_DATABASE_URL || process.env.FASHION_TEST_DATABASE_URL || '';
  if (!database) console.error('\n> PostgreSQL block skipped: no database (--database postgres://…, or `scripts/services.sh up` and `eval "$(scripts/services.sh env)"`)');
  else {
    tsx('postgres.ts', '--from', data, '--database', database);
    tsx('pgScale.ts', '--database', database, '--sizes', arg('pg-sizes', '50000,100000,200000'), '--save');
  }
}
// The PostgreSQL block: only where the services run (scripts/services.sh up; eval "$(scripts/services.sh env)").
if ((arg('only', '') === '' || arg('only', '') === 'queue') && process.env.FASHION_TEST_DATABASE_URL && process.env.FASHION_TEST_QUEUE_URL) tsx('queueIngest.ts', '--n', '2000');
else if (arg('only', '') === 'queue') console.error('skipping bench/queueIngest.ts: FASHION_TEST_DATABASE_URL and FASHION_TEST_QUEUE_URL are not set (scripts/services.sh up; eval "$(scripts/services.sh env)")');
writeBenchTable();

/** Phone-like photos to query with: --phone-photos, or 300 copies ('all' conditions) of held-back photos, made once. */
async function phonePhotos(): Promise<string> {
  const given = arg('phone-photos', '');
  if (given) return given;
  if (!demo) throw new Error('No shared demo catalog to make phone-like photos from; pass --phone-photos DIR');
  const dir = join(tmpdir(), 'fashion-bench-phone-photos');
  const ids = readdirSync(demo.images).map((f) => f.replace(/\.jpg$/, '')).filter((id) => isHeldBack(id)).sort().slice(0, 300);
  await makeCopies(demo.images, dir, ids, 'all', (id) => seedFrom(`phone:${id}`));
  return dir;
}
