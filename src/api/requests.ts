import { FashionError, invalid } from '../errors.js';
import type { ItemOrPhoto, PhotoSource, Query, QueryOptions, TextPart } from '../query/query.js';
import { checkFilters, type Filters } from '../search/filters.js';
import type { Metadata } from '../store/catalogStore.js';
import { checkText } from '../text/textQuery.js';
import {
  DropFiltersSchema,
  FiltersSchema,
  MAX_FILTER_FIELDS,
  MAX_FILTER_VALUES,
  PhotoFormFields,
  SearchFormFields,
  type ItemOrPhotoJson,
  type PhotoJson,
  type SearchJson,
  type SimilarQueryString,
} from './schemas.js';
import { compileCheck } from '../util/schemaCheck.js';

/**
 * Requests -> the `Query` union (src/query/query.ts) and photo sources. JSON bodies and query strings arrive
 * already checked by their schemas (src/server/validation.ts); multipart fields are checked here with the same
 * schemas. No fastify here: the transport hands over plain values.
 */

/** A multipart body as the server streamed it: the photo in field `image` (if any) and the text fields. */
export interface UploadForm {
  /** The first photo (a search's only one). */
  readonly file?: { readonly bytes: Uint8Array; readonly label: string };
  /** Every photo, in the order sent (a product's). */
  readonly files?: ReadonlyArray<{ readonly bytes: Uint8Array; readonly label: string }>;
  readonly fields: Readonly<Record<string, string>>;
}

const NO_SOURCE = 'Expected a photo upload, an "imageUrl", an item "id" or "text" in the search request but received none';
const NO_FILE = 'Expected a photo in the multipart field "image" but the upload has no file';

const checkSearchForm = compileCheck(SearchFormFields, { convert: true, rootName: 'the multipart form' });
const checkPhotoForm = compileCheck(PhotoFormFields, { rootName: 'the multipart form' });
const checkFiltersJson = compileCheck(FiltersSchema, { rootName: 'filters', prefix: 'filters' });
const checkDropFiltersJson = compileCheck(DropFiltersSchema, { rootName: 'dropFilters', prefix: 'dropFilters' });

/** A search sent as JSON: a photo URL, a catalog item, words, or words with either. */
export function searchQueryFromJson(body: SearchJson, filterFields: readonly string[]): Query {
  const options = queryOptions(body.k, body.metric, body.filters === undefined ? undefined : checkFilters(body.filters), filterFields, body.includeOutOfStock);
  const words = textPart(body.text, body.dropFilters);
  if (body.id) return words ? { kind: 'item+text', id: body.id, ...words, ...options } : { kind: 'item', id: body.id, ...options };
  const photo = jsonPhoto(body);
  if (photo) {
    return words ? { kind: 'photo+text', photo, ...words, ...options } : { kind: 'photo', photo, ...options };
  }
  if (words) return { kind: 'text', ...words, ...options };
  throw new FashionError('input/invalid', NO_SOURCE);
}

/** A search sent as multipart: the photo in `image`, or only `text`; k, metric, filters (JSON text), dropFilters (JSON text). */
export function searchQueryFromForm(form: UploadForm, filterFields: readonly string[]): Query {
  const fields = checkSearchForm(withoutEmpty(form.fields, ['k', 'metric', 'filters', 'dropFilters', 'includeOutOfStock']));
  const filters = fields.filters === undefined ? undefined : checkFilters(checkFiltersJson(jsonField('filters', fields.filters, 'a JSON object')));
  const drop = fields.dropFilters === undefined ? undefined : checkDropFiltersJson(jsonField('dropFilters', fields.dropFilters, 'a JSON array of field names'));
  const options = queryOptions(fields.k, fields.metric, filters, filterFields, fields.includeOutOfStock);
  const words = textPart(fields.text, drop);
  if (form.file) {
    const photo: PhotoSource = { kind: 'upload', bytes: form.file.bytes, label: form.file.label };
    return words ? { kind: 'photo+text', photo, ...words, ...options } : { kind: 'photo', photo, ...options };
  }
  if (words) return { kind: 'text', ...words, ...options };
  throw new FashionError('input/invalid', NO_FILE);
}

/** More like this item: `k`, `metric`, and every other query parameter a metadata filter (`a|b` lists values). */
export function similarQuery(id: string, query: SimilarQueryString, filterFields: readonly string[]): Query {
  const { k, metric, includeOutOfStock, ...rest } = query;
  const filters: Record<string, string[]> = {};
  for (const [field, value] of Object.entries(rest)) {
    if (value === undefined) continue;
    filters[field] = (Array.isArray(value) ? value : [value as string]).flatMap((v) => v.split('|')).filter(Boolean);
    if (filters[field]!.length > MAX_FILTER_VALUES) throw invalid(field, `at most ${MAX_FILTER_VALUES} values`, `${filters[field]!.length} values`);
  }
  if (Object.keys(filters).length > MAX_FILTER_FIELDS) throw invalid('filters', `at most ${MAX_FILTER_FIELDS} fields`, `${Object.keys(filters).length} fields`);
  return { kind: 'item', id, ...queryOptions(k, metric, filters, filterFields, includeOutOfStock) };
}

/** The photo of a match or a categorisation: a URL in JSON. `purpose` ends the refusal ("to match"). */
export function photoFromJson(body: PhotoJson, purpose: string): PhotoSource {
  const photo = jsonPhoto(body);
  if (!photo) throw new FashionError('input/invalid', `Expected a photo upload, an "imageUrl" or a "handle" ${purpose} but received none`);
  return photo;
}

/** The photo a JSON body names: an earlier photo's `handle` first, else `imageUrl` (or `url`); null when none. */
function jsonPhoto(body: PhotoJson): PhotoSource | null {
  if (body.handle) return { kind: 'handle', handle: body.handle };
  const url = body.imageUrl || body.url;
  return url ? { kind: 'url', url } : null;
}

/** The photo of a match or a categorisation, uploaded. */
export function photoFromForm(form: UploadForm): PhotoSource {
  checkPhotoForm(form.fields);
  if (!form.file) throw new FashionError('input/invalid', NO_FILE);
  return { kind: 'upload', bytes: form.file.bytes, label: form.file.label };
}

/** What an outfit starts from, in JSON: a catalog item (`id`) or a photo URL. */
export function itemOrPhotoFromJson(body: ItemOrPhotoJson): ItemOrPhoto {
  if (body.id) return { kind: 'item', id: body.id };
  const photo = jsonPhoto(body);
  if (!photo) throw new FashionError('input/invalid', 'Expected a photo upload, an "imageUrl" or an item "id" for the outfit but received none');
  return { kind: 'photo', photo };
}

export function itemOrPhotoFromForm(form: UploadForm): ItemOrPhoto {
  return { kind: 'photo', photo: photoFromForm(form) };
}

/** The catalog's metadata columns are the only filter fields: an unknown one is refused rather than matching nothing. */
export function checkFilterFields(filters: Filters, filterFields: readonly string[]): void {
  const columns = new Set(filterFields);
  for (const field of Object.keys(filters)) {
    if (!columns.has(field)) throw invalid('filter field', `one of ${[...columns].join(', ') || '(no metadata columns)'}`, field);
  }
}

function queryOptions(k: number | undefined, metric: 'cosine' | 'euclidean' | undefined, filters: Filters | undefined, filterFields: readonly string[], includeOutOfStock?: boolean): QueryOptions {
  const f = filters ?? {};
  checkFilterFields(f, filterFields);
  return { ...(k !== undefined ? { k } : {}), ...(metric ? { metric } : {}), filters: f, ...(includeOutOfStock ? { includeOutOfStock: true } : {}) };
}

function textPart(text: string | undefined, dropFilters: readonly string[] | undefined): TextPart | undefined {
  if (text === undefined) return undefined;
  return { text: checkText(text), dropFilters: dropFilters ?? [] };
}

function jsonField(name: string, text: string, expected: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw invalid(name, expected, text);
  }
}

/** A product written as multipart: its photo in `image`, its metadata as JSON text in `metadata` (checked by the writer). */
export function putItemFromForm(form: UploadForm): { photos: Array<{ bytes: Uint8Array; label: string }>; metadata: Metadata } {
  const photos = form.files ?? (form.file ? [form.file] : []);
  if (photos.length === 0) throw new FashionError('input/invalid', 'Expected the product\'s photo in the multipart field "image" (one or more)');
  const metadata = form.fields.metadata === undefined ? {} : jsonField('metadata', form.fields.metadata, 'a JSON object of field names to text');
  return { photos: photos.map((p) => ({ bytes: p.bytes, label: p.label })), metadata: metadata as Metadata };
}

/** Form fields sent empty count as not sent (the page sends every field). */
function withoutEmpty(fields: Readonly<Record<string, string>>, names: readonly string[]): Record<string, string> {
  const out: Record<string, string> = { ...fields };
  for (const n of names) if (out[n] === '') delete out[n];
  return out;
}
