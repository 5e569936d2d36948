import { Type, type Static, type TSchema } from 'typebox';
import { ERROR_TABLE } from '../errors.js';
import { MAX_PHOTOS } from '../catalog/itemFields.js';
import { JOB_KINDS, JOB_STATUSES } from '../jobs/jobQueue.js';
import { DEFAULT_K, MAX_K } from '../query/query.js';
import { MAX_TEXT_LENGTH } from '../text/queryParser.js';

/**
 * The HTTP API's shapes, in one place: request parts (params, query strings, JSON bodies, multipart fields) and
 * response bodies. The routes (src/server/routes) hang them on fastify, which validates requests with them and
 * serializes responses with them (fast-json-stringify drops what a response schema does not name, so a field the
 * page reads must be listed here), and @fastify/swagger turns them into the OpenAPI document.
 */

// ---------------------------------------------------------------- request parts

/** Results wanted: one limit for every transport (src/query/query.ts). */
export const KSchema = Type.Integer({ minimum: 1, maximum: MAX_K, default: DEFAULT_K, description: `Results wanted, 1 to ${MAX_K} (default: the server's --k, ${DEFAULT_K} unless set)` });
export const MetricSchema = Type.Enum(['cosine', 'euclidean'], { description: 'Similarity measure (default: the server\'s --metric)' });
/**
 * Every list and string a request may carry is bounded here, so that validation itself stays cheap and no request
 * makes the server hold or compare more than these (a metadata value or field name is far shorter in any catalog).
 */
export const MAX_FILTER_FIELDS = 20;
export const MAX_FILTER_VALUES = 50;
export const MAX_NAME_LENGTH = 200;
export const MAX_URL_LENGTH = 2048;
const FilterValueString = Type.String({ maxLength: MAX_NAME_LENGTH });
export const FilterValueSchema = Type.Union([FilterValueString, Type.Array(FilterValueString, { maxItems: MAX_FILTER_VALUES })]);
export const FiltersSchema = Type.Record(Type.String({ maxLength: MAX_NAME_LENGTH }), FilterValueSchema, {
  maxProperties: MAX_FILTER_FIELDS,
  description: `Metadata filters: field -> allowed value (or up to ${MAX_FILTER_VALUES} values); case is ignored. Fields are the catalog's metadata columns (at most ${MAX_FILTER_FIELDS}).`,
});
export const IncludeOutOfStockSchema = Type.Boolean({ description: 'Also products whose availability says out of stock (left out by default)' });
export const DropFiltersSchema = Type.Array(Type.String({ maxLength: MAX_NAME_LENGTH }), { maxItems: MAX_FILTER_FIELDS, description: 'Fields whose word filters the shopper removed (their words then only rank)' });
export const TextSchema = Type.String({ description: `Words ("red floral dress"), at most ${MAX_TEXT_LENGTH} characters; alone or with a photo / item` });
export const ImageUrlSchema = Type.String({ maxLength: MAX_URL_LENGTH, description: 'An http(s) URL of a photo; the server downloads it (with the upload limits)' });
export const ItemIdSchema = Type.String({ minLength: 1, maxLength: MAX_NAME_LENGTH, description: 'A catalog item id' });
export const HandleSchema = Type.String({ minLength: 1, maxLength: 64, description: 'The handle of a photo an earlier search embedded (its `query.handle`): the photo is reused, not sent again' });
/** A file part of a multipart body, as OpenAPI describes it. */
export const BinarySchema = Type.String({ format: 'binary', description: 'A photo (JPEG, PNG or WebP)' });

export const ItemParams = Type.Object({ id: ItemIdSchema });
export const ImageQuery = Type.Object(
  { photo: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_PHOTOS - 1, default: 0, description: 'Which photo of a product with several (0: its first)' })) },
  { additionalProperties: false },
);

export const DEFAULT_ITEMS_LIMIT = 24;
export const MAX_ITEMS_LIMIT = 200;
export const ItemsQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_ITEMS_LIMIT, default: DEFAULT_ITEMS_LIMIT, description: 'Items in the page' })),
    offset: Type.Optional(Type.Integer({ minimum: 0, default: 0, description: 'Where the spread starts' })),
  },
  { additionalProperties: false },
);

/** `k` and `metric`; every other parameter is a metadata filter (`gender=Women`, `articleType=Tshirts|Shirts`). */
export const SimilarQuery = Type.Object({ k: Type.Optional(KSchema), metric: Type.Optional(MetricSchema), includeOutOfStock: Type.Optional(IncludeOutOfStockSchema) }, { additionalProperties: FilterValueSchema });

/** A search as a JSON body: a photo by URL, a catalog item, words, or words with either. */
export const SearchJsonBody = Type.Object(
  {
    imageUrl: Type.Optional(ImageUrlSchema),
    url: Type.Optional(Type.String({ maxLength: MAX_URL_LENGTH, description: 'Same as imageUrl' })),
    handle: Type.Optional(HandleSchema),
    id: Type.Optional(ItemIdSchema),
    text: Type.Optional(TextSchema),
    k: Type.Optional(KSchema),
    metric: Type.Optional(MetricSchema),
    filters: Type.Optional(FiltersSchema),
    dropFilters: Type.Optional(DropFiltersSchema),
    includeOutOfStock: Type.Optional(IncludeOutOfStockSchema),
  },
  { additionalProperties: false, description: 'One of imageUrl (or url), id or text; text may join imageUrl or id' },
);

/** The text fields of a multipart search, as they arrive (strings; k converted), checked with the same limits. */
export const SearchFormFields = Type.Object(
  {
    k: Type.Optional(KSchema),
    metric: Type.Optional(MetricSchema),
    filters: Type.Optional(Type.String({ maxLength: 16 * 1024, description: 'Metadata filters as JSON text, e.g. {"gender":"Women"}' })),
    text: Type.Optional(TextSchema),
    dropFilters: Type.Optional(Type.String({ maxLength: 4 * 1024, description: 'Removed word-filter fields as JSON text, e.g. ["baseColour"]' })),
    includeOutOfStock: Type.Optional(IncludeOutOfStockSchema),
  },
  { additionalProperties: false },
);
/** A multipart search as OpenAPI documents it: the photo in `image` (or only `text`), and the fields above. */
export const SearchForm = Type.Object({ image: Type.Optional(BinarySchema), ...SearchFormFields.properties }, { additionalProperties: false });

/** A photo by URL (match, categorize). */
export const PhotoJsonBody = Type.Object({ imageUrl: Type.Optional(ImageUrlSchema), url: Type.Optional(Type.String({ maxLength: MAX_URL_LENGTH, description: 'Same as imageUrl' })), handle: Type.Optional(HandleSchema) }, { additionalProperties: false });
/** A photo or a catalog item (outfit). */
export const ItemOrPhotoJsonBody = Type.Object({ ...PhotoJsonBody.properties, id: Type.Optional(ItemIdSchema) }, { additionalProperties: false });
/** A multipart body that is only the photo. */
export const PhotoFormFields = Type.Object({}, { additionalProperties: false });
export const PhotoForm = Type.Object({ image: BinarySchema }, { additionalProperties: false });

export const MatchQuery = Type.Object(
  { threshold: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: 'Margin needed for a match (default: the catalog\'s)' })) },
  { additionalProperties: false },
);

/** Metadata of a written product: field -> text. */
export const WriteMetadataSchema = Type.Record(Type.String({ maxLength: 64 }), Type.String({ maxLength: 1000 }), {
  maxProperties: 50,
  description: 'The product\'s metadata: field -> text (gender, articleType, baseColour, productDisplayName, or the shop\'s own fields)',
});
/** Create or replace a product by photo URL. */
export const PutItemJsonBody = Type.Object(
  {
    imageUrl: Type.Optional(ImageUrlSchema),
    imageUrls: Type.Optional(Type.Array(ImageUrlSchema, { maxItems: MAX_PHOTOS, description: 'Photos of the product, after imageUrl when both are given; each is embedded, and a search by any finds it' })),
    metadata: Type.Optional(WriteMetadataSchema),
  },
  { additionalProperties: false },
);
export const PutItemForm = Type.Object(
  {
    image: Type.Union([BinarySchema, Type.Array(BinarySchema, { minItems: 1, maxItems: MAX_PHOTOS })], { description: 'The product\'s photos: the field once per photo, the first first' }),
    metadata: Type.Optional(Type.String({ maxLength: 16 * 1024, description: 'The metadata as JSON text' })),
  },
  { additionalProperties: false },
);
export const PatchItemBody = Type.Object(
  {
    metadata: Type.Record(Type.String({ maxLength: 64 }), Type.Union([Type.String({ maxLength: 1000 }), Type.Null()]), {
      maxProperties: 50,
      description: 'Fields to set; null removes a field',
    }),
  },
  { additionalProperties: false },
);

export const DuplicatesQuery = Type.Object(
  {
    threshold: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1, description: 'Similarity from which two photos are near-duplicates (default: the product\'s near-duplicate threshold)' })),
    format: Type.Optional(Type.Enum(['json', 'csv'], { default: 'json' })),
    near: Type.Optional(Type.Boolean({ default: true, description: 'Also look for near-duplicates (slower)' })),
  },
  { additionalProperties: false },
);

/** A request body per content type: JSON validated by its schema, multipart documented (the handler streams it). */
export function jsonOrForm(json: TSchema, form: TSchema, required = true) {
  return { required, content: { 'application/json': { schema: json }, 'multipart/form-data': { schema: form } } };
}

// ---------------------------------------------------------------- responses

export const ErrorBody = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: `A stable code: ${Object.keys(ERROR_TABLE).join(', ')}` }),
      message: Type.String({ description: 'What was expected, what came and what to do' }),
    }),
  },
  { description: 'An error' },
);
/** Every route answers errors with the same shape. */
export const ERROR_RESPONSES = { '4xx': ErrorBody, '5xx': ErrorBody } as const;

export const MetadataSchema = Type.Record(Type.String(), Type.String(), { description: 'The item\'s metadata columns' });
export const PredictionSchema = Type.Object({ value: Type.String(), confidence: Type.Number() });
export const PredictionsSchema = Type.Record(Type.String(), PredictionSchema, { description: 'Predicted labels (articleType, baseColour, gender) with confidences' });

export const ItemView = Type.Object({
  id: Type.String(),
  imageUrl: Type.String({ description: 'Its (first) photo' }),
  imageUrls: Type.Optional(Type.Array(Type.String(), { description: 'Every photo, the first first, when the product has several' })),
  metadata: MetadataSchema,
});
export const ItemsPage = Type.Object({ total: Type.Integer(), items: Type.Array(ItemView) });

/** `ok` (200), or `degraded` (503, so that a load balancer or an orchestrator sees it) with the reason: photos cannot be embedded now. */
export const HealthResponse = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')]),
  reason: Type.Optional(Type.String({ description: 'Why the server is degraded, e.g. the inference thread is restarting after a crash' })),
  items: Type.Integer(),
  dims: Type.Integer(),
  model: Type.Union([Type.String(), Type.Null()]),
});

const ModelIdentitySchema = Type.Object(
  { modelName: Type.String(), modelSha256: Type.String(), featureTensor: Type.String(), pooling: Type.String(), preprocess: Type.Record(Type.String(), Type.Unknown()), dims: Type.Integer() },
  { additionalProperties: true },
);
export const FacetsSchema = Type.Record(Type.String(), Type.Array(Type.Object({ value: Type.String(), count: Type.Integer() })));
export const InfoResponse = Type.Object(
  {
    items: Type.Integer(),
    dims: Type.Integer(),
    model: Type.Union([ModelIdentitySchema, Type.Null()]),
    photos: Type.Boolean({ description: 'Whether the catalog knows its photo folder (the server\'s paths are never shown)' }),
    metadataColumns: Type.Array(Type.String()),
    index: Type.String(),
    refinement: Type.Union([Type.Object({ trainedAt: Type.String(), dims: Type.Integer(), report: Type.Record(Type.String(), Type.Unknown()) }, { additionalProperties: true }), Type.Null()]),
    refinementNote: Type.Optional(Type.String()),
    facets: FacetsSchema,
  },
  { additionalProperties: false },
);

export const TimingsSchema = Type.Object({
  decodeMs: Type.Optional(Type.Number()),
  embedMs: Type.Optional(Type.Number()),
  searchMs: Type.Number(),
  batchSize: Type.Optional(Type.Integer()),
});
export const IsolatedSchema = Type.Object({ imageUrl: Type.String({ description: 'The product as isolation cut it out, as a data: URL' }), method: Type.String() });

/** What was searched for, echoed. */
export const SearchQueryEcho = Type.Object({
  id: Type.Optional(Type.String()),
  kind: Type.Optional(Type.String({ description: 'upload or url, for a photo' })),
  url: Type.Optional(Type.String()),
  text: Type.Optional(Type.String()),
  handle: Type.Optional(Type.String({ description: 'For a photo: send it as `handle` to match, categorize, outfit or search again without uploading it' })),
  isolated: Type.Optional(IsolatedSchema),
});

const WordFilterSchema = Type.Object(
  {
    field: Type.String(),
    values: Type.Array(Type.String()),
    first: Type.Optional(Type.String()),
    words: Type.String({ description: 'The words as the shopper wrote them' }),
    corrected: Type.Optional(Type.String({ description: 'The words as they were read, when a typing slip was corrected ("handbag" for "hanbdag")' })),
  },
  { additionalProperties: true },
);
const CorrectionSchema = Type.Object({
  from: Type.String({ description: 'A word the catalog does not know, as typed' }),
  to: Type.String({ description: 'The catalog word it was read as' }),
  distance: Type.Integer({ description: 'Edits between them (a swap of two letters is one)' }),
});
/** How the words were read: which became filters, which were removed or relaxed, which ranked. */
export const TextInfoSchema = Type.Object(
  {
    text: Type.String(),
    filters: Type.Array(WordFilterSchema),
    removed: Type.Array(WordFilterSchema),
    relaxed: Type.Array(WordFilterSchema),
    words: Type.Array(Type.String()),
    unmatchedWords: Type.Array(Type.String()),
    corrections: Type.Array(CorrectionSchema, { description: 'Typing slips read as the catalog words they most likely are' }),
    didYouMean: Type.Optional(Type.String({ description: 'The words as they were read when some were corrected: "snekers for men" -> "sneakers for men"' })),
    engine: Type.String(),
  },
  { additionalProperties: true },
);

export const HitView = Type.Object({
  id: Type.String(),
  score: Type.Number({ description: 'Similarity in [0, 1], higher is closer' }),
  distance: Type.Number(),
  imageUrl: Type.String({ description: 'The photo of the product nearest the query (a product with several photos is listed once)' }),
  metadata: MetadataSchema,
  lookAlike: Type.Optional(Type.Boolean({ description: 'Placed by the same-product space as an item that looks most like the photo: moved first, or (a photo taken off a backdrop) given the fifth place, where its score may be below the next ones' })),
  predicted: Type.Optional(PredictionsSchema),
  unmatched: Type.Optional(Type.Array(Type.String({ description: 'Word filters this hit does not satisfy' }))),
});

export const SearchResponse = Type.Object({
  query: SearchQueryEcho,
  text: Type.Optional(TextInfoSchema),
  metric: Type.String(),
  k: Type.Integer(),
  timings: TimingsSchema,
  predicted: Type.Optional(PredictionsSchema),
  results: Type.Array(HitView),
});

export const MatchHitView = Type.Object({ id: Type.String(), score: Type.Number(), imageUrl: Type.String(), metadata: MetadataSchema });
export const MatchResponse = Type.Object({
  query: Type.Object({ kind: Type.String(), isolated: Type.Optional(IsolatedSchema) }),
  match: Type.Union([MatchHitView, Type.Null()]),
  confidence: Type.Number(),
  similarity: Type.Number(),
  threshold: Type.Number(),
  space: Type.String({ description: 'same-product or backbone' }),
  message: Type.String(),
  candidates: Type.Array(MatchHitView),
});

export const CategorizeResponse = Type.Object({ predicted: PredictionsSchema });

export const OutfitPickView = Type.Object({
  group: Type.String(),
  id: Type.String(),
  metadata: MetadataSchema,
  style: Type.Number(),
  reason: Type.String(),
  imageUrl: Type.String(),
});
export const OutfitResponse = Type.Object({
  query: Type.Object({
    id: Type.Optional(Type.String()),
    labels: Type.Record(Type.String(), Type.String()),
    predicted: Type.Optional(PredictionsSchema),
    role: Type.Union([Type.String(), Type.Null()]),
  }),
  picks: Type.Array(OutfitPickView),
  unfilled: Type.Array(Type.String()),
  message: Type.Optional(Type.String()),
});

export const DuplicateGroupView = Type.Object({
  kind: Type.String({ description: 'exact or near' }),
  ids: Type.Array(Type.String()),
  similarity: Type.Number(),
  items: Type.Array(Type.Object({ id: Type.String(), imageUrl: Type.String(), name: Type.String() })),
});
const DuplicatesScanFields = {
  generation: Type.Integer({ description: 'The catalog version scanned (the store\'s generation when the server read it)' }),
  items: Type.Integer({ description: 'Items in that version' }),
};
/** The scan the near-duplicate groups come from. */
export const DuplicatesScanSummary = Type.Object({
  ...DuplicatesScanFields,
  startedAt: Type.String({ format: 'date-time' }),
  finishedAt: Type.String({ format: 'date-time' }),
  durationMs: Type.Number(),
  pairs: Type.Integer({ description: 'Neighbour pairs measured; every threshold filters these, no rescan' }),
});
export const DuplicatesResponse = Type.Object({
  threshold: Type.Number(),
  exact: Type.Array(DuplicateGroupView),
  near: Type.Array(DuplicateGroupView),
  scan: Type.Optional(DuplicatesScanSummary),
});
/** Where the near-duplicate scan of this catalog version stands (PUT /api/duplicates/scan, or GET /api/duplicates while it runs). */
export const DuplicatesScanStatus = Type.Object(
  {
    status: Type.Enum(['running', 'done'], { description: 'running: GET /api/duplicates after Retry-After seconds; done: GET /api/duplicates answers at once, at any threshold' }),
    ...DuplicatesScanFields,
    startedAt: Type.String({ format: 'date-time' }),
    elapsedMs: Type.Optional(Type.Number({ description: 'While running: time since it started' })),
    finishedAt: Type.Optional(Type.String({ format: 'date-time' })),
    durationMs: Type.Optional(Type.Number()),
    pairs: Type.Optional(Type.Integer()),
  },
  { description: 'The near-duplicate scan of this catalog version' },
);

export type SearchJson = Static<typeof SearchJsonBody>;
export type PutItemJson = Static<typeof PutItemJsonBody>;
export type PatchItemJson = Static<typeof PatchItemBody>;
export type PhotoJson = Static<typeof PhotoJsonBody>;
export type ItemOrPhotoJson = Static<typeof ItemOrPhotoJsonBody>;
export type SimilarQueryString = Static<typeof SimilarQuery>;
export type ItemViewBody = Static<typeof ItemView>;
export type ItemsPageBody = Static<typeof ItemsPage>;
export type HealthBody = Static<typeof HealthResponse>;
export type InfoBody = Static<typeof InfoResponse>;
export type SearchBody = Static<typeof SearchResponse>;
export type HitBody = Static<typeof HitView>;
export type MatchBody = Static<typeof MatchResponse>;
export type CategorizeBody = Static<typeof CategorizeResponse>;
export type OutfitBody = Static<typeof OutfitResponse>;
export type DuplicatesBody = Static<typeof DuplicatesResponse>;
export type DuplicatesScanBody = Static<typeof DuplicatesScanStatus>;
export type PredictionsBody = Static<typeof PredictionsSchema>;
export type IsolatedBody = Static<typeof IsolatedSchema>;

// ---------------------------------------------------------------- jobs

/** Work that runs in the background (src/jobs/jobQueue.ts): its record, as GET /api/jobs and /api/jobs/:id answer it. */
export const JobStatusSchema = Type.Enum([...JOB_STATUSES], {
  description: 'queued, running, then succeeded, failed, cancelled, or interrupted (the process that ran it stopped before it finished)',
});
export const JobKindSchema = Type.Enum([...JOB_KINDS], { description: 'What the job does' });
export const JobView = Type.Object(
  {
    id: Type.String(),
    kind: JobKindSchema,
    status: JobStatusSchema,
    params: Type.Unknown({ description: 'What the job was asked to do' }),
    progress: Type.Object({
      done: Type.Number(),
      total: Type.Number({ description: '0 while unknown' }),
      stage: Type.Optional(Type.String({ description: 'The phase, for a job with several' })),
      message: Type.Optional(Type.String()),
    }),
    errors: Type.Object(
      {
        count: Type.Integer({ description: 'Items the job skipped' }),
        first: Type.Array(Type.Object({ item: Type.Optional(Type.String()), message: Type.String() }), { description: 'The first of them' }),
      },
      { description: 'Items the job could not process and went on without (a bad photo, a malformed row)' },
    ),
    result: Type.Unknown({ description: 'What the job produced, once succeeded (null before)' }),
    failure: Type.Union([Type.Object({ code: Type.String(), message: Type.String() }), Type.Null()], { description: 'Why it did not succeed (null while it runs and when it succeeded)' }),
    createdAt: Type.String({ format: 'date-time' }),
    startedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    finishedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  },
  { description: 'A background job' },
);

/** 202 with the job a route started (or joined) and its Location, to poll at GET /api/jobs/{id}. */
export function jobAccepted(description: string) {
  return {
    description,
    headers: { location: Type.String({ description: 'The job: /api/jobs/{id}' }) },
    content: { 'application/json': { schema: JobView } },
  };
}
export const DEFAULT_JOBS_LIMIT = 20;
export const MAX_JOBS_LIMIT = 200;
export const JobsQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_JOBS_LIMIT, default: DEFAULT_JOBS_LIMIT, description: `Jobs wanted, newest first (1 to ${MAX_JOBS_LIMIT})` })),
    status: Type.Optional(JobStatusSchema),
    kind: Type.Optional(JobKindSchema),
  },
  { additionalProperties: false },
);
export const JobParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100, description: 'A job id' }) });
export const JobsResponse = Type.Object({ jobs: Type.Array(JobView) });
/** The duplicates scan's status with the job that runs it (PUT /api/duplicates/scan, GET /api/duplicates while it runs). */
export const DuplicatesScanJobStatus = Type.Object(
  { ...DuplicatesScanStatus.properties, job: Type.Optional(JobView) },
  { description: 'The near-duplicate scan of this catalog version, and its job (GET /api/jobs/{id} follows it too)' },
);

export type JobBody = Static<typeof JobView>;
export type DuplicatesScanJobBody = Static<typeof DuplicatesScanJobStatus>;
