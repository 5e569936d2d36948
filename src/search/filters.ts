import { invalid } from '../errors.js';
import type { Metadata } from '../store/catalogStore.js';

/** Metadata filters: a field must equal the value (or one of the values); case is ignored. */
export type Filters = Readonly<Record<string, string | readonly string[]>>;

/** Parses `field=value` strings (CLI flags, query strings); `value` may list alternatives with `|`. */
export function parseFilterArgs(args: readonly string[]): Filters {
  const out: Record<string, string[]> = {};
  for (const a of args) {
    const eq = a.indexOf('=');
    if (eq <= 0 || eq === a.length - 1) throw invalid('filter', 'field=value (e.g. gender=Women)', a);
    const field = a.slice(0, eq).trim();
    (out[field] ??= []).push(...a.slice(eq + 1).split('|').map((v) => v.trim()).filter(Boolean));
  }
  return out;
}

/** Normalises filters from JSON: values must be strings or arrays of strings. */
export function checkFilters(value: unknown): Filters {
  if (value == null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw invalid('filters', 'an object of field: value', JSON.stringify(value));
  const out: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const vals = Array.isArray(v) ? v : [v];
    if (!vals.every((x) => typeof x === 'string')) throw invalid(`filters.${k}`, 'a string or an array of strings', JSON.stringify(v));
    if (vals.length > 0) out[k] = vals as string[];
  }
  return out;
}

export function matchesFilters(m: Metadata, filters: Filters): boolean {
  for (const [field, want] of Object.entries(filters)) {
    const have = (m[field] ?? '').toLowerCase();
    const options = typeof want === 'string' ? [want] : want;
    if (options.length > 0 && !options.some((w) => w.toLowerCase() === have)) return false;
  }
  return true;
}

export function hasFilters(filters: Filters | undefined): boolean {
  return !!filters && Object.values(filters).some((v) => (typeof v === 'string' ? v.length > 0 : v.length > 0));
}
