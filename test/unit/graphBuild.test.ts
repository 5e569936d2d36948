import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { EmbeddedSpace, useGraphs, type GraphFile } from '../../src/index/embeddedSpace.js';
import { ExactIndex } from '../../src/index/exactIndex.js';
import { buildGraphsSideBySide } from '../../src/index/graphBuild.js';
import { DEFAULT_HNSW, HnswIndex } from '../../src/index/hnswIndex.js';
import { mulberry32 } from '../../src/util/random.js';

const rand = mulberry32(23);
const matrix = (n: number, dims: number) => new ExactIndex(Float32Array.from({ length: n * dims }, () => rand() - 0.5), dims);
const keysOf = (n: number, salt: number) => BigUint64Array.from({ length: n }, (_, i) => BigInt(i) * 7919n + BigInt(salt));
const one = { ...DEFAULT_HNSW, threads: 1 };

function savedBytes(dir: string, name: string, index: HnswIndex): Buffer {
  const path = join(dir, name);
  index.save(path, 'test');
  return readFileSync(path);
}

test('graphs built side by side (one on a worker thread) are, byte for byte, the graphs built one after the other', () => {
  const dir = mkdtempSync(join(tmpdir(), 'graph-build-'));
  try {
    // Three graphs: the calling thread's and two workers', of different widths and sizes.
    const jobs = [
      { exact: matrix(2500, 48), keys: keysOf(2500, 1), options: one },
      { exact: matrix(2500, 12), keys: keysOf(2500, 2), options: one },
      { exact: matrix(900, 20), keys: keysOf(900, 3), options: one },
    ];
    const series = jobs.map((j, i) => savedBytes(dir, `series-${i}`, HnswIndex.build(j.exact, j.keys, j.options)));
    const built = buildGraphsSideBySide(jobs);
    assert.equal(built.length, 3);
    built.forEach((g, i) => {
      assert.equal(g.graphSize(), jobs[i]!.exact.size);
      assert.ok(savedBytes(dir, `side-${i}`, g).equals(series[i]!), `graph ${i}: the same bytes`);
    });
    // And they answer: a row's own vector finds that row first.
    const q = jobs[1]!.exact.vectors.subarray(17 * 12, 18 * 12);
    assert.equal(built[1]!.search(q, 5, 'cosine')[0]!.row, 17);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a worker that fails is reported, not waited for forever', () => {
  // Storage the usearch build refuses on the worker (an unknown scalar kind): the calling thread's graph is fine.
  const bad = { ...one, storage: 'bogus' as never };
  assert.throws(
    () =>
      buildGraphsSideBySide([
        { exact: matrix(200, 8), keys: keysOf(200, 1), options: one },
        { exact: matrix(200, 8), keys: keysOf(200, 2), options: bad },
      ]),
    /graph built on a worker thread/,
  );
});

test('useGraphs opens the saved graphs and builds the missing ones side by side, as each space alone would', () => {
  const dir = mkdtempSync(join(tmpdir(), 'graph-use-'));
  try {
    const n = 1200;
    const ids = Array.from({ length: n }, (_, i) => `id${i}`);
    const metadata = ids.map(() => ({}));
    const a = matrix(n, 32);
    const b = matrix(n, 8);
    const keys = keysOf(n, 5);
    const file = (name: string): GraphFile => ({ path: join(dir, name), space: 's', keys, threads: 1 });
    // In series, each space alone, saved.
    const s1 = new EmbeddedSpace(ids, metadata, a);
    const s2 = new EmbeddedSpace(ids, metadata, b);
    s1.useGraph(file('a-series.usearch'), true);
    s2.useGraph(file('b-series.usearch'), true);
    s1.saveGraph();
    s2.saveGraph();
    // Side by side.
    const p1 = new EmbeddedSpace(ids, metadata, a);
    const p2 = new EmbeddedSpace(ids, metadata, b);
    useGraphs([{ space: p1, file: file('a.usearch') }, { space: p2, file: file('b.usearch') }], 2);
    assert.equal(p1.kind, 'hnsw');
    assert.equal(p2.kind, 'hnsw');
    p1.saveGraph();
    p2.saveGraph();
    assert.ok(readFileSync(join(dir, 'a.usearch')).equals(readFileSync(join(dir, 'a-series.usearch'))));
    assert.ok(readFileSync(join(dir, 'b.usearch')).equals(readFileSync(join(dir, 'b-series.usearch'))));
    // Saved: opened again, not rebuilt (nothing left unsaved).
    const r1 = new EmbeddedSpace(ids, metadata, a);
    assert.equal(r1.openGraph(file('a.usearch')), true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
