import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chooseSameProduct, CLEAN_TOLERANCE, INSTANCE_WEIGHTS, PIN_GAPS, type SameProductPoint } from '../../src/refine/training/tuneSameProduct.js';
import { NO_PIN } from '../../src/refine/training/validation.js';

const base = { p: 0.8, s: 0.47 };

/**
 * Validation figures shaped like the 6,000-item catalog's (docs/relevance.md): the part's weight costs clean strict P@5
 * about weight^2 x `weightCost`, a pin costs more the narrower its gap; copies find their own item first mostly through
 * the pin, and in the first five more often the higher the weight.
 */
function grid(weightCost: number, weights = INSTANCE_WEIGHTS, gaps = PIN_GAPS): SameProductPoint[] {
  return weights.flatMap((weight) =>
    (weight > 0 ? [NO_PIN, ...gaps] : [NO_PIN]).map((gap) => {
      const pinned = gap < NO_PIN;
      const pinCost = pinned ? 0.0002 / gap : 0;
      return {
        weight,
        gap,
        p: base.p - 0.4 * (weightCost * weight * weight + pinCost),
        s: base.s - (weightCost * weight * weight + pinCost),
        first: 0.25 + 0.3 * weight + (pinned ? 0.4 - 2 * gap : 0),
        top5: 0.4 + 0.15 * weight + (pinned ? 0.3 - gap : 0),
      };
    }),
  );
}

test('a weight that costs clean photos a little too much moves the choice to a lighter weight, not off the part', () => {
  // Weight 1 alone costs 0.011 strict P@5 (over the 0.01 allowance): with weights [0, 1, 1.4] the choice fell back to 0.
  const chosen = chooseSameProduct(grid(0.011), base);
  assert.ok(chosen.weight > 0, `weight ${chosen.weight}`);
  assert.ok(chosen.gap < NO_PIN, 'a pin is kept');
  assert.ok(base.s - chosen.s <= CLEAN_TOLERANCE);
  // The old grid on the same figures keeps nothing: what this test guards against.
  assert.equal(chooseSameProduct(grid(0.011, [0, 1, 1.4], [0.02, 0.025, 0.03, 0.035, 0.04, 0.05]), base).weight, 0);
});

test('a small change in what the part costs moves the choice to a neighbouring weight', () => {
  const cheap = chooseSameProduct(grid(0.006), base);
  const dear = chooseSameProduct(grid(0.0075), base);
  const i = INSTANCE_WEIGHTS.indexOf(cheap.weight);
  const j = INSTANCE_WEIGHTS.indexOf(dear.weight);
  assert.ok(j > 0 && j <= i && i - j <= 1, `${cheap.weight} -> ${dear.weight}`);
});

test('the first five count as well as the first place, and ties go to the point that costs clean photos less', () => {
  const at = (weight: number, gap: number, s: number, first: number, top5: number): SameProductPoint => ({ weight, gap, p: base.p, s, first, top5 });
  const none = at(0, NO_PIN, base.s, 0.25, 0.4);
  // More firsts but fewer in the first five: the sum decides.
  assert.equal(chooseSameProduct([none, at(0.3, 0.03, 0.465, 0.82, 0.84), at(0.7, 0.035, 0.462, 0.81, 0.86)], base).weight, 0.7);
  // Equal sums: the cheaper one.
  assert.equal(chooseSameProduct([none, at(0.7, 0.03, 0.461, 0.85, 0.89), at(0.5, 0.035, 0.4616, 0.85, 0.89)], base).weight, 0.5);
  // A loss of exactly the allowance passes; more does not.
  assert.equal(chooseSameProduct([none, at(1, 0.05, base.s - 0.01, 0.8, 0.85)], base).weight, 1);
  assert.equal(chooseSameProduct([none, at(1, 0.05, base.s - 0.0101, 0.8, 0.85)], base).weight, 0);
});

test('when every weight costs too much, search keeps no same-product part', () => {
  const chosen = chooseSameProduct(grid(0.2).map((x) => (x.weight > 0 ? { ...x, s: base.s - 0.02 } : x)), base);
  assert.deepEqual([chosen.weight, chosen.gap], [0, NO_PIN]);
});
