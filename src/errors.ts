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
  'url/fetch-failed': { status: 502, exit: 5 },
  'url/not-allowed': { status: 403, exit: 5 },
  'model/not-found': { status: 500, exit: 6 },
  'model/download-failed': { status: 502, exit: 6 },
  'model/unsupported': { status: 500, exit: 6 },
  'catalog/not-found': { status: 503, exit: 7 },
  'catalog/model-mismatch': { status: 409, exit: 7 },
  'catalog/empty': { status: 503, exit: 7 },
  'item/not-found': { status: 404, exit: 4 },
  'server/busy': { status: 503, exit: 8 },
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
