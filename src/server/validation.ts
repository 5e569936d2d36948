import type { FastifySchemaCompiler } from 'fastify';
import type { TSchema } from 'typebox';
import { compileCheck, type CheckOptions } from '../util/schemaCheck.js';

/** How each request part is named when it is wrong as a whole. */
const PARTS: Record<string, CheckOptions> = {
  body: { rootName: 'the JSON body' },
  querystring: { rootName: 'the query string', convert: true },
  params: { rootName: 'the path', convert: true },
  headers: { rootName: 'the headers', convert: true },
};

/**
 * Fastify's validator: the route's TypeBox schemas, checked with the product's wording (src/api/validate.ts), so
 * a refusal is an `input/invalid` FashionError (400) naming the field and what was expected. Query strings and
 * path parameters are converted first ("5" -> 5), and a query parameter sent empty counts as not sent; JSON
 * bodies are taken as they are. A multipart body is not validated here: its handler streams the parts and checks
 * the fields with the same schemas (src/api/requests.ts); its schema is there for the OpenAPI document.
 */
export const typeboxValidatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart, contentType }) => {
  if (httpPart === 'body' && contentType !== undefined && contentType !== 'application/json') return () => true;
  const part = PARTS[httpPart ?? 'body'] ?? {};
  const check = compileCheck(schema, part);
  return (value: unknown) => {
    try {
      return { value: check(httpPart === 'querystring' ? withoutEmpty(value) : value) };
    } catch (err) {
      return { error: err as Error };
    }
  };
};

function withoutEmpty(query: unknown): unknown {
  if (query === null || typeof query !== 'object') return query;
  return Object.fromEntries(Object.entries(query).filter(([, v]) => v !== ''));
}
