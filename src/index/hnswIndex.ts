import { existsSync, readFileSync, renameSync, statSync } from 'node:fs';
import usearch, { type Index as UsearchIndex, type ScalarKind } from 'usearch';
import { ExactIndex } from './exactIndex.js';
import type { Metric } from './metric.js';
import type { Neighbor, RowFilter, RowIndex } from './rowIndex.js';
import { syncPath, writeFileDurably } from '../util/durableFile.js';

export type VectorStorage = 'f32' | 'f16' | 'i8';

export interface HnswOptions {
  readonly metric: Metric;
  /** How vectors are kept inside the graph; f16 halves the memory of f32, i8 quarters it. */
  readonly storage: VectorStorage;
  readonly connectivity: number;
  readonly expansionAdd: number;
  readonly expansionSearch: number;
  readonly threads: number;
}

// expansionSearch 320: in the refined space many items tie on their label parts, and at 160 the graph missed enough of
// the exact top 5 to cost 0.006 P@5 on the 400 clean held-back photos of bench/conditions.ts (320 and 480 match exact search).
export const DEFAULT_HNSW: HnswOptions = Object.freeze({ metric: 'cosine', storage: 'f16', connectivity: 16, expansionAdd: 128, expansionSearch: 320, threads: 2 });

/**
 * Approximate k-NN (HNSW, usearch) with the same `search` as the exact index. Each row has a stable key
 * (a hash of what made its vector), so a saved graph is brought up to date by adding and removing the
 * rows that changed instead of being rebuilt. The exact matrix stays beside it: a query in the other
 * metric, or a filter that the approximate candidates cannot satisfy, is answered exactly, so results
 * are never silently short.
 */
export class HnswIndex implements RowIndex {
  private rowOfKey = new Map<bigint, number>();

  private constructor(
    private readonly index: UsearchIndex,
    private readonly exact: ExactIndex,
    private keys: BigUint64Array,
    readonly options: HnswOptions,
  ) {
    keys.forEach((k, row) => this.rowOfKey.set(k, row));
  }

  private static create(dims: number, options: HnswOptions): UsearchIndex {
    return new usearch.Index({
      dimensions: dims,
      metric: options.metric === 'cosine' ? usearch.MetricKind.Cos : usearch.MetricKind.L2sq,
      quantization: options.storage as ScalarKind,
      connectivity: options.connectivity,
      expansion_add: options.expansionAdd,
      expansion_search: options.expansionSearch,
      multi: false,
    });
  }

  /** Builds the graph over every row of `exact`; `keys[row]` identifies the row's vector. */
  static build(exact: ExactIndex, keys?: BigUint64Array, options: HnswOptions = DEFAULT_HNSW): HnswIndex {
    const k = keys ?? BigUint64Array.from({ length: exact.size }, (_, i) => BigInt(i));
    const h = new HnswIndex(HnswIndex.create(exact.dims, options), exact, k, options);
    h.addRows(Array.from({ length: exact.size }, (_, i) => i));
    return h;
  }

  /**
   * Opens a saved graph and brings it in line with `keys` (rows added, changed or removed since it was
   * saved), in memory: saving is the caller's choice. Builds anew when there is none, it was made for another
   * space, or it is not the graph its sidecar describes (a save killed between its two renames). Returns whether
   * the graph in memory differs from the saved one.
   */
  static open(path: string, space: string, exact: ExactIndex, keys: BigUint64Array, options: HnswOptions = DEFAULT_HNSW): { index: HnswIndex; changed: boolean; built: boolean } {
    const meta = `${path}.json`;
    if (existsSync(path) && existsSync(meta)) {
      try {
        const saved = JSON.parse(readFileSync(meta, 'utf8')) as GraphSidecar;
        if (saved.space === space && saved.dims === exact.dims && saved.storage === options.storage && (saved.graphBytes ?? statSync(path).size) === statSync(path).size) {
          const index = HnswIndex.create(exact.dims, options);
          index.load(path);
          if (!describes(saved, index)) throw new Error('the graph is not the one its sidecar describes');
          const h = new HnswIndex(index, exact, keys, options);
          const wanted = new Set(keys);
          const stale = saved.keys.map((s) => BigInt(`0x${s}`)).filter((k) => !wanted.has(k));
          const have = new Set(saved.keys);
          const missing: number[] = [];
          keys.forEach((k, row) => {
            if (!have.has(k.toString(16))) missing.push(row);
          });
          if (stale.length > 0) index.remove(BigUint64Array.from(stale));
          h.addRows(missing);
          return { index: h, changed: stale.length + missing.length > 0, built: false };
        }
      } catch {
        // unreadable or from another version: rebuilt below
      }
    }
    return { index: HnswIndex.build(exact, keys, options), changed: true, built: true };
  }

  /**
   * Saves the graph and its sidecar (space, keys, the graph file's size), each written under a temporary name and
   * renamed into place, graph first. A reader sees whole files only; killed between the two renames, the new
   * graph sits beside the old sidecar, whose size and keys do not match it, and `open` rebuilds instead of patching.
   */
  save(path: string, space: string): void {
    const graphTmp = `${path}.tmp-${process.pid}`;
    const metaTmp = `${path}.json.tmp-${process.pid}`;
    this.index.save(graphTmp);
    syncPath(graphTmp);
    const sidecar: GraphSidecar = { space, dims: this.dims, storage: this.options.storage, graphBytes: statSync(graphTmp).size, keys: Array.from(this.keys, (k) => k.toString(16)) };
    writeFileDurably(metaTmp, JSON.stringify(sidecar));
    renameSync(graphTmp, path);
    renameSync(metaTmp, `${path}.json`);
  }

  get size(): number {
    return this.exact.size;
  }

  get dims(): number {
    return this.exact.dims;
  }

  /** Rows the graph holds. */
  graphSize(): number {
    return this.index.size();
  }

  /** Whether the graph itself holds a vector under each key (a stale key is invisible to `search`, but not here). */
  holds(keys: ArrayLike<bigint>): boolean[] {
    const r = this.index.contains(BigUint64Array.from(keys));
    return Array.isArray(r) ? r : [r];
  }

  search(query: Float32Array, k: number, metric: Metric, filter?: RowFilter): Neighbor[] {
    if (metric !== this.options.metric) return this.exact.search(query, k, metric, filter);
    const want = Math.min(this.size, filter ? k * 8 : k);
    if (want === 0) return [];
    const m = this.index.search(query, want, 1);
    const out: Neighbor[] = [];
    for (let i = 0; i < m.keys.length && out.length < k; i++) {
      const row = this.rowOfKey.get(m.keys[i]!);
      if (row === undefined || (filter && !filter(row))) continue;
      const d = m.distances[i]!;
      out.push({ row, distance: metric === 'cosine' ? d : Math.sqrt(Math.max(0, d)) });
    }
    if (out.length < k && out.length < this.size && filter) return this.exact.search(query, k, metric, filter);
    // The graph holds float16 copies: near-ties (items sharing labels) are ordered by their exact vectors.
    return this.exact.rescore(query, out.map((n) => n.row), metric);
  }

  private addRows(rows: readonly number[]): void {
    const d = this.exact.dims;
    for (let start = 0; start < rows.length; start += 10_000) {
      const part = rows.slice(start, start + 10_000);
      const data = new Float32Array(part.length * d);
      part.forEach((r, i) => data.set(this.exact.vectors.subarray(r * d, (r + 1) * d), i * d));
      this.index.add(BigUint64Array.from(part.map((r) => this.keys[r]!)), data, this.options.threads);
    }
  }

  memoryBytes(): number {
    // usearch does not report it; estimated from its layout: vectors in storage width plus ~2M links per node.
    const width = this.options.storage === 'f32' ? 4 : this.options.storage === 'f16' ? 2 : 1;
    return this.size * (this.dims * width + 2 * this.options.connectivity * 4 + 16);
  }
}

/** What a saved graph is: its space, shape, file size and the key of every row it holds. */
interface GraphSidecar {
  readonly space: string;
  readonly dims: number;
  readonly storage: string;
  /** Absent in sidecars saved before it was recorded: the key check alone decides then. */
  readonly graphBytes?: number;
  readonly keys: string[];
}

/** Whether the loaded graph holds exactly the sidecar's keys. */
function describes(saved: GraphSidecar, index: UsearchIndex): boolean {
  if (index.size() !== saved.keys.length) return false;
  if (saved.keys.length === 0) return true;
  const held = index.contains(BigUint64Array.from(saved.keys, (s) => BigInt(`0x${s}`)));
  return Array.isArray(held) ? held.every(Boolean) : held;
}

