import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';

/**
 * What the feed downloader remembers of each photo URL: the validators its server gave (ETag, Last-Modified), the
 * photo kept from it (`kept/<sha256>.<ext>`, src/catalog/photoStore.ts) and the last failure. A re-run asks the
 * server whether the photo changed (If-None-Match / If-Modified-Since) and, on 304, reuses the kept photo.
 *
 * Its own SQLite file beside the catalog (`<data>/feed-cache.sqlite`), not a table of the catalog: it is this machine's
 * download state, tied to the kept photos folder, not catalog data that a server-backed CatalogStore would hold (the
 * port stays as it is); deleting it is always safe (the next run downloads every photo again and re-embeds none whose
 * bytes are the same); and its many small writes, one per URL as downloads finish, stay out of the catalog's
 * write-ahead log and generation counter, which readers watch. Each write is its own commit, after the photo's file is
 * synced (keepPhoto), so a run killed at any point leaves entries that name photos on disk.
 */
export const FEED_CACHE_FILE = 'feed-cache.sqlite';

export interface CachedPhoto {
  readonly url: string;
  readonly etag: string | null;
  readonly lastModified: string | null;
  /** The kept photo's item path, `kept/<sha256>.<ext>`; null when no download of this URL has succeeded yet. */
  readonly path: string | null;
  readonly sha256: string | null;
  readonly size: number | null;
  /** When these bytes were first downloaded (ms): the item's mtime, stable while the photo does not change. */
  readonly fetchedAtMs: number | null;
  /** The last failure's reason, kept until a download succeeds (the next run tries again). */
  readonly failure: string | null;
  readonly failedAt: string | null;
  /** Failures in a row. */
  readonly failures: number;
}

interface Row {
  url: string;
  etag: string | null;
  last_modified: string | null;
  path: string | null;
  sha256: string | null;
  size: number | null;
  fetched_at_ms: number | null;
  failure: string | null;
  failed_at: string | null;
  failures: number;
}

export class PhotoCache {
  private readonly db: Database.Database;
  private readonly stmts;

  constructor(readonly file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS photos (
        url TEXT PRIMARY KEY,
        etag TEXT,
        last_modified TEXT,
        path TEXT,
        sha256 TEXT,
        size INTEGER,
        fetched_at_ms REAL,
        checked_at TEXT,
        failure TEXT,
        failed_at TEXT,
        failures INTEGER NOT NULL DEFAULT 0
      );
    `);
    this.stmts = {
      get: this.db.prepare<[string], Row>('SELECT url, etag, last_modified, path, sha256, size, fetched_at_ms, failure, failed_at, failures FROM photos WHERE url = ?'),
      fetched: this.db.prepare(
        `INSERT INTO photos (url, etag, last_modified, path, sha256, size, fetched_at_ms, checked_at, failure, failed_at, failures)
         VALUES (@url, @etag, @lastModified, @path, @sha256, @size, @fetchedAtMs, @now, NULL, NULL, 0)
         ON CONFLICT(url) DO UPDATE SET etag = excluded.etag, last_modified = excluded.last_modified, path = excluded.path,
           sha256 = excluded.sha256, size = excluded.size, fetched_at_ms = excluded.fetched_at_ms, checked_at = excluded.checked_at,
           failure = NULL, failed_at = NULL, failures = 0`,
      ),
      checked: this.db.prepare('UPDATE photos SET checked_at = ?, failure = NULL, failed_at = NULL, failures = 0 WHERE url = ?'),
      failed: this.db.prepare(
        `INSERT INTO photos (url, failure, failed_at, failures) VALUES (?, ?, ?, 1)
         ON CONFLICT(url) DO UPDATE SET failure = excluded.failure, failed_at = excluded.failed_at, failures = photos.failures + 1`,
      ),
    };
  }

  /** The cache of the catalog in `dataDir`, created on first use. */
  static open(dataDir: string): PhotoCache {
    mkdirSync(dataDir, { recursive: true });
    return new PhotoCache(join(dataDir, FEED_CACHE_FILE));
  }

  get(url: string): CachedPhoto | null {
    const r = this.stmts.get.get(url);
    if (!r) return null;
    return { url: r.url, etag: r.etag, lastModified: r.last_modified, path: r.path, sha256: r.sha256, size: r.size, fetchedAtMs: r.fetched_at_ms, failure: r.failure, failedAt: r.failed_at, failures: r.failures };
  }

  /** A download succeeded: these bytes (kept at `path`) and their validators. */
  saveFetched(entry: { url: string; etag: string | null; lastModified: string | null; path: string; sha256: string; size: number; fetchedAtMs: number }): void {
    this.stmts.fetched.run({ ...entry, now: new Date().toISOString() });
  }

  /** The server said the photo has not changed (304). */
  saveNotModified(url: string): void {
    this.stmts.checked.run(new Date().toISOString(), url);
  }

  /** A download failed: the reason is kept, and whatever photo an earlier run kept stays named. */
  saveFailure(url: string, reason: string): void {
    this.stmts.failed.run(url, reason, new Date().toISOString());
  }

  close(): void {
    this.db.close();
  }
}
