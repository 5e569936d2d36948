// `npm run bench`: every speed benchmark in turn (one at a time: they would share the same cores), then
// bench/results.json and the table in docs/bench.md. Needs an indexed demo catalog: `npm start` makes one
// in ./.fashion, or pass --data DIR. --synthetic N sets the synthetic ANN size (default 1,000,000). The PostgreSQL block
// (bench/postgres.ts on the catalog migrated into PostgreSQL, bench/pgScale.ts on synthetic vectors) runs when a database
// is given (--database URL, or FASHION_DATABASE_URL / FASHION_TEST_DATABASE_URL) and is skipped with a message otherwise;
// --pg-sizes sets pgScale's sizes.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { catalogFile } from '../src/catalog/openCatalog.js';
import { demoCatalog, REPO_ROOT } from '../src/config.js';
import { arg } from './common.js';
import { writeBenchTable } from './benchTable.js';

const data = arg('data', '.fashion');
const synthetic = arg('synthetic', '1000000');
const tsx = (script: string, ...args: string[]) => {
  console.error(`\n> ${script} ${args.join(' ')}`);
  execFileSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'bench', script), ...args], { stdio: 'inherit', cwd: REPO_ROOT });
};

if (!existsSync(catalogFile(data))) {
  const demo = demoCatalog();
  if (!demo) throw new Error('No catalog at --data and no shared demo catalog to index');
  execFileSync(process.execPath, [join(REPO_ROOT, 'bin', 'fashion.js'), 'index', demo.images, '--metadata', demo.metadata, '--data', data], { stdio: 'inherit' });
}
if (arg('only', '') === '' || arg('only', '') === 'ingest') {
  tsx('ingest.ts', '--n', '4000', '--size', '224');
  tsx('ingest.ts', '--n', '4000', '--size', '160');
}
if (arg('only', '') === '' || arg('only', '') === 'query') tsx('query.ts', '--data', data, '--n', '300');
if (arg('only', '') === '' || arg('only', '') === 'ann') {
  tsx('ann.ts', '--data', data, '--synthetic', '0', '--space', 'refined', '--storage', 'f16,i8');
  if (synthetic !== '0') tsx('ann.ts', '--data', data, '--catalog', '0', '--synthetic', synthetic, '--storage', 'f16');
}
if (arg('only', '') === '' || arg('only', '') === 'postgres') {
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
