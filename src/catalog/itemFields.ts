/** What an item may be, whoever writes it (the API, a product feed): its id and its metadata, checked once here. */
import { FashionError, invalid } from '../errors.js';
import type { Metadata } from '../store/catalogStore.js';

/** What an item id may be: what a URL path segment, a file name and a CSV cell all carry unchanged. */
export const ITEM_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;
/** Metadata of one item: at most this many fields, names and values of bounded length. */
export const MAX_METADATA_FIELDS = 50;
export const MAX_METADATA_VALUE = 1000;
/** Most photos one product keeps: its first and up to nine others, each embedded and searched. */
export const MAX_PHOTOS = 10;

export function checkId(id: string): void {
  if (!ITEM_ID.test(id)) throw invalid('id', 'letters, digits, ".", "_" or "-" (at most 200, starting with a letter or digit)', id);
}

/** Metadata as the catalog keeps it: an object of string values, bounded (names and values are shown and filtered on). */
export function checkMetadata(m: unknown): Metadata {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw invalid('metadata', 'a JSON object of field names to text', m);
  const entries = Object.entries(m as Record<string, unknown>);
  if (entries.length > MAX_METADATA_FIELDS) throw invalid('metadata', `at most ${MAX_METADATA_FIELDS} fields`, `${entries.length} fields`);
  const out: Record<string, string> = {};
  for (const [field, value] of entries) {
    if (!/^[A-Za-z][A-Za-z0-9_]{0,63}$/.test(field)) throw invalid('metadata field name', 'letters, digits or "_" (at most 64, starting with a letter)', field);
    if (field === 'id') throw new FashionError('input/invalid', 'Expected the item id in the URL, not in its metadata');
    if (typeof value !== 'string' && typeof value !== 'number') throw invalid(`metadata.${field}`, 'text', value);
    const text = String(value);
    if (text.length > MAX_METADATA_VALUE) throw invalid(`metadata.${field}`, `at most ${MAX_METADATA_VALUE} characters`, `${text.length} characters`);
    out[field] = text;
  }
  return out;
}
