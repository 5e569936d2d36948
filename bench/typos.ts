/**
 * Words as shoppers type them: P@5 and strict P@5 of the text queries as written and with one typing slip in one
 * word of each query (a dropped, doubled, swapped or neighbouring-key letter, seeded), and the time per query.
 *
 *   node --import tsx bench/typos.ts --data DIR --seed 2 [--queries a.csv,b.csv] [--save]
 *   (--no-corrections: the engine reads words as typed, the figures before typo tolerance; --misses: the queries a
 *   slip made worse, for looking at failures on the training split)
 *
 * Settings were chosen on training-split queries (TEXT_QUERIES_SPLIT=train TEXT_QUERIES_OUT=/tmp/text-train
 * node --import tsx bench/makeTextQueries.ts) with seed 1; the held-back files (bench/data/text-queries-*.csv,
 * the default) are only reported, with seed 2 (docs/text-search.md, "Typing slips").
 */
import { basename, join } from 'node:path';
import { readTextQueries, scoreTextQueries, textEvalEngine, type TextEvalReport, type TextQueryRow } from '../src/app/evaluateText.js';
import { Services } from '../src/app/services.js';
import { REPO_ROOT, resolveConfig } from '../src/config.js';
import { MIN_LENGTH_ONE_EDIT, nearKeys } from '../src/text/spelling.js';
import { mulberry32 } from '../src/util/random.js';
import { arg, saveResult } from './common.js';

export const SLIP_KINDS = ['dropped', 'doubled', 'swapped', 'neighbour'] as const;
export type SlipKind = (typeof SLIP_KINDS)[number];


/** One slip of the given kind in a word (letters only), at a random place; the word changes. */
export function slipWord(word: string, kind: SlipKind, rand: () => number): string {
  const at = (n: number) => Math.floor(rand() * n);
  switch (kind) {
    case 'dropped': {
      const i = at(word.length);
      return word.slice(0, i) + word.slice(i + 1);
    }
    case 'doubled': {
      const i = at(word.length);
      return word.slice(0, i + 1) + word.slice(i);
    }
    case 'swapped': {
      const places = [...word.slice(1)].map((_, i) => i).filter((i) => word[i]!.toLowerCase() !== word[i + 1]!.toLowerCase());
      if (places.length === 0) return slipWord(word, 'neighbour', rand);
      const i = places[at(places.length)]!;
      return word.slice(0, i) + word[i + 1] + word[i] + word.slice(i + 2);
    }
    case 'neighbour': {
      const i = at(word.length);
      const ch = word[i]!;
      const near = nearKeys(ch.toLowerCase()) || 'e';
      const sub = near[at(near.length)]!;
      return word.slice(0, i) + (ch === ch.toLowerCase() ? sub : sub.toUpperCase()) + word.slice(i + 1);
    }
  }
}

export interface Slipped {
  readonly query: string;
  readonly kind: SlipKind;
  readonly word: string;
  readonly as: string;
  /** The slipped word is shorter than the engine corrects (every word of the query is). */
  readonly short: boolean;
}

/**
 * One slip in one word of the query: a word of 4 letters or more (the words a slip can be corrected in), taken at
 * random; a query with none gets its slip in a shorter word.
 */
export function slipQuery(query: string, rand: () => number): Slipped {
  const runs = [...query.matchAll(/\p{L}+/gu)].map((m) => ({ word: m[0], index: m.index }));
  const long = runs.filter((r) => r.word.length >= MIN_LENGTH_ONE_EDIT);
  const pool = long.length > 0 ? long : runs.filter((r) => r.word.length >= 2);
  const kind = SLIP_KINDS[Math.floor(rand() * SLIP_KINDS.length)]!;
  if (pool.length === 0) return { query, kind, word: '', as: '', short: true };
  const { word, index } = pool[Math.floor(rand() * pool.length)]!;
  const as = slipWord(word, kind, rand);
  return { query: query.slice(0, index) + as + query.slice(index + word.length), kind, word, as, short: long.length === 0 };
}

const figures = (r: TextEvalReport) => ({ p5: r.precisionAtK, strict: r.strictPrecisionAtK, corrected: r.corrected, latencyMs: r.latencyMs });

async function main(): Promise<void> {
  const data = arg('data', process.env.FASHION_DATA ?? '.fashion');
  const seed = Number(arg('seed', '2'));
  const files = arg('queries', ['names', 'shopper'].map((f) => join(REPO_ROOT, 'bench', 'data', `text-queries-${f}.csv`)).join(',')).split(',');
  const svc = await Services.open(resolveConfig({ dataDir: data }));
  const results = [];
  try {
    for (const file of files) {
      const rows = await readTextQueries(file);
      const engine = await textEvalEngine(svc, rows, { correctSlips: !process.argv.includes('--no-corrections') });
      const rand = mulberry32(seed);
      const slips = rows.map((r) => slipQuery(r.query, rand));
      const slipped: TextQueryRow[] = rows.map((r, i) => ({ ...r, query: slips[i]!.query }));
      const options = { k: 5 };
      const clean = await scoreTextQueries(engine, rows, options);
      const typed = await scoreTextQueries(engine, slipped, options);
      const byKind = Object.fromEntries(
        await Promise.all(
          SLIP_KINDS.map(async (kind) => {
            const some = slipped.filter((_, i) => slips[i]!.kind === kind);
            const r = await scoreTextQueries(engine, some, options);
            return [kind, { queries: some.length, p5: r.precisionAtK, strict: r.strictPrecisionAtK }] as const;
          }),
        ),
      );
      // Slips read back as the word written (the did-you-mean is the query as written), and read as another word.
      const read = slipped.map((r) => engine.parse(r.query));
      const restored = read.filter((p, i) => p.corrected.toLowerCase() === rows[i]!.query.toLowerCase()).length;
      const misread = read.filter((p, i) => p.corrections.length > 0 && p.corrected.toLowerCase() !== rows[i]!.query.toLowerCase()).length;
      results.push({
        file: basename(file),
        queries: rows.length,
        seed,
        restored,
        misread,
        asWritten: figures(clean),
        withSlips: figures(typed),
        byKind,
        slipsInShortWords: slips.filter((s) => s.short).length,
        examples: slips.slice(0, 6).map((s) => `${s.word} -> ${s.as} (${s.kind})`),
      });
      console.error(`${basename(file)}: as written P@5 ${clean.precisionAtK} strict ${clean.strictPrecisionAtK}; one slip P@5 ${typed.precisionAtK} strict ${typed.strictPrecisionAtK} (${typed.corrected} corrected, ${restored} read back as written, ${misread} as another word); p50/p95 ${typed.latencyMs.p50}/${typed.latencyMs.p95} ms`);
      if (process.argv.includes('--misses')) {
        const hits = async (row: TextQueryRow, query: string) => {
          const res = await engine.search(query, { k: 5 });
          const type = res.hits.filter((h) => h.metadata.articleType === row.articleType);
          return { res, type: type.length, strict: type.filter((h) => h.metadata.baseColour === row.baseColour).length };
        };
        for (let i = 0; i < rows.length; i++) {
          if (read[i]!.corrections.length > 0 && read[i]!.corrected.toLowerCase() !== rows[i]!.query.toLowerCase()) {
            console.error(`  read ${slips[i]!.as} (${slips[i]!.word}, ${slips[i]!.kind}) as ${read[i]!.corrections.map((c) => c.to).join(', ')}`);
          }
          const [before, after] = [await hits(rows[i]!, rows[i]!.query), await hits(rows[i]!, slipped[i]!.query)];
          if (after.type >= before.type && after.strict >= before.strict) continue;
          const info = after.res.text;
          console.error(`  ${rows[i]!.query} -> ${slipped[i]!.query}: type ${before.type} -> ${after.type}, strict ${before.strict} -> ${after.strict}; ${info.corrections.map((c) => `${c.from}>${c.to}`).join(' ')}; ${info.filters.map((f) => `${f.field}=${f.values.join('|')}`).join(' ')}`);
        }
      }
    }
  } finally {
    await svc.close();
  }
  const out = { data, k: 5, seed, results };
  console.log(JSON.stringify(out, null, 2));
  if (process.argv.includes('--save')) saveResult('typos', out);
}

if (process.argv[1] && import.meta.url.endsWith(basename(process.argv[1]))) await main();
