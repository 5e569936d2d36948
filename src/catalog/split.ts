import { createHash } from 'node:crypto';

/**
 * The train / held-back split used for every relevance figure: an item is held back when the hash of its
 * id falls in the last `fraction` of the range. It depends on nothing but the id, so it is the same on
 * every machine and for every catalog, and an item never moves between splits as a catalog grows.
 */
export function isHeldBack(id: string, fraction = 0.2): boolean {
  const h = createHash('sha256').update(`fashion-split:${id}`).digest();
  return h.readUInt32BE(0) / 0x100000000 >= 1 - fraction;
}
