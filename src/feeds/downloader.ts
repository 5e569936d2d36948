import { existsSync } from 'node:fs';
import PQueue from 'p-queue';
import { keepPhoto, keptPhotoFile } from '../catalog/photoStore.js';
import { FashionError, type ErrorCode } from '../errors.js';
import { guardedGet } from '../imaging/fetchImage.js';
import { requireImageType } from '../imaging/imageType.js';
import type { CachedPhoto, PhotoCache } from './photoCache.js';

/**
 * Downloads a feed's photos: several at once, each with a time limit and a byte cap, retried with exponential back-off
 * and jitter when the failure may pass (a network error, a timeout, 5xx, 429 with its Retry-After), not when it will
 * not (another 4xx, a body that is not an image). Photos are kept by content in the catalog (keepPhoto) and remembered
 * by URL (PhotoCache), so that a re-run sends If-None-Match / If-Modified-Since and a 304 costs no transfer.
 *
 * A feed the operator runs (`fashion index --feed`) is trusted input: plain fetch to any host, redirects followed. A feed
 * that came through the API (POST /api/imports) is not: with `guard`, every request goes through the server's guarded
 * request (src/imaging/fetchImage.ts: public addresses only unless allowed, the connection pinned to the checked
 * address, each redirect hop checked), and an address refused fails the row at once (url/not-allowed, not retried).
 */
export interface DownloadSettings {
  /** Downloads in flight at once. */
  readonly concurrency: number;
  /** Time for one request, headers and body. */
  readonly timeoutMs: number;
  /** Tries after the first. */
  readonly retries: number;
  /** First back-off; doubled each retry, with jitter. */
  readonly backoffMs: number;
  /** Longest wait between tries; a Retry-After beyond it fails the photo for this run (the next run tries again). */
  readonly maxBackoffMs: number;
  readonly maxBytes: number;
  /**
   * Untrusted feeds: photo URLs reach public addresses only, plus the hosts and CIDR ranges of `allow` (the server's
   * FASHION_FETCH_ALLOW). Absent: any host.
   */
  readonly guard?: { readonly allow: readonly string[] } | undefined;
}

export const DEFAULT_DOWNLOAD: Omit<DownloadSettings, 'maxBytes'> = Object.freeze({ concurrency: 8, timeoutMs: 30_000, retries: 3, backoffMs: 500, maxBackoffMs: 30_000 });

export type PhotoResult =
  | {
      readonly ok: true;
      readonly url: string;
      /** fetched: new bytes; not-modified: a 304; same: a 200 with bytes the cache already had (a server without validators). */
      readonly how: 'fetched' | 'not-modified' | 'same';
      /** The kept photo's item path, `kept/<sha256>.<ext>`. */
      readonly path: string;
      readonly size: number;
      /** When these bytes were first downloaded: the item's mtime. */
      readonly fetchedAtMs: number;
      readonly attempts: number;
    }
  | { readonly ok: false; readonly url: string; readonly code: ErrorCode; readonly message: string; readonly attempts: number };

export interface DownloadStats {
  requests: number;
  fetched: number;
  notModified: number;
  failed: number;
  retries: number;
  bytes: number;
}

export class PhotoDownloader {
  readonly stats: DownloadStats = { requests: 0, fetched: 0, notModified: 0, failed: 0, retries: 0, bytes: 0 };
  private readonly queue: PQueue;
  /** Each URL once per run: variants of a product often share one photo. */
  private readonly results = new Map<string, Promise<PhotoResult>>();

  constructor(
    private readonly dataDir: string,
    private readonly cache: PhotoCache,
    private readonly settings: DownloadSettings,
    private readonly signal?: AbortSignal,
  ) {
    this.queue = new PQueue({ concurrency: Math.max(1, settings.concurrency) });
  }

  /** The photo at `url`, kept in the catalog, or why it could not be had. Never throws but for the run's abort. */
  photo(url: string): Promise<PhotoResult> {
    let p = this.results.get(url);
    if (!p) {
      p = this.queue.add(() => this.download(url));
      this.results.set(url, p);
    }
    return p;
  }

  private async download(url: string): Promise<PhotoResult> {
    const cached = this.cache.get(url);
    // Validators are sent only when the photo they vouch for is still on disk.
    const kept = cached?.path && existsSync(keptPhotoFile(this.dataDir, cached.path) ?? '') ? cached : null;
    const headers: Record<string, string> = { accept: 'image/jpeg, image/png, image/webp, image/*;q=0.8' };
    if (kept?.etag) headers['if-none-match'] = kept.etag;
    if (kept?.lastModified) headers['if-modified-since'] = kept.lastModified;
    for (let attempts = 1; ; attempts++) {
      const outcome = await this.attempt(url, headers, cached, kept);
      if (outcome.kind === 'done') {
        const r = outcome.result(attempts);
        if (r.ok) r.how === 'not-modified' ? this.stats.notModified++ : this.stats.fetched++;
        else this.failed(url, r.code, r.message);
        return r;
      }
      const delay = outcome.retryAfterMs ?? backoff(this.settings, attempts);
      const giveUp = attempts > this.settings.retries ? `${outcome.reason} (${attempts} tries)` : delay > this.settings.maxBackoffMs ? `${outcome.reason}, and its server asks to wait ${Math.round(delay / 1000)} s` : null;
      if (giveUp) {
        const message = `Expected to download the photo at ${url} but could not: ${giveUp}; the next run tries again`;
        this.failed(url, 'url/fetch-failed', message);
        return { ok: false, url, code: 'url/fetch-failed', message, attempts };
      }
      this.stats.retries++;
      await sleep(delay, this.signal);
    }
  }

  private failed(url: string, code: ErrorCode, message: string): void {
    this.stats.failed++;
    this.cache.saveFailure(url, `[${code}] ${message}`);
  }

  /** One request: a result, or a failure that may pass (with the server's Retry-After when it gave one). */
  private async attempt(
    url: string,
    headers: Record<string, string>,
    cached: CachedPhoto | null,
    kept: CachedPhoto | null,
  ): Promise<{ kind: 'done'; result: (attempts: number) => PhotoResult } | { kind: 'retry'; reason: string; retryAfterMs?: number }> {
    this.signal?.throwIfAborted();
    const timeout = AbortSignal.timeout(this.settings.timeoutMs);
    const signal = this.signal ? AbortSignal.any([timeout, this.signal]) : timeout;
    const fail = (code: ErrorCode, message: string) => ({ kind: 'done' as const, result: (attempts: number): PhotoResult => ({ ok: false, url, code, message, attempts }) });
    this.stats.requests++;
    let res: Answer;
    let bytes: Uint8Array;
    try {
      res = this.settings.guard ? await guardedAnswer(url, headers, signal, this.settings.guard.allow) : await plainAnswer(url, headers, signal);
      if (res.status === 304) {
        await res.discard();
        if (!kept?.path) return fail('url/fetch-failed', `Expected the photo at ${url} but its server answered 304 Not Modified to a request that had no validators`);
        const { path, size, fetchedAtMs } = kept;
        return { kind: 'done', result: (attempts) => ({ ok: true, url, how: 'not-modified', path, size: size ?? 0, fetchedAtMs: fetchedAtMs ?? 0, attempts }) };
      }
      if (res.status === 429 || res.status >= 500) {
        await res.discard();
        const after = retryAfterMs(res.header('retry-after'));
        return { kind: 'retry', reason: `HTTP ${res.status}`, ...(after !== undefined ? { retryAfterMs: after } : {}) };
      }
      if (res.status < 200 || res.status >= 300) {
        await res.discard();
        return fail('url/fetch-failed', `Expected the photo at ${url} but its server answered HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}; the next run tries again`);
      }
      bytes = await readCapped(res, url, this.settings.maxBytes);
    } catch (err) {
      if (this.signal?.aborted) throw this.signal.reason;
      if (err instanceof FashionError) return fail(err.code, err.message);
      if (timeout.aborted) return { kind: 'retry', reason: `no answer within ${this.settings.timeoutMs / 1000} s` };
      const code = networkCode(err);
      // A host that does not exist will not exist in a second either.
      if (code === 'ENOTFOUND') return fail('url/fetch-failed', `Expected the photo at ${url} but its host is not found (DNS); the next run tries again`);
      return { kind: 'retry', reason: code ? `network error ${code}` : `network error (${(err as Error).message})` };
    }
    let type;
    try {
      type = requireImageType(bytes, url);
    } catch (err) {
      return fail((err as FashionError).code, (err as FashionError).message);
    }
    this.stats.bytes += bytes.length;
    // Written (synced, renamed) before the cache names it: an entry always names a photo on disk.
    const path = keepPhoto(this.dataDir, bytes, type);
    const sha256 = path.slice('kept/'.length, 'kept/'.length + 64);
    // The same bytes again (a server without validators, or a kept file that was deleted): the same item state.
    const same = cached?.sha256 === sha256 && cached.fetchedAtMs !== null;
    const fetchedAtMs = same ? cached.fetchedAtMs! : Date.now();
    this.cache.saveFetched({ url, etag: res.header('etag'), lastModified: res.header('last-modified'), path, sha256, size: bytes.length, fetchedAtMs });
    return { kind: 'done', result: (attempts) => ({ ok: true, url, how: same ? 'same' : 'fetched', path, size: bytes.length, fetchedAtMs, attempts }) };
  }
}

/** One HTTP answer, from plain fetch or from the guarded request alike. */
interface Answer {
  readonly status: number;
  readonly statusText: string;
  header(name: string): string | null;
  readonly body: AsyncIterable<Uint8Array> | null;
  /** Drops the body unread. */
  discard(): Promise<void>;
}

async function plainAnswer(url: string, headers: Record<string, string>, signal: AbortSignal): Promise<Answer> {
  const res = await fetch(url, { headers, signal, redirect: 'follow' });
  return {
    status: res.status,
    statusText: res.statusText,
    header: (name) => res.headers.get(name),
    body: res.body as unknown as AsyncIterable<Uint8Array> | null,
    // A body being read is locked by its reader, and cancelling it then fails: the reader's own end closes it.
    discard: () => (res.body ? res.body.cancel().catch(() => {}) : Promise.resolve()),
  };
}

async function guardedAnswer(url: string, headers: Record<string, string>, signal: AbortSignal, allow: readonly string[]): Promise<Answer> {
  const res = await guardedGet(url, { allow, headers, signal, what: 'the photo' });
  return {
    status: res.statusCode ?? 0,
    statusText: res.statusMessage ?? '',
    header: (name) => {
      const v = res.headers[name.toLowerCase()];
      return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
    },
    body: res,
    discard: async () => void res.destroy(),
  };
}

/** The body, refused past `maxBytes` (declared or counted) without reading the rest. */
async function readCapped(res: Answer, url: string, maxBytes: number): Promise<Uint8Array> {
  const declared = Number(res.header('content-length'));
  const tooLarge = () => new FashionError('image/too-large', `Expected a photo of at most ${maxBytes} bytes at ${url} but it is ${declared > maxBytes ? `${declared} bytes` : 'larger'}`);
  if (declared > maxBytes) {
    await res.discard();
    throw tooLarge();
  }
  if (!res.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of res.body) {
    total += chunk.length;
    if (total > maxBytes) {
      await res.discard();
      throw tooLarge();
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Exponential back-off with jitter: half the doubled delay fixed, half random, so that clients spread out. */
export function backoff(settings: Pick<DownloadSettings, 'backoffMs' | 'maxBackoffMs'>, attempt: number): number {
  const ceiling = Math.min(settings.maxBackoffMs, settings.backoffMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

/** Retry-After as milliseconds: delay-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The system error code under fetch's TypeError ("fetch failed"), e.g. ECONNRESET, ECONNREFUSED, ENOTFOUND. */
function networkCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let i = 0; i < 4 && e; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', abort);
      resolve();
    }, ms);
    const abort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', abort, { once: true });
  });
}
