import { FashionError } from '../errors.js';
import type { Metadata, StoredItem } from '../store/catalogStore.js';
import { missing, voteLabels, type Predicted } from '../text/autoLabels.js';
import { pairColours } from './colourPairing.js';
import type { ItemLabels, VectorSearch } from './types.js';

/**
 * Complete the look (docs/outfits.md): for an item, one pick from each complementary group, each of the same
 * gender or Unisex, a compatible usage and season, a colour that goes with the item and the earlier picks,
 * and the closest style to the item in embedding space. Deterministic: ties go to the smaller id.
 */
export type Role = 'top' | 'bottom' | 'one-piece' | 'shoes' | 'bag' | 'watch' | 'belt' | 'jewellery' | 'eyewear' | 'headwear' | 'scarf' | 'tie';

export const ROLE_OF: Readonly<Record<string, Role>> = {
  ...roles('top', ['Tshirts', 'Shirts', 'Tops', 'Kurtas', 'Kurtis', 'Sweatshirts', 'Sweaters', 'Jackets', 'Tunics', 'Blazers', 'Waistcoat', 'Shrug', 'Nehru Jackets', 'Rain Jacket', 'Camisoles', 'Lounge Tshirts']),
  ...roles('bottom', ['Jeans', 'Trousers', 'Shorts', 'Track Pants', 'Skirts', 'Capris', 'Leggings', 'Jeggings', 'Lounge Pants', 'Lounge Shorts', 'Patiala', 'Salwar', 'Churidar', 'Tights', 'Rain Trousers']),
  ...roles('one-piece', ['Dresses', 'Jumpsuit', 'Rompers', 'Sarees', 'Kurta Sets', 'Lehenga Choli', 'Tracksuits', 'Clothing Set', 'Salwar and Dupatta']),
  ...roles('shoes', ['Casual Shoes', 'Sports Shoes', 'Formal Shoes', 'Heels', 'Flats', 'Sandals', 'Sports Sandals', 'Flip Flops', 'Booties']),
  ...roles('bag', ['Handbags', 'Clutches', 'Backpacks', 'Messenger Bag', 'Laptop Bag', 'Duffel Bag', 'Rucksacks', 'Waist Pouch']),
  ...roles('watch', ['Watches']),
  ...roles('belt', ['Belts']),
  ...roles('jewellery', ['Earrings', 'Pendant', 'Necklace and Chains', 'Ring', 'Bangle', 'Bracelet', 'Jewellery Set']),
  ...roles('eyewear', ['Sunglasses']),
  ...roles('headwear', ['Caps', 'Hat']),
  ...roles('scarf', ['Scarves', 'Stoles', 'Mufflers', 'Dupatta']),
  ...roles('tie', ['Ties', 'Cufflinks', 'Ties and Cufflinks']),
};

function roles(role: Role, types: readonly string[]): Record<string, Role> {
  return Object.fromEntries(types.map((t) => [t, role]));
}

export interface Group {
  readonly name: string;
  readonly roles: readonly Role[];
}

const ACCESSORY: Group = { name: 'accessory', roles: ['bag', 'watch', 'belt'] };
const CLOTHES: Group[] = [{ name: 'top', roles: ['top'] }, { name: 'bottoms', roles: ['bottom'] }, { name: 'shoes', roles: ['shoes'] }];

/** What completes the look of an item of each role. */
export const COMPLEMENTS: Readonly<Record<Role, readonly Group[]>> = {
  top: [{ name: 'bottoms', roles: ['bottom'] }, { name: 'shoes', roles: ['shoes'] }, ACCESSORY],
  bottom: [{ name: 'top', roles: ['top'] }, { name: 'shoes', roles: ['shoes'] }, ACCESSORY],
  'one-piece': [{ name: 'shoes', roles: ['shoes'] }, { name: 'bag', roles: ['bag'] }, { name: 'jewellery', roles: ['jewellery'] }],
  shoes: [{ name: 'top', roles: ['top'] }, { name: 'bottoms', roles: ['bottom'] }],
  bag: CLOTHES, watch: CLOTHES, belt: CLOTHES, jewellery: CLOTHES, eyewear: CLOTHES, headwear: CLOTHES, scarf: CLOTHES, tie: CLOTHES,
};

/** Usages that go with the item's usage (the item's own first). Unknown usage (empty, NA) goes with any. */
export const USAGE_COMPAT: Readonly<Record<string, readonly string[]>> = {
  Casual: ['Casual', 'Smart Casual'],
  'Smart Casual': ['Smart Casual', 'Casual', 'Formal'],
  Formal: ['Formal', 'Smart Casual', 'Party'],
  Party: ['Party', 'Formal', 'Smart Casual', 'Casual'],
  Sports: ['Sports', 'Casual'],
  Ethnic: ['Ethnic', 'Casual'],
  Travel: ['Travel', 'Casual', 'Sports'],
  Home: ['Home', 'Casual'],
};

/** Seasons that go together: the same or a neighbouring one (not summer with winter). Unknown goes with any. */
export const SEASON_COMPAT: Readonly<Record<string, readonly string[]>> = {
  Summer: ['Summer', 'Spring'],
  Spring: ['Spring', 'Summer', 'Fall'],
  Fall: ['Fall', 'Winter', 'Spring'],
  Winter: ['Winter', 'Fall'],
};

export function usageGoes(query: string | undefined, other: string | undefined): boolean {
  if (missing(query) || missing(other)) return true;
  return (USAGE_COMPAT[query!] ?? [query!]).includes(other!);
}

export function seasonGoes(query: string | undefined, other: string | undefined): boolean {
  if (missing(query) || missing(other)) return true;
  return (SEASON_COMPAT[query!] ?? [query!]).includes(other!);
}

/** Same gender or Unisex; a Unisex item goes with any adult gender (the first pick then sets it). */
export function genderGoes(query: string | undefined, other: string | undefined): boolean {
  if (missing(query) || missing(other)) return true;
  if (other === 'Unisex') return true;
  if (query === 'Unisex') return other === 'Men' || other === 'Women';
  return query === other;
}

export interface OutfitPick {
  readonly group: string;
  readonly id: string;
  readonly metadata: Metadata;
  /** Style similarity to the item (cosine of the embeddings). */
  readonly style: number;
  readonly reason: string;
}

export interface OutfitResult {
  readonly query: { readonly id?: string; readonly labels: Record<string, string>; readonly predicted?: Predicted; readonly role: Role | null };
  readonly picks: OutfitPick[];
  /** Groups for which no catalog item satisfies every rule. */
  readonly unfilled: string[];
  /** Set when no outfit can be made (the item is not clothing, shoes or an accessory, or nothing fits). */
  readonly message?: string;
}

const LABEL_FIELDS = ['articleType', 'baseColour', 'gender', 'usage', 'season'] as const;
/** Ranking bonus for the same usage / season as the item, added to the style similarity. */
const SAME_USAGE_BONUS = 0.05;
const SAME_SEASON_BONUS = 0.02;

/** What an outfit is made from: the catalog's items (rows), their effective labels and a search over their vectors. */
export interface OutfitCatalog {
  readonly items: readonly StoredItem[];
  readonly labels: ItemLabels;
  readonly search: VectorSearch;
  rowOfId(id: string): number | undefined;
}

/** Most candidates ranked for one group. */
const MAX_CANDIDATES = 1000;

/** The outfit for a catalog item, whose vector in the searched space is `vector`. */
export async function outfitForItem(cat: OutfitCatalog, id: string, vector: Float32Array): Promise<OutfitResult> {
  const row = cat.rowOfId(id);
  if (row === undefined) throw new FashionError('item/not-found', `Expected an item with id ${JSON.stringify(id)} in the catalog but there is none`);
  const labels = pickLabels(cat.labels.labelsOf(row));
  return build(cat, vector, labels, cat.labels.predictedOf(row), id, row);
}

/** The outfit for a photo's vector: its labels are voted by its nearest catalog items. */
export async function outfitForVector(cat: OutfitCatalog, vector: Float32Array): Promise<OutfitResult> {
  const neighbours = (await cat.search.nearest(vector, { k: 10 })).hits.map((h) => h.metadata);
  const predicted = voteLabels({}, neighbours, LABEL_FIELDS);
  const labels: Record<string, string> = {};
  for (const f of LABEL_FIELDS) labels[f] = (predicted as Record<string, { value: string } | undefined>)[f]?.value ?? '';
  return build(cat, vector, labels, predicted, undefined, undefined);
}

function pickLabels(m: Metadata): Record<string, string> {
  return Object.fromEntries(LABEL_FIELDS.map((f) => [f, m[f] ?? '']));
}

async function build(cat: OutfitCatalog, vector: Float32Array, labels: Record<string, string>, predicted: Predicted | undefined, id: string | undefined, ownRow: number | undefined): Promise<OutfitResult> {
  const role = ROLE_OF[labels.articleType ?? ''] ?? null;
  const query = { ...(id !== undefined ? { id } : {}), labels, ...(predicted && Object.keys(predicted).length > 0 ? { predicted } : {}), role };
  if (!role) {
    return { query, picks: [], unfilled: [], message: `No outfit for ${labels.articleType ? `a ${labels.articleType} item` : 'this item'}: outfits are built around clothes, shoes and accessories` };
  }
  const items = cat.items;
  const labelsOf = (row: number) => cat.labels.labelsOf(row);
  const picks: OutfitPick[] = [];
  const unfilled: string[] = [];
  let gender = labels.gender;
  for (const group of COMPLEMENTS[role]) {
    const chosenColours = [labels.baseColour, ...picks.map((p) => labelsOf(cat.rowOfId(p.id)!).baseColour)];
    const eligible = (row: number): boolean => {
      if (row === ownRow) return false;
      const m = labelsOf(row);
      const r = ROLE_OF[m.articleType ?? ''];
      if (!r || !group.roles.includes(r)) return false;
      if (!genderGoes(gender, m.gender)) return false;
      if (!usageGoes(labels.usage, m.usage) || !seasonGoes(labels.season, m.season)) return false;
      return chosenColours.every((c) => pairColours(c, m.baseColour).ok);
    };
    const allowed = new Set<string>();
    for (let row = 0; row < items.length; row++) if (eligible(row)) allowed.add(items[row]!.id);
    const candidates = allowed.size === 0 ? [] : (await cat.search.nearest(vector, { k: Math.min(MAX_CANDIDATES, allowed.size), metric: 'cosine', filter: { onlyIds: allowed } })).hits;
    let best: { row: number; score: number; style: number } | null = null;
    for (const h of candidates) {
      const row = cat.rowOfId(h.id)!;
      const m = labelsOf(row);
      const score = h.score + (m.usage === labels.usage ? SAME_USAGE_BONUS : 0) + (m.season === labels.season ? SAME_SEASON_BONUS : 0);
      if (!best || score > best.score || (score === best.score && items[row]!.id < items[best.row]!.id)) best = { row, score, style: h.score };
    }
    if (!best) {
      unfilled.push(group.name);
      continue;
    }
    const m = labelsOf(best.row);
    if (gender === 'Unisex' && (m.gender === 'Men' || m.gender === 'Women')) gender = m.gender;
    picks.push({ group: group.name, id: items[best.row]!.id, metadata: items[best.row]!.metadata, style: best.style, reason: reasonFor(labels, m) });
  }
  const message = picks.length === 0 ? `No outfit for this ${labels.articleType}: no catalog item satisfies the gender, usage, season and colour rules` : undefined;
  return { query, picks, unfilled, ...(message ? { message } : {}) };
}

/** "Casual like your item; navy blue is a neutral, it goes with white". */
export function reasonFor(query: Record<string, string>, pick: Metadata): string {
  const u = pick.usage;
  const usage = missing(u) ? 'any occasion' : u === query.usage ? `${u} like your item` : missing(query.usage) ? `${u}` : `${u} goes with ${query.usage}`;
  return `${usage}; ${pairColours(query.baseColour, pick.baseColour).why}`;
}
