// Smoke test of the real servers the PostgreSQL/Redis work runs on (scripts/services.sh): pgvector's halfvec HNSW
// index with a filtered, iterative k-NN scan on the primary, streaming replication to the read replica, and a BullMQ
// queue on Redis. Skipped, with the command to run, when the servers' URLs are not set.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue, QueueEvents, Worker, type Job } from 'bullmq';
import pg from 'pg';
import pgvector from 'pgvector/pg';
import { mulberry32 } from '../src/util/random.js';

const DATABASE_URL = process.env.FASHION_TEST_DATABASE_URL;
const READ_DATABASE_URL = process.env.FASHION_TEST_READ_DATABASE_URL;
const QUEUE_URL = process.env.FASHION_TEST_QUEUE_URL;
const HOW = 'run `scripts/services.sh up` and `eval "$(scripts/services.sh env)"` first';
const skipUnless = (...names: string[]): string | false => {
  const unset = names.filter((n) => !process.env[n]);
  return unset.length > 0 && `${unset.join(', ')} not set: ${HOW}`;
};

/** Table names of this run, so that runs against the same servers never meet. */
const RUN = `${process.pid}_${randomBytes(3).toString('hex')}`;
const DIMS = 1300;

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  await pgvector.registerTypes(client);
  return client;
}

describe('PostgreSQL + pgvector (primary and read replica)', { timeout: 20_000 }, () => {
  const skip = skipUnless('FASHION_TEST_DATABASE_URL', 'FASHION_TEST_READ_DATABASE_URL');
  const items = `services_smoke_items_${RUN}`;
  const notes = `services_smoke_notes_${RUN}`;
  const clients: pg.Client[] = [];
  const open = async (url: string) => {
    const c = await connect(url);
    clients.push(c);
    return c;
  };

  after(async () => {
    const primary = clients[0];
    if (primary) await primary.query(`DROP TABLE IF EXISTS ${items}, ${notes}`);
    await Promise.all(clients.map((c) => c.end()));
  });

  test('a halfvec(1300) HNSW index (halfvec_cosine_ops) answers a filtered k-NN query with iterative scan', { skip }, async (t) => {
    const db = await open(DATABASE_URL!);
    const { rows: ext } = await db.query(`SELECT extversion FROM pg_extension WHERE extname = 'vector'`);
    assert.equal(ext.length, 1, 'the vector extension is installed in the database');
    t.diagnostic(`pgvector ${ext[0].extversion}`);

    await db.query(`CREATE TABLE ${items} (id integer PRIMARY KEY, category text NOT NULL, embedding halfvec(${DIMS}) NOT NULL)`);
    const rand = mulberry32(1300);
    const n = 300;
    const categories = 10;
    const vectors = Array.from({ length: n }, () => Array.from({ length: DIMS }, () => Math.round((rand() * 2 - 1) * 1e4) / 1e4));
    const categoryOf = (id: number) => `c${id % categories}`;
    for (let start = 0; start < n; start += 50) {
      const values: string[] = [];
      const params: unknown[] = [];
      for (let id = start; id < Math.min(n, start + 50); id++) {
        values.push(`($${params.length + 1}, $${params.length + 2}, $${params.length + 3})`);
        params.push(id, categoryOf(id), pgvector.toSql(vectors[id]));
      }
      await db.query(`INSERT INTO ${items} (id, category, embedding) VALUES ${values.join(', ')}`, params);
    }
    await db.query(`CREATE INDEX ${items}_hnsw ON ${items} USING hnsw (embedding halfvec_cosine_ops)`);
    await db.query('ANALYZE ' + items);

    // pgvector's node helpers read a halfvec back as numbers (float16: within 1e-3 of what was written).
    const { rows: back } = await db.query(`SELECT embedding FROM ${items} WHERE id = 7`);
    const read = back[0].embedding as number[];
    assert.equal(read.length, DIMS);
    assert.ok(read.every((x, i) => Math.abs(x - vectors[7]![i]!) <= 1e-3), 'halfvec round trip');

    const k = 10;
    const q = 42;
    const knn = `SELECT id, category, embedding <=> $1 AS distance FROM ${items} WHERE category = $2 ORDER BY embedding <=> $1 LIMIT $3`;
    const args = [pgvector.toSql(vectors[q]), categoryOf(q), k];
    await db.query('SET enable_seqscan = off'); // 300 rows: make the planner take the index, the path under test
    await db.query('SET hnsw.iterative_scan = off');
    const { rows: plain } = await db.query(knn, args);
    await db.query('SET hnsw.iterative_scan = relaxed_order');
    const plan = (await db.query(`EXPLAIN ${knn}`, args)).rows.map((r) => r['QUERY PLAN'] as string).join('\n');
    assert.match(plan, new RegExp(`Index Scan using ${items}_hnsw`), plan);
    const { rows } = await db.query(knn, args);
    t.diagnostic(`filter keeps 1 row in ${categories}: ${plain.length} rows without iterative scan, ${rows.length} with relaxed_order`);

    assert.equal(rows.length, k);
    assert.ok(rows.every((r) => r.category === categoryOf(q)), 'every hit passes the filter');
    assert.equal(new Set(rows.map((r) => r.id)).size, k);
    const nearest = [...rows].sort((a, b) => a.distance - b.distance)[0]; // relaxed_order may return them slightly out of order
    assert.equal(nearest.id, q, 'the query vector finds its own row');
    assert.ok(nearest.distance < 1e-3, `distance to itself ${nearest.distance}`);
  });

  test('a row written on the primary is read on the replica within 2 s', { skip }, async (t) => {
    const primary = await open(DATABASE_URL!);
    const replica = await open(READ_DATABASE_URL!);
    const { rows: recovery } = await replica.query('SELECT pg_is_in_recovery() AS standby');
    assert.equal(recovery[0].standby, true, 'FASHION_TEST_READ_DATABASE_URL is a standby');

    await primary.query(`CREATE TABLE ${notes} (id integer PRIMARY KEY, note text NOT NULL)`);
    const note = `written ${new Date().toISOString()}`;
    await primary.query(`INSERT INTO ${notes} VALUES (1, $1)`, [note]);
    const t0 = performance.now();
    let seen: string | undefined;
    while (performance.now() - t0 < 2000) {
      try {
        const { rows } = await replica.query(`SELECT note FROM ${notes} WHERE id = 1`);
        seen = rows[0]?.note;
        if (seen !== undefined) break;
      } catch (err) {
        if ((err as { code?: string }).code !== '42P01') throw err; // the table's creation not replayed yet
      }
      await sleep(20);
    }
    assert.equal(seen, note, 'the replica has the row within 2 s');
    t.diagnostic(`on the replica after ${Math.round(performance.now() - t0)} ms`);
    await assert.rejects(replica.query(`INSERT INTO ${notes} VALUES (2, 'x')`), /read-only transaction/);
  });
});

describe('BullMQ on Redis', { timeout: 20_000 }, () => {
  test('a worker processes a job, and a job whose worker throws is retried', { skip: skipUnless('FASHION_TEST_QUEUE_URL') }, async () => {
    const connection = { url: QUEUE_URL! };
    const name = `services-smoke-${RUN}`;
    const queue = new Queue(name, { connection });
    const events = new QueueEvents(name, { connection });
    const calls = new Map<string, number>();
    const failures: string[] = [];
    const worker = new Worker(
      name,
      async (job: Job) => {
        calls.set(job.name, (calls.get(job.name) ?? 0) + 1);
        if (job.name === 'flaky' && calls.get(job.name) === 1) throw new Error('first attempt fails');
        return { doubled: (job.data as { x: number }).x * 2 };
      },
      { connection },
    );
    worker.on('failed', (job) => failures.push(job?.name ?? '?'));
    try {
      await Promise.all([events.waitUntilReady(), worker.waitUntilReady()]);
      const ok = await queue.add('ok', { x: 21 });
      const flaky = await queue.add('flaky', { x: 5 }, { attempts: 2 });
      assert.deepEqual(await ok.waitUntilFinished(events, 10_000), { doubled: 42 });
      assert.deepEqual(await flaky.waitUntilFinished(events, 10_000), { doubled: 10 });
      assert.equal(calls.get('ok'), 1);
      assert.equal(calls.get('flaky'), 2, 'the failed attempt ran again');
      assert.deepEqual(failures, ['flaky']);
      const done = await queue.getJob(flaky.id!);
      assert.equal(await done?.getState(), 'completed');
      assert.equal(done?.attemptsMade, 2);
    } finally {
      await worker.close();
      await queue.obliterate({ force: true });
      await Promise.all([events.close(), queue.close()]);
    }
  });
});
