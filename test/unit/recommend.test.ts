import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pairColours } from '../../src/search/colourPairing.js';
import { duplicatesCsv, exactDuplicateGroups, groupPairs, nearDuplicatePairs } from '../../src/search/duplicates.js';
import { decideMatch, MATCH_MIN_SIMILARITY, MATCH_THRESHOLD } from '../../src/search/match.js';
import { COMPLEMENTS, genderGoes, reasonFor, ROLE_OF, seasonGoes, usageGoes, type Role } from '../../src/search/outfit.js';
import { putFirst, sameProductPin } from '../../src/search/sameProduct.js';
import { gaussian, mulberry32 } from './toys.js';

type SearchHit = Parameters<typeof decideMatch>[0][number];
const hit = (id: string, score: number): SearchHit => ({ id, score, distance: 1 - score, metadata: { articleType: 'Watches' } });

test('second-hand match: the best item when it beats the next distinct one by the threshold and is similar enough', () => {
  assert.equal(MATCH_THRESHOLD, 0.03);
  assert.equal(MATCH_MIN_SIMILARITY, 0.85);
  const hits = [hit('a', 0.95), hit('b', 0.9)];
  const yes = decideMatch(hits, 0.9);
  assert.equal(yes.match?.id, 'a');
  assert.equal(yes.confidence, 0.05);
  assert.equal(yes.similarity, 0.95);
  assert.equal(yes.space, 'backbone');
  assert.deepEqual(yes.candidates.map((h) => h.id), ['a', 'b']);
  assert.notEqual(yes.candidates, hits, 'a copy of the candidates');
  assert.equal(decideMatch(hits, 0.93).match, null, 'margin 0.02 < 0.03');
  // 0.96 - 0.93 is 0.0299999... in floating point: the margin is rounded, so exactly the threshold matches.
  assert.equal(decideMatch([hit('a', 0.96)], 0.93).confidence, 0.03);
  assert.equal(decideMatch([hit('a', 0.96)], 0.93).match?.id, 'a');
  // No rival: the margin is the similarity itself.
  assert.equal(decideMatch([hit('a', 0.9)], null).confidence, 0.9);
  assert.equal(decideMatch([hit('a', 0.9)], null).match?.id, 'a');
  // Below the similarity floor nothing matches in backbone space, whatever the margin; in the same-product space the margin alone decides.
  assert.equal(decideMatch([hit('a', 0.8), hit('b', 0.2)], 0.2).match, null);
  const sp = decideMatch([hit('a', 0.8), hit('b', 0.2)], 0.2, 0.1, 'same-product');
  assert.equal(sp.match?.id, 'a');
  assert.equal(sp.threshold, 0.1);
  assert.equal(sp.space, 'same-product');
  const none = decideMatch([], null);
  assert.deepEqual([none.match, none.confidence, none.similarity, none.candidates.length], [null, 0, 0, 0]);
});

test('same-product pin: the nearest goes first only when it leads the next by the gap', () => {
  const near = (a: number, b: number) => [{ row: 7, distance: a }, { row: 3, distance: b }];
  assert.equal(sameProductPin(near(0.1, 0.2), 0.05)?.row, 7);
  assert.equal(sameProductPin(near(0.25, 0.5), 0.25)?.row, 7, 'a margin equal to the gap pins');
  assert.equal(sameProductPin(near(0.1, 0.14), 0.05), null);
  assert.equal(sameProductPin([{ row: 4, distance: 0.9 }], 0.05)?.row, 4, 'no rival');
  assert.equal(sameProductPin([], 0.05), null);
  const ns = [0, 1, 2].map((row) => ({ row, distance: row / 10 }));
  const byRow = (n: { row: number }) => n.row;
  assert.deepEqual(putFirst(ns, { row: 2, distance: 0.2 }, byRow).map((n) => n.row), [2, 0, 1]);
  assert.deepEqual(putFirst(ns, { row: 9, distance: 0.5 }, byRow).map((n) => n.row), [9, 0, 1, 2]);
  assert.deepEqual(ns.map((n) => n.row), [0, 1, 2], 'the input is left as it was');
});

test('duplicate groups: exact ones by pixel hash; pairs linked into groups with their weakest link', () => {
  const exact = exactDuplicateGroups([
    { id: 'b', pixelHash: 'h1' },
    { id: 'a', pixelHash: 'h1' },
    { id: 'c', pixelHash: 'h2' },
    { id: 'd' },
    { id: 'e', pixelHash: null },
    { id: 'f', pixelHash: '' },
    { id: 'g', pixelHash: 'h3' },
    { id: 'h', pixelHash: 'h3' },
    { id: 'i', pixelHash: 'h3' },
  ]);
  assert.deepEqual(exact, [
    { kind: 'exact', ids: ['a', 'b'], similarity: 1 },
    { kind: 'exact', ids: ['g', 'h', 'i'], similarity: 1 },
  ]);
  const groups = groupPairs(8, [
    { a: 0, b: 1, similarity: 0.99 },
    { a: 4, b: 5, similarity: 0.97 },
    { a: 1, b: 2, similarity: 0.96 },
    { a: 6, b: 5, similarity: 0.98 },
  ]);
  const sorted = groups.map((g) => ({ rows: [...g.rows].sort((x, y) => x - y), similarity: g.similarity })).sort((x, y) => x.rows[0]! - y.rows[0]!);
  assert.deepEqual(sorted, [
    { rows: [0, 1, 2], similarity: 0.96 },
    { rows: [4, 5, 6], similarity: 0.97 },
  ]);
  assert.deepEqual(groupPairs(3, []), []);
  const csv = duplicatesCsv({ exact: [{ kind: 'exact', ids: ['a', 'b'], similarity: 1 }], near: [{ kind: 'near', ids: ['c', 'd'], similarity: 0.96 }] }, (id) => (id === 'a' ? 'Shirt, "slim"' : id.toUpperCase()));
  assert.equal(csv, 'group,kind,similarity,id,name\n1,exact,1,a,"Shirt, ""slim"""\n1,exact,1,b,B\n2,near,0.96,c,C\n2,near,0.96,d,D\n');
});

test('near-duplicate pairs equal a brute-force list of every pair at or above the threshold', () => {
  const dims = 12;
  const g = gaussian(mulberry32(21));
  const rows: number[][] = Array.from({ length: 40 }, () => Array.from({ length: dims }, () => g()));
  // Near copies: a scaled copy (cosine 1), small perturbations, a chain 10 -> 40 -> 41, one farther copy.
  const near = (src: number[], s: number) => src.map((v) => v + g() * s);
  rows.push(near(rows[10]!, 0.05), near(rows[10]!, 0.12), rows[3]!.map((v) => v * 3), near(rows[20]!, 0.2), near(rows[25]!, 0.4));
  const n = rows.length;
  const vectors = Float32Array.from(rows.flat());
  const cos = (a: number, b: number) => {
    let d = 0, x = 0, y = 0;
    for (let j = 0; j < dims; j++) {
      const p = vectors[a * dims + j]!, q = vectors[b * dims + j]!;
      d += p * q;
      x += p * p;
      y += q * q;
    }
    return d / Math.sqrt(x * y);
  };
  const threshold = 0.95;
  const brute: Array<{ a: number; b: number; similarity: number }> = [];
  for (let a = 0; a < n; a++) {
    for (let b = a + 1; b < n; b++) {
      const s = cos(a, b);
      assert.ok(Math.abs(s - threshold) > 1e-4, `pair ${a},${b} sits on the threshold; pick another seed`);
      if (s >= threshold) brute.push({ a, b, similarity: s });
    }
  }
  assert.ok(brute.length >= 4, `the toy set has near duplicates (${brute.length})`);
  assert.ok(brute.length < 10, 'and mostly distinct items');
  const got = nearDuplicatePairs(vectors, dims, { threshold });
  assert.deepEqual(got.map((p) => [p.a, p.b]), brute.map((p) => [p.a, p.b]));
  got.forEach((p, i) => assert.ok(Math.abs(p.similarity - brute[i]!.similarity) < 1e-5));
  assert.deepEqual(nearDuplicatePairs(vectors.subarray(0, dims), dims, { threshold }), [], 'one row: no pairs');
  assert.deepEqual(nearDuplicatePairs(new Float32Array(0), dims, { threshold }), []);
});

test('colour pairing, rule by rule, with its reasons', () => {
  const pc = (a: string | undefined, b: string | undefined) => {
    const p = pairColours(a, b);
    return [p.ok, p.why];
  };
  assert.deepEqual(pc('Red', 'Red'), [true, 'both red']);
  assert.deepEqual(pc('Black', 'Black'), [true, 'both black, a neutral']);
  assert.deepEqual(pc('Black', 'White'), [true, 'white and black are neutrals']);
  assert.deepEqual(pc('Red', 'Grey'), [true, 'grey is a neutral, it goes with red']);
  assert.deepEqual(pc('Navy Blue', 'Red'), [true, 'red goes with navy blue, a neutral']);
  assert.deepEqual(pc('Blue', 'Turquoise Blue'), [true, 'turquoise blue and blue are both blue tones']);
  assert.deepEqual(pc('Maroon', 'Burgundy'), [true, 'burgundy and maroon are both red tones']);
  assert.deepEqual(pc('Blue', 'Yellow'), [true, 'yellow and blue are a classic pair']);
  assert.deepEqual(pc('Mustard', 'Teal'), [true, 'teal and mustard are a classic pair'], 'families, both ways round');
  assert.deepEqual(pc('Red', 'Pink'), [false, 'pink and red clash']);
  assert.deepEqual(pc('Orange', 'Purple'), [false, 'purple and orange clash']);
  assert.deepEqual(pc('Multi', 'Red'), [false, 'a print goes with neutrals only']);
  assert.equal(pairColours('Multi', 'Multi').ok, true);
  assert.equal(pairColours('Multi', 'Beige').ok, true);
  // Unknown colours are neutral.
  assert.deepEqual(pc(undefined, 'Red'), [true, 'red goes with unknown, a neutral']);
  assert.equal(pairColours('NA', 'Purple').ok, true);
  assert.equal(pairColours('', 'Multi').ok, true);
  // Symmetric in the verdict.
  const colours = ['Red', 'Pink', 'Blue', 'Yellow', 'Green', 'Multi', 'Black', 'Orange', 'Purple', 'Lavender', 'NA'];
  for (const a of colours) for (const b of colours) assert.equal(pairColours(a, b).ok, pairColours(b, a).ok, `${a} / ${b}`);
});

test('outfit rules: usage, season and gender compatibility as documented', () => {
  assert.equal(usageGoes('Casual', 'Smart Casual'), true);
  assert.equal(usageGoes('Casual', 'Formal'), false);
  assert.equal(usageGoes('Smart Casual', 'Formal'), true);
  assert.equal(usageGoes('Formal', 'Casual'), false);
  assert.equal(usageGoes('Party', 'Casual'), true);
  assert.equal(usageGoes('Sports', 'Formal'), false);
  assert.equal(usageGoes('Ethnic', 'Ethnic'), true);
  assert.equal(usageGoes('Unheard', 'Unheard'), true, 'an unknown usage goes with itself');
  assert.equal(usageGoes('Unheard', 'Casual'), false);
  assert.equal(usageGoes('', 'Sports'), true);
  assert.equal(usageGoes('Formal', 'NA'), true);
  assert.equal(seasonGoes('Summer', 'Winter'), false);
  assert.equal(seasonGoes('Winter', 'Summer'), false);
  assert.equal(seasonGoes('Spring', 'Fall'), true);
  assert.equal(seasonGoes('Summer', 'Fall'), false);
  assert.equal(seasonGoes('Fall', 'Winter'), true);
  assert.equal(seasonGoes(undefined, 'Winter'), true);
  assert.equal(genderGoes('Men', 'Men'), true);
  assert.equal(genderGoes('Men', 'Women'), false);
  assert.equal(genderGoes('Men', 'Unisex'), true);
  assert.equal(genderGoes('Unisex', 'Women'), true);
  assert.equal(genderGoes('Unisex', 'Boys'), false, 'a unisex item goes with adult genders');
  assert.equal(genderGoes('Girls', 'Women'), false);
  assert.equal(genderGoes('NA', 'Boys'), true);
});

test('outfit roles and complements', () => {
  assert.equal(ROLE_OF.Tshirts, 'top');
  assert.equal(ROLE_OF.Jeans, 'bottom');
  assert.equal(ROLE_OF.Dresses, 'one-piece');
  assert.equal(ROLE_OF.Heels, 'shoes');
  assert.equal(ROLE_OF.Handbags, 'bag');
  assert.equal(ROLE_OF.Watches, 'watch');
  assert.equal(ROLE_OF.Sunglasses, 'eyewear');
  assert.equal(ROLE_OF.Deodorant, undefined, 'not clothing, shoes or an accessory');
  const names = (r: Role) => COMPLEMENTS[r].map((g) => g.name);
  assert.deepEqual(names('top'), ['bottoms', 'shoes', 'accessory']);
  assert.deepEqual(COMPLEMENTS.top[2]!.roles, ['bag', 'watch', 'belt']);
  assert.deepEqual(names('bottom'), ['top', 'shoes', 'accessory']);
  assert.deepEqual(names('one-piece'), ['shoes', 'bag', 'jewellery']);
  assert.deepEqual(names('shoes'), ['top', 'bottoms']);
  assert.deepEqual(names('watch'), ['top', 'bottoms', 'shoes']);
  // Every role has complements, none of its own role, and every role named is one some type has.
  const used = new Set(Object.values(ROLE_OF));
  for (const role of used) {
    assert.ok(COMPLEMENTS[role].length > 0, role);
    for (const g of COMPLEMENTS[role]) {
      assert.ok(!g.roles.includes(role), `${role} completes with ${g.name}`);
      for (const r of g.roles) assert.ok(used.has(r), `${r} in ${role}/${g.name}`);
    }
  }
  assert.equal(reasonFor({ usage: 'Casual', baseColour: 'White' }, { usage: 'Casual', baseColour: 'Navy Blue' }), 'Casual like your item; navy blue and white are neutrals');
  assert.equal(reasonFor({ usage: 'Casual', baseColour: 'Red' }, { usage: 'Smart Casual', baseColour: 'Black' }), 'Smart Casual goes with Casual; black is a neutral, it goes with red');
  assert.equal(reasonFor({ usage: '', baseColour: 'Blue' }, { usage: 'Formal', baseColour: 'Yellow' }), 'Formal; yellow and blue are a classic pair');
  assert.equal(reasonFor({ usage: 'Casual', baseColour: 'Blue' }, { usage: 'NA', baseColour: 'Blue' }), 'any occasion; both blue');
});

test('duplicates CSV: a name that a spreadsheet would run as a formula stays text', () => {
  const risky = duplicatesCsv({ exact: [{ kind: 'exact', ids: ['a', 'b'], similarity: 1 }], near: [] }, (id) => (id === 'a' ? '=HYPERLINK("http://x","y")' : '@SUM(1)'));
  assert.equal(risky, 'group,kind,similarity,id,name\n1,exact,1,a,"\'=HYPERLINK(""http://x"",""y"")"\n1,exact,1,b,\'@SUM(1)\n');
});
