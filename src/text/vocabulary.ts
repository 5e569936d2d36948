/**
 * Words that name a catalog value. The vocabulary is built from the catalog's own values (every articleType,
 * baseColour, gender, usage and season it holds, with singular and plural forms, and the head noun of
 * multi-word types: "shoes" names every "... Shoes" type) plus the general words shoppers use for them
 * (SYNONYMS below). A synonym is only used when the catalog has its target value. Optionally, a one-word type
 * phrase also means the types that the catalog's own names use it for (learned, src/text/nameModel.ts).
 * Spelling variants come from the catalog too, not from a list: a phrase written as one word ("flipflops",
 * "navyblue", "tshirts") and, given the catalog's names, a one-word phrase they write as two ("T-shirt" and
 * "Hand Bag" name Tshirts and Handbags).
 */
export const FILTER_FIELDS = ['articleType', 'baseColour', 'gender', 'usage', 'season'] as const;
export type FilterField = (typeof FILTER_FIELDS)[number];

export interface Meaning {
  readonly field: FilterField;
  readonly values: readonly string[];
}

/** A run of tokens: a phrase that names a catalog value, or one plain token (no meaning). */
export interface Segment {
  readonly phrase: string;
  readonly tokens: readonly string[];
  readonly meaning?: Meaning;
}

/** Lower-case word tokens: letters and digits; "men's" -> "mens", "t-shirt" -> "t", "shirt". */
export function tokenize(text: string): string[] {
  return text
    .toLowerCase()
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .replace(/['’`]/g, '')
    .split(/[^\p{L}\p{N}]+/u)
    .filter(Boolean);
}

/** Plural and singular forms of an English noun (good enough for catalog nouns: dresses, watches, briefs, jeans). */
export function nounForms(word: string): string[] {
  const out = new Set([word]);
  if (/(ss|sh|ch|x|z)es$/.test(word)) out.add(word.slice(0, -2));
  else if (/ies$/.test(word) && word.length > 4) out.add(`${word.slice(0, -3)}y`);
  else if (/[^s]s$/.test(word) && word.length > 3) out.add(word.slice(0, -1));
  if (!word.endsWith('s')) {
    if (/(s|sh|ch|x|z)$/.test(word)) out.add(`${word}es`);
    else if (/[^aeiou]y$/.test(word)) out.add(`${word.slice(0, -1)}ies`);
    else out.add(`${word}s`);
  }
  return [...out];
}

/** Every form of a phrase: the last word in singular and plural. */
function phraseForms(tokens: readonly string[]): string[] {
  if (tokens.length === 0) return [];
  const head = tokens.slice(0, -1);
  return nounForms(tokens[tokens.length - 1]!).map((w) => [...head, w].join(' '));
}

/** General shopper vocabulary: phrase -> catalog values (only those the catalog has are used). */
export const SYNONYMS: Record<FilterField, Record<string, readonly string[]>> = {
  articleType: {
    'tee': ['Tshirts'], 'polo': ['Tshirts'], 'jersey': ['Tshirts'],
    'sneaker': ['Casual Shoes', 'Sports Shoes'], 'trainer': ['Sports Shoes', 'Casual Shoes'], 'running shoe': ['Sports Shoes'],
    'loafer': ['Casual Shoes'], 'moccasin': ['Casual Shoes'], 'boot': ['Casual Shoes', 'Booties'], 'canvas shoe': ['Casual Shoes'],
    'oxford': ['Formal Shoes'], 'brogue': ['Formal Shoes'], 'derby': ['Formal Shoes'], 'dress shoe': ['Formal Shoes'],
    'pump': ['Heels'], 'stiletto': ['Heels'], 'wedge': ['Heels'], 'high heel': ['Heels'],
    'ballerina': ['Flats'], 'ballet flat': ['Flats'],
    'slipper': ['Flip Flops'], 'slide': ['Flip Flops'], 'chappal': ['Flip Flops', 'Sandals'],
    'floater': ['Sandals', 'Sports Sandals'],
    'denim': ['Jeans'],
    'pant': ['Trousers', 'Track Pants', 'Lounge Pants'], 'trouser': ['Trousers'], 'chino': ['Trousers'], 'slacks': ['Trousers'],
    'jogger': ['Track Pants'], 'sweatpant': ['Track Pants'],
    'hoodie': ['Sweatshirts'], 'sweatshirt': ['Sweatshirts'], 'jumper': ['Sweaters'], 'pullover': ['Sweaters'], 'cardigan': ['Sweaters'],
    'coat': ['Jackets', 'Blazers'], 'blazer': ['Blazers'], 'windcheater': ['Jackets', 'Rain Jacket'],
    'bag': ['Handbags', 'Backpacks', 'Laptop Bag', 'Duffel Bag', 'Messenger Bag', 'Clutches', 'Trolley Bag'],
    'handbag': ['Handbags'], 'purse': ['Handbags', 'Wallets', 'Clutches'], 'tote': ['Handbags'], 'shoulder bag': ['Handbags'], 'sling bag': ['Handbags', 'Messenger Bag'],
    'rucksack': ['Backpacks', 'Rucksacks'], 'backpack': ['Backpacks'],
    'shades': ['Sunglasses'], 'sunnies': ['Sunglasses'], 'glasses': ['Sunglasses'], 'goggles': ['Sunglasses'],
    'hat': ['Caps', 'Hat'], 'cap': ['Caps'],
    'gown': ['Dresses'], 'frock': ['Dresses'],
    'blouse': ['Tops'], 'tank top': ['Tops'], 'crop top': ['Tops'], 'tank': ['Tops'],
    'underwear': ['Briefs', 'Boxers', 'Trunk', 'Bra', 'Innerwear Vests'], 'brassiere': ['Bra'], 'vest': ['Innerwear Vests'],
    'necklace': ['Necklace and Chains'], 'chain': ['Necklace and Chains'], 'earring': ['Earrings'], 'stud': ['Earrings'],
    'bangle': ['Bangle'], 'bracelet': ['Bracelet'], 'ring': ['Ring'], 'pendant': ['Pendant'],
    'scarf': ['Scarves'], 'stole': ['Stoles'], 'muffler': ['Mufflers'],
    'perfume': ['Perfume and Body Mist'], 'fragrance': ['Perfume and Body Mist'], 'body mist': ['Perfume and Body Mist'], 'deo': ['Deodorant'],
    'nail paint': ['Nail Polish'], 'nail varnish': ['Nail Polish'],
    'sari': ['Sarees'], 'saree': ['Sarees'], 'kurta': ['Kurtas'], 'kurti': ['Kurtis'],
    'swimsuit': ['Swimwear'], 'bikini': ['Swimwear'], 'swimming costume': ['Swimwear'],
    'pyjama': ['Night suits', 'Lounge Pants'], 'pajama': ['Night suits', 'Lounge Pants'], 'nightwear': ['Night suits', 'Nightdress'], 'nighty': ['Nightdress'],
    'necktie': ['Ties'], 'tie': ['Ties'], 'cufflink': ['Cufflinks'], 'sock': ['Socks'], 'belt': ['Belts'], 'wallet': ['Wallets'],
    'watch': ['Watches'], 'wristwatch': ['Watches'],
  },
  baseColour: {
    'navy': ['Navy Blue'], 'dark blue': ['Navy Blue'], 'light blue': ['Blue'], 'sky blue': ['Blue'],
    'gray': ['Grey'], 'grey melange': ['Grey Melange'], 'heather grey': ['Grey Melange'],
    'ivory': ['Off White', 'Cream'], 'golden': ['Gold'], 'wine': ['Burgundy', 'Maroon'],
    'turquoise': ['Turquoise Blue'], 'violet': ['Purple'], 'lilac': ['Lavender'], 'fuchsia': ['Magenta'],
    'multicolour': ['Multi'], 'multicolor': ['Multi'], 'multicoloured': ['Multi'], 'multicolored': ['Multi'], 'multi coloured': ['Multi'],
    'camel': ['Tan'], 'olive green': ['Olive'], 'coffee': ['Coffee Brown'],
  },
  gender: {
    'men': ['Men'], 'man': ['Men'], 'mens': ['Men'], 'male': ['Men'], 'gents': ['Men'], 'gent': ['Men'], 'guy': ['Men'], 'guys': ['Men'],
    'women': ['Women'], 'woman': ['Women'], 'womens': ['Women'], 'ladies': ['Women'], 'lady': ['Women'], 'female': ['Women'],
    'boy': ['Boys'], 'boys': ['Boys'], 'girl': ['Girls'], 'girls': ['Girls'],
    'kid': ['Boys', 'Girls'], 'kids': ['Boys', 'Girls'], 'child': ['Boys', 'Girls'], 'children': ['Boys', 'Girls'], 'unisex': ['Unisex'],
  },
  usage: {
    'sport': ['Sports'], 'sporty': ['Sports'], 'athletic': ['Sports'], 'gym': ['Sports'], 'workout': ['Sports'], 'training': ['Sports'],
    'traditional': ['Ethnic'], 'office': ['Formal'], 'partywear': ['Party'], 'party wear': ['Party'], 'smart casual': ['Smart Casual'],
  },
  season: { 'autumn': ['Fall'], 'summery': ['Summer'], 'wintry': ['Winter'] },
};

/** Two words the names write apart become a phrase from this many names up. */
const MIN_VARIANT_NAMES = 2;

/** The phrase -> meaning table for one catalog, from its distinct values. */
export class Vocabulary {
  private readonly phrases = new Map<string, Meaning>();
  readonly maxPhraseTokens: number;

  /**
   * `learned`: how the catalog's names use a one-word type phrase (the types most names with the word carry,
   * src/text/nameModel.ts); those types join the phrase's meaning, so that "flats" also finds the flats that
   * this shop labels Heels.
   */
  constructor(values: Partial<Record<FilterField, readonly string[]>>, learned?: (word: string) => readonly string[], names: Iterable<string> = []) {
    const known: Record<string, Set<string>> = {};
    for (const f of FILTER_FIELDS) known[f] = new Set((values[f] ?? []).filter((v) => v && v !== 'NA'));
    const exact = new Map<string, Meaning>();
    const derived = new Map<string, Map<FilterField, Set<string>>>();
    const addDerived = (phrase: string, field: FilterField, value: string) => {
      const byField = derived.get(phrase) ?? new Map<FilterField, Set<string>>();
      derived.set(phrase, byField);
      const set = byField.get(field) ?? new Set<string>();
      byField.set(field, set);
      set.add(value);
    };
    const heads = new Map<string, string[]>();
    for (const field of FILTER_FIELDS) {
      for (const value of known[field]!) {
        const tokens = tokenize(value);
        for (const p of phraseForms(tokens)) if (!exact.has(p)) exact.set(p, { field, values: [value] });
        // "Perfume and Body Mist" -> "perfume", "body mist"; "Casual Shoes" -> head noun "shoes".
        const parts = value.split(/ and /i).map(tokenize).filter((t) => t.length > 0);
        if (parts.length > 1) for (const part of parts) for (const p of phraseForms(part)) addDerived(p, field, value);
        if (field === 'articleType' && tokens.length > 1) heads.set(tokens.at(-1)!, [...(heads.get(tokens.at(-1)!) ?? []), value]);
      }
      // A head noun names its types only when several share it ("shoes", "pants", "bag"), not "sleeve" of "Tablet Sleeve".
      for (const [head, types] of heads) if (types.length > 1) for (const p of phraseForms([head])) for (const v of types) addDerived(p, field, v);
      heads.clear();
      for (const [phrase, targets] of Object.entries(SYNONYMS[field])) {
        const have = targets.filter((t) => known[field]!.has(t));
        if (have.length === 0) continue;
        const tokens = tokenize(phrase);
        const forms = field === 'gender' ? [tokens.join(' ')] : phraseForms(tokens);
        for (const p of forms) for (const v of have) addDerived(p, field, v);
      }
    }
    // The catalog's own values win; derived words (head nouns, parts, synonyms) fill the rest.
    for (const [phrase, byField] of derived) {
      if (exact.has(phrase)) continue;
      const [field, set] = [...byField].sort((a, b) => FILTER_FIELDS.indexOf(a[0]) - FILTER_FIELDS.indexOf(b[0]))[0]!;
      this.phrases.set(phrase, { field, values: [...set].sort() });
    }
    for (const [phrase, m] of exact) this.phrases.set(phrase, m);
    if (learned) {
      for (const [phrase, m] of this.phrases) {
        if (m.field !== 'articleType' || phrase.includes(' ')) continue;
        const more = learned(phrase).filter((v) => known.articleType!.has(v) && !m.values.includes(v));
        if (more.length > 0) this.phrases.set(phrase, { field: m.field, values: [...m.values, ...more].sort() });
      }
    }
    this.learnVariants(names);
    this.maxPhraseTokens = Math.max(1, ...[...this.phrases.keys()].map((p) => p.split(' ').length));
  }

  /**
   * Spelling variants of the phrases, from the catalog itself: every phrase of several words also written as one
   * ("flip flops" -> "flipflops"), and two words that the names write apart where a one-word phrase has them
   * together ("T-shirt" in 4,900 names of this catalog, labelled "Tshirts"; "Hand Bag"), from two names up so
   * that one odd name does not make a phrase. A phrase the catalog already has keeps its meaning.
   */
  private learnVariants(names: Iterable<string>): void {
    for (const [phrase, m] of [...this.phrases]) {
      if (!phrase.includes(' ')) continue;
      const joined = phrase.replaceAll(' ', '');
      if (!this.phrases.has(joined)) this.phrases.set(joined, m);
    }
    const apart = new Map<string, number>();
    for (const name of names) {
      const t = tokenize(name);
      for (let i = 0; i + 1 < t.length; i++) {
        const m = this.phrases.get(t[i]! + t[i + 1]!);
        if (m && !this.phrases.has(`${t[i]} ${t[i + 1]}`)) apart.set(`${t[i]} ${t[i + 1]}`, (apart.get(`${t[i]} ${t[i + 1]}`) ?? 0) + 1);
      }
    }
    for (const [pair, n] of apart) {
      if (n < MIN_VARIANT_NAMES) continue;
      const m = this.phrases.get(pair.replace(' ', ''))!;
      for (const p of phraseForms(pair.split(' '))) if (!this.phrases.has(p)) this.phrases.set(p, m);
    }
  }

  /** Every word of every phrase ("navy", "blue", "flipflops", "sneakers"): words the catalog knows. */
  words(): Set<string> {
    const out = new Set<string>();
    for (const p of this.phrases.keys()) for (const w of p.split(' ')) out.add(w);
    return out;
  }

  /** Greedy longest match of the phrases over the tokens ("navy blue t shirt" -> "navy blue", "t shirt"). */
  segment(tokens: readonly string[]): Segment[] {
    const out: Segment[] = [];
    let i = 0;
    while (i < tokens.length) {
      let n = Math.min(this.maxPhraseTokens, tokens.length - i);
      for (; n >= 1; n--) {
        const phrase = tokens.slice(i, i + n).join(' ');
        const meaning = this.phrases.get(phrase);
        if (meaning) {
          out.push({ phrase, tokens: tokens.slice(i, i + n), meaning });
          break;
        }
      }
      if (n === 0) out.push({ phrase: tokens[i]!, tokens: [tokens[i]!] });
      i += Math.max(n, 1);
    }
    return out;
  }

  lookup(phrase: string): Meaning | undefined {
    return this.phrases.get(phrase);
  }

  size(): number {
    return this.phrases.size;
  }
}
