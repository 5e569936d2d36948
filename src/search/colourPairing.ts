/**
 * Which colours go together, as one documented rule (docs/outfits.md):
 *  1. Neutrals (black, white, greys, navy, beige, cream, browns, metallics, ...) go with anything.
 *  2. Two colours of the same family go together (tonal: blue with turquoise, red with maroon).
 *  3. Two families go together when they are a classic pair in GOOD_PAIRS (blue with yellow, pink with
 *     navy is rule 1, ...); every other pair of non-neutral families clashes (red with pink, orange with purple).
 *  4. Multi (prints) goes with neutrals only.
 * Unknown colours (empty, NA) are treated as neutral: nothing is known to clash.
 */
export const NEUTRALS = new Set([
  'Black', 'White', 'Grey', 'Grey Melange', 'Charcoal', 'Navy Blue', 'Beige', 'Cream', 'Off White', 'Khaki', 'Tan',
  'Brown', 'Coffee Brown', 'Mushroom Brown', 'Taupe', 'Nude', 'Skin', 'Silver', 'Gold', 'Steel', 'Metallic', 'Bronze', 'Copper',
]);

export const FAMILIES: Record<string, string> = {
  Red: 'red', Maroon: 'red', Burgundy: 'red', Rust: 'orange',
  Orange: 'orange', Peach: 'orange', Mustard: 'yellow', Yellow: 'yellow',
  Green: 'green', Olive: 'green', 'Sea Green': 'green', 'Lime Green': 'green', 'Fluorescent Green': 'green', Teal: 'blue',
  Blue: 'blue', 'Turquoise Blue': 'blue',
  Purple: 'purple', Lavender: 'purple', Mauve: 'purple', Magenta: 'pink', Pink: 'pink', Rose: 'pink',
  Multi: 'multi',
};

/** Classic pairs of colour families (order does not matter). */
export const GOOD_PAIRS: ReadonlyArray<readonly [string, string]> = [
  ['blue', 'yellow'], ['blue', 'orange'], ['blue', 'pink'], ['blue', 'green'], ['blue', 'red'], ['blue', 'purple'],
  ['green', 'yellow'], ['green', 'pink'], ['purple', 'yellow'], ['pink', 'purple'],
];
const GOOD = new Set(GOOD_PAIRS.flatMap(([a, b]) => [`${a}+${b}`, `${b}+${a}`]));

export function isNeutral(colour: string | undefined): boolean {
  return !colour || colour === 'NA' || NEUTRALS.has(colour);
}

export interface Pairing {
  readonly ok: boolean;
  /** Why, in a few words: "navy blue is a neutral", "both blue tones", "red and pink clash". */
  readonly why: string;
}

export function pairColours(a: string | undefined, b: string | undefined): Pairing {
  const la = (a || 'unknown').toLowerCase();
  const lb = (b || 'unknown').toLowerCase();
  if (a && a === b) return { ok: true, why: `both ${la}${isNeutral(a) ? ', a neutral' : ''}` };
  if (isNeutral(a) && isNeutral(b)) return { ok: true, why: `${lb} and ${la} are neutrals` };
  if (isNeutral(b)) return { ok: true, why: `${lb} is a neutral, it goes with ${la}` };
  if (isNeutral(a)) return { ok: true, why: `${lb} goes with ${la}, a neutral` };
  const fa = FAMILIES[a!] ?? 'other';
  const fb = FAMILIES[b!] ?? 'other';
  if (fa === 'multi' || fb === 'multi') return { ok: false, why: 'a print goes with neutrals only' };
  if (fa === fb && fa !== 'other') return { ok: true, why: `${lb} and ${la} are both ${fa} tones` };
  if (GOOD.has(`${fa}+${fb}`)) return { ok: true, why: `${lb} and ${la} are a classic pair` };
  return { ok: false, why: `${lb} and ${la} clash` };
}
