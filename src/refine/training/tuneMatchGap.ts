import { sameProductPin } from '../../search/sameProduct.js';
import type { SameProductChoice } from './tuneSameProduct.js';
import type { Validation } from './validation.js';

/**
 * Match thresholds tried (src/search/match.ts): the smallest whose validation precision reaches MATCH_PRECISION and that
 * matches at most MATCH_UNLISTED of the photos of unlisted products is kept.
 */
const MATCH_GAPS = [0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.12, 0.14, 0.16, 0.18, 0.2];
const MATCH_PRECISION = 0.8;
/**
 * Precision alone let unlisted products through: with training copies from the shopper-photo generator, the gap it chose
 * (0.08) matched 0.13 of validation's unlisted photos and 0.11 of held-back photos in held-out styles (bench/generalise.ts),
 * twice as many as before. Naming a wrong product is worse than saying "no confident match", so their share is capped
 * too, at about what the catalog matched before (0.055); docs/relevance.md has the figures on held-out styles.
 */
const MATCH_UNLISTED = 0.05;

/**
 * Stage: `fashion match` names the nearest item by the same rule as the pin at a stricter gap: the smallest at which
 * validation precision reaches MATCH_PRECISION, with as many photos of unlisted products (clean photos and copies of
 * validation items against the fit items) as copies of listed ones (against all items), and at which at most
 * MATCH_UNLISTED of those unlisted photos are matched. Validation copies come from TUNE styles only (src/refine/augment.ts),
 * so the gap is calibrated on them and reported on held-out ones.
 */
export function tuneMatchGap(v: Validation, same: SameProductChoice, onProgress?: (message: string) => void): number {
  let matchGap = MATCH_GAPS[MATCH_GAPS.length - 1]!;
  const { copyAll, copyFit, clean } = same.near;
  const copies = v.data.copies!;
  const valCopies = v.set.valCopies;
  if (!copyAll || !copyFit) return matchGap;
  const absent = [...clean, ...copyFit];
  for (const gap of MATCH_GAPS) {
    let answered = 0, right = 0;
    copyAll.forEach((near, r) => {
      const pin = sameProductPin(near, gap)?.row ?? null;
      if (pin === null) return;
      answered++;
      if (v.everyRow[pin] === copies.sources[valCopies[r]!]) right++;
    });
    const wrongly = absent.filter((near) => sameProductPin(near, gap) !== null).length / absent.length;
    const precision = right / Math.max(1, answered + wrongly * valCopies.length);
    onProgress?.(`match gap ${gap}: precision ${precision.toFixed(4)}, copies matched to their item ${(right / valCopies.length).toFixed(4)}, unlisted photos matched ${wrongly.toFixed(4)}`);
    if (precision >= MATCH_PRECISION && wrongly <= MATCH_UNLISTED) {
      matchGap = gap;
      break;
    }
  }
  return matchGap;
}
