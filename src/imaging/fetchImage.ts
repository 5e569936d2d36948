import { FashionError } from '../errors.js';
import { requireImageType } from './imageType.js';

/**
 * Downloads a photo from an http(s) URL with a byte limit and a time limit; the body must sniff as an
 * image whatever content type the server claims.
 */
export async function fetchImage(url: string, options: { maxBytes: number; timeoutMs?: number }): Promise<Uint8Array> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new FashionError('input/invalid', `Expected an http(s) URL for the image but received ${JSON.stringify(url)}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new FashionError('input/invalid', `Expected an http(s) URL for the image but received the ${parsed.protocol} scheme`);
  }
  const timeoutMs = options.timeoutMs ?? 10_000;
  let res: Response;
  try {
    res = await fetch(parsed, { signal: AbortSignal.timeout(timeoutMs), redirect: 'follow' });
  } catch (err) {
    const e = err as { name?: string; cause?: { code?: string }; message?: string };
    const why = e.name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000} s` : e.cause?.code ?? e.message;
    throw new FashionError('url/fetch-failed', `Expected to download the image at ${url} but ${why}`, { cause: err });
  }
  if (!res.ok || !res.body) throw new FashionError('url/fetch-failed', `Expected the image at ${url} but the server answered HTTP ${res.status}`);
  const declared = Number(res.headers.get('content-length'));
  if (declared > options.maxBytes) {
    throw new FashionError('image/too-large', `Expected an image of at most ${options.maxBytes} bytes at ${url} but it is ${declared} bytes`);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      total += chunk.length;
      if (total > options.maxBytes) {
        throw new FashionError('image/too-large', `Expected an image of at most ${options.maxBytes} bytes at ${url} but it is larger`);
      }
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof FashionError) throw err;
    throw new FashionError('url/fetch-failed', `Expected to download the image at ${url} but the transfer broke: ${(err as Error).message}`, { cause: err });
  }
  const bytes = Buffer.concat(chunks);
  requireImageType(bytes, url);
  return bytes;
}
