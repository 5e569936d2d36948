import { mulberry32 } from './evaluate.js';

/**
 * Cosine similarity (backbone vectors, as stored) at and above which two photos are taken for the same
 * product photographed twice: chosen on the photo-condition benchmark (bench/conditions.ts, see
 * docs/relevance.md) so that few distinct catalog products group while mild copies (crop, light, JPEG) do.
 */
export const NEAR_DUPLICATE_THRESHOLD = 0.9;

export interface DuplicateGroup {
  readonly kind: 'exact' | 'near';
  /** Catalog ids, sorted. */
  readonly ids: string[];
  /** Lowest cosine similarity between two linked members (1 for exact duplicates). */
  readonly similarity: number;
}

/** Items whose decoded pixels hash the same: renamed or losslessly re-encoded copies. */
export function exactDuplicateGroups(items: ReadonlyArray<{ id: string; pixelHash?: string | null | undefined }>): DuplicateGroup[] {
  const byHash = new Map<string, string[]>();
  for (const it of items) {
    if (!it.pixelHash) continue;
    const list = byHash.get(it.pixelHash);
    if (list) list.push(it.id);
    else byHash.set(it.pixelHash, [it.id]);
  }
  return [...byHash.values()].filter((ids) => ids.length > 1).map((ids) => ({ kind: 'exact' as const, ids: ids.sort(), similarity: 1 }));
}

export interface SimilarPair {
  readonly a: number;
  readonly b: number;
  readonly similarity: number;
}

export interface NearDuplicateOptions {
  readonly threshold: number;
  /** Hash tables and bits per table of the candidate search (more tables: higher recall, slower). */
  readonly tables?: number;
  readonly bits?: number;
  readonly seed?: number;
}

/**
 * All pairs of rows with cosine similarity >= threshold. Comparing every pair of a 40,000-item catalog
 * (10^12 multiply-adds) is too slow in JavaScript, so candidates come from locality-sensitive hashing:
 * the centred vectors are projected to 128 dimensions and hashed by the signs of random hyperplanes
 * (SimHash) in several tables; rows sharing a bucket in any table are compared exactly. Near-duplicates
 * lie far above the threshold at which a bucket collision becomes unlikely, which the benchmark checks
 * against exact search.
 */
export function nearDuplicatePairs(vectors: Float32Array, dims: number, options: NearDuplicateOptions): SimilarPair[] {
  const n = dims > 0 ? vectors.length / dims : 0;
  if (n < 2) return [];
  const tables = options.tables ?? 24;
  const bits = options.bits ?? 14;
  const rand = mulberry32(options.seed ?? 7);
  const norms = new Float32Array(n);
  const mean = new Float64Array(dims);
  for (let r = 0; r < n; r++) {
    let s = 0;
    for (let j = 0; j < dims; j++) s += vectors[r * dims + j]! ** 2;
    norms[r] = Math.sqrt(s) || 1;
    for (let j = 0; j < dims; j++) mean[j]! += vectors[r * dims + j]! / norms[r]! / n;
  }
  // Sparse random projection to 128-d of the centred unit vectors (Achlioptas): keeps angles, 10x cheaper.
  const low = 128;
  const nnz = Math.max(8, Math.round(dims / 8));
  const projIdx = new Int32Array(low * nnz);
  const projSign = new Float32Array(low * nnz);
  for (let i = 0; i < low * nnz; i++) {
    projIdx[i] = Math.floor(rand() * dims);
    projSign[i] = rand() < 0.5 ? -1 : 1;
  }
  const reduced = new Float32Array(n * low);
  for (let r = 0; r < n; r++) {
    const o = r * dims;
    const inv = 1 / norms[r]!;
    for (let k = 0; k < low; k++) {
      let s = 0;
      for (let t = k * nnz, e = t + nnz; t < e; t++) {
        const j = projIdx[t]!;
        s += projSign[t]! * (vectors[o + j]! * inv - mean[j]!);
      }
      reduced[r * low + k] = s;
    }
  }
  const planes = new Float32Array(tables * bits * low);
  for (let i = 0; i < planes.length; i++) planes[i] = gaussian(rand);

  const seen = new Set<number>();
  const pairs: SimilarPair[] = [];
  const codes = new Int32Array(n);
  for (let t = 0; t < tables; t++) {
    for (let r = 0; r < n; r++) {
      let code = 0;
      for (let b = 0; b < bits; b++) {
        const p = (t * bits + b) * low;
        let s = 0;
        for (let k = 0; k < low; k++) s += planes[p + k]! * reduced[r * low + k]!;
        if (s > 0) code |= 1 << b;
      }
      codes[r] = code;
    }
    const buckets = new Map<number, number[]>();
    for (let r = 0; r < n; r++) {
      const list = buckets.get(codes[r]!);
      if (list) list.push(r);
      else buckets.set(codes[r]!, [r]);
    }
    for (const rows of buckets.values()) {
      for (let x = 0; x < rows.length; x++) {
        for (let y = x + 1; y < rows.length; y++) {
          const a = rows[x]!;
          const b = rows[y]!;
          const key = a * n + b;
          if (seen.has(key)) continue;
          seen.add(key);
          const sim = cosine(vectors, dims, a, b, norms);
          if (sim >= options.threshold) pairs.push({ a, b, similarity: sim });
        }
      }
    }
  }
  return pairs.sort((p, q) => p.a - q.a || p.b - q.b);
}

/** Groups rows linked by pairs (single linkage, union-find); each group's lowest link similarity. */
export function groupPairs(n: number, pairs: readonly SimilarPair[]): Array<{ rows: number[]; similarity: number }> {
  const parent = Int32Array.from({ length: n }, (_, i) => i);
  const find = (x: number): number => {
    while (parent[x] !== x) {
      parent[x] = parent[parent[x]!]!;
      x = parent[x]!;
    }
    return x;
  };
  for (const p of pairs) {
    const ra = find(p.a);
    const rb = find(p.b);
    if (ra !== rb) parent[Math.max(ra, rb)] = Math.min(ra, rb);
  }
  const groups = new Map<number, { rows: number[]; similarity: number }>();
  for (const p of pairs) {
    const root = find(p.a);
    const g = groups.get(root) ?? { rows: [], similarity: 1 };
    g.similarity = Math.min(g.similarity, p.similarity);
    groups.set(root, g);
  }
  for (let r = 0; r < n; r++) groups.get(find(r))?.rows.push(r);
  return [...groups.values()].filter((g) => g.rows.length > 1);
}

function cosine(v: Float32Array, d: number, a: number, b: number, norms: Float32Array): number {
  let s = 0;
  const oa = a * d;
  const ob = b * d;
  for (let j = 0; j < d; j++) s += v[oa + j]! * v[ob + j]!;
  return s / (norms[a]! * norms[b]!);
}

function gaussian(rand: () => number): number {
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}
