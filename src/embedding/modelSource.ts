import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { access, mkdir, readFile, rename, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FashionError } from '../errors.js';

export interface ModelDownloadOptions {
  /** Folder where downloaded models (and head-cut graphs) are kept. */
  readonly cacheDir: string;
  /** Give up when no byte arrives for this long (a blocked network must fail, not hang). */
  readonly stallTimeoutMs?: number;
  readonly onProgress?: (received: number, total: number | null) => void;
}

export function isUrl(spec: string): boolean {
  return /^https?:\/\//i.test(spec);
}

/**
 * Resolves a model given as a local path or an http(s) URL to a local file. A URL is downloaded once
 * into the cache (to a temporary name, renamed when complete) and reused afterwards.
 */
export async function resolveModelFile(spec: string, options: ModelDownloadOptions): Promise<string> {
  if (!isUrl(spec)) {
    try {
      await access(spec);
    } catch {
      throw new FashionError(
        'model/not-found',
        `Expected an ONNX model at ${spec} but there is no such file; pass --model PATH|URL or set FASHION_MODEL`,
      );
    }
    return spec;
  }
  const urlHash = createHash('sha256').update(spec).digest('hex').slice(0, 12);
  const name = basename(new URL(spec).pathname) || 'model.onnx';
  const dir = join(options.cacheDir, 'downloads');
  const target = join(dir, `${urlHash}-${name}`);
  try {
    await access(target);
    return target;
  } catch {
    // not cached yet
  }
  await mkdir(dir, { recursive: true });
  const partial = `${target}.partial-${process.pid}`;
  const stallMs = options.stallTimeoutMs ?? 20_000;
  const controller = new AbortController();
  let timer = setTimeout(() => controller.abort(), stallMs);
  const touch = () => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(), stallMs);
  };
  try {
    const res = await fetch(spec, { signal: controller.signal, redirect: 'follow' });
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status} ${res.statusText}`);
    const total = Number(res.headers.get('content-length')) || null;
    let received = 0;
    const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
    body.on('data', (chunk: Buffer) => {
      received += chunk.length;
      touch();
      options.onProgress?.(received, total);
    });
    await pipeline(body, createWriteStream(partial));
    await rename(partial, target);
    return target;
  } catch (err) {
    await rm(partial, { force: true });
    const reason = controller.signal.aborted ? `no data for ${stallMs / 1000} s` : causeText(err);
    throw new FashionError(
      'model/download-failed',
      `Expected to download the model from ${spec} but ${reason}; without network access, download it elsewhere and pass --model /path/to/${name}`,
      { cause: err },
    );
  } finally {
    clearTimeout(timer);
  }
}

function causeText(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}

export async function sha256File(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}
