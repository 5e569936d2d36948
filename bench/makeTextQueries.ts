/**
 * Builds the text-relevance query files from the catalog's held-back split (src/catalog/split.ts), seeded:
 *   bench/data/text-queries-names.csv    product names as written, brand removed ("Men Black Fleece Jacket")
 *   bench/data/text-queries-shopper.csv  as shoppers type ("black fleece jacket for men", "mens black jacket")
 * Columns: query, articleType, baseColour, gender, id (the held-back item the query was written from).
 * Run: node --import tsx bench/makeTextQueries.ts [styles.csv] [count]
 * (TEXT_QUERIES_SPLIT=train TEXT_QUERIES_OUT=dir: the same from the training split, for diagnosis.)
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseMetadataCsv } from '../src/catalog/metadataCsv.js';
import { isHeldBack } from '../src/catalog/split.js';
import { REPO_ROOT } from '../src/config.js';
import { mulberry32, sample } from '../src/util/random.js';

const stylesCsv = process.argv[2] ?? join(REPO_ROOT, '../shared/datasets/fashion-product-images-small/styles.csv');
const count = Number(process.argv[3] ?? 400);
const SEED = 7;
const OUT = process.env.TEXT_QUERIES_OUT ?? join(REPO_ROOT, 'bench', 'data');
/** `train` builds the same kinds of queries from the training split, for looking at failures without touching the held-back ones. */
const SPLIT = process.env.TEXT_QUERIES_SPLIT === 'train' ? 'train' : 'held-back';

const { rows } = parseMetadataCsv(readFileSync(stylesCsv, 'utf8'));
const GENDER_WORDS = new Set(['men', 'women', 'boys', 'girls', 'unisex', 'kids', 'mens', 'womens', 'man', 'woman']);
const colours = new Set([...rows.values()].map((m) => (m.baseColour ?? '').toLowerCase()).filter(Boolean));

/** The name without its brand: from the first gender word on; else from the first colour word; else without its first word. */
export function stripBrand(name: string): string {
  const words = name.split(/\s+/).filter(Boolean);
  let at = words.findIndex((w) => GENDER_WORDS.has(w.toLowerCase().replace(/['’]s$/, '')));
  if (at < 0) at = words.findIndex((w) => colours.has(w.toLowerCase()));
  if (at < 0) at = Math.min(1, words.length - 1);
  return words.slice(at).join(' ');
}

/** How shoppers name a gender: before the noun ("mens black jacket") or after it ("... for men"). */
const GENDER_BEFORE: Record<string, string[]> = { Men: ['mens', "men's", 'men'], Women: ['womens', "women's", 'ladies'], Boys: ['boys'], Girls: ['girls'], Unisex: [''] };
const GENDER_AFTER: Record<string, string[]> = { Men: ['for men'], Women: ['for women', 'for ladies'], Boys: ['for boys'], Girls: ['for girls'], Unisex: [''] };

const held = [...rows].filter(([id, m]) => isHeldBack(id) === (SPLIT === 'held-back') && m.articleType && m.productDisplayName && m.baseColour).map(([id, m]) => ({ id, m }));
const rand = mulberry32(SEED);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

const namesRows: string[][] = [];
for (const { id, m } of sample(held, count, SEED)) {
  namesRows.push([stripBrand(m.productDisplayName!), m.articleType!, m.baseColour!, m.gender ?? '', id]);
}

const shopperRows: string[][] = [];
for (const { id, m } of sample(held, count, SEED + 1)) {
  const words = stripBrand(m.productDisplayName!).toLowerCase().replace(/[^a-z0-9 -]/g, ' ').split(/\s+/).filter(Boolean);
  // The product's own noun, the last plain word of its name; shoppers do not type model codes ("fs4545"),
  // so a name that ends in one gives the last plain word before it, or else the kind of product.
  const plain = words.filter((w) => /^[a-z-]{3,}$/.test(w) && !GENDER_WORDS.has(w) && !colours.has(w));
  const noun = plain.at(-1) ?? m.articleType!.toLowerCase();
  const colourName = m.baseColour!.toLowerCase();
  const colour = colourName === 'navy blue' && rand() < 0.5 ? 'navy' : colourName;
  const modifiers = words.slice(0, -1).filter((w) => !GENDER_WORDS.has(w) && !colours.has(w) && !colourName.split(' ').includes(w) && w.length > 2 && !/^\d/.test(w));
  const modifier = modifiers.length > 0 && rand() < 0.5 ? `${pick(modifiers)} ` : '';
  const before = pick(GENDER_BEFORE[m.gender ?? ''] ?? ['']);
  const after = pick(GENDER_AFTER[m.gender ?? ''] ?? ['']);
  const forms = [
    () => `${colour} ${modifier}${noun} ${after}`,
    () => `${before} ${colour} ${modifier}${noun}`,
    () => `${modifier}${noun} in ${colour} ${after}`,
  ];
  shopperRows.push([pick(forms)().replace(/\s+/g, ' ').trim(), m.articleType!, m.baseColour!, m.gender ?? '', id]);
}

const csv = (rs: string[][]) => ['query,articleType,baseColour,gender,id', ...rs.map((r) => r.map((c) => (/[",]/.test(c) ? `"${c.replace(/"/g, '""')}"` : c)).join(','))].join('\n') + '\n';
mkdirSync(OUT, { recursive: true });
writeFileSync(join(OUT, 'text-queries-names.csv'), csv(namesRows));
writeFileSync(join(OUT, 'text-queries-shopper.csv'), csv(shopperRows));
console.log(`wrote ${namesRows.length} + ${shopperRows.length} queries from ${held.length} ${SPLIT} items to ${OUT}`);
