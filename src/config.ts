import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FashionError, invalid } from './errors.js';
import type { Pooling } from './embedding/headCut.js';
import { resolvePreprocess, type Preprocess } from './imaging/preprocess.js';
import type { Metric } from './index/vectorIndex.js';
import type { EmbedderOptions } from './embedding/embedder.js';

/** Everything the product can be told, resolved once at the entry point and passed down frozen. */
export interface Config {
  readonly dataDir: string;
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
  readonly maxPixels: number;
  readonly logLevel: string;
  /** Exact search, HNSW, or HNSW from `annThreshold` items up (auto). */
  readonly index: 'auto' | 'exact' | 'hnsw';
  readonly annThreshold: number;
  /** Share of labelled items that get a re-photographed training copy for the refinement (src/refine/augment.ts). */
  readonly augment: number;
  /** A second ImageNet classifier whose features join the first's (src/embedding/composeBackbones.ts), with its own input normalisation. */
  readonly secondModel: { readonly model: string; readonly preprocess: Preprocess } | undefined;
  /** Features of the photo and of its mirror image, summed. */
  readonly mirror: boolean;
}

/** Option names as flags use them (camelCase); env variables are FASHION_ + upper snake case. */
export type ConfigInput = Partial<Record<keyof Omit<Config, 'preprocess' | 'secondModel' | 'mirror'> | 'preprocessPreset' | 'size' | 'fit' | 'isolate' | 'config' | 'secondModel' | 'secondPreprocess' | 'mirror', string | number | undefined>>;

/** Whether photos are isolated (backdrop to white, cropped to the product) unless told otherwise; see docs/relevance.md. */
export const DEFAULT_ISOLATE = 'on';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Training copies for the refinement: a quarter of the labelled items also train as a re-photographed copy.
 * Measured (docs/relevance.md, photo conditions): all-condition phone-like copies P@5 0.638 -> 0.728, clean
 * photos 0.814 -> 0.821; the price is one rephotograph + embedding per copy when the refinement is trained.
 */
export const DEFAULT_AUGMENT = 0.25;

/** The shared folder beside the repository (or inside it, on machines that copy it there). */
export function sharedDir(env: NodeJS.ProcessEnv = process.env): string | null {
  const candidates = [env.FASHION_SHARED, join(REPO_ROOT, '..', 'shared'), join(REPO_ROOT, 'shared')].filter(Boolean) as string[];
  return candidates.find((c) => existsSync(join(c, 'models'))) ?? null;
}

export function defaultModelPath(env: NodeJS.ProcessEnv = process.env): string {
  const shared = sharedDir(env);
  return shared ? join(shared, 'models', 'mobilenetv2-12-int8.onnx') : join('..', 'shared', 'models', 'mobilenetv2-12-int8.onnx');
}

export function demoCatalog(env: NodeJS.ProcessEnv = process.env): { images: string; metadata: string } | null {
  const shared = sharedDir(env);
  if (!shared) return null;
  const dir = join(shared, 'datasets', 'fashion-product-images-small');
  return existsSync(join(dir, 'images')) ? { images: join(dir, 'images'), metadata: join(dir, 'styles.csv') } : null;
}

const ENV_KEYS: Record<string, string> = {
  dataDir: 'FASHION_DATA',
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
  maxPixels: 'FASHION_MAX_PIXELS',
  logLevel: 'FASHION_LOG_LEVEL',
  index: 'FASHION_INDEX',
  annThreshold: 'FASHION_ANN_THRESHOLD',
  augment: 'FASHION_AUGMENT',
  secondModel: 'FASHION_SECOND_MODEL',
  secondPreprocess: 'FASHION_SECOND_PREPROCESS',
  mirror: 'FASHION_MIRROR',
};

/** What loads the catalog's backbone: the model, and a second model and the mirror when configured. */
export function embedderOptions(config: Config, stored?: { pooling: Pooling; preprocess: Preprocess } | null): EmbedderOptions {
  return {
    model: config.model,
    pooling: stored?.pooling ?? config.pooling,
    cutAt: config.cutAt,
    preprocess: stored?.preprocess ?? config.preprocess,
    threads: config.threads,
    cacheDir: config.cacheDir,
    second: config.secondModel,
    mirror: config.mirror,
  };
}

/** Flags > environment > config file (`--config`, FASHION_CONFIG or ./fashion.config.json) > defaults. */
export function resolveConfig(flags: ConfigInput = {}, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  const fileName = (flags.config as string | undefined) ?? env.FASHION_CONFIG ?? (existsSync(join(cwd, 'fashion.config.json')) ? join(cwd, 'fashion.config.json') : undefined);
  let file: ConfigInput = {};
  if (fileName) {
    try {
      file = JSON.parse(readFileSync(resolve(cwd, fileName), 'utf8')) as ConfigInput;
    } catch (err) {
      throw new FashionError('input/invalid', `Expected a JSON config file at ${fileName} but it could not be read: ${(err as Error).message}`);
    }
  }
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
  const second = pick('secondModel');
  const sizeRaw = pick('size');
  const fitRaw = pick('fit');
  const preprocess = resolvePreprocess(str('preprocessPreset', 'imagenet'), {
    ...(sizeRaw !== undefined ? { size: Number(sizeRaw) } : {}),
    ...(fitRaw !== undefined ? { fit: String(fitRaw) } : {}),
    isolate: oneOf<'on' | 'off'>('isolate', DEFAULT_ISOLATE, ['on', 'off']) === 'on',
  });
  return Object.freeze({
    dataDir,
    cacheDir: resolve(cwd, str('cacheDir', join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'fashion-recs'))),
    model: str('model', defaultModelPath(env)),
    pooling: oneOf<Pooling>('pooling', 'max', ['max', 'avg']),
    cutAt: (pick('cutAt') as string | undefined) || undefined,
    preprocess,
    threads: int('threads', 2, 1, 64),
    batchSize: int('batchSize', 32, 1, 1024),
    metric: oneOf<Metric>('metric', 'cosine', ['cosine', 'euclidean']),
    k: int('k', 5, 1, 1000),
    host: str('host', '127.0.0.1'),
    port: int('port', 8080, 0, 65535),
    maxUploadBytes: int('maxUploadBytes', 10 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    maxPixels: int('maxPixels', 50_000_000, 1024, 1_000_000_000),
    logLevel: str('logLevel', 'info'),
    index: oneOf<'auto' | 'exact' | 'hnsw'>('index', 'auto', ['auto', 'exact', 'hnsw']),
    annThreshold: int('annThreshold', 20_000, 0, 1_000_000_000),
    augment: share('augment', DEFAULT_AUGMENT),
    // The second model sees the same fit of the photo as the first (src/embedding/composeBackbones.ts): only its normalisation is its own.
    secondModel: second ? { model: String(second), preprocess: resolvePreprocess(str('secondPreprocess', 'imagenet'), { size: preprocess.size, fit: preprocess.fit }) } : undefined,
    mirror: oneOf<'on' | 'off'>('mirror', 'off', ['on', 'off']) === 'on',
  });
}
