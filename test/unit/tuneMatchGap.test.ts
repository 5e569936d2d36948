import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RowDistance } from '../../src/linalg/topK.js';
import { tuneMatchGap } from '../../src/refine/training/tuneMatchGap.js';
import type { SameProductChoice } from '../../src/refine/training/tuneSameProduct.js';
import type { Validation } from '../../src/refine/training/validation.js';

/** Nearest rows of one photo: `row` first, the next one `margin` further away. */
const near = (row: number, margin: number): RowDistance[] => [{ row, distance: 0.1 }, { row: 999, distance: 0.1 + margin }];

/**
 * 20 validation copies, each nearest to its own item with a wide margin (named right at every gap), and 40 photos of
 * unlisted products (20 clean, 20 copies against the fit items) with the margins given, the rest 0.01.
 */
function fixture(unlistedMargins: readonly number[]) {
  const copies = 20;
  const v = { everyRow: Array.from({ length: copies }, (_, i) => i), data: { copies: { sources: Array.from({ length: copies }, (_, i) => i) } }, set: { valCopies: Array.from({ length: copies }, (_, i) => i) } } as unknown as Validation;
  const absent = Array.from({ length: 40 }, (_, i) => near(500 + i, unlistedMargins[i] ?? 0.01));
  const same = { near: { copyAll: Array.from({ length: copies }, (_, r) => near(r, 0.3)), clean: absent.slice(0, 20), copyFit: absent.slice(20) } } as unknown as SameProductChoice;
  return { v, same };
}

test('the match gap is the smallest at which few unlisted products are matched, even where precision was already high', () => {
  // 3 of 40 unlisted photos stand out by 0.1 or more (0.075 matched up to a gap of 0.1): precision is 0.93 from 0.03 on,
  // but 0.075 of unlisted products named as something: the gap rises until only one of them (0.025) is.
  const { v, same } = fixture([0.1, 0.1, 0.13]);
  assert.equal(tuneMatchGap(v, same), 0.12);
});

test('with no unlisted product standing out, the smallest gap is kept', () => {
  const { v, same } = fixture([]);
  assert.equal(tuneMatchGap(v, same), 0.03);
});
