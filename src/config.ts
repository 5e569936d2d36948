import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ipaddr from 'ipaddr.js';
import { Type } from 'typebox';
import { compileCheck } from './util/schemaCheck.js';
import { FashionError, invalid } from './errors.js';
import { DEFAULT_K, MAX_K } from './query/query.js';
import type { Pooling } from './embedding/headCut.js';
import { resolvePreprocess, type Preprocess } from './imaging/preprocess.js';
import { QUERY_ISOLATION, type IsolateTuning } from './imaging/isolateProduct.js';
import type { Metric } from './index/metric.js';
import { composition, SECOND_PRECISIONS, type EmbedderOptions, type ModelIdentity, type SecondPrecision } from './embedding/embedder.js';

/** Everything the product can be told, resolved once at the entry point and passed down frozen. */
export interface Config {
  /**
   * The catalog's local folder: its SQLite store (the embedded default), and beside the store, wherever it is, the
   * refinement model, the HNSW graphs, kept photos, job records and the writer lock.
   */
  readonly dataDir: string;
  /**
   * The catalog of record in PostgreSQL (`--database`, FASHION_DATABASE_URL) instead of the SQLite file in dataDir; null:
   * the embedded default.
   */
  readonly databaseUrl: string | null;
  /** A streaming replica that readers (the server's searches) use instead (`--read-database`, FASHION_READ_DATABASE_URL). */
  readonly readDatabaseUrl: string | null;
  /** The PostgreSQL schema that holds this catalog (`--database-schema`, FASHION_DATABASE_SCHEMA; default fashion). */
  readonly databaseSchema: string;
  /**
   * The job queue of ingest workers (`--queue redis://…`, FASHION_QUEUE_URL): `fashion index --queue` and a server's
   * POST /api/imports enqueue one job per product there, and `fashion worker` processes take them (BullMQ on Redis).
   * null: ingest runs in the process that asked for it (the embedded default).
   */
  readonly queueUrl: string | null;
  readonly cacheDir: string;
  readonly model: string;
  readonly pooling: Pooling;
  readonly cutAt: string | undefined;
  readonly preprocess: Preprocess;
  readonly threads: number;
  readonly batchSize: number;
  readonly metric: Metric;
  readonly k: number;
  readonly host: string;
  readonly port: number;
  readonly maxUploadBytes: number;
  /** The largest product feed POST /api/imports takes, uploaded or downloaded (FASHION_MAX_FEED_BYTES). */
  readonly maxFeedBytes: number;
  readonly maxPixels: number;
  readonly logLevel: string;
  /** Exact search, HNSW, or HNSW from `annThreshold` items up (auto). */
  readonly index: 'auto' | 'exact' | 'hnsw';
  readonly annThreshold: number;
  /**
   * On PostgreSQL, search in SQL (src/index/pgVectorSpace.ts: pgvector HNSW indexes, filters in WHERE) rather than over
   * the vectors read into memory (FASHION_SQL_SEARCH: auto, the default, is on with a database; on; off).
   */
  readonly sqlSearch: boolean;
  /** Share of labelled items that get a re-photographed training copy for the refinement (src/refine/augment.ts). */
  readonly augment: number;
  /**
   * A second ImageNet classifier whose features join the first's (src/embedding/composeBackbones.ts), with its own input
   * normalisation. By default the shared SqueezeNet 1.0 joins the default MobileNetV2 (docs/relevance.md, "backbones");
   * `--second-model none` leaves the first model alone, and a model given with --model has no second unless one is named.
   * Its input side is its own (`--second-size`, default the first model's `--size`): the composed graph resizes the
   * first model's square for it (src/embedding/composeBackbones.ts). Its precision too (`--second-precision`): 'float'
   * runs its weights in float32, 'int8' quantized (src/embedding/int8Graph.ts, with the committed calibration's ranges).
   */
  readonly secondModel: { readonly model: string; readonly preprocess: Preprocess; readonly precision: SecondPrecision } | undefined;
  /** Features of the photo and of its mirror image, summed. */
  readonly mirror: boolean;
  /** Whether the second model and the mirror were left at their defaults: then an existing catalog keeps the backbone it was embedded with. */
  readonly backboneDefaulted: boolean;
  /** Hosts and CIDR ranges that photo URLs may reach although they are not public addresses (FASHION_FETCH_ALLOW, comma-separated). */
  readonly fetchAllow: readonly string[];
  /**
   * Host names (of the Host header) the server answers; others get 403, which stops DNS rebinding. Localhost names and
   * the listening address by default; `*` answers any (behind a reverse proxy that checks the host itself).
   */
  readonly allowedHosts: readonly string[];
  /** Origins whose pages may call the API from a browser (CORS); none unless configured, `*` for any. */
  readonly corsOrigins: readonly string[];
  /** Whether X-Forwarded-For names the client (behind a reverse proxy): false, true, or the proxies' addresses/CIDRs. */
  readonly trustProxy: boolean | readonly string[];
  /** Requests per minute per client before 429; 0 turns the limit off. */
  readonly rateLimit: number;
  /** Photo requests (search, match, categorize, outfit) admitted at once; the next gets 503 + Retry-After before its body is read. */
  readonly maxInflight: number;
  /** Time to receive a whole request, and time for a query to be answered, before 408 / 503. */
  readonly requestTimeoutMs: number;
  /** Open connections the server accepts at once; more are closed at once by the operating system's accept. */
  readonly maxConnections: number;
  /** How often a server applies what other writers committed to the catalog (other servers, a `fashion index`), ms; 0: never. */
  readonly followMs: number;
  /**
   * Longest side a shopper's query photo is isolated at (FASHION_QUERY_WORKING_SIDE; 0: the decoded size, the default of
   * QUERY_ISOLATION): the query path only, so catalog photos and training copies, and so the stored vectors and what
   * training learns, do not change. A larger side costs isolation time on a phone photo (docs/bench.md); whether a
   * working side loses relevance is in docs/relevance.md (issue 21's query side).
   */
  readonly queryWorkingSide: number;
  /** Keys that may write the catalog through the API (FASHION_API_KEY, comma-separated), besides those `fashion keys create` made. */
  readonly apiKeys: readonly string[];
  /** When set, reads need it (or a write key) too (FASHION_READ_KEY). */
  readonly readKey: string | undefined;
}

/** Option names as flags use them (camelCase); env variables are FASHION_ + upper snake case. */
export type ConfigInput = Partial<Record<keyof Omit<Config, 'preprocess' | 'secondModel' | 'mirror' | 'backboneDefaulted' | 'fetchAllow' | 'allowedHosts' | 'corsOrigins' | 'trustProxy' | 'apiKeys' | 'readKey'> | 'fetchAllow' | 'allowedHosts' | 'corsOrigins' | 'trustProxy' | 'apiKeys' | 'readKey' | 'preprocessPreset' | 'size' | 'fit' | 'isolate' | 'config' | 'secondModel' | 'secondPreprocess' | 'secondSize' | 'secondPrecision' | 'mirror', string | number | undefined>>;

/** Whether photos are isolated (backdrop to white, cropped to the product) unless told otherwise; see docs/relevance.md. */
export const DEFAULT_ISOLATE = 'on';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Training copies for the refinement: a quarter of the labelled items also train as a re-photographed copy.
 * Measured (docs/relevance.md, photo conditions): all-condition phone-like copies P@5 0.638 -> 0.728, clean
 * photos 0.814 -> 0.821; the price is one rephotograph + embedding per copy when the refinement is trained.
 */
export const DEFAULT_AUGMENT = 0.25;

/**
 * The default second model's arithmetic unless told otherwise: float32 (SqueezeNet's float16 file widened). 'int8' runs it
 * quantized (src/embedding/int8Graph.ts; docs/bench.md, "SqueezeNet in int8"). Another second model (`--second-model`)
 * runs in float unless int8 is asked for: the product holds calibrated ranges only for the shared SqueezeNet.
 */
export const DEFAULT_SECOND_PRECISION: SecondPrecision = 'float';

/** The shared folder beside the repository (or inside it, on machines that copy it there). */
export function sharedDir(env: NodeJS.ProcessEnv = process.env): string | null {
  const candidates = [env.FASHION_SHARED, join(REPO_ROOT, '..', 'shared'), join(REPO_ROOT, 'shared')].filter(Boolean) as string[];
  return candidates.find((c) => existsSync(join(c, 'models'))) ?? null;
}

export function defaultModelPath(env: NodeJS.ProcessEnv = process.env): string {
  return sharedModel('mobilenetv2-12-int8.onnx', env);
}

/** The second model of the default backbone, and the pixels it was trained on (Caffe: BGR bytes less the means). */
export function defaultSecondModel(env: NodeJS.ProcessEnv = process.env): { model: string; preprocess: 'caffe' } {
  return { model: sharedModel('squeezenet1.0-fp16.onnx', env), preprocess: 'caffe' };
}

function sharedModel(file: string, env: NodeJS.ProcessEnv): string {
  const shared = sharedDir(env);
  return shared ? join(shared, 'models', file) : join('..', 'shared', 'models', file);
}

export function demoCatalog(env: NodeJS.ProcessEnv = process.env): { images: string; metadata: string } | null {
  const shared = sharedDir(env);
  if (!shared) return null;
  const dir = join(shared, 'datasets', 'fashion-product-images-small');
  return existsSync(join(dir, 'images')) ? { images: join(dir, 'images'), metadata: join(dir, 'styles.csv') } : null;
}

const ENV_KEYS: Record<string, string> = {
  dataDir: 'FASHION_DATA',
  databaseUrl: 'FASHION_DATABASE_URL',
  readDatabaseUrl: 'FASHION_READ_DATABASE_URL',
  databaseSchema: 'FASHION_DATABASE_SCHEMA',
  queueUrl: 'FASHION_QUEUE_URL',
  cacheDir: 'FASHION_CACHE',
  model: 'FASHION_MODEL',
  pooling: 'FASHION_POOLING',
  cutAt: 'FASHION_CUT_AT',
  preprocessPreset: 'FASHION_PREPROCESS',
  size: 'FASHION_SIZE',
  fit: 'FASHION_FIT',
  isolate: 'FASHION_ISOLATE',
  threads: 'FASHION_THREADS',
  batchSize: 'FASHION_BATCH_SIZE',
  metric: 'FASHION_METRIC',
  k: 'FASHION_K',
  host: 'FASHION_HOST',
  port: 'PORT',
  maxUploadBytes: 'FASHION_MAX_UPLOAD_BYTES',
  maxFeedBytes: 'FASHION_MAX_FEED_BYTES',
  maxPixels: 'FASHION_MAX_PIXELS',
  logLevel: 'FASHION_LOG_LEVEL',
  index: 'FASHION_INDEX',
  annThreshold: 'FASHION_ANN_THRESHOLD',
  sqlSearch: 'FASHION_SQL_SEARCH',
  augment: 'FASHION_AUGMENT',
  secondModel: 'FASHION_SECOND_MODEL',
  secondPreprocess: 'FASHION_SECOND_PREPROCESS',
  secondSize: 'FASHION_SECOND_SIZE',
  secondPrecision: 'FASHION_SECOND_PRECISION',
  mirror: 'FASHION_MIRROR',
  fetchAllow: 'FASHION_FETCH_ALLOW',
  allowedHosts: 'FASHION_ALLOWED_HOSTS',
  corsOrigins: 'FASHION_CORS_ORIGINS',
  trustProxy: 'FASHION_TRUST_PROXY',
  rateLimit: 'FASHION_RATE_LIMIT',
  maxInflight: 'FASHION_MAX_INFLIGHT',
  requestTimeoutMs: 'FASHION_REQUEST_TIMEOUT_MS',
  maxConnections: 'FASHION_MAX_CONNECTIONS',
  followMs: 'FASHION_FOLLOW_MS',
  queryWorkingSide: 'FASHION_QUERY_WORKING_SIDE',
  apiKeys: 'FASHION_API_KEY',
  readKey: 'FASHION_READ_KEY',
};

/**
 * What loads the catalog's backbone for queries: the model, its second model and mirror. With `stored` (the identity of
 * an existing catalog), pooling and pixels are the catalog's, and so is the composition unless it was set (see `backboneFor`).
 */
export function embedderOptions(config: Config, stored?: ModelIdentity | null): EmbedderOptions {
  return {
    model: config.model,
    pooling: stored?.pooling ?? config.pooling,
    cutAt: config.cutAt,
    preprocess: stored?.preprocess ?? config.preprocess,
    threads: config.threads,
    cacheDir: config.cacheDir,
    ...backboneFor(config, stored),
  };
}

/** Isolation of a shopper's query photo: QUERY_ISOLATION with the configured working side (Config.queryWorkingSide). */
export function queryIsolation(config: Config): IsolateTuning {
  return config.queryWorkingSide === QUERY_ISOLATION.workingSide ? QUERY_ISOLATION : Object.freeze({ ...QUERY_ISOLATION, workingSide: config.queryWorkingSide });
}

/**
 * The second model and mirror to embed with. Left at their defaults, they follow an existing catalog, so a catalog
 * embedded before the composed default (or with the mirror) keeps working, for queries and incremental indexing alike;
 * set by flag, env or file, they are used as given (and a catalog embedded otherwise refuses them by its identity).
 */
export function backboneFor(config: Config, stored?: ModelIdentity | null): Pick<EmbedderOptions, 'second' | 'mirror'> {
  if (!stored || !config.backboneDefaulted) return { second: config.secondModel, mirror: config.mirror };
  const made = composition(stored);
  // A second model is only known by path from the configuration (the default joins the default --model); a catalog
  // composed otherwise is refused by its identity, and the error names the flags to set. Its side is the catalog's: a
  // catalog that records none took the second model at its own --size (as every catalog did before --second-size).
  // So is its precision: a catalog that records none ran it in float (as every catalog did before --second-precision).
  const second =
    made.second && config.secondModel
      ? { ...config.secondModel, preprocess: { ...config.secondModel.preprocess, size: stored.secondSize ?? stored.preprocess.size }, precision: stored.secondPrecision ?? ('float' as const) }
      : undefined;
  return { second, mirror: made.mirror };
}

/**
 * What `fashion.config.json` may hold: the flags' option names (camelCase) with JSON types; ranges beyond the types
 * are checked by resolveConfig as for flags and env. An unknown key (a typo) or a wrong type is refused naming the file.
 */
export const CONFIG_FILE_SCHEMA = Type.Object(
  {
    $schema: Type.Optional(Type.String()),
    dataDir: Type.Optional(Type.String()),
    databaseUrl: Type.Optional(Type.String({ description: 'postgres://… of the catalog of record (default: the SQLite file in dataDir)' })),
    readDatabaseUrl: Type.Optional(Type.String({ description: 'postgres://… of a streaming replica for reads' })),
    databaseSchema: Type.Optional(Type.String({ description: 'PostgreSQL schema of the catalog (default fashion)' })),
    queueUrl: Type.Optional(Type.String({ description: 'redis://… of the ingest workers\' job queue (BullMQ); default: ingest in process' })),
    cacheDir: Type.Optional(Type.String()),
    model: Type.Optional(Type.String()),
    pooling: Type.Optional(Type.Enum(['max', 'avg', 'gem'])),
    cutAt: Type.Optional(Type.String()),
    preprocessPreset: Type.Optional(Type.String()),
    size: Type.Optional(Type.Integer()),
    fit: Type.Optional(Type.Enum(['pad', 'stretch', 'crop'])),
    isolate: Type.Optional(Type.Enum(['on', 'off'])),
    threads: Type.Optional(Type.Integer()),
    batchSize: Type.Optional(Type.Integer()),
    metric: Type.Optional(Type.Enum(['cosine', 'euclidean'])),
    k: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_K })),
    host: Type.Optional(Type.String()),
    port: Type.Optional(Type.Integer()),
    maxUploadBytes: Type.Optional(Type.Integer()),
    maxFeedBytes: Type.Optional(Type.Integer({ description: 'The largest product feed POST /api/imports takes, bytes' })),
    maxPixels: Type.Optional(Type.Integer()),
    logLevel: Type.Optional(Type.String()),
    index: Type.Optional(Type.Enum(['auto', 'exact', 'hnsw'])),
    annThreshold: Type.Optional(Type.Integer()),
    sqlSearch: Type.Optional(Type.Enum(['auto', 'on', 'off'], { description: 'On PostgreSQL, search in SQL with pgvector indexes (default auto: on with --database)' })),
    augment: Type.Optional(Type.Number()),
    secondModel: Type.Optional(Type.String()),
    secondPreprocess: Type.Optional(Type.String()),
    secondSize: Type.Optional(Type.Integer({ description: 'Input side of the second model, px (default: --size)' })),
    secondPrecision: Type.Optional(Type.String({ description: "The second model's arithmetic: float or int8 (default float)" })),
    mirror: Type.Optional(Type.Enum(['on', 'off'])),
    fetchAllow: Type.Optional(Type.String({ description: 'Hosts and CIDR ranges photo URLs may reach besides public addresses, comma-separated' })),
    allowedHosts: Type.Optional(Type.String({ description: 'Host names the server answers (Host header), comma-separated; * for any' })),
    corsOrigins: Type.Optional(Type.String({ description: 'Origins allowed to call the API from a browser, comma-separated; * for any; none by default' })),
    trustProxy: Type.Optional(Type.String({ description: 'off, on, or the reverse proxies\' addresses/CIDRs, comma-separated' })),
    rateLimit: Type.Optional(Type.Integer({ description: 'Requests per minute per client; 0 for no limit' })),
    maxInflight: Type.Optional(Type.Integer({ description: 'Photo requests admitted at once' })),
    requestTimeoutMs: Type.Optional(Type.Integer({ description: 'Time to receive and to answer a request, ms' })),
    maxConnections: Type.Optional(Type.Integer({ description: 'Open connections accepted at once' })),
    followMs: Type.Optional(Type.Integer({ description: 'How often a server applies what other writers committed, ms; 0: never' })),
    queryWorkingSide: Type.Optional(Type.Integer({ description: "Longest side a query photo's product is found at, px; 0: the decoded size" })),
  },
  { additionalProperties: false },
);

const checkConfigFile = compileCheck(CONFIG_FILE_SCHEMA);

/** Reads and checks a config file once: JSON, an object, known keys, JSON types (see CONFIG_FILE_SCHEMA). */
export function readConfigFile(path: string, shownAs = path): ConfigInput {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new FashionError('input/invalid', `Expected a JSON config file at ${shownAs} but it could not be read: ${(err as Error).message}`);
  }
  const { $schema: _schema, ...input } = checkConfigFile(raw, { rootName: `the config file ${shownAs}`, where: `the config file ${shownAs}`, noun: 'key' });
  return input as ConfigInput;
}

/** Flags > environment > config file (`--config`, FASHION_CONFIG or ./fashion.config.json) > defaults. */
export function resolveConfig(flags: ConfigInput = {}, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  const fileName = (flags.config as string | undefined) ?? env.FASHION_CONFIG ?? (existsSync(join(cwd, 'fashion.config.json')) ? join(cwd, 'fashion.config.json') : undefined);
  const file: ConfigInput = fileName ? readConfigFile(resolve(cwd, fileName), fileName) : {};
  const pick = (key: string): string | number | undefined => {
    const f = (flags as Record<string, unknown>)[key];
    if (f !== undefined && f !== null && f !== '') return f as string | number;
    const e = ENV_KEYS[key] ? env[ENV_KEYS[key]!] : undefined;
    if (e !== undefined && e !== '') return e;
    return (file as Record<string, string | number | undefined>)[key];
  };
  const str = (key: string, dflt: string): string => String(pick(key) ?? dflt);
  const int = (key: string, dflt: number, min: number, max: number): number => {
    const raw = pick(key);
    const v = raw === undefined ? dflt : Number(raw);
    if (!Number.isInteger(v) || v < min || v > max) throw invalid(key, `an integer from ${min} to ${max}`, raw);
    return v;
  };
  const share = (key: string, dflt: number): number => {
    const raw = pick(key);
    const v = raw === undefined ? dflt : Number(raw);
    if (!Number.isFinite(v) || v < 0 || v > 1) throw invalid(key, 'a share from 0 to 1', raw);
    return v;
  };
  const oneOf = <T extends string>(key: string, dflt: T, allowed: readonly T[]): T => {
    const v = str(key, dflt);
    if (!allowed.includes(v as T)) throw invalid(key, allowed.join(' or '), v);
    return v as T;
  };
  const dataDir = resolve(cwd, str('dataDir', '.fashion'));
  const model = str('model', defaultModelPath(env));
  const secondSet = pick('secondModel');
  // The default second model joins the default first model only: a shop's own --model is not composed unasked.
  const second = secondSet === undefined ? (model === defaultModelPath(env) ? defaultSecondModel(env).model : 'none') : String(secondSet);
  const secondPreset = str('secondPreprocess', secondSet === undefined ? defaultSecondModel(env).preprocess : 'imagenet');
  const sizeRaw = pick('size');
  const secondSizeRaw = pick('secondSize');
  const fitRaw = pick('fit');
  const preprocess = resolvePreprocess(str('preprocessPreset', 'imagenet'), {
    ...(sizeRaw !== undefined ? { size: Number(sizeRaw) } : {}),
    ...(fitRaw !== undefined ? { fit: String(fitRaw) } : {}),
    isolate: oneOf<'on' | 'off'>('isolate', DEFAULT_ISOLATE, ['on', 'off']) === 'on',
  });
  const databaseUrl = databaseUrlOf('databaseUrl', pick('databaseUrl'));
  const databaseSchema = str('databaseSchema', 'fashion');
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(databaseSchema)) throw invalid('databaseSchema', 'a lower-case PostgreSQL name (letters, digits, _; at most 63)', databaseSchema);
  return Object.freeze({
    dataDir,
    databaseUrl,
    readDatabaseUrl: databaseUrl ? databaseUrlOf('readDatabaseUrl', pick('readDatabaseUrl')) : null,
    databaseSchema,
    queueUrl: queueUrlOf(pick('queueUrl')),
    cacheDir: resolve(cwd, str('cacheDir', join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'fashion-recs'))),
    model,
    pooling: oneOf<Pooling>('pooling', 'max', ['max', 'avg', 'gem']),
    cutAt: (pick('cutAt') as string | undefined) || undefined,
    preprocess,
    threads: int('threads', 2, 1, 64),
    batchSize: int('batchSize', 32, 1, 1024),
    metric: oneOf<Metric>('metric', 'cosine', ['cosine', 'euclidean']),
    k: int('k', DEFAULT_K, 1, MAX_K),
    host: str('host', '127.0.0.1'),
    port: int('port', 8080, 0, 65535),
    maxUploadBytes: int('maxUploadBytes', 10 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    // A feed is text, one row a product: 50 MiB holds a few hundred thousand rows.
    maxFeedBytes: int('maxFeedBytes', 50 * 1024 * 1024, 1024, 16 * 1024 * 1024 * 1024),
    maxPixels: int('maxPixels', 50_000_000, 1024, 1_000_000_000),
    logLevel: str('logLevel', 'info'),
    index: oneOf<'auto' | 'exact' | 'hnsw'>('index', 'auto', ['auto', 'exact', 'hnsw']),
    annThreshold: int('annThreshold', 20_000, 0, 1_000_000_000),
    // auto: in SQL whenever the catalog is in PostgreSQL (where SQL cannot serve it, in memory: src/app/sqlSpaces.ts).
    sqlSearch: ((v) => v === 'on' || (v === 'auto' && databaseUrl !== null))(oneOf<'auto' | 'on' | 'off'>('sqlSearch', 'auto', ['auto', 'on', 'off'])),
    augment: share('augment', DEFAULT_AUGMENT),
    // The second model sees the same fit of the photo as the first (src/embedding/composeBackbones.ts): only its normalisation is its own,
    // Its side may be its own (--second-size): the composed graph resizes the first model's square to it.
    secondModel:
      second !== 'none'
        ? { model: second, preprocess: resolvePreprocess(secondPreset, { size: int('secondSize', preprocess.size, 32, 1024), fit: preprocess.fit }), precision: oneOf<SecondPrecision>('secondPrecision', second === defaultSecondModel(env).model ? DEFAULT_SECOND_PRECISION : 'float', SECOND_PRECISIONS) }
        : undefined,
    mirror: oneOf<'on' | 'off'>('mirror', 'off', ['on', 'off']) === 'on',
    backboneDefaulted: secondSet === undefined && pick('secondPreprocess') === undefined && secondSizeRaw === undefined && pick('secondPrecision') === undefined && pick('mirror') === undefined,
    fetchAllow: fetchAllowList(str('fetchAllow', '')),
    allowedHosts: allowedHostList(pick('allowedHosts'), str('host', '127.0.0.1')),
    corsOrigins: corsOriginList(str('corsOrigins', '')),
    trustProxy: trustProxySetting(str('trustProxy', 'off')),
    rateLimit: int('rateLimit', DEFAULT_RATE_LIMIT, 0, 1_000_000),
    maxInflight: int('maxInflight', DEFAULT_MAX_INFLIGHT, 1, 100_000),
    requestTimeoutMs: int('requestTimeoutMs', 30_000, 1_000, 600_000),
    maxConnections: int('maxConnections', 1024, 1, 1_000_000),
    followMs: int('followMs', 1000, 0, 3_600_000),
    // 0 or at least 16: a product is not found on fewer pixels (isolation's minimum photo is 8 px a side).
    queryWorkingSide: ((v) => {
      if (v !== 0 && v < 16) throw invalid('queryWorkingSide', '0 (the decoded size) or an integer from 16 to 4096', v);
      return v;
    })(int('queryWorkingSide', QUERY_ISOLATION.workingSide, 0, 4096)),
    apiKeys: keyList('apiKeys', str('apiKeys', '')),
    readKey: keyList('readKey', str('readKey', ''))[0],
  });
}

/** Requests per minute per client: a shopper's page makes a few per search; a script hammering the server is slowed. */
export const DEFAULT_RATE_LIMIT = 600;
/** Photo requests in flight at once: four full query batches (src/embedding/queryBatcher.ts); more only queue up latency. */
export const DEFAULT_MAX_INFLIGHT = 64;

/** A PostgreSQL connection URL, or null when not given. */
function databaseUrlOf(key: string, raw: string | number | undefined): string | null {
  if (raw === undefined) return null;
  const url = String(raw);
  if (!/^postgres(ql)?:\/\//.test(url)) throw invalid(key, 'a postgres:// URL', url.replace(/\/\/[^@/]*@/, '//…@'));
  return url;
}

/** A Redis URL for the job queue, or null when not given (the password never shown in the error). */
function queueUrlOf(raw: string | number | undefined): string | null {
  if (raw === undefined) return null;
  const url = String(raw);
  if (!/^rediss?:\/\/[^\s]+$/.test(url)) throw invalid('queueUrl', 'a redis:// or rediss:// URL', url.replace(/\/\/[^@/]*@/, '//…@'));
  return url;
}

/** Keys are secrets a client sends: long enough not to be guessed, printable, no separators. */
function keyList(key: string, raw: string): string[] {
  const keys = list(raw);
  for (const k of keys) if (!/^[\x21-\x7e]{16,200}$/.test(k) || k.includes(',')) throw invalid(key, 'keys of 16 to 200 printable characters, separated by commas', `${k.length} characters`);
  return keys;
}

const list = (raw: string): string[] => raw.split(',').map((e) => e.trim()).filter(Boolean);
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '']);

/** The Host names answered: localhost names and the listening host unless configured (`*`: any). */
function allowedHostList(raw: string | number | undefined, host: string): string[] {
  if (raw !== undefined) {
    const entries = list(String(raw)).map((h) => h.toLowerCase());
    for (const h of entries) if (h !== '*' && !/^(\.?[a-z0-9-]+)(\.[a-z0-9-]+)*$|^[0-9a-f:.]+$|^\[[0-9a-f:.]+\]$/i.test(h)) throw invalid('allowedHosts', 'host names (a leading dot allows subdomains), addresses or *, separated by commas', h);
    return entries;
  }
  const defaults = ['localhost', '127.0.0.1', '::1'];
  return WILDCARD_HOSTS.has(host) || defaults.includes(host.toLowerCase()) ? defaults : [...defaults, host.toLowerCase()];
}

function corsOriginList(raw: string): string[] {
  const entries = list(raw);
  for (const o of entries) if (o !== '*' && !/^https?:\/\/[^/\s]+$/.test(o)) throw invalid('corsOrigins', 'origins such as https://shop.example (scheme and host, no path) or *, separated by commas', o);
  return entries;
}

function trustProxySetting(raw: string): boolean | string[] {
  if (raw === 'off' || raw === 'false') return false;
  if (raw === 'on' || raw === 'true') return true;
  const entries = list(raw);
  for (const e of entries) if (!(e.includes('/') ? ipaddr.isValidCIDR(e) : ipaddr.isValid(e))) throw invalid('trustProxy', 'off, on, or proxy addresses / CIDR ranges separated by commas', e);
  return entries;
}

/** FASHION_FETCH_ALLOW: host names, IP addresses and CIDR ranges, comma-separated; a malformed range is refused here, once. */
function fetchAllowList(raw: string): string[] {
  const entries = list(raw);
  for (const e of entries) {
    const ok = e.includes('/') ? ipaddr.isValidCIDR(e) : ipaddr.isValid(e) || /^[a-z0-9.-]+$/i.test(e);
    if (!ok) throw invalid('fetchAllow', 'host names, IP addresses or CIDR ranges separated by commas', e);
  }
  return entries;
}
