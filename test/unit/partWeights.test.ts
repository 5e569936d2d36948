import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isIdentity, scaleParts } from '../../src/search/partWeights.js';
import { RefinementService } from '../../src/services/refinement.js';

// Parts in RefineModel order: type 2, colour 2, histogram 1, hidden 1, gender 1, same product 2.
const sizes = [2, 2, 1, 1, 1, 2];
const vector = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]);

test('each part is multiplied by its scale, the others are left as they are', () => {
  assert.deepEqual([...scaleParts(vector, sizes, { colour: 0.5, sameProduct: 2 })], [1, 2, 1.5, 2, 5, 6, 7, 16, 18]);
  assert.deepEqual([...scaleParts(vector, sizes, { type: 0, histogram: 2, hidden: 3, gender: 0 })], [0, 0, 3, 4, 10, 18, 0, 8, 9]);
  assert.deepEqual([...vector], [1, 2, 3, 4, 5, 6, 7, 8, 9], 'the input is not written');
});

test('a vector without a same-product part (its size 0 or absent) is scaled part by part as well', () => {
  assert.deepEqual([...scaleParts(vector.subarray(0, 7), [2, 2, 1, 1, 1, 0], { colour: 0, sameProduct: 5 })], [1, 2, 0, 0, 5, 6, 7]);
  assert.deepEqual([...scaleParts(vector.subarray(0, 7), [2, 2, 1, 1, 1], { histogram: 0 })], [1, 2, 3, 4, 0, 6, 7]);
});

test('no change gives the vector itself; sizes that do not add up throw', () => {
  assert.equal(scaleParts(vector, sizes, {}), vector);
  assert.equal(scaleParts(vector, sizes, { colour: 1, sameProduct: 1 }), vector);
  assert.ok(isIdentity({ hidden: 1 }) && !isIdentity({ hidden: 0.9 }));
  assert.throws(() => scaleParts(vector, [2, 2, 1], { colour: 0.5 }), /do not make a vector of 9/);
});

test('less weight on colour lets the item of the right kind in another colour overtake a look-alike of the read colour', () => {
  // Query: kind A for sure, colour read as red; the own item is kind A in blue with the same hidden features; a look-alike is
  // kind A in red with other hidden features. Parts: type [A, B], colour [red, blue], hidden (2 dims).
  const parts = [2, 2, 2];
  const query = Float32Array.from([1, 0, 0.6, 0, 0.4, 0.3]);
  const own = [1, 0, 0, 1, 0.4, 0.3];
  const lookAlike = [1, 0, 1, 0, 0.3, -0.3];
  const cos = (a: ArrayLike<number>, b: readonly number[]) => {
    let d = 0, na = 0, nb = 0;
    for (let j = 0; j < b.length; j++) (d += a[j]! * b[j]!), (na += a[j]! * a[j]!), (nb += b[j]! * b[j]!);
    return d / Math.sqrt(na * nb);
  };
  assert.ok(cos(query, lookAlike) > cos(query, own), 'as fused, the look-alike leads');
  const scaled = scaleParts(query, parts, { colour: 0.25 });
  assert.ok(cos(scaled, own) > cos(scaled, lookAlike), 'colour at a quarter: the own item leads');
});

test('without a refinement the search vector is the backbone vector, left as it is', () => {
  const r = new RefinementService(null);
  assert.equal(r.withPartScales(vector, { colour: 0 }), vector);
});
