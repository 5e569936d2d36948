import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { queryIsolation, resolveConfig } from '../../src/config.js';
import { ISOLATE_TUNING, QUERY_ISOLATION } from '../../src/imaging/isolateProduct.js';
import { ERROR_TABLE, FashionError, invalid, isFashionError, type ErrorCode } from '../../src/errors.js';

const invalidInput = (pattern?: RegExp) => (e: unknown) => e instanceof FashionError && e.code === 'input/invalid' && (!pattern || pattern.test(e.message));

/** An empty working folder, and an explicit environment: nothing from this machine's env or ../shared leaks in. */
const made: string[] = [];
after(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fashion-unit-config-'));
  made.push(dir);
  return dir;
}

function setup(files: Record<string, unknown> = {}) {
  const cwd = tempDir();
  for (const [name, content] of Object.entries(files)) writeFileSync(join(cwd, name), typeof content === 'string' ? content : JSON.stringify(content));
  // A shared folder of our own: the default models are found there, wherever the real one is (or is not).
  const shared = join(cwd, 'shared');
  mkdirSync(join(shared, 'models'), { recursive: true });
  return { cwd, shared, env: { FASHION_SHARED: shared, XDG_CACHE_HOME: join(cwd, 'xdg') } as NodeJS.ProcessEnv };
}

test('defaults: the shared MobileNetV2 with SqueezeNet as second model, isolation on, documented values', () => {
  const { cwd, shared, env } = setup();
  const c = resolveConfig({}, env, cwd);
  assert.equal(c.dataDir, join(cwd, '.fashion'));
  assert.equal(c.cacheDir, join(cwd, 'xdg', 'fashion-recs'));
  assert.equal(c.model, join(shared, 'models', 'mobilenetv2-12-int8.onnx'));
  assert.equal(c.secondModel?.model, join(shared, 'models', 'squeezenet1.0-fp16.onnx'));
  assert.equal(c.secondModel?.preprocess.channelOrder, 'BGR', 'SqueezeNet takes Caffe pixels');
  assert.equal(c.pooling, 'max');
  assert.equal(c.preprocess.size, 224);
  assert.equal(c.preprocess.fit, 'pad');
  assert.equal(c.preprocess.isolate, true);
  assert.deepEqual([c.threads, c.batchSize, c.k, c.port, c.host, c.metric, c.index], [2, 32, 5, 8080, '127.0.0.1', 'cosine', 'auto']);
  assert.equal(c.mirror, false);
  assert.equal(c.backboneDefaulted, true);
  assert.equal(c.augment, 0.25);
  assert.ok(Object.isFrozen(c));
});

test('without any shared folder the default model is still a path (resolved later), not a crash', () => {
  const cwd = tempDir();
  const c = resolveConfig({}, { FASHION_SHARED: join(cwd, 'nowhere') }, cwd);
  assert.match(c.model, /mobilenetv2-12-int8\.onnx$/);
  const own = resolveConfig({ model: join(cwd, 'mine.onnx') }, { FASHION_SHARED: join(cwd, 'nowhere') }, cwd);
  assert.equal(own.model, join(cwd, 'mine.onnx'));
  assert.equal(own.secondModel, undefined, "a shop's own model is not composed unasked");
});

test('flags > environment > config file > defaults, option by option', () => {
  const { cwd, env } = setup({ 'fashion.config.json': { k: 7, port: 9000, pooling: 'avg', threads: 3, dataDir: 'from-file' } });
  const c = resolveConfig({ k: 11, dataDir: '' }, { ...env, FASHION_K: '9', PORT: '9100', FASHION_DATA: 'from-env' }, cwd);
  assert.equal(c.k, 11, 'flag over env and file');
  assert.equal(c.port, 9100, 'env over file');
  assert.equal(c.pooling, 'avg', 'file over default');
  assert.equal(c.threads, 3);
  assert.equal(c.batchSize, 32, 'default');
  assert.equal(c.dataDir, join(cwd, 'from-env'), 'an empty flag does not count; relative paths resolve from cwd');
  // The config file is found by flag, by FASHION_CONFIG, or as ./fashion.config.json.
  writeFileSync(join(cwd, 'other.json'), JSON.stringify({ k: 42 }));
  assert.equal(resolveConfig({ config: 'other.json' }, env, cwd).k, 42);
  assert.equal(resolveConfig({}, { ...env, FASHION_CONFIG: join(cwd, 'other.json') }, cwd).k, 42);
  assert.equal(resolveConfig({}, env, cwd).k, 7);
});

test('preprocessing, second model and mirror options', () => {
  const { cwd, env } = setup();
  const c = resolveConfig({ size: 256, fit: 'crop', isolate: 'off' }, env, cwd);
  assert.equal(c.preprocess.size, 256);
  assert.equal(c.preprocess.fit, 'crop');
  assert.equal(c.preprocess.isolate, undefined);
  assert.equal(c.secondModel?.preprocess.size, 256, 'the second model sees the same fit');
  assert.equal(c.secondModel?.preprocess.fit, 'crop');
  assert.equal(c.backboneDefaulted, true);
  // The second model's side is its own when set (by flag, env or file), the first model's otherwise.
  const own = resolveConfig({ secondSize: 160 }, env, cwd);
  assert.equal(own.preprocess.size, 224);
  assert.equal(own.secondModel?.preprocess.size, 160);
  assert.equal(own.secondModel?.preprocess.channelOrder, 'BGR', 'only the side changes');
  assert.equal(own.backboneDefaulted, false, 'a side that was set is used as given, not taken from an existing catalog');
  assert.equal(resolveConfig({}, { ...env, FASHION_SECOND_SIZE: '128' }, cwd).secondModel?.preprocess.size, 128);
  writeFileSync(join(cwd, 'side.json'), JSON.stringify({ secondSize: 192 }));
  assert.equal(resolveConfig({ config: 'side.json' }, env, cwd).secondModel?.preprocess.size, 192);
  assert.equal(resolveConfig({}, env, cwd).secondModel?.preprocess.size, 224, 'default: 224, as before the setting');
  assert.equal(resolveConfig({ secondModel: 'none' }, env, cwd).secondModel, undefined);
  const m = resolveConfig({}, { ...env, FASHION_MIRROR: 'on' }, cwd);
  assert.equal(m.mirror, true);
  assert.equal(m.backboneDefaulted, false);
  assert.equal(resolveConfig({ preprocessPreset: 'caffe' }, env, cwd).preprocess.channelOrder, 'BGR');
  // The second model's precision: float unless set; set (flag, env or file), it is used as given.
  assert.equal(resolveConfig({}, env, cwd).secondModel?.precision, 'float');
  const q = resolveConfig({}, { ...env, FASHION_SECOND_PRECISION: 'int8' }, cwd);
  assert.equal(q.secondModel?.precision, 'int8');
  assert.equal(q.backboneDefaulted, false, 'a precision that was set is not taken from an existing catalog');
  writeFileSync(join(cwd, 'precision.json'), JSON.stringify({ secondPrecision: 'int8' }));
  assert.equal(resolveConfig({ config: 'precision.json' }, env, cwd).secondModel?.precision, 'int8');
});

test("a query photo's working side: QUERY_ISOLATION by default, set by flag, env or file for the query path only", () => {
  const { cwd, env } = setup({ 'fashion.config.json': { queryWorkingSide: 200 } });
  assert.equal(resolveConfig({}, env, cwd).queryWorkingSide, 200, 'the config file');
  const byEnv = resolveConfig({}, { ...env, FASHION_QUERY_WORKING_SIDE: '160' }, cwd);
  assert.equal(byEnv.queryWorkingSide, 160, 'the environment over the file');
  assert.equal(resolveConfig({ queryWorkingSide: 120 }, { ...env, FASHION_QUERY_WORKING_SIDE: '160' }, cwd).queryWorkingSide, 120, 'a flag over both');
  // Only the working side changes; everything else is QUERY_ISOLATION's, and the catalog's isolation is untouched.
  assert.deepEqual(queryIsolation(byEnv), { ...QUERY_ISOLATION, workingSide: 160 });
  assert.equal(ISOLATE_TUNING.workingSide, 0);
  const plain = setup();
  const dflt = resolveConfig({}, plain.env, plain.cwd);
  assert.equal(dflt.queryWorkingSide, QUERY_ISOLATION.workingSide);
  assert.equal(queryIsolation(dflt), QUERY_ISOLATION);
  for (const bad of ['8', '-1', '5000', 'small', '120.5']) {
    assert.throws(() => resolveConfig({}, { ...plain.env, FASHION_QUERY_WORKING_SIDE: bad }, plain.cwd), invalidInput(/queryWorkingSide/), bad);
  }
});

test('bad values are refused with input/invalid, naming the option and the value', () => {
  const { cwd, env } = setup();
  assert.throws(() => resolveConfig({ k: 0 }, env, cwd), invalidInput(/for k but received 0/));
  assert.throws(() => resolveConfig({}, { ...env, FASHION_THREADS: 'two' }, cwd), invalidInput(/threads/));
  assert.throws(() => resolveConfig({ pooling: 'median' }, env, cwd), invalidInput(/pooling/));
  assert.throws(() => resolveConfig({ metric: 'dot' }, env, cwd), invalidInput(/metric/));
  assert.throws(() => resolveConfig({ size: 16 }, env, cwd), invalidInput(/size/));
  assert.throws(() => resolveConfig({ secondSize: 16 }, env, cwd), invalidInput(/for secondSize but received 16/));
  assert.throws(() => resolveConfig({}, { ...env, FASHION_SECOND_SIZE: 'small' }, cwd), invalidInput(/secondSize/));
  assert.throws(() => resolveConfig({ secondPrecision: 'int4' }, env, cwd), invalidInput(/secondPrecision/));
  assert.throws(() => resolveConfig({ fit: 'cover' }, env, cwd), invalidInput(/fit/));
  assert.throws(() => resolveConfig({ augment: 1.5 }, env, cwd), invalidInput(/augment/));
  assert.throws(() => resolveConfig({ preprocessPreset: 'tf' }, env, cwd), invalidInput(/preprocess/));
  assert.throws(() => resolveConfig({ port: 70000 }, env, cwd), invalidInput(/port/));
  writeFileSync(join(cwd, 'broken.json'), '{ "k": ');
  assert.throws(() => resolveConfig({ config: 'broken.json' }, env, cwd), invalidInput(/broken\.json/));
  assert.throws(() => resolveConfig({ config: 'absent.json' }, env, cwd), invalidInput(/absent\.json/));
});

test('the error table: every code has an HTTP status and an exit code, and errors carry them', () => {
  const codes = Object.keys(ERROR_TABLE) as ErrorCode[];
  assert.ok(codes.length >= 19);
  for (const code of codes) {
    const { status, exit } = ERROR_TABLE[code];
    assert.ok(Number.isInteger(status) && status >= 400 && status < 600, `${code}: status ${status}`);
    assert.ok(Number.isInteger(exit) && exit >= 1 && exit <= 9, `${code}: exit ${exit}`);
    assert.match(code, /^[a-z]+\/[a-z-]+$/);
    const e = new FashionError(code, 'message');
    assert.deepEqual([e.code, e.status, e.exitCode, e.name, e.message], [code, status, exit, 'FashionError', 'message']);
    assert.ok(e instanceof Error && isFashionError(e));
  }
  // Written out: the statuses the HTTP API documents for the image errors, and the CLI's exit codes by kind.
  const expected: Partial<Record<ErrorCode, [number, number]>> = {
    'image/empty': [400, 3],
    'image/unsupported-type': [415, 3],
    'image/corrupt': [422, 3],
    'image/too-many-pixels': [413, 3],
    'image/too-large': [413, 3],
    'input/not-found': [404, 4],
    'input/invalid': [400, 2],
    'model/not-found': [500, 6],
    'model/download-failed': [502, 6],
    'catalog/model-mismatch': [409, 7],
    'item/not-found': [404, 4],
    'server/busy': [503, 8],
  };
  for (const [code, [status, exit]] of Object.entries(expected) as Array<[ErrorCode, [number, number]]>) assert.deepEqual([ERROR_TABLE[code].status, ERROR_TABLE[code].exit], [status, exit], code);
  for (const code of codes.filter((c) => c.startsWith('image/'))) assert.equal(ERROR_TABLE[code].exit, 3, code);
  const cause = new Error('inner');
  assert.equal(new FashionError('image/corrupt', 'x', { cause }).cause, cause);
  assert.equal(isFashionError(new Error('plain')), false);
  const v = invalid('k', 'an integer from 1 to 1000', 'abc');
  assert.equal(v.code, 'input/invalid');
  assert.equal(v.message, 'Expected an integer from 1 to 1000 for k but received "abc"');
  assert.equal(invalid('k', 'a number', 5).message, 'Expected a number for k but received 5');
});

test('the catalog in PostgreSQL: --database / FASHION_DATABASE_URL, its replica and schema; the embedded default without', () => {
  const cwd = tempDir();
  const none = resolveConfig({}, {}, cwd);
  assert.deepEqual([none.databaseUrl, none.readDatabaseUrl, none.databaseSchema], [null, null, 'fashion']);
  const env = { FASHION_DATABASE_URL: 'postgres://shop@db:5432/fashion', FASHION_READ_DATABASE_URL: 'postgresql://shop@replica/fashion', FASHION_DATABASE_SCHEMA: 'shop_eu' };
  const fromEnv = resolveConfig({}, env, cwd);
  assert.deepEqual([fromEnv.databaseUrl, fromEnv.readDatabaseUrl, fromEnv.databaseSchema], [env.FASHION_DATABASE_URL, env.FASHION_READ_DATABASE_URL, 'shop_eu']);
  assert.equal(resolveConfig({ databaseUrl: 'postgres://other/x' }, env, cwd).databaseUrl, 'postgres://other/x', 'the flag wins');
  assert.equal(resolveConfig({}, { FASHION_READ_DATABASE_URL: 'postgres://replica/x' }, cwd).readDatabaseUrl, null, 'a replica means nothing without the catalog database');
  // The password never shows in the refusal.
  assert.throws(() => resolveConfig({ databaseUrl: 'mysql://root:secret@db/x' }, {}, cwd), (e: unknown) => invalidInput(/postgres:\/\//)(e) && !(e as Error).message.includes('secret'));
  assert.throws(() => resolveConfig({ databaseSchema: 'Shop-EU' }, {}, cwd), invalidInput(/databaseSchema/));
});

test('the ingest workers\' queue: --queue / FASHION_QUEUE_URL, a redis:// URL; none by default', () => {
  const cwd = tempDir();
  assert.equal(resolveConfig({}, {}, cwd).queueUrl, null);
  assert.equal(resolveConfig({}, { FASHION_QUEUE_URL: 'redis://queue:6379' }, cwd).queueUrl, 'redis://queue:6379');
  assert.equal(resolveConfig({ queueUrl: 'rediss://user:pw@queue:6380/2' }, { FASHION_QUEUE_URL: 'redis://queue:6379' }, cwd).queueUrl, 'rediss://user:pw@queue:6380/2', 'the flag wins');
  // The password never shows in the refusal.
  assert.throws(() => resolveConfig({ queueUrl: 'amqp://guest:secret@mq/x' }, {}, cwd), (e: unknown) => invalidInput(/redis:\/\//)(e) && !(e as Error).message.includes('secret'));
});
