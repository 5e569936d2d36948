/** Seeded randomness: every sample and shuffle of the product is reproducible from its seed. */

/** A seeded, order-stable sample (all when limit is 0 or covers everything). */
export function sample<T>(values: readonly T[], limit: number, seed: number): T[] {
  if (limit <= 0 || limit >= values.length) return [...values];
  const rand = mulberry32(seed);
  const idx = values.map((_, i) => i);
  for (let i = idx.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  return idx.slice(0, limit).sort((a, b) => a - b).map((i) => values[i]!);
}

/** A small fast 32-bit PRNG (Mulberry32): numbers in [0, 1) from a seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
