import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { searchQueryFromForm, searchQueryFromJson, similarQuery } from '../../api/requests.js';
import { ERROR_RESPONSES, ItemParams, jsonOrForm, SearchForm, SearchJsonBody, SearchResponse, SimilarQuery, type SearchBody, type SearchJson } from '../../api/schemas.js';
import { searchView } from '../../api/views.js';
import type { Query } from '../../query/query.js';
import type { ApiDeps } from '../deps.js';
import { readForm, requireJsonOrForm } from '../multipart.js';

/** Search: a photo (upload or URL), a catalog item, words, or words with either; and more like an item. */
export const searchRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, { svc }) => {
  /** The catalog's metadata columns: the only fields a filter may name. */
  const filterFields = () => svc.catalog.metadataColumns;

  app.post('/api/search', {
    schema: {
      tags: ['search'],
      summary: 'The most similar products to a photo, an item, words, or a photo / item with words',
      description:
        'A multipart upload (photo in `image`; optional `k`, `metric`, `filters` and `dropFilters` as JSON text, `text`), or JSON with `imageUrl` (or `url`), `id` or `text` ' +
        '(text may join either) and `k`, `metric`, `filters`, `dropFilters`. A photo\'s result carries `lookAlike: true` when the same-product space placed it as an item that looks most like the photo: moved first, or, for a photo taken off a backdrop, given the fifth place (its score may then be below the next ones\').',
      body: jsonOrForm(SearchJsonBody, SearchForm),
      response: { 200: SearchResponse, ...ERROR_RESPONSES },
    },
  }, async (req) => {
    const query = await searchRequest(req, filterFields());
    const res = await svc.pipeline.search(query);
    logTimings(req, query.kind, res);
    return searchView(query, res);
  });

  app.get('/api/items/:id/similar', {
    schema: {
      tags: ['search'],
      summary: 'More like this item (the item left out)',
      description: 'Besides `k` and `metric`, every query parameter is a metadata filter: `?gender=Women&articleType=Tshirts|Shirts`.',
      params: ItemParams,
      querystring: SimilarQuery,
      response: { 200: SearchResponse, ...ERROR_RESPONSES },
    },
  }, async (req) => {
    const query = similarQuery(req.params.id, req.query, filterFields());
    const res = await svc.pipeline.search(query);
    logTimings(req, 'similar', res);
    return searchView(query, res);
  });
};

/** The search request as a `Query`: multipart streamed and checked here, JSON already checked by its schema. */
async function searchRequest(req: FastifyRequest, filterFields: readonly string[]): Promise<Query> {
  requireJsonOrForm(req);
  return req.isMultipart() ? searchQueryFromForm(await readForm(req), filterFields) : searchQueryFromJson(req.body as SearchJson, filterFields);
}

function logTimings(req: FastifyRequest, kind: string, res: { timings: SearchBody['timings']; hits: readonly unknown[] }): void {
  req.log.info({ kind, ...res.timings, results: res.hits.length }, 'search timings');
}
