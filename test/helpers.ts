import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { indexFolder } from '../src/app/indexFolder.js';
import { Services } from '../src/app/services.js';
import { buildApp } from '../src/server/app.js';
import { demoCatalog, resolveConfig, type Config } from '../src/config.js';
import { parseMetadataCsv } from '../src/catalog/metadataCsv.js';

export const DEMO = demoCatalog();
if (!DEMO) throw new Error('tests need the shared catalog (../shared/datasets/fashion-product-images-small)');

const styles = parseMetadataCsv(readFileSync(DEMO.metadata, 'utf8'));
export const STYLE_ROWS = styles.rows;
const HEADER = 'id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName';

/** Ids of the first `perType` catalog items of each article type, in CSV order (deterministic). */
export function pickIds(types: readonly string[], perType: number, skip = 0): string[] {
  const out: string[] = [];
  for (const t of types) {
    const ids = [...styles.rows].filter(([, m]) => m.articleType === t).map(([id]) => id);
    out.push(...ids.slice(skip, skip + perType));
  }
  return out;
}

export function csvLine(id: string): string {
  const m = styles.rows.get(id)!;
  const cells = [id, m.gender, m.masterCategory, m.subCategory, m.articleType, m.baseColour, m.season, m.year, m.usage, m.productDisplayName];
  return cells.map((c) => (/[",]/.test(c ?? '') ? `"${(c ?? '').replace(/"/g, '""')}"` : c ?? '')).join(',');
}

export interface Fixture {
  readonly root: string;
  readonly images: string;
  readonly csv: string;
  readonly data: string;
  readonly ids: string[];
  config(overrides?: Record<string, string | number>): Config;
}

/** A small real catalog in a temporary folder: copies of shared photos plus their CSV rows. */
export function makeFixture(ids: readonly string[], name = 'fixture'): Fixture {
  const root = mkdtempSync(join(tmpdir(), `fashion-${name}-`));
  const images = join(root, 'images');
  mkdirSync(images);
  for (const id of ids) copyFileSync(join(DEMO!.images, `${id}.jpg`), join(images, `${id}.jpg`));
  const csv = join(root, 'styles.csv');
  writeFileSync(csv, [HEADER, ...ids.map(csvLine)].join('\n') + '\n');
  const data = join(root, 'data');
  const cache = join(tmpdir(), 'fashion-test-cache');
  return {
    root,
    images,
    csv,
    data,
    ids: [...ids],
    config: (overrides = {}) => resolveConfig({ dataDir: data, cacheDir: cache, threads: 2, batchSize: 16, ...overrides }, {}, root),
  };
}

export const TYPES = ['Tshirts', 'Watches', 'Casual Shoes', 'Handbags', 'Jeans', 'Sunglasses'] as const;

/** A multipart/form-data body of these parts (a part with a filename is a file), for app.inject. */
export function multipart(parts: Array<{ name: string; value: string | Buffer; filename?: string; type?: string }>) {
  const boundary = '----fashiontest' + Math.random().toString(16).slice(2);
  const chunks: Buffer[] = [];
  for (const p of parts) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"${p.filename ? `; filename="${p.filename}"` : ''}\r\n`));
    if (p.filename) chunks.push(Buffer.from(`Content-Type: ${p.type ?? 'image/jpeg'}\r\n`));
    chunks.push(Buffer.from('\r\n'), Buffer.isBuffer(p.value) ? p.value : Buffer.from(p.value), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

/**
 * A fixture catalog indexed before the calling file's tests and served by the HTTP app (for inject), closed and
 * removed after them. `app` and `svc` are there once the `before` hook has run.
 */
export function servedFixture(ids: readonly string[], name: string, overrides: Record<string, string | number> = {}) {
  const fx = makeFixture(ids, name);
  const config = fx.config(overrides);
  const served = { fx, config, app: undefined as unknown as FastifyInstance, svc: undefined as unknown as Services };
  before(async () => {
    await indexFolder(config, fx.images, { metadata: fx.csv });
    served.svc = await Services.open(config);
    served.app = await buildApp(served.svc, config, { logger: false });
  });
  after(async () => {
    await served.app?.close();
    await served.svc?.close();
    rmSync(fx.root, { recursive: true, force: true });
  });
  return served;
}
