import type { Metadata } from '../store/catalogStore.js';
import type { EmbeddedSpace } from './embeddedSpace.js';
import { ExactIndex } from './exactIndex.js';
import { itemPredicate } from './itemFilter.js';
import type { Metric } from './metric.js';
import type { IdDistance, VectorFilter, VectorQuery, VectorSpace } from './vectorIndex.js';

/** An item written since the snapshot: all its photos (photo 0 first), each with its squared norm (computed once). */
interface Photos {
  readonly vectors: readonly Float32Array[];
  readonly norm2s: readonly number[];
  readonly metadata: Metadata;
}

/**
 * A vector space that takes writes while it is searched: the snapshot read at start-up (exact or HNSW, immutable but
 * for hiding rows) and the items written since, kept apart and searched exactly, merged by distance. A write of an
 * item the snapshot holds hides its row there, so every item is found once, in its latest version. The items written
 * since are few next to the snapshot (a shop's changes of a day); a restart reads them into the snapshot.
 *
 * A product with several photos is found by any of them and listed once, at the distance of its nearest photo (the
 * hit says which photo, `photo`). The snapshot's rows are the products' first photos; their other photos are kept
 * here too (`setSnapshotPhotos`: one packed matrix, searched exactly), so a product's best photo is found exactly: a
 * product whose nearest photo is among the k nearest first photos is in the snapshot's k, and one whose nearest photo
 * is another is among the k x (most photos of a product) nearest other photos.
 */
export class LiveSpace implements VectorSpace {
  private readonly added = new Map<string, Photos>();
  /** The other photos of items of the snapshot (photos 1, 2, ...). */
  private others: SnapshotPhotos | null = null;

  constructor(readonly base: EmbeddedSpace) {}

  get kind(): 'exact' | 'hnsw' {
    return this.base.kind;
  }

  /** The snapshot's dimensions; a snapshot of an empty catalog has none, and its first item written sets them. */
  get dims(): number {
    if (this.base.size === 0) for (const a of this.added.values()) return a.vectors[0]!.length;
    return this.base.dims;
  }

  /** Items written since the snapshot. */
  get changes(): number {
    return this.added.size;
  }

  async count(): Promise<number> {
    return (await this.base.count()) + this.added.size;
  }

  /** Writes (or replaces) an item: the vector of its photo, and of its other photos when it has several. */
  put(id: string, vector: Float32Array, metadata: Metadata, others: readonly Float32Array[] = []): void {
    for (const v of [vector, ...others]) {
      if ((this.base.size > 0 || this.added.size > 0) && v.length !== this.dims) throw new Error(`Expected a vector of ${this.dims} floats for ${id} but received ${v.length}`);
    }
    this.base.hide(id);
    this.others?.hidden.add(id);
    this.added.set(id, photos([vector, ...others], metadata));
  }

  /**
   * The other photos (1, 2, ...) of the snapshot's items, read with the snapshot (not writes: `put` takes those),
   * packed into one matrix.
   */
  setSnapshotPhotos(entries: ReadonlyArray<{ readonly id: string; readonly vectors: readonly Float32Array[]; readonly metadata: Metadata }>): void {
    const held = entries.filter((e) => e.vectors.length > 0 && this.base.holds(e.id));
    if (held.length === 0) {
      this.others = null;
      return;
    }
    const dims = held[0]!.vectors[0]!.length;
    const rows = held.reduce((n, e) => n + e.vectors.length, 0);
    const matrix = new Float32Array(rows * dims);
    const rowIds: string[] = [];
    const rowPhoto: number[] = [];
    const rowsOf = new Map<string, number[]>();
    const metadata = new Map<string, Metadata>();
    let most = 0;
    for (const e of held) {
      most = Math.max(most, e.vectors.length);
      metadata.set(e.id, e.metadata);
      e.vectors.forEach((v, i) => {
        if (v.length !== dims) throw new Error(`Expected a vector of ${dims} floats for photo ${i + 1} of ${e.id} but received ${v.length}`);
        const row = rowIds.length;
        matrix.set(v, row * dims);
        rowIds.push(e.id);
        rowPhoto.push(i + 1);
        rowsOf.set(e.id, [...(rowsOf.get(e.id) ?? []), row]);
      });
    }
    this.others = { index: new ExactIndex(matrix, dims), rowIds, rowPhoto, rowsOf, metadata, most, hidden: new Set() };
  }

  remove(id: string): void {
    this.base.hide(id);
    this.added.delete(id);
    this.others?.hidden.add(id);
  }

  async search(vector: Float32Array, query: VectorQuery): Promise<IdDistance[]> {
    const fromBase = this.base.size > 0 ? await this.base.search(vector, query) : [];
    if (this.added.size === 0 && !this.others) return fromBase;
    const q = { vector, q2: norm2Of(vector), metric: query.metric };
    const passes = itemPredicate(query.filter);
    const fromAdded = nearestProducts(this.added, q, query.k, passes);
    const fromOthers = this.others ? nearestOthers(this.others, vector, query.k, query.metric, passes) : [];
    // A product can come from the snapshot (its first photo) and from its other photos: it is listed once, nearest.
    const best = new Map<string, IdDistance>();
    for (const n of [...fromBase, ...fromAdded, ...fromOthers]) {
      const seen = best.get(n.id);
      if (!seen || n.distance < seen.distance) best.set(n.id, n);
    }
    return [...best.values()].sort(byDistance).slice(0, query.k);
  }

  async distances(vector: Float32Array, ids: readonly string[], metric: Metric): Promise<IdDistance[]> {
    const inBase = ids.filter((id) => !this.added.has(id));
    const out = this.base.size > 0 ? await this.base.distances(vector, inBase, metric) : [];
    const q = { vector, q2: norm2Of(vector), metric };
    const byId = new Map(out.map((n) => [n.id, n]));
    for (const id of ids) {
      const p = this.added.get(id);
      const nearest = p ? nearestPhoto(p, q) : this.others ? nearestOtherOf(this.others, id, vector, metric) : null;
      const seen = byId.get(id);
      if (nearest && (!seen || nearest.distance < seen.distance)) byId.set(id, { id, ...nearest });
    }
    return [...byId.values()].sort(byDistance);
  }

  async get(id: string): Promise<Float32Array | null> {
    return this.vectorOf(id);
  }

  /** The vector of the item's (first) photo. */
  vectorOf(id: string): Float32Array | null {
    return this.added.get(id)?.vectors[0] ?? this.base.vectorOf(id);
  }
}

/** The snapshot's items' other photos: one row each, packed; a product written or deleted since is hidden. */
interface SnapshotPhotos {
  readonly index: ExactIndex;
  readonly rowIds: readonly string[];
  /** Each row's photo number (1, 2, ...). */
  readonly rowPhoto: readonly number[];
  readonly rowsOf: ReadonlyMap<string, readonly number[]>;
  readonly metadata: ReadonlyMap<string, Metadata>;
  /** Most other photos of one product: k products need at most k x most rows. */
  readonly most: number;
  readonly hidden: Set<string>;
}

/** The k products nearest the query by their other photos: the k x most nearest rows hold them, each at its best. */
function nearestOthers(o: SnapshotPhotos, vector: Float32Array, k: number, metric: Metric, passes: ((id: string, m: Metadata) => boolean) | undefined): IdDistance[] {
  const filter = passes || o.hidden.size > 0 ? (r: number) => !o.hidden.has(o.rowIds[r]!) && (!passes || passes(o.rowIds[r]!, o.metadata.get(o.rowIds[r]!)!)) : undefined;
  const best = new Map<string, IdDistance>();
  for (const n of o.index.search(vector, k * o.most, metric, filter)) {
    const id = o.rowIds[n.row]!;
    if (!best.has(id)) best.set(id, { id, distance: n.distance, photo: o.rowPhoto[n.row]! });
    if (best.size === k) break;
  }
  return [...best.values()];
}

/** The product's nearest other photo, when the snapshot has others of it (and it was not written since). */
function nearestOtherOf(o: SnapshotPhotos, id: string, vector: Float32Array, metric: Metric): { distance: number; photo: number } | null {
  const rows = o.rowsOf.get(id);
  if (!rows || o.hidden.has(id)) return null;
  const n = o.index.rescore(vector, rows, metric)[0];
  return n ? { distance: n.distance, photo: o.rowPhoto[n.row]! } : null;
}

interface Query {
  readonly vector: Float32Array;
  readonly q2: number;
  readonly metric: Metric;
}

function photos(vectors: readonly Float32Array[], metadata: Metadata): Photos {
  return { vectors, norm2s: vectors.map(norm2Of), metadata };
}

/** The product's photo nearest the query: its distance and its number (omitted for photo 0). */
function nearestPhoto(p: Photos, q: Query): { distance: number; photo?: number } {
  let best = 0;
  let bestDistance = Infinity;
  p.vectors.forEach((v, i) => {
    const d = distance(q, v, p.norm2s[i]!);
    if (d < bestDistance) {
      bestDistance = d;
      best = i;
    }
  });
  return best === 0 ? { distance: bestDistance } : { distance: bestDistance, photo: best };
}

/** The k products of `set` nearest the query by their nearest photo, exactly. */
function nearestProducts(set: ReadonlyMap<string, Photos>, q: Query, k: number, passes: ((id: string, m: Metadata) => boolean) | undefined): IdDistance[] {
  if (set.size === 0) return [];
  const out: IdDistance[] = [];
  for (const [id, p] of set) {
    if (passes && !passes(id, p.metadata)) continue;
    out.push({ id, ...nearestPhoto(p, q) });
  }
  return out.sort(byDistance).slice(0, k);
}

function byDistance(a: IdDistance, b: IdDistance): number {
  return a.distance - b.distance || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

function norm2Of(v: Float32Array): number {
  let s = 0;
  for (let j = 0; j < v.length; j++) s += v[j]! * v[j]!;
  return s;
}

/** The same distances as the exact index (src/index/exactIndex.ts): cosine distance, or euclidean. */
function distance(q: Query, v: Float32Array, norm2: number): number {
  let dot = 0;
  for (let j = 0; j < q.vector.length; j++) dot += q.vector[j]! * v[j]!;
  if (q.metric === 'cosine') return 1 - dot / ((Math.sqrt(q.q2) || 1) * (Math.sqrt(norm2) || 1));
  return Math.sqrt(Math.max(0, q.q2 + norm2 - 2 * dot));
}
