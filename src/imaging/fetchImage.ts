import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import ipaddr from 'ipaddr.js';
import { FashionError } from '../errors.js';
import { requireImageType } from './imageType.js';

export interface FetchOptions {
  readonly maxBytes: number;
  readonly timeoutMs?: number;
  /** Redirects followed at most, each hop checked like the first. */
  readonly maxRedirects?: number;
  /**
   * Hosts (exact names) and CIDR ranges that may be fetched although they are not public unicast addresses: an
   * operator's choice (FASHION_FETCH_ALLOW), e.g. an internal CDN. Empty: public addresses only.
   */
  readonly allow?: readonly string[];
  /** Downloads in flight at once in this process; one more is refused as busy (each holds a socket and up to maxBytes). */
  readonly maxConcurrent?: number;
}

export const MAX_CONCURRENT_FETCHES = 16;
let inFlight = 0;

/**
 * Downloads a shopper's photo from an http(s) URL without becoming a proxy into the server's network (server-side
 * request forgery): the host is resolved once, every address it resolves to must be public unicast (ipaddr.js ranges:
 * no loopback, private, link-local, unique-local, multicast, IPv4-mapped, reserved...) unless the operator allowed it,
 * and the connection goes to the address that was checked (no second lookup for a rebinding DNS server to answer).
 * Redirects are followed by hand, a few at most, each hop checked the same way. Bytes and time are capped, and the
 * body must sniff as an image. Errors say "not allowed" or "could not download", never what the upstream answered.
 */
export async function fetchImage(url: string, options: FetchOptions): Promise<Uint8Array> {
  const max = options.maxConcurrent ?? MAX_CONCURRENT_FETCHES;
  if (inFlight >= max) throw new FashionError('server/busy', `Expected a free place to download the photo but ${inFlight} downloads are under way; try again shortly`);
  inFlight++;
  try {
    return await fetchGuarded(url, options);
  } finally {
    inFlight--;
  }
}

async function fetchGuarded(url: string, options: FetchOptions): Promise<Uint8Array> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const deadline = AbortSignal.timeout(timeoutMs);
  let res: IncomingMessage;
  try {
    res = await guardedGet(url, { allow: options.allow ?? [], maxRedirects: options.maxRedirects ?? 3, headers: { accept: 'image/jpeg, image/png, image/webp' }, signal: deadline });
  } catch (err) {
    if (err instanceof FashionError) throw err;
    throw deadline.aborted ? couldNot(url, `no answer within ${timeoutMs / 1000} s`) : couldNot(url);
  }
  const status = res.statusCode ?? 0;
  if (status < 200 || status >= 300) {
    res.resume();
    throw couldNot(url);
  }
  return readBody(res, url, options.maxBytes);
}

export interface GuardedGetOptions {
  /** Hosts and CIDR ranges allowed besides public addresses (FetchOptions.allow). */
  readonly allow?: readonly string[];
  /** Redirects followed at most (default 3), each hop checked like the first. */
  readonly maxRedirects?: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** Aborts the request and its body: a deadline, a run's cancel. */
  readonly signal?: AbortSignal;
  /** What the URL is for, in messages (default "the image"). */
  readonly what?: string;
}

/**
 * A GET with fetchImage's guards (public addresses unless allowed, the connection pinned to the checked address,
 * redirects followed by hand with each hop checked), for callers that read the answer themselves: the feed
 * downloader's conditional requests (304, 429 with Retry-After...) and a feed file streamed to disk. Returns the first
 * answer that is not a redirect, whatever its status; the caller reads or discards its body.
 *
 * Throws a FashionError for what the guards refuse (input/invalid: not an http(s) URL; url/not-allowed: an address not
 * allowed, a redirect to another scheme; url/fetch-failed: too many redirects), and a network error or the signal's
 * abort as it is, so that the caller can tell what may pass (and retry) from what will not.
 */
export async function guardedGet(url: string, options: GuardedGetOptions = {}): Promise<IncomingMessage> {
  const allow = parseAllow(options.allow ?? []);
  const what = options.what ?? 'the image';
  let target = parseUrl(url, what);
  for (let hop = 0; ; hop++) {
    const res = await get(target, allow, url, options);
    const status = res.statusCode ?? 0;
    if (status < 300 || status >= 400 || !res.headers.location) return res;
    res.resume();
    if (hop >= (options.maxRedirects ?? 3)) throw couldNot(url, 'it redirects too many times', what);
    let next: URL;
    try {
      next = new URL(res.headers.location, target);
    } catch {
      throw couldNot(url, 'it redirects to an address that is not a URL', what);
    }
    target = checkScheme(next, url, what);
  }
}

type Allow = { readonly hosts: ReadonlySet<string>; readonly ranges: ReadonlyArray<[ipaddr.IPv4 | ipaddr.IPv6, number]> };

function parseAllow(entries: readonly string[]): Allow {
  const hosts = new Set<string>();
  const ranges: Array<[ipaddr.IPv4 | ipaddr.IPv6, number]> = [];
  for (const e of entries.map((x) => x.trim()).filter(Boolean)) {
    if (e.includes('/')) ranges.push(ipaddr.parseCIDR(e));
    else if (ipaddr.isValid(e)) ranges.push([ipaddr.parse(e), ipaddr.parse(e).kind() === 'ipv4' ? 32 : 128]);
    else hosts.add(e.toLowerCase());
  }
  return { hosts, ranges };
}

/** Whether a resolved address may be fetched: public unicast, or in a range the operator allowed. */
export function addressAllowed(address: string, allowed: readonly string[] = []): boolean {
  return allowedBy(address, parseAllow(allowed));
}

function allowedBy(address: string, allow: Allow): boolean {
  if (!ipaddr.isValid(address)) return false;
  let ip = ipaddr.parse(address);
  // ::ffff:127.0.0.1 is 127.0.0.1: judged as the IPv4 address it carries (and allowed ranges match either form).
  if (ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress()) ip = (ip as ipaddr.IPv6).toIPv4Address();
  if (allow.ranges.some(([net, bits]) => net.kind() === ip.kind() && ip.match([net, bits] as never))) return true;
  return ip.range() === 'unicast';
}

function parseUrl(url: string, what: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new FashionError('input/invalid', `Expected an http(s) URL for ${what} but received ${JSON.stringify(url)}`);
  }
  return checkScheme(parsed, url, what, true);
}

function checkScheme(u: URL, asked: string, what: string, first = false): URL {
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    if (first) throw new FashionError('input/invalid', `Expected an http(s) URL for ${what} but received the ${u.protocol} scheme`);
    throw new FashionError('url/not-allowed', `Refusing to download ${asked}: it redirects to the ${u.protocol} scheme`);
  }
  if (u.username || u.password) throw new FashionError('input/invalid', `Expected a URL for ${what} without a user name or password`);
  return u;
}

/** One request to `u`, connected only to an address that passed the check; an address refused is url/not-allowed. */
function get(u: URL, allow: Allow, asked: string, options: GuardedGetOptions): Promise<IncomingMessage> {
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const hostAllowed = allow.hosts.has(host.toLowerCase());
  if (ipaddr.isValid(host) && !hostAllowed && !allowedBy(host, allow)) return Promise.reject(notAllowed(asked));
  let refused = false;
  // The socket connects to what this lookup returns: the checked address, so a second DNS answer cannot redirect it.
  const lookup = (hostname: string, opts: { all?: boolean }, cb: (err: Error | null, address: string | LookupAddress[], family?: number) => void) => {
    dnsLookup(hostname, { all: true }, (err, addresses) => {
      if (err) return cb(err, '');
      const bad = !hostAllowed && addresses.some((a) => !allowedBy(a.address, allow));
      if (bad || addresses.length === 0) {
        refused = true;
        return cb(new Error('address not allowed'), '');
      }
      if (opts.all) return cb(null, addresses);
      return cb(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
  const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(u, { method: 'GET', lookup: lookup as never, ...(options.signal ? { signal: options.signal } : {}), headers: { ...options.headers } }, resolve);
    req.on('error', (err) => reject(refused ? notAllowed(asked) : err));
    req.end();
  });
}

async function readBody(res: IncomingMessage, url: string, maxBytes: number): Promise<Uint8Array> {
  const declared = Number(res.headers['content-length']);
  if (declared > maxBytes) {
    res.destroy();
    throw new FashionError('image/too-large', `Expected an image of at most ${maxBytes} bytes at ${url} but it is ${declared} bytes`);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for await (const chunk of res as AsyncIterable<Uint8Array>) {
      total += chunk.length;
      if (total > maxBytes) {
        res.destroy();
        throw new FashionError('image/too-large', `Expected an image of at most ${maxBytes} bytes at ${url} but it is larger`);
      }
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof FashionError) throw err;
    throw couldNot(url, 'the transfer broke');
  }
  const bytes = Buffer.concat(chunks);
  try {
    requireImageType(bytes, url);
  } catch (err) {
    // The upstream's bytes are not quoted back: that would make the server a reader of other hosts' pages.
    if (err instanceof FashionError) throw new FashionError(err.code, `Expected a JPEG, PNG or WebP image at ${url} but it is not one`);
    throw err;
  }
  return bytes;
}

function notAllowed(url: string): FashionError {
  return new FashionError('url/not-allowed', `Refusing to download ${url}: its address is not a public one (an operator can allow hosts or ranges with FASHION_FETCH_ALLOW)`);
}

function couldNot(url: string, why?: string, what = 'the image'): FashionError {
  return new FashionError('url/fetch-failed', `Expected to download ${what} at ${url} but could not${why ? `: ${why}` : ''}`);
}
