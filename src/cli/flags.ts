import { Type } from 'typebox';
import { compileCheck } from '../util/schemaCheck.js';

/**
 * Numeric flags, checked by schema where they are read (the same checker as the HTTP schemas and the config file):
 * `--epochs abc` is refused with the product's wording instead of training zero epochs. Absent stays undefined.
 */
export function numberFlag(name: string, raw: unknown, range: { min?: number; max?: number; integer?: boolean } = {}): number | undefined {
  if (raw === undefined) return undefined;
  const limits = { ...(range.min !== undefined ? { minimum: range.min } : {}), ...(range.max !== undefined ? { maximum: range.max } : {}) };
  const schema = range.integer ? Type.Integer(limits) : Type.Number(limits);
  // A flag arrives as text: only a whole numeric literal becomes a number (no "" -> 0, no "1.5" -> 1), then the schema decides.
  const text = String(raw).trim();
  const value = text !== '' && Number.isFinite(Number(text)) ? Number(text) : text;
  return compileCheck(schema, { rootName: name })(value) as number;
}

export function intFlag(name: string, raw: unknown, range: { min?: number; max?: number } = {}): number | undefined {
  return numberFlag(name, raw, { ...range, integer: true });
}
