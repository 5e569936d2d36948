/**
 * Every error the product raises, in one table: a stable code, the HTTP status the API answers with
 * and the exit code the CLI ends with. Messages say what was expected, what came and what to do.
 */
export const ERROR_TABLE = {
  'image/empty': { status: 400, exit: 3 },
  'image/unsupported-type': { status: 415, exit: 3 },
  'image/corrupt': { status: 422, exit: 3 },
  'image/too-many-pixels': { status: 413, exit: 3 },
  'image/too-large': { status: 413, exit: 3 },
  'input/not-found': { status: 404, exit: 4 },
  'input/path-escape': { status: 403, exit: 4 },
  'input/invalid': { status: 400, exit: 2 },
  /** An input that is not a photo (a product feed) over its size limit. */
  'input/too-large': { status: 413, exit: 2 },
  'url/fetch-failed': { status: 502, exit: 5 },
  'url/not-allowed': { status: 403, exit: 5 },
  'model/not-found': { status: 500, exit: 6 },
  'model/download-failed': { status: 502, exit: 6 },
  'model/unsupported': { status: 500, exit: 6 },
  'catalog/not-found': { status: 503, exit: 7 },
  'catalog/model-mismatch': { status: 409, exit: 7 },
  'catalog/empty': { status: 503, exit: 7 },
  /** Another process is writing the catalog (src/catalog/writerLock.ts); try again when it is done. */
  'catalog/locked': { status: 409, exit: 9 },
  /** `fashion migrate` into a PostgreSQL schema that holds another catalog, without --replace. */
  'catalog/not-empty': { status: 409, exit: 7 },
  /** An index run would delete more of the catalog than it may without --prune (src/catalog/ingest.ts). */
  'catalog/prune-refused': { status: 409, exit: 7 },
  /** Too few labelled items (articleType) to learn the refinement from (POST /api/train; src/app/backgroundIndex.ts). */
  'catalog/too-few-labels': { status: 409, exit: 7 },
  /** A folder with no photo that could be read: empty, not mounted, or only links leading out of it. */
  'input/no-photos': { status: 422, exit: 4 },
  'item/not-found': { status: 404, exit: 4 },
  'server/busy': { status: 503, exit: 8 },
  /** The inference thread is down (it crashed and is being restarted, or gave up): the photo can be sent again. */
  'server/unavailable': { status: 503, exit: 8 },
  /** The Host header names a host the server was not configured to answer (DNS rebinding). */
  'request/host-not-allowed': { status: 403, exit: 2 },
  'request/rate-limited': { status: 429, exit: 8 },
  /** A write (or, with a read key set, a read) without `Authorization: Bearer <key>`. */
  'auth/missing-key': { status: 401, exit: 2 },
  /** A key that is not one of the catalog's (or was revoked). */
  'auth/invalid-key': { status: 401, exit: 2 },
  /** An unexpected failure; the HTTP answer never carries its internal message (see the server log). */
  'server/error': { status: 500, exit: 1 },
  'text/empty': { status: 400, exit: 2 },
  'text/too-long': { status: 400, exit: 2 },
} as const;

export type ErrorCode = keyof typeof ERROR_TABLE;

export class FashionError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly exitCode: number;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FashionError';
    this.code = code;
    this.status = ERROR_TABLE[code].status;
    this.exitCode = ERROR_TABLE[code].exit;
  }
}

export function isFashionError(err: unknown): err is FashionError {
  return err instanceof FashionError;
}

/** One wording for argument checks, as sharp does: "Expected <what> for <name> but received <value>". */
export function invalid(name: string, expected: string, received: unknown): FashionError {
  const shown = typeof received === 'string' ? JSON.stringify(received) : String(received);
  return new FashionError('input/invalid', `Expected ${expected} for ${name} but received ${shown}`);
}

/** Whether a string is one of the table's codes (an error that crossed a process boundary as text). */
export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_TABLE, code);
}
