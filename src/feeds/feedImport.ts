import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { FashionError, isFashionError } from '../errors.js';
import { guardedGet } from '../imaging/fetchImage.js';
import { syncPath } from '../util/durableFile.js';
import { feedFormat, formatOfName, type FeedFormat } from './readFeed.js';

/**
 * A product feed given to the server (POST /api/imports), kept as a file for the job that ingests it: under
 * `<catalog>/imports/`, named at random (never by the name the client gave), written under a temporary name and renamed
 * once whole, so that the job never reads half a feed. Its format is the one asked for, else the one its name or
 * content type says, else sniffed from its first bytes; the file's extension says it to the reader.
 */
export const IMPORTS_DIR = 'imports';

export interface KeptFeed {
  readonly file: string;
  readonly format: FeedFormat;
  readonly bytes: number;
}

export interface KeepFeedOptions {
  readonly maxBytes: number;
  readonly format?: FeedFormat | undefined;
  /** The client's file name or the URL's path: its extension may say the format. */
  readonly name?: string | undefined;
  readonly contentType?: string | undefined;
}

/** A feed being received is never this old: a `.part` file older is what a crash left. */
export const STALE_PART_MS = 60 * 60 * 1000;
/** A kept feed's job removes it when it ends; one this old was left by a server that died before its job ran. */
export const STALE_FEED_MS = 7 * 24 * 60 * 60 * 1000;

/**
 * Removes the feeds that servers which died mid-import left under `<dataDir>/imports/` (called at start-up). By age
 * only: several servers may share the folder, and another one's upload or queued job must not lose its file. Returns
 * how many were removed.
 */
export async function sweepStaleImports(dataDir: string, now = Date.now()): Promise<number> {
  const dir = join(dataDir, IMPORTS_DIR);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return 0; // no import yet
  }
  let removed = 0;
  for (const name of names) {
    const file = join(dir, name);
    const info = await stat(file).catch(() => null);
    if (!info || now - info.mtimeMs <= (name.endsWith('.part') ? STALE_PART_MS : STALE_FEED_MS)) continue;
    await rm(file, { force: true });
    removed++;
  }
  return removed;
}

/** Content types that name a feed format (parameters such as charset ignored). */
const TYPES: Record<string, FeedFormat> = {
  'text/csv': 'csv',
  'text/tab-separated-values': 'tsv',
  'application/x-ndjson': 'jsonl',
  'application/jsonl': 'jsonl',
  'application/x-jsonlines': 'jsonl',
};

/** Streams `source` into a new file under `<dataDir>/imports/`; past `maxBytes` it stops and refuses (input/too-large). */
export async function keepFeed(source: AsyncIterable<Uint8Array>, dataDir: string, options: KeepFeedOptions): Promise<KeptFeed> {
  const dir = join(dataDir, IMPORTS_DIR);
  await mkdir(dir, { recursive: true });
  const id = randomUUID();
  const tmp = join(dir, `${id}.part`);
  let bytes = 0;
  try {
    await pipeline(
      source,
      async function* capped(chunks: AsyncIterable<Uint8Array>) {
        for await (const chunk of chunks) {
          bytes += chunk.length;
          if (bytes > options.maxBytes) throw feedTooLarge(options.maxBytes);
          yield chunk;
        }
      },
      createWriteStream(tmp, { flags: 'wx' }),
    );
    if (bytes === 0) throw new FashionError('input/invalid', 'Expected a product feed (CSV, TSV or JSON Lines) but it is empty');
    syncPath(tmp);
    const type = options.contentType?.split(';')[0]?.trim().toLowerCase();
    const format = options.format ?? formatOfName(options.name ?? '') ?? (type ? TYPES[type] : undefined) ?? (await feedFormat(tmp));
    const file = join(dir, `${id}.${format}`);
    await rename(tmp, file);
    return { file, format, bytes };
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

export interface DownloadFeedOptions {
  /** Hosts and CIDR ranges allowed besides public addresses (the server's FASHION_FETCH_ALLOW). */
  readonly allow: readonly string[];
  readonly maxBytes: number;
  /** For the whole download, headers and body. */
  readonly timeoutMs: number;
  readonly format?: FeedFormat | undefined;
}

const FEED_ACCEPT = 'text/csv, text/tab-separated-values, application/x-ndjson, application/jsonl, text/plain;q=0.8, */*;q=0.5';

/**
 * Downloads a feed by URL into a kept file, with the guards of any URL a client gives the server (guardedGet: public
 * addresses only unless allowed, the connection pinned to the checked address, each redirect hop checked). A refused
 * address is url/not-allowed; a failed or refused download url/fetch-failed naming the HTTP status, never what the
 * upstream's body said; one over `maxBytes` input/too-large, its rest not read.
 */
export async function downloadFeed(url: string, dataDir: string, options: DownloadFeedOptions): Promise<KeptFeed> {
  const deadline = AbortSignal.timeout(options.timeoutMs);
  const late = `no answer within ${options.timeoutMs / 1000} s`;
  let res: IncomingMessage;
  try {
    res = await guardedGet(url, { allow: options.allow, headers: { accept: FEED_ACCEPT }, signal: deadline, what: 'the feed' });
  } catch (err) {
    if (isFashionError(err)) throw err;
    throw couldNot(url, deadline.aborted ? late : undefined);
  }
  const status = res.statusCode ?? 0;
  if (status < 200 || status >= 300) {
    res.destroy();
    throw couldNot(url, `its server answered HTTP ${status}`);
  }
  if (Number(res.headers['content-length']) > options.maxBytes) {
    res.destroy();
    throw feedTooLarge(options.maxBytes);
  }
  try {
    return await keepFeed(res, dataDir, { maxBytes: options.maxBytes, format: options.format, name: new URL(url).pathname, contentType: res.headers['content-type'] });
  } catch (err) {
    if (isFashionError(err)) throw err;
    // The transfer's own failures; anything else (the disk) is the server's.
    if (deadline.aborted || res.errored) throw couldNot(url, deadline.aborted ? late : 'the transfer broke');
    throw err;
  } finally {
    res.destroy();
  }
}

function feedTooLarge(maxBytes: number): FashionError {
  return new FashionError('input/too-large', `Expected a product feed of at most ${maxBytes} bytes but it is larger (the server's FASHION_MAX_FEED_BYTES)`);
}

function couldNot(url: string, why?: string): FashionError {
  return new FashionError('url/fetch-failed', `Expected to download the feed at ${url} but could not${why ? `: ${why}` : ''}`);
}
