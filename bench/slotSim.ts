/**
 * Prices first-screen rules offline on a bench/slotProbe.ts dump: for each rule, the answer's first five rebuilt from the
 * shipped answer (first 20) and the same-product space's nearest 10, then clean and phone-like P@5 / strict, mild copies'
 * own item first and hard copies' own item in the top 5. The rules are those of src/search/sameProductSlots.ts
 * (`placeSlots`), so what is priced here is what ships. Feed it TUNE sets and clean photos only.
 *
 *   node --import tsx bench/slotSim.ts <dump.json> [--small] [--all] [--ref c,cs,p,ps,m] [--phone-tol x]
 *   (--small: a smaller grid; --all: print every rule; --ref: the figures the allowance is counted from, the dump's own
 *   without slots unless given; --phone-tol: how far phone-like P@5 may fall, 0.005 unless given). A dump can come from
 *   bench/slotProbe.ts or from bench/partWeights.ts grid --dump (one per part-scale variant).
 */
import { readFileSync } from 'node:fs';
import { placeSlots, SLOT_RULE, type SlotRule } from '../src/search/sameProductSlots.js';

interface Hit {
  readonly id: string;
  readonly t: string;
  readonly c: string;
}
interface Row extends Hit {
  readonly off: boolean;
  readonly pinned: boolean;
  readonly ans: readonly Hit[];
  readonly sp: ReadonlyArray<Hit & { readonly cos: number }>;
}
const dump = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as Record<string, Row[]>;
const set = (prefix: string) => Object.entries(dump).find(([k]) => k.startsWith(prefix))?.[1] ?? [];
const clean = set('queries-clean');
const phone = set('queries-phone');
const mild = set('items-mild');
const hard = set('items-phone');

function answer(r: Row, rule: SlotRule | null): Hit[] {
  if (!rule || (rule.offBackdropOnly && !r.off)) return [...r.ans];
  const placed = placeSlots(
    r.ans.map((h, i) => ({ id: h.id, kind: h.t, lookAlike: i === 0 && r.pinned })),
    r.sp.map((s) => ({ id: s.id, similarity: s.cos, kind: s.t })),
    rule,
  );
  const meta = new Map([...r.ans, ...r.sp].map((h) => [h.id, h]));
  return placed.map((id) => meta.get(id)!);
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
function figures(rule: SlotRule | null) {
  const p5 = (rows: Row[]) => {
    const lists = rows.map((r) => answer(r, rule).slice(0, 5));
    return {
      p5: mean(lists.map((l, i) => l.filter((h) => h.t === rows[i]!.t).length / 5)),
      strict: mean(lists.map((l, i) => l.filter((h) => h.t === rows[i]!.t && h.c === rows[i]!.c).length / 5)),
    };
  };
  const c = p5(clean);
  const p = p5(phone);
  return {
    cleanP5: c.p5,
    cleanStrict: c.strict,
    phoneP5: p.p5,
    phoneStrict: p.strict,
    mildFirst: mean(mild.map((r) => (answer(r, rule)[0]?.id === r.id ? 1 : 0))),
    hardTop5: mean(hard.map((r) => (answer(r, rule).slice(0, 5).some((h) => h.id === r.id) ? 1 : 0))),
  };
}

const rules: SlotRule[] = [];
const grid = process.argv.includes('--small')
  ? { slots: [1, 2, 3], at: [0, 1, 4], margin: [0.02, 0.04, 0.1, 1], min: [0, 0.4], kind: [true, false], off: [true] }
  : { slots: [1, 2, 3, 4], at: [0, 1, 2, 3, 4], margin: [0.02, 0.04, 0.06, 0.1, 1], min: [0, 0.4, 0.5, 0.6], kind: [true, false], off: [true, false] };
for (const offBackdropOnly of grid.off)
  for (const sameKind of grid.kind)
    for (const slots of grid.slots)
      for (const at of grid.at)
        for (const margin of grid.margin)
          for (const minSimilarity of grid.min) rules.push({ slots, at, margin, minSimilarity, sameKind, offBackdropOnly });

const f3 = (x: number) => x.toFixed(3);
const base = figures(null);
const line = (name: string, f: ReturnType<typeof figures>) =>
  `${name.padEnd(52)} clean ${f3(f.cleanP5)}/${f3(f.cleanStrict)}  phone ${f3(f.phoneP5)}/${f3(f.phoneStrict)}  mild ${f3(f.mildFirst)}  hard@5 ${f3(f.hardTop5)}`;
console.log(`photos: clean ${clean.length}, phone ${phone.length}, mild ${mild.length}, hard ${hard.length}; off backdrop: clean ${clean.filter((r) => r.off).length}, phone ${phone.filter((r) => r.off).length}, hard ${hard.filter((r) => r.off).length}`);
console.log(line('no slots (the dump)', base));
const name = (r: SlotRule) => `slots ${r.slots} at ${r.at} margin ${r.margin} min ${r.minSimilarity}${r.sameKind ? ' kind' : ''}${r.offBackdropOnly ? ' off' : ' all'}`;
console.log(line(`SLOT_RULE: ${name(SLOT_RULE)}`, figures(SLOT_RULE)));
const all = rules.map((r) => ({ r, f: figures(r) }));
// Allowed: clean P@5 and strict within 0.005 of the reference, phone-like P@5 within --phone-tol (0.005 unless told) and its
// strict P@5 within 0.01, mild copies' own item first not below it. The reference is the search without slots (the dump)
// unless --ref gives the figures a rule must hold against (e.g. the shipped TUNE row when the dump was made under other
// part scales): --ref cleanP5,cleanStrict,phoneP5,phoneStrict,mildFirst.
const opt = (flag: string) => {
  const i = process.argv.indexOf(flag);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const refArg = opt('--ref')?.split(',').map(Number);
if (refArg && (refArg.length !== 5 || refArg.some((x) => !Number.isFinite(x)))) throw new Error('--ref cleanP5,cleanStrict,phoneP5,phoneStrict,mildFirst');
const ref = refArg ? { cleanP5: refArg[0]!, cleanStrict: refArg[1]!, phoneP5: refArg[2]!, phoneStrict: refArg[3]!, mildFirst: refArg[4]!, hardTop5: NaN } : base;
const phoneTol = Number(opt('--phone-tol') ?? 0.005);
if (refArg) console.log(line('reference (--ref)', ref));
const ok = all.filter(({ f }) => f.cleanP5 >= ref.cleanP5 - 0.005 && f.cleanStrict >= ref.cleanStrict - 0.005 && f.phoneP5 >= ref.phoneP5 - phoneTol && f.phoneStrict >= ref.phoneStrict - 0.01 && f.mildFirst >= ref.mildFirst);
ok.sort((a, b) => b.f.hardTop5 - a.f.hardTop5 || b.f.phoneP5 - a.f.phoneP5);
console.log(`\n${ok.length} of ${all.length} rules within the allowance; the best 25 by hard own item in top 5:`);
for (const { r, f } of ok.slice(0, 25)) console.log(line(name(r), f));
if (process.argv.includes('--all')) {
  console.log('\nall:');
  for (const { r, f } of all) console.log(line(name(r), f));
}
