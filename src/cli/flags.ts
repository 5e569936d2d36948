import { invalid } from '../errors.js';

/**
 * Numeric flags, checked once where they are read: `--epochs abc` is refused with the product's wording instead of
 * training zero epochs. Absent (undefined) stays undefined.
 */
export function numberFlag(name: string, raw: unknown, range: { min?: number; max?: number; integer?: boolean } = {}): number | undefined {
  if (raw === undefined) return undefined;
  const text = String(raw).trim();
  const n = text === '' ? NaN : Number(text);
  const what = `${range.integer ? 'an integer' : 'a number'}${range.min !== undefined ? ` from ${range.min}` : ''}${range.max !== undefined ? ` to ${range.max}` : range.min !== undefined ? ' up' : ''}`;
  if (!Number.isFinite(n) || (range.integer && !Number.isInteger(n)) || (range.min !== undefined && n < range.min) || (range.max !== undefined && n > range.max)) {
    throw invalid(name, what, raw);
  }
  return n;
}

export function intFlag(name: string, raw: unknown, range: { min?: number; max?: number } = {}): number | undefined {
  return numberFlag(name, raw, { ...range, integer: true });
}
