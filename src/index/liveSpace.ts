import type { Metadata } from '../store/catalogStore.js';
import type { EmbeddedSpace } from './embeddedSpace.js';
import { itemPredicate } from './itemFilter.js';
import type { Metric } from './metric.js';
import type { IdDistance, VectorFilter, VectorQuery, VectorSpace } from './vectorIndex.js';

interface Added {
  readonly vector: Float32Array;
  readonly metadata: Metadata;
  /** Squared norm, computed once. */
  readonly norm2: number;
}

/**
 * A vector space that takes writes while it is searched: the snapshot read at start-up (exact or HNSW, immutable but
 * for hiding rows) and the items written since, kept apart and searched exactly, merged by distance. A write of an
 * item the snapshot holds hides its row there, so every item is found once, in its latest version. The items written
 * since are few next to the snapshot (a shop's changes of a day); a restart reads them into the snapshot.
 */
export class LiveSpace implements VectorSpace {
  private readonly added = new Map<string, Added>();

  constructor(readonly base: EmbeddedSpace) {}

  get kind(): 'exact' | 'hnsw' {
    return this.base.kind;
  }

  /** The snapshot's dimensions; a snapshot of an empty catalog has none, and its first item written sets them. */
  get dims(): number {
    if (this.base.size === 0) for (const a of this.added.values()) return a.vector.length;
    return this.base.dims;
  }

  /** Items written since the snapshot. */
  get changes(): number {
    return this.added.size;
  }

  async count(): Promise<number> {
    return (await this.base.count()) + this.added.size;
  }

  /** Writes (or replaces) an item's vector and metadata. */
  put(id: string, vector: Float32Array, metadata: Metadata): void {
    if ((this.base.size > 0 || this.added.size > 0) && vector.length !== this.dims) throw new Error(`Expected a vector of ${this.dims} floats for ${id} but received ${vector.length}`);
    this.base.hide(id);
    let norm2 = 0;
    for (let j = 0; j < vector.length; j++) norm2 += vector[j]! * vector[j]!;
    this.added.set(id, { vector, metadata, norm2 });
  }

  remove(id: string): void {
    this.base.hide(id);
    this.added.delete(id);
  }

  async search(vector: Float32Array, query: VectorQuery): Promise<IdDistance[]> {
    const fromBase = this.base.size > 0 ? await this.base.search(vector, query) : [];
    if (this.added.size === 0) return fromBase;
    const fromAdded = this.searchAdded(vector, query.k, query.metric, query.filter);
    return [...fromBase, ...fromAdded].sort((a, b) => a.distance - b.distance).slice(0, query.k);
  }

  async distances(vector: Float32Array, ids: readonly string[], metric: Metric): Promise<IdDistance[]> {
    const inBase = ids.filter((id) => !this.added.has(id));
    const out = this.base.size > 0 ? await this.base.distances(vector, inBase, metric) : [];
    const q2 = norm2Of(vector);
    for (const id of ids) {
      const a = this.added.get(id);
      if (a) out.push({ id, distance: distance(vector, q2, a, metric) });
    }
    return out.sort((a, b) => a.distance - b.distance);
  }

  async get(id: string): Promise<Float32Array | null> {
    return this.vectorOf(id);
  }

  vectorOf(id: string): Float32Array | null {
    return this.added.get(id)?.vector ?? this.base.vectorOf(id);
  }

  private searchAdded(vector: Float32Array, k: number, metric: Metric, filter: VectorFilter | undefined): IdDistance[] {
    const q2 = norm2Of(vector);
    const passes = itemPredicate(filter);
    const out: IdDistance[] = [];
    for (const [id, a] of this.added) {
      if (passes && !passes(id, a.metadata)) continue;
      out.push({ id, distance: distance(vector, q2, a, metric) });
    }
    return out.sort((a, b) => a.distance - b.distance || (a.id < b.id ? -1 : 1)).slice(0, k);
  }
}

function norm2Of(v: Float32Array): number {
  let s = 0;
  for (let j = 0; j < v.length; j++) s += v[j]! * v[j]!;
  return s;
}

/** The same distances as the exact index (src/index/exactIndex.ts): cosine distance, or euclidean. */
function distance(q: Float32Array, q2: number, a: Added, metric: Metric): number {
  let dot = 0;
  for (let j = 0; j < q.length; j++) dot += q[j]! * a.vector[j]!;
  if (metric === 'cosine') return 1 - dot / ((Math.sqrt(q2) || 1) * (Math.sqrt(a.norm2) || 1));
  return Math.sqrt(Math.max(0, q2 + a.norm2 - 2 * dot));
}
