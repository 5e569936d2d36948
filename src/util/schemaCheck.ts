import { Type, type Static, type TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { Value } from 'typebox/value';
import { FashionError } from '../errors.js';

/**
 * TypeBox checks with the product's wording: a value that fails a schema becomes an `input/invalid` error that
 * names the field and says what was expected, as sharp does ("Expected <what> for <name> but received <value>").
 * Used by the HTTP schemas (src/server/validation.ts), the multipart fields and the config file (src/config.ts).
 */

export interface CheckOptions {
  /** Convert strings to the schema's numbers and booleans first (query strings, form fields, path parameters). */
  readonly convert?: boolean;
  /** How the whole value is named when it is the one at fault ("the JSON body", "filters"). */
  readonly rootName?: string;
  /** Prepended to the name of a nested field ("filters" gives "filters.gender"). */
  readonly prefix?: string;
  /** Where the value came from, added to the name of a field at fault ("threads in the config file x.json"). */
  readonly where?: string;
  /** What the object's properties are called in messages: fields of a request, keys of a file. */
  readonly noun?: string;
}

/** One TypeBox error as `Errors()` lists them (the JSON-Schema-like shape). */
export interface SchemaIssue {
  readonly keyword: string;
  readonly schemaPath: string;
  readonly instancePath: string;
  readonly params: Record<string, unknown>;
  readonly message: string;
}

/** Returns the (converted) value, or throws an `input/invalid` FashionError; `naming` overrides the names for one call. */
export type Checker<T extends TSchema> = (value: unknown, naming?: Omit<CheckOptions, 'convert'>) => Static<T>;

/** Compiles a schema once into a checker. */
export function compileCheck<T extends TSchema>(schema: T, options: CheckOptions = {}): Checker<T> {
  const compiled = Compile(schema);
  const convert = options.convert ? converter(schema) : (value: unknown) => value;
  return (value, naming) => {
    const converted = convert(value);
    if (compiled.Check(converted)) return converted as Static<T>;
    throw schemaRefusal(schema, converted, compiled.Errors(converted) as unknown as SchemaIssue[], { ...options, ...naming });
  };
}

/**
 * Strings to the schema's numbers and booleans. TypeBox's Convert leaves an object's declared properties as they
 * are when its additionalProperties is a schema (a query string whose other parameters are filters): those
 * properties are converted on their own.
 */
function converter(schema: TSchema): (value: unknown) => unknown {
  const s = schema as { properties?: Record<string, TSchema>; additionalProperties?: unknown };
  if (!s.properties || typeof s.additionalProperties !== 'object' || s.additionalProperties === null) return (value) => Value.Convert(schema, value);
  const declared = Type.Object(s.properties);
  const names = Object.keys(s.properties);
  return (value) => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
    const own = Object.fromEntries(names.filter((n) => n in value).map((n) => [n, (value as Record<string, unknown>)[n]]));
    return { ...value, ...(Value.Convert(declared, own) as object) };
  };
}

/** The one error to report for a value that fails `schema`: an unknown field, a missing one, or the first wrong value. */
export function schemaRefusal(schema: TSchema, value: unknown, issues: readonly SchemaIssue[], options: CheckOptions = {}): FashionError {
  // "threads in the config file x.json"; the whole value is named by rootName alone.
  const where = (path: readonly string[]) => (options.where && path.length > 0 ? ` in ${options.where}` : '');
  const noun = options.noun ?? 'field';
  const extra = issues.find((i) => i.keyword === 'additionalProperties');
  if (extra) {
    const names = (extra.params.additionalProperties as string[] | undefined) ?? [];
    const known = Object.keys((schemaAt(schema, extra.schemaPath)?.properties as Record<string, unknown> | undefined) ?? {}).filter((k) => !k.startsWith('$'));
    const path = pointer(extra.instancePath);
    const owner = path.length ? `${nameOf(path, options)}${where(path)}` : (options.where ?? nameOf(path, options));
    const expected = known.length ? `one of the ${noun}s ${known.join(', ')}` : `no ${noun}s`;
    return new FashionError('input/invalid', `Expected ${expected} in ${owner} but received an unknown ${noun} ${JSON.stringify(names[0] ?? '?')}`);
  }
  const missing = issues.find((i) => i.keyword === 'required');
  if (missing) {
    const names = (missing.params.requiredProperties as string[] | undefined) ?? [];
    const present = valueAt(value, pointer(missing.instancePath));
    const absent = names.find((n) => !(present && typeof present === 'object' && n in present)) ?? names[0] ?? '?';
    const fieldSchema = schemaAt(schema, `${missing.schemaPath}/properties/${escape(absent)}`);
    const path = [...pointer(missing.instancePath), absent];
    return new FashionError('input/invalid', `Expected ${fieldSchema ? describeExpected(fieldSchema) : 'a value'} for ${nameOf(path, options)}${where(path)} but received nothing`);
  }
  const first = issues.find((i) => i.keyword !== 'boolean') ?? issues[0];
  if (!first) return new FashionError('input/invalid', `Expected a valid value for ${nameOf([], options)}`);
  // The outermost schema that failed at that place (a union, not one of its members).
  const atPlace = issues.filter((i) => i.instancePath === first.instancePath).sort((a, b) => a.schemaPath.length - b.schemaPath.length)[0]!;
  const failed = schemaAt(schema, atPlace.schemaPath);
  const path = pointer(first.instancePath);
  return new FashionError('input/invalid', `Expected ${failed ? describeExpected(failed) : 'a valid value'} for ${nameOf(path, options)}${where(path)} but received ${shown(valueAt(value, path))}`);
}

/** Plain words for what a schema accepts: "an integer from 1 to 100", "cosine or euclidean", "an array of strings". */
export function describeExpected(schema: Record<string, unknown>): string {
  if (Array.isArray(schema.enum)) return orList(schema.enum.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))));
  if ('const' in schema) return JSON.stringify(schema.const);
  const members = (schema.anyOf ?? schema.oneOf) as Array<Record<string, unknown>> | undefined;
  if (Array.isArray(members)) {
    if (members.every((m) => 'const' in m)) return orList(members.map((m) => (typeof m.const === 'string' ? m.const : JSON.stringify(m.const))));
    return orList(members.map(describeExpected));
  }
  const num = (v: unknown) => (typeof v === 'number' ? v : undefined);
  const min = num(schema.minimum);
  const max = num(schema.maximum);
  const exMin = num(schema.exclusiveMinimum);
  switch (schema.type) {
    case 'integer':
      if (min !== undefined && max !== undefined) return `an integer from ${min} to ${max}`;
      if (min === 0) return 'a non-negative integer';
      if (min !== undefined) return `an integer of at least ${min}`;
      if (max !== undefined) return `an integer of at most ${max}`;
      return 'an integer';
    case 'number':
      if (exMin !== undefined && max !== undefined) return `a number above ${exMin}, at most ${max}`;
      if (min !== undefined && max !== undefined) return `a number from ${min} to ${max}`;
      if (exMin !== undefined) return `a number above ${exMin}`;
      if (min !== undefined) return `a number of at least ${min}`;
      return 'a number';
    case 'string': {
      const minLength = num(schema.minLength);
      const maxLength = num(schema.maxLength);
      if (maxLength !== undefined) return `a string of ${minLength ? `${minLength} to ` : 'at most '}${maxLength} characters`;
      if (minLength) return 'a non-empty string';
      return 'a string';
    }
    case 'boolean':
      return 'true or false';
    case 'null':
      return 'null';
    case 'array': {
      const items = schema.items as Record<string, unknown> | undefined;
      if (items?.type === 'string') return 'an array of strings';
      return items ? `an array of ${plural(describeExpected(items))}` : 'an array';
    }
    case 'object': {
      const pattern = schema.patternProperties as Record<string, Record<string, unknown>> | undefined;
      const values = pattern ? Object.values(pattern)[0] : undefined;
      if (values) return `an object of field: ${describeExpected(values)}`;
      return 'an object';
    }
    default:
      return 'a valid value';
  }
}

function plural(what: string): string {
  return what.replace(/^an? /, '') + 's';
}

function orList(items: readonly string[]): string {
  if (items.length <= 1) return items[0] ?? 'nothing';
  if (items.length === 2) return `${items[0]} or ${items[1]}`;
  return `one of ${items.join(', ')}`;
}

/** A value as messages show it: strings quoted, objects as (short) JSON, nothing as "nothing". */
function shown(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = typeof value === 'string' || (typeof value === 'object' && value !== null) ? JSON.stringify(value) : String(value);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

function nameOf(path: readonly string[], options: CheckOptions): string {
  if (path.length === 0) return options.rootName ?? 'the value';
  return [...(options.prefix ? [options.prefix] : []), ...path].join('.');
}

/** JSON pointer ("/filters/gender", "#/properties/k") -> its segments. */
function pointer(p: string): string[] {
  return p
    .replace(/^#/, '')
    .split('/')
    .filter((s) => s !== '')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function escape(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

function schemaAt(schema: TSchema, schemaPath: string): Record<string, unknown> | undefined {
  let at: unknown = schema;
  for (const seg of pointer(schemaPath)) {
    if (at === null || typeof at !== 'object') return undefined;
    at = (at as Record<string, unknown>)[seg];
  }
  return at !== null && typeof at === 'object' ? (at as Record<string, unknown>) : undefined;
}

function valueAt(value: unknown, path: readonly string[]): unknown {
  let at = value;
  for (const seg of path) {
    if (at === null || typeof at !== 'object') return undefined;
    at = (at as Record<string, unknown>)[seg];
  }
  return at;
}
