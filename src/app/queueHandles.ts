import type { Config } from '../config.js';
import { FashionError } from '../errors.js';
import { IngestQueue } from '../jobs/ingestQueue.js';
import { RunRecords } from '../jobs/runRecords.js';

/** The queue and run records of a catalog's ingest workers (one namespace per PostgreSQL schema). */
export interface QueueHandles {
  readonly runs: RunRecords;
  readonly queue: IngestQueue;
  close(): Promise<void>;
}

export function openQueue(config: Config): QueueHandles {
  const url = requireQueue(config);
  const runs = new RunRecords(url, config.databaseSchema);
  const queue = new IngestQueue(url, config.databaseSchema);
  return { runs, queue, close: async () => void (await Promise.all([runs.close(), queue.close()])) };
}

/**
 * Refuses a queue without PostgreSQL: workers on several machines write one catalog, which SQLite (one file, one
 * writer, one machine) cannot be; without --queue, `fashion index` ingests a SQLite catalog in its own process.
 */
export function requireQueue(config: Config): string {
  if (!config.queueUrl) throw new FashionError('input/invalid', 'Expected --queue redis://… (FASHION_QUEUE_URL) for ingest workers but none was given');
  if (!config.databaseUrl) {
    throw new FashionError(
      'input/invalid',
      'Expected --database postgres://… (FASHION_DATABASE_URL) with --queue: ingest workers on several machines write one catalog, which an embedded SQLite catalog (one file, one writer) cannot be; index it without --queue instead',
    );
  }
  return config.queueUrl;
}

