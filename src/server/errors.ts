import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { isFashionError, type ErrorCode } from '../errors.js';

/** What a failure is answered with: status, code of the error table (src/errors.ts) and message. */
export interface ErrorAnswer {
  readonly status: number;
  readonly code: ErrorCode;
  readonly message: string;
}

const INTERNAL = 'Internal error; see the server log';

/** The largest JSON body (a search request is small; photos come as multipart, up to the upload limit). */
export const JSON_BODY_LIMIT = 64 * 1024;

/**
 * The product's errors keep their code and status; fastify's own are mapped by their codes: a body over the
 * limit is image/too-large (413), a type no parser takes image/unsupported-type (415), bad JSON input/invalid (400),
 * and any other 4xx input/invalid with its own status. Anything else is server/error (500), whose message stays
 * in the log: a 5xx never carries an internal message.
 */
export function describeError(err: Partial<FastifyError> & Error, contentType?: string): ErrorAnswer {
  if (isFashionError(err)) return { status: err.status, code: err.code, message: err.message };
  switch (err.code) {
    case 'FST_REQ_FILE_TOO_LARGE':
      return { status: 413, code: 'image/too-large', message: `Expected a photo of at most the upload limit but it was larger: ${err.message}` };
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, code: 'image/too-large', message: `Expected a request body of at most ${JSON_BODY_LIMIT} bytes (photos go as multipart uploads) but it was larger: ${err.message}` };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, code: 'image/unsupported-type', message: `Expected multipart/form-data (a photo) or application/json (imageUrl, id or text) but received ${contentType || 'no content type'}` };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, code: 'input/invalid', message: `Expected a JSON body: ${err.message}` };
    case 'FST_ERR_NOT_FOUND':
      return { status: 404, code: 'input/not-found', message: err.message };
    default: {
      const status = err.statusCode ?? 500;
      if (status >= 400 && status < 500) return { status, code: 'input/invalid', message: err.message };
      return { status: 500, code: 'server/error', message: INTERNAL };
    }
  }
}

export function errorHandler(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  const { status, code, message } = describeError(err, req.headers['content-type']);
  if (status >= 500) req.log.error({ err, code }, 'request failed');
  else req.log.info({ code, message }, 'request refused');
  void reply.status(status).send({ error: { code, message } });
}

export function notFoundHandler(req: FastifyRequest, reply: FastifyReply): void {
  void reply.status(404).send({ error: { code: 'input/not-found', message: `Expected a known route but ${req.method} ${req.url} is not one; see GET /api/openapi.json` } });
}
