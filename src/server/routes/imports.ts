import { rm } from 'node:fs/promises';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type, type Static } from 'typebox';
import { ERROR_RESPONSES, jobAccepted, MAX_URL_LENGTH } from '../../api/schemas.js';
import { jobUrl, jobView } from '../../api/views.js';
import { importFeedInBackground, type FeedImport } from '../../app/backgroundIndex.js';
import type { Config } from '../../config.js';
import { FashionError } from '../../errors.js';
import { downloadFeed, keepFeed, type KeptFeed } from '../../feeds/feedImport.js';
import { parseMappings, type FeedFormat, type FeedMapping } from '../../feeds/readFeed.js';
import type { Job, JsonValue } from '../../jobs/jobQueue.js';
import type { QueueHandles } from '../../app/queueHandles.js';
import { enqueueFeed } from '../../app/queueIngest.js';
import { compileCheck } from '../../util/schemaCheck.js';
import type { ApiDeps } from '../deps.js';
import { requireJsonOrForm } from '../multipart.js';

/** The multipart field that carries the feed. */
export const FEED_FIELD = 'feed';
const MAX_MAPPINGS = 50;

const FeedFormatSchema = Type.Enum(['csv', 'tsv', 'jsonl'], { description: 'The feed\'s format (default: by its name or content type, else sniffed)' });
const PruneSchema = Type.Boolean({ description: 'Delete the products that left the feed even when they are more than 10% of the catalog (refused otherwise: catalog/prune-refused)' });
const MAP_DESCRIPTION = 'target=source: the feed\'s column `source` becomes the field `target`, e.g. articleType=product_type';

const ImportJsonBody = Type.Object(
  {
    url: Type.String({ minLength: 1, maxLength: MAX_URL_LENGTH, description: 'An http(s) URL of the feed; downloaded with the guards of any URL a client gives (public addresses only unless FASHION_FETCH_ALLOW)' }),
    format: Type.Optional(FeedFormatSchema),
    map: Type.Optional(Type.Array(Type.String({ minLength: 3, maxLength: 200, description: MAP_DESCRIPTION }), { maxItems: MAX_MAPPINGS })),
    prune: Type.Optional(PruneSchema),
  },
  { additionalProperties: false },
);
/** The text fields of a multipart import, as they arrive (prune converted), checked with the same limits. */
const ImportFormFields = Type.Object(
  {
    format: Type.Optional(FeedFormatSchema),
    map: Type.Optional(Type.String({ maxLength: 16 * 1024, description: `${MAP_DESCRIPTION}; several comma-separated, or the field repeated` })),
    prune: Type.Optional(PruneSchema),
  },
  { additionalProperties: false },
);
const ImportForm = Type.Object(
  { [FEED_FIELD]: Type.String({ format: 'binary', description: 'The product feed: CSV, TSV or JSON Lines, one product a row' }), ...ImportFormFields.properties },
  { additionalProperties: false },
);
type ImportJson = Static<typeof ImportJsonBody>;

const checkForm = compileCheck(ImportFormFields, { convert: true, rootName: 'the multipart form' });

/** What a request asks: the kept feed, and how to read and apply it. */
interface ImportRequest {
  readonly kept: KeptFeed;
  readonly source: { readonly upload: string } | { readonly url: string };
  readonly format?: FeedFormat | undefined;
  /** The mappings as sent (`articleType=product_type`), and parsed. */
  readonly mapArgs: readonly string[];
  readonly map: readonly FeedMapping[];
  readonly prune: boolean;
}

/**
 * POST /api/imports: a shop's product feed (src/feeds/readFeed.ts), uploaded or by URL, is kept under the catalog
 * (src/feeds/feedImport.ts) and indexed by a background 'feed' job (src/app/backgroundIndex.ts), exactly as
 * `fashion index --feed` would, but with every photo URL held to the server's fetch guards. Answers 202 with the job at
 * once (Location: /api/jobs/{id}); the feed's products are searchable when the job has succeeded. Needs a write key.
 *
 * A feed by URL is downloaded before the answer, within the request's time limit, so that a refused or failed
 * download is this request's error (403 url/not-allowed, 502 url/fetch-failed, 413 input/too-large) rather than a job
 * that fails later; a feed too large or too slow for that is uploaded instead. Feeds may be far larger than a photo:
 * the multipart limit is raised for this route alone (FASHION_MAX_FEED_BYTES).
 */
export const importRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, { svc, config }) => {
  app.post('/api/imports', {
    config: { access: 'write' },
    schema: {
      tags: ['catalog'],
      summary: 'Index a product feed (uploaded, or by URL) as a background job',
      description:
        'Multipart with the feed in `feed` (and optional `format`, `map`, `prune` fields), or JSON `{"url": "https://…", "format"?, "map"?: ["a=b"], "prune"?}`. ' +
        '202 with the job (Location: /api/jobs/{id}); GET it until it has finished. Rows whose photo could not be had are the job\'s errors. ' +
        'Feed jobs run one at a time: one submitted while another runs is queued. ' +
        'On a server with a queue (--queue), the rows become jobs of the ingest workers (`fashion worker`), one per product, under a run whose record any replica answers for.',
      security: [{ bearer: [] }],
      body: { required: true, content: { 'application/json': { schema: ImportJsonBody }, 'multipart/form-data': { schema: ImportForm } } },
      response: {
        202: jobAccepted('The feed is kept and its job queued or running'),
        ...ERROR_RESPONSES,
      },
    },
  }, async (req, reply) => {
    const asked = await importRequest(req, config);
    const job = await (svc.queue ? enqueueImport(svc.queue, config, feedImport(asked)) : importFeedInBackground(svc, feedImport(asked))).catch(async (err: unknown) => {
      await rm(asked.kept.file, { force: true });
      throw err;
    });
    req.log.info({ jobId: job.id, bytes: asked.kept.bytes, format: asked.format ?? asked.kept.format, status: job.status }, 'feed import submitted');
    return reply.code(202).header('location', jobUrl(job)).send(jobView(job));
  });
};

/**
 * On a server configured with a queue: the feed's rows become the workers' jobs (one per product, src/app/queueIngest.ts)
 * under a run whose record is in Redis, so any replica answers GET /api/jobs/:id for it. The jobs carry their rows, so
 * the kept file is not needed once they are queued.
 */
async function enqueueImport(handles: QueueHandles, config: Config, feed: FeedImport): Promise<Job> {
  try {
    return await enqueueFeed(config, handles, feed.file, { format: feed.format, map: feed.map, prune: feed.prune, guard: { allow: config.fetchAllow }, label: feed.label, params: feed.params });
  } finally {
    await rm(feed.file, { force: true });
  }
}

async function importRequest(req: FastifyRequest, config: Config): Promise<ImportRequest> {
  requireJsonOrForm(req);
  if (req.isMultipart()) return fromForm(req, config);
  const body = req.body as ImportJson;
  const mapArgs = body.map ?? [];
  const map = parseMappings(mapArgs, 'map');
  // The request's own deadline answers 503 at requestTimeoutMs: the download gives up a little before it.
  const kept = await downloadFeed(body.url, config.dataDir, { allow: config.fetchAllow, maxBytes: config.maxFeedBytes, timeoutMs: Math.max(1_000, config.requestTimeoutMs - 2_000), format: body.format });
  return { kept, source: { url: body.url }, format: body.format, mapArgs, map, prune: body.prune ?? false };
}

/** The multipart form: the feed streamed to its file as it arrives, the text fields (before or after it) as strings. */
async function fromForm(req: FastifyRequest, config: Config): Promise<ImportRequest> {
  const fields: Record<string, string[]> = {};
  let kept: KeptFeed | undefined;
  let name = '';
  try {
    // One byte over the cap reaches keepFeed, which refuses it with a feed's error (the multipart one speaks of photos).
    for await (const part of req.parts({ limits: { fileSize: config.maxFeedBytes + 1 } })) {
      if (part.type === 'file') {
        if (part.fieldname !== FEED_FIELD) {
          part.file.resume();
          throw new FashionError('input/invalid', `Expected the feed in the multipart field "${FEED_FIELD}" but received a file in ${JSON.stringify(part.fieldname)}`);
        }
        if (kept) {
          part.file.resume();
          throw new FashionError('input/invalid', `Expected one feed in the multipart field "${FEED_FIELD}" but received several`);
        }
        name = part.filename ?? '';
        kept = await keepFeed(part.file, config.dataDir, { maxBytes: config.maxFeedBytes, name, contentType: part.mimetype });
      } else {
        (fields[part.fieldname] ??= []).push(String(part.value));
      }
    }
    if (!kept) throw new FashionError('input/invalid', `Expected a product feed (CSV, TSV or JSON Lines) in the multipart field "${FEED_FIELD}" but the upload has no file`);
    const form = checkForm(Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, k === 'map' ? v.join(',') : v.at(-1)!])));
    const mapArgs = (form.map ?? '').split(',').map((m) => m.trim()).filter(Boolean);
    if (mapArgs.length > MAX_MAPPINGS) throw new FashionError('input/invalid', `Expected at most ${MAX_MAPPINGS} mappings for map but received ${mapArgs.length}`);
    return { kept, source: { upload: name.slice(0, 200) || 'feed' }, format: form.format, mapArgs, map: parseMappings(mapArgs, 'map'), prune: form.prune ?? false };
  } catch (err) {
    if (kept) await rm(kept.file, { force: true });
    throw err;
  }
}

/** The job's request: what it shows (the upload's name or the URL without its query, which may hold a token) and its label. */
function feedImport(asked: ImportRequest): FeedImport {
  const shown = 'url' in asked.source ? withoutQuery(asked.source.url) : asked.source.upload;
  const params: JsonValue = {
    ...('url' in asked.source ? { url: shown } : { upload: shown }),
    format: asked.format ?? asked.kept.format,
    map: [...asked.mapArgs],
    prune: asked.prune,
    bytes: asked.kept.bytes,
  };
  return {
    file: asked.kept.file,
    // Messages read "the feed <label>", "Expected <label> to be CSV": the URL, or the upload's name in quotes.
    label: 'url' in asked.source ? shown : JSON.stringify(shown),
    params,
    format: asked.format ?? asked.kept.format,
    map: asked.map,
    prune: asked.prune,
  };
}

function withoutQuery(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}
