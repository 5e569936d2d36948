import type { Metadata } from '../src/store/catalogStore.js';

/**
 * A shopper's photo of a product the catalog does not list has no identity to find there: what it can be shown is
 * products of its kind. The refined space ranks by the network's predicted kind, and the re-rank by backbone
 * similarity (src/search/backboneRerank.ts) then orders its candidates by look, which lets a look-alike of another
 * kind into the top 5. The candidates' own labels are a second opinion on the kind: the first `depth` of them vote
 * for their kind (articleType, or articleType and baseColour), each with weight softmax(similarity / temperature),
 * and the list is ordered again so that the kinds with the most weight come first, each kind's items in the order
 * they had (a kind no candidate in the first `depth` voted for keeps its place after them). The same-product pin
 * (a hit marked `lookAlike`) stays first.
 *
 * Measured with bench/readings.ts (`vt-*` and `vc-*` variants) and not shipped: on TUNE-style phone-like photos no
 * setting gained more than 0.003 P@5, because the refined candidates already agree with the network's predicted kind
 * (docs/relevance.md, "A neighbourhood vote on the kind"). It stays here for the bench.
 */
export interface KindVoteOptions {
  /** How many of the first hits vote. */
  readonly depth: number;
  /** Softmax temperature over the hits' similarity (`score`); 0: every voter counts the same. */
  readonly temperature: number;
  /** What a kind is: articleType alone, or articleType and baseColour. */
  readonly by: 'type' | 'typeColour';
  /** 'groups': every voted kind by its weight, heaviest first; 'winner': the heaviest kind first, the rest as they were. */
  readonly mode: 'groups' | 'winner';
  /** The hits are ordered again only when the heaviest kind holds at least this share of the votes (0: always). */
  readonly minShare?: number;
}

export function kindOf(m: Metadata, by: KindVoteOptions['by']): string | undefined {
  const type = m.articleType;
  if (!type) return undefined;
  return by === 'type' ? type : `${type}\u0000${m.baseColour ?? ''}`;
}

/** Each kind's share of the votes of the first `depth` hits (shares sum to 1; empty when no hit has a kind). */
export function kindShares<T extends { readonly score: number; readonly metadata: Metadata }>(hits: readonly T[], options: Pick<KindVoteOptions, 'depth' | 'temperature' | 'by'>): Map<string, number> {
  const voters = hits.slice(0, options.depth);
  const top = Math.max(...voters.map((h) => h.score));
  const mass = new Map<string, number>();
  let total = 0;
  for (const h of voters) {
    const kind = kindOf(h.metadata, options.by);
    if (kind === undefined) continue;
    // Scores relative to the best, so that exp() cannot overflow at a low temperature.
    const w = options.temperature > 0 ? Math.exp((h.score - top) / options.temperature) : 1;
    if (!Number.isFinite(w)) continue;
    mass.set(kind, (mass.get(kind) ?? 0) + w);
    total += w;
  }
  if (total > 0) for (const [k, v] of mass) mass.set(k, v / total);
  return mass;
}

/** `hits` ordered by the vote of their first `depth` (see above). Returns a new array; `hits` is untouched. */
export function voteByKind<T extends { readonly score: number; readonly metadata: Metadata; readonly lookAlike?: boolean }>(hits: readonly T[], options: KindVoteOptions): T[] {
  if (hits.length < 2 || options.depth < 1) return [...hits];
  const shares = kindShares(hits, options);
  let winner: string | undefined;
  let best = 0;
  for (const [k, s] of shares) if (s > best) [winner, best] = [k, s];
  if (winner === undefined || best < (options.minShare ?? 0)) return [...hits];
  const pinned = hits[0]?.lookAlike ? 1 : 0;
  const weight = (h: T) => {
    const kind = kindOf(h.metadata, options.by);
    if (kind === undefined) return 0;
    return options.mode === 'winner' ? Number(kind === winner) : (shares.get(kind) ?? 0);
  };
  const rest = hits.slice(pinned).map((h, i) => ({ h, i, w: weight(h) }));
  rest.sort((a, b) => b.w - a.w || a.i - b.i);
  return [...hits.slice(0, pinned), ...rest.map((r) => r.h)];
}
