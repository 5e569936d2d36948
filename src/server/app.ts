import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import multipart from '@fastify/multipart';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { REPO_ROOT, type Config } from '../config.js';
import { FashionError, invalid, isFashionError } from '../errors.js';
import { encodeJpeg } from '../imaging/decode.js';
import { sniffImageType } from '../imaging/imageType.js';
import { fetchImage } from '../imaging/fetchImage.js';
import { checkFilters, type Filters } from '../search/filters.js';
import type { IsolatedView, Recommender, SearchHit, SearchOptions, SearchResult } from '../recommend/recommender.js';
import { duplicatesCsv, type DuplicateGroup } from '../recommend/duplicates.js';
import type { OutfitResult } from '../recommend/outfit.js';
import { checkText, type TextHit } from '../text/textQuery.js';

const WEB_DIR = join(REPO_ROOT, 'web');
const WEB_FILES: Record<string, string> = {
  '/': 'index.html',
  '/app.js': 'app.js',
  '/style.css': 'style.css',
};
const CONTENT_TYPES: Record<string, string> = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' };
const IMAGE_MIME = { jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp' } as const;
const RESERVED_QUERY = new Set(['k', 'metric']);

export interface AppOptions {
  readonly logger?: boolean | object;
}

/** The HTTP API and the page as a fastify app; tests call it with inject(), the CLI listens on a port. */
export async function buildApp(rec: Recommender, config: Config, options: AppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? { level: config.logLevel },
    bodyLimit: 64 * 1024,
  });
  await app.register(multipart, { limits: { fileSize: config.maxUploadBytes, files: 1, fields: 10, fieldSize: 16 * 1024 } });

  app.setErrorHandler((err: Error & { code?: string; statusCode?: number }, req, reply) => {
    const { status, code, message } = describeError(err);
    if (status >= 500) req.log.error({ err }, 'request failed');
    else req.log.info({ code, message }, 'request refused');
    void reply.status(status).send({ error: { code, message: status >= 500 && !isFashionError(err) ? 'Internal error; see the server log' : message } });
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({ error: { code: 'input/not-found', message: `Expected a known route but ${req.method} ${req.url} is not one` } });
  });

  for (const [route, file] of Object.entries(WEB_FILES)) {
    app.get(route, async (_req, reply) => {
      const ext = file.split('.').pop()!;
      return reply.type(CONTENT_TYPES[ext]!).header('cache-control', 'no-cache').send(await readFile(join(WEB_DIR, file)));
    });
  }

  app.get('/api/health', async () => {
    const info = rec.info();
    return { status: 'ok', items: info.items, dims: info.dims, model: info.model?.modelName ?? null };
  });

  app.get('/api/info', async () => ({ ...rec.info(), facets: rec.facets() }));

  app.get<{ Querystring: { limit?: string; offset?: string } }>('/api/items', async (req) => {
    const limit = Number(req.query.limit ?? 24);
    const offset = Number(req.query.offset ?? 0);
    if (!Number.isInteger(limit) || limit < 1 || limit > 200) throw invalid('limit', 'an integer from 1 to 200', req.query.limit);
    if (!Number.isInteger(offset) || offset < 0) throw invalid('offset', 'a non-negative integer', req.query.offset);
    const all = rec.allItems();
    // A spread over the whole catalog, so the first page shows more than one kind of product.
    const step = Math.max(1, Math.floor(all.length / limit));
    const items = [];
    for (let i = 0; i < limit && offset + i * step < all.length; i++) items.push(itemView(rec, all[offset + i * step]!.id));
    return { total: all.length, items };
  });

  app.get<{ Params: { id: string } }>('/api/items/:id', async (req) => itemView(rec, req.params.id));

  app.get<{ Params: { id: string }; Querystring: Record<string, string | string[]> }>('/api/items/:id/similar', async (req) => {
    const opts = searchOptionsFromQuery(rec, req.query);
    const res = rec.similar(req.params.id, opts);
    logTimings(req, 'similar', res);
    return { query: { id: req.params.id }, ...view(rec, res) };
  });

  app.get<{ Params: { id: string } }>('/api/images/:id', async (req, reply) => {
    const path = rec.imagePath(req.params.id);
    const bytes = await readFile(path);
    const type = sniffImageType(bytes);
    if (!type) throw new FashionError('image/unsupported-type', `The stored photo of ${req.params.id} is not an image`);
    return reply.type(IMAGE_MIME[type]).header('cache-control', 'public, max-age=3600').send(bytes);
  });

  app.post('/api/search', async (req, reply) => {
    const { source, options, label, text, dropFilters } = await readSearchRequest(req, rec, config);
    let res: SearchResult;
    let query: Record<string, unknown>;
    if (text !== undefined) {
      // Words alone, or words with a photo / catalog item ("like this, but in blue").
      const textOpts = { ...options, dropFilters };
      const tres = !source
        ? rec.searchText(text, textOpts)
        : source.kind === 'id'
          ? rec.similarText(source.id, text, textOpts)
          : await rec.searchImageText(source.bytes, text, textOpts, label);
      query = { text, ...(source?.kind === 'id' ? { id: source.id } : source ? { kind: source.kind } : {}) };
      logTimings(req, 'search', tres);
      return reply.send({ query, text: tres.text, ...view(rec, tres) });
    }
    if (!source) throw new FashionError('input/invalid', 'Expected a photo upload, an "imageUrl", an item "id" or "text" in the search request but received none');
    if (source.kind === 'id') {
      res = rec.similar(source.id, options);
      query = { id: source.id };
    } else {
      res = await rec.searchImage(source.bytes, options, label);
      query = { kind: source.kind, ...(source.kind === 'url' ? { url: label } : {}), ...(await isolatedView(res.isolated)) };
    }
    logTimings(req, 'search', res);
    return reply.send({ query, ...view(rec, res) });
  });

  /** Second-hand matching: the catalog product a photo shows, or match: null (no confident match). */
  app.post<{ Querystring: { threshold?: string } }>('/api/match', async (req) => {
    const { source, label } = await readSearchRequest(req, rec, config);
    if (!source || source.kind === 'id') throw new FashionError('input/invalid', 'Expected a photo upload or an "imageUrl" to match but received none');
    const raw = req.query.threshold;
    const threshold = raw === undefined || raw === '' ? undefined : Number(raw);
    if (threshold !== undefined && !(threshold >= 0 && threshold <= 1)) throw invalid('threshold', 'a margin from 0 to 1', raw);
    const m = await rec.matchImage(source.bytes, threshold === undefined ? {} : { threshold }, label);
    const hitView = (h: SearchHit) => ({ id: h.id, score: h.score, imageUrl: `/api/images/${encodeURIComponent(h.id)}`, metadata: h.metadata });
    return {
      query: { kind: source.kind, ...(await isolatedView(m.isolated)) },
      match: m.match ? hitView(m.match) : null,
      confidence: m.confidence,
      similarity: m.similarity,
      threshold: m.threshold,
      space: m.space,
      message: m.match ? `Matched item ${m.match.id}` : 'No confident match: this product does not seem to be in the catalog',
      candidates: m.candidates.map(hitView),
    };
  });

  /** Exact duplicates (same pixels) and near-duplicate groups, as JSON or CSV (?format=csv). */
  app.get<{ Querystring: { threshold?: string; format?: string; near?: string } }>('/api/duplicates', async (req, reply) => {
    const threshold = req.query.threshold === undefined || req.query.threshold === '' ? undefined : Number(req.query.threshold);
    if (threshold !== undefined && !(threshold > 0 && threshold <= 1)) throw invalid('threshold', 'a number above 0, at most 1', req.query.threshold);
    const format = req.query.format ?? 'json';
    if (format !== 'json' && format !== 'csv') throw invalid('format', 'json or csv', format);
    const d = rec.duplicates({ ...(threshold !== undefined ? { threshold } : {}), near: req.query.near !== 'false' });
    if (format === 'csv') return reply.type('text/csv; charset=utf-8').send(duplicatesCsv(d, (id) => rec.item(id).metadata.productDisplayName ?? ''));
    const groupView = (g: DuplicateGroup) => ({ ...g, items: g.ids.map((id) => ({ id, imageUrl: `/api/images/${encodeURIComponent(id)}`, name: rec.item(id).metadata.productDisplayName ?? id })) });
    return { threshold: d.threshold, exact: d.exact.map(groupView), near: d.near.map(groupView) };
  });

  /** Auto-categorisation of a photo (multipart "image" or JSON imageUrl): articleType, baseColour, gender with confidences. */
  app.post('/api/categorize', async (req) => {
    const { source, label } = await readSearchRequest(req, rec, config);
    if (!source || source.kind === 'id') throw new FashionError('input/invalid', 'Expected a photo upload or an "imageUrl" to categorize but received none');
    return { predicted: await rec.categorizeImage(source.bytes, label) };
  });

  app.get<{ Params: { id: string } }>('/api/items/:id/outfit', async (req) => outfitView(rec, rec.outfit(req.params.id)));

  /** Complete the look for a photo (multipart "image" or JSON imageUrl) or a catalog item (JSON id). */
  app.post('/api/outfit', async (req) => {
    const { source, label } = await readSearchRequest(req, rec, config);
    if (!source) throw new FashionError('input/invalid', 'Expected a photo upload, an "imageUrl" or an item "id" for the outfit but received none');
    return outfitView(rec, source.kind === 'id' ? rec.outfit(source.id) : await rec.outfitImage(source.bytes, label));
  });

  return app;
}

/** The product as isolation cut it out (a data URL), shown on the page beside the photo; nothing when the catalog does not isolate. */
async function isolatedView(iso: IsolatedView | undefined): Promise<{ isolated?: { imageUrl: string; method: string } }> {
  if (!iso) return {};
  const jpeg = await encodeJpeg(iso.image, 88);
  return { isolated: { imageUrl: `data:image/jpeg;base64,${jpeg.toString('base64')}`, method: iso.method } };
}

function outfitView(rec: Recommender, res: OutfitResult) {
  return { ...res, picks: res.picks.map((p) => ({ ...p, imageUrl: `/api/images/${encodeURIComponent(p.id)}` })) };
}

type Source = { kind: 'upload' | 'url'; bytes: Uint8Array } | { kind: 'id'; id: string };

interface SearchRequest {
  source: Source | null;
  options: SearchOptions;
  label: string;
  /** Words, alone or with the photo. */
  text?: string;
  /** Fields whose word filters the shopper removed (the page's chips). */
  dropFilters: string[];
}

function textFields(body: Record<string, unknown>): Pick<SearchRequest, 'text' | 'dropFilters'> {
  const out: Pick<SearchRequest, 'text' | 'dropFilters'> = { dropFilters: [] };
  if (body.text !== undefined) out.text = checkText(body.text);
  let drop = body.dropFilters;
  if (typeof drop === 'string') {
    try {
      drop = drop ? JSON.parse(drop) : [];
    } catch {
      throw invalid('dropFilters', 'a JSON array of field names', drop);
    }
  }
  if (drop !== undefined) {
    if (!Array.isArray(drop) || !drop.every((d) => typeof d === 'string')) throw invalid('dropFilters', 'an array of field names', JSON.stringify(drop));
    out.dropFilters = drop as string[];
  }
  return out;
}

async function readSearchRequest(req: FastifyRequest, rec: Recommender, config: Config): Promise<SearchRequest> {
  if (req.isMultipart()) {
    const fields: Record<string, string> = {};
    let bytes: Uint8Array | null = null;
    let label = 'the uploaded photo';
    for await (const part of req.parts()) {
      if (part.type === 'file') {
        if (bytes) throw new FashionError('input/invalid', 'Expected one photo in the upload but received several');
        label = part.filename || label;
        bytes = await part.toBuffer();
      } else {
        fields[part.fieldname] = String(part.value);
      }
    }
    const words = textFields(fields);
    if (!bytes && words.text === undefined) throw new FashionError('input/invalid', 'Expected a photo in the multipart field "image" but the upload has no file');
    return { source: bytes ? { kind: 'upload', bytes } : null, options: searchOptionsFromBody(rec, fields), label, ...words };
  }
  const ct = String(req.headers['content-type'] ?? '');
  if (!ct.startsWith('application/json')) {
    throw new FashionError('image/unsupported-type', `Expected multipart/form-data (a photo) or application/json (imageUrl or id) but received ${ct || 'no content type'}`);
  }
  const body = (req.body ?? {}) as Record<string, unknown>;
  const options = searchOptionsFromBody(rec, body);
  const url = body.imageUrl ?? body.url;
  const words = textFields(body);
  if (typeof body.id === 'string' && body.id) return { source: { kind: 'id', id: body.id }, options, label: body.id, ...words };
  if (typeof url === 'string' && url) {
    return { source: { kind: 'url', bytes: await fetchImage(url, { maxBytes: config.maxUploadBytes }) }, options, label: url, ...words };
  }
  if (words.text !== undefined) return { source: null, options, label: 'the words', ...words };
  throw new FashionError('input/invalid', 'Expected a photo upload, an "imageUrl" or an item "id" in the search request but received none');
}

function searchOptionsFromBody(rec: Recommender, body: Record<string, unknown>): SearchOptions {
  let filters: Filters = {};
  if (body.filters !== undefined && body.filters !== '') {
    let raw = body.filters;
    if (typeof raw === 'string') {
      try {
        raw = JSON.parse(raw);
      } catch {
        throw invalid('filters', 'a JSON object', raw);
      }
    }
    filters = checkFilters(raw);
  }
  checkFilterFields(rec, filters);
  return { ...numberOptions(body.k, body.metric), filters };
}

function searchOptionsFromQuery(rec: Recommender, query: Record<string, string | string[]>): SearchOptions {
  const filters: Record<string, string[]> = {};
  for (const [key, value] of Object.entries(query)) {
    if (RESERVED_QUERY.has(key)) continue;
    filters[key] = (Array.isArray(value) ? value : [value]).flatMap((v) => v.split('|')).filter(Boolean);
  }
  checkFilterFields(rec, filters);
  return { ...numberOptions(query.k, query.metric), filters };
}

function checkFilterFields(rec: Recommender, filters: Filters): void {
  const columns = new Set(rec.info().metadataColumns);
  for (const field of Object.keys(filters)) {
    if (!columns.has(field)) throw invalid('filter field', `one of ${[...columns].join(', ') || '(no metadata columns)'}`, field);
  }
}

function numberOptions(k: unknown, metric: unknown): Pick<SearchOptions, 'k' | 'metric'> {
  const out: { k?: number; metric?: 'cosine' | 'euclidean' } = {};
  if (k !== undefined && k !== '') {
    const n = Number(k);
    if (!Number.isInteger(n) || n < 1 || n > 100) throw invalid('k', 'an integer from 1 to 100', k);
    out.k = n;
  }
  if (metric !== undefined && metric !== '') {
    if (metric !== 'cosine' && metric !== 'euclidean') throw invalid('metric', 'cosine or euclidean', metric);
    out.metric = metric;
  }
  return out;
}

function itemView(rec: Recommender, id: string) {
  const it = rec.item(id);
  return { id: it.id, imageUrl: `/api/images/${encodeURIComponent(it.id)}`, metadata: it.metadata };
}

function view(rec: Recommender, res: SearchResult) {
  return {
    metric: res.metric,
    k: res.k,
    timings: res.timings,
    ...(res.predicted ? { predicted: res.predicted } : {}),
    results: res.hits.map((h) => {
      const extra = h as TextHit;
      return {
        id: h.id,
        score: h.score,
        distance: h.distance,
        imageUrl: `/api/images/${encodeURIComponent(h.id)}`,
        metadata: h.metadata,
        ...(h.lookAlike ? { lookAlike: true } : {}),
        ...(extra.predicted ? { predicted: extra.predicted } : {}),
        ...(extra.unmatched ? { unmatched: extra.unmatched } : {}),
      };
    }),
  };
}

function logTimings(req: FastifyRequest, kind: string, res: SearchResult): void {
  req.log.info({ kind, ...res.timings, results: res.hits.length }, 'search timings');
}

function describeError(err: Error & { code?: string; statusCode?: number }): { status: number; code: string; message: string } {
  if (isFashionError(err)) return { status: err.status, code: err.code, message: err.message };
  switch (err.code) {
    case 'FST_REQ_FILE_TOO_LARGE':
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, code: 'image/too-large', message: `Expected a request of at most the upload limit but it was larger: ${err.message}` };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, code: 'image/unsupported-type', message: `Expected multipart/form-data or application/json: ${err.message}` };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, code: 'input/invalid', message: err.message };
    default:
      if (err.statusCode && err.statusCode < 500) return { status: err.statusCode, code: 'input/invalid', message: err.message };
      return { status: 500, code: 'server/error', message: err.message };
  }
}

