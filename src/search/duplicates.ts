import { ExactIndex } from '../index/exactIndex.js';
import { DEFAULT_HNSW, HnswIndex } from '../index/hnswIndex.js';
import { exactKnnBatch } from '../index/exactBatch.js';

/**
 * Cosine similarity (backbone vectors, as stored) at and above which two photos are taken for the same
 * product photographed twice: chosen on the photo-condition benchmark (bench/conditions.ts, see
 * docs/relevance.md) so that few distinct catalog products group while mild copies (crop, light, JPEG) do.
 */
export const NEAR_DUPLICATE_THRESHOLD = 0.95;

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

export interface NeighbourPairOptions {
  /** Nearest neighbours looked at per item (a group larger than this still links up, item by item). */
  readonly neighbours?: number;
  /** Up to this many rows every row's neighbours come from one batched exact search, above from an HNSW graph. */
  readonly exactUpTo?: number;
}

export interface NearDuplicateOptions extends NeighbourPairOptions {
  readonly threshold: number;
}

/**
 * Every distinct pair of a row and one of its nearest neighbours, with their exact cosine similarity, sorted by
 * `a` then `b` (a < b). The threshold plays no part in it: the pairs at or above any threshold are a filter of
 * these (`pairsAtLeast`), so one scan per catalog version answers every threshold.
 */
export interface NeighbourPairs {
  readonly a: Int32Array;
  readonly b: Int32Array;
  readonly similarity: Float64Array;
}

/**
 * All pairs of rows with cosine similarity >= threshold (see `neighbourPairs`, of which this is one filter).
 */
export function nearDuplicatePairs(vectors: Float32Array, dims: number, options: NearDuplicateOptions): SimilarPair[] {
  return pairsAtLeast(neighbourPairs(vectors, dims, options), options.threshold);
}

/**
 * Each row's nearest neighbours and their similarity. Comparing every pair of a 40,000-item catalog (10^12
 * multiply-adds) is too slow in JavaScript, so the neighbours come from an HNSW graph (one batched exact search
 * below a few thousand rows) and each pair is then measured exactly. Near-duplicates are each other's nearest
 * neighbours, where HNSW recall is highest; the benchmark compares with exact search. This is the expensive part
 * of the duplicates scan (minutes on 40,000 items): the server runs it on a worker thread (duplicatesThread.ts).
 */
export function neighbourPairs(vectors: Float32Array, dims: number, options: NeighbourPairOptions = {}): NeighbourPairs {
  const n = dims > 0 ? vectors.length / dims : 0;
  if (n < 2) return { a: new Int32Array(0), b: new Int32Array(0), similarity: new Float64Array(0) };
  const k = (options.neighbours ?? 8) + 1;
  const neighboursOf = n > (options.exactUpTo ?? EXACT_UP_TO) ? graphNeighbours(vectors, dims, k) : exactNeighbours(vectors, dims, k);
  const norms = new Float32Array(n);
  for (let r = 0; r < n; r++) {
    let s = 0;
    for (let j = 0; j < dims; j++) s += vectors[r * dims + j]! ** 2;
    norms[r] = Math.sqrt(s) || 1;
  }
  const seen = new Set<number>();
  const pairs: SimilarPair[] = [];
  for (let r = 0; r < n; r++) {
    for (const row of neighboursOf(r)) {
      if (row === r || row < 0) continue;
      const a = Math.min(r, row);
      const b = Math.max(r, row);
      const key = a * n + b;
      if (seen.has(key)) continue;
      seen.add(key);
      pairs.push({ a, b, similarity: cosine(vectors, dims, a, b, norms) });
    }
  }
  pairs.sort((p, q) => p.a - q.a || p.b - q.b);
  // Typed arrays: they cross from the worker thread without a copy (transferred), and take 16 bytes a pair.
  const out = { a: new Int32Array(pairs.length), b: new Int32Array(pairs.length), similarity: new Float64Array(pairs.length) };
  pairs.forEach((p, i) => {
    out.a[i] = p.a;
    out.b[i] = p.b;
    out.similarity[i] = p.similarity;
  });
  return out;
}

/** The neighbour pairs at or above `threshold`, in their order (a then b): a pass over a few hundred thousand numbers. */
export function pairsAtLeast(pairs: NeighbourPairs, threshold: number): SimilarPair[] {
  const out: SimilarPair[] = [];
  for (let i = 0; i < pairs.similarity.length; i++) {
    if (pairs.similarity[i]! >= threshold) out.push({ a: pairs.a[i]!, b: pairs.b[i]!, similarity: pairs.similarity[i]! });
  }
  return out;
}

/** Up to this many rows, every row's neighbours come from one batched exact search (tests lower it to reach the graph). */
export const EXACT_UP_TO = 3000;

function exactNeighbours(vectors: Float32Array, dims: number, k: number): (row: number) => Iterable<number> {
  const { rows, k: kk } = exactKnnBatch(vectors, vectors, dims, k);
  return (r) => rows.subarray(r * kk, (r + 1) * kk);
}

function graphNeighbours(vectors: Float32Array, dims: number, k: number): (row: number) => Iterable<number> {
  const graph = HnswIndex.build(new ExactIndex(vectors, dims), undefined, { ...DEFAULT_HNSW, storage: 'f32' });
  return (r) => graph.search(vectors.subarray(r * dims, (r + 1) * dims), k, 'cosine').map((nb) => nb.row);
}

/** Groups rows linked by pairs (single linkage, union-find); each group's lowest link similarity. */
export function groupPairs(n: number, pairs: readonly SimilarPair[]): Array<{ rows: number[]; similarity: number }> {
  return linkRows(n, pairs.map((p) => p.a), pairs.map((p) => p.b), pairs.map((p) => p.similarity), -Infinity);
}

/**
 * `groupPairs` of the neighbour pairs at or above `threshold`, read from the typed arrays as they are (no pair
 * objects): what each threshold asked of a finished scan costs, 10 to 20 ms for the 250,000 pairs of 40,000 items.
 */
export function groupPairsAtLeast(n: number, pairs: NeighbourPairs, threshold: number): Array<{ rows: number[]; similarity: number }> {
  return linkRows(n, pairs.a, pairs.b, pairs.similarity, threshold);
}

function linkRows(n: number, a: ArrayLike<number>, b: ArrayLike<number>, similarity: ArrayLike<number>, threshold: number): Array<{ rows: number[]; similarity: number }> {
  const parent = Int32Array.from({ length: n }, (_, i) => i);
  const find = (x: number): number => {
    while (parent[x] !== x) {
      parent[x] = parent[parent[x]!]!;
      x = parent[x]!;
    }
    return x;
  };
  for (let i = 0; i < similarity.length; i++) {
    if (!(similarity[i]! >= threshold)) continue;
    const ra = find(a[i]!);
    const rb = find(b[i]!);
    if (ra !== rb) parent[Math.max(ra, rb)] = Math.min(ra, rb);
  }
  const groups = new Map<number, { rows: number[]; similarity: number }>();
  for (let i = 0; i < similarity.length; i++) {
    if (!(similarity[i]! >= threshold)) continue;
    const root = find(a[i]!);
    const g = groups.get(root) ?? { rows: [], similarity: 1 };
    g.similarity = Math.min(g.similarity, similarity[i]!);
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

/** One row per group member: group number, kind, similarity, id, name. */
export function duplicatesCsv(d: { exact: DuplicateGroup[]; near: DuplicateGroup[] }, name: (id: string) => string = () => ''): string {
  // A product name that starts like a formula (=, +, -, @, tab, CR) would run as one in a spreadsheet: it is kept as text.
  const text = (v: string | number) => (typeof v === 'string' && /^[=+\-@\t\r]/.test(v) ? `'${v}` : String(v));
  const cell = (v: string | number) => {
    const t = text(v);
    return /[",\n]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t;
  };
  const rows = ['group,kind,similarity,id,name'];
  [...d.exact, ...d.near].forEach((g, i) => {
    for (const id of g.ids) rows.push([i + 1, g.kind, g.similarity, id, name(id)].map(cell).join(','));
  });
  return rows.join('\n') + '\n';
}
