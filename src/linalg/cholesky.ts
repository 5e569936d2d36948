/**
 * Cholesky factor L of a symmetric positive definite d x d matrix (row-major, doubles). Four entries of a row at a time
 * share each load of row i: every entry is the same sum in the same order as one at a time, so L is the same, byte for
 * byte (test/unit/choleskySubspace.test.ts), with a quarter of the loads of row i (1,892-d: the same-product stage's).
 */
export function cholesky(a: Float64Array, d: number): Float64Array {
  const l = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    const li = i * d;
    let j = 0;
    // Entries j < i, four at a time: s_j = a[i][j] - sum over k < j of L[i][k] L[j][k], each in its own accumulator.
    for (; j + 3 < i; j += 4) {
      const l0 = j * d, l1 = l0 + d, l2 = l1 + d, l3 = l2 + d;
      let s0 = a[li + j]!, s1 = a[li + j + 1]!, s2 = a[li + j + 2]!, s3 = a[li + j + 3]!;
      for (let k = 0; k < j; k++) {
        const x = l[li + k]!;
        s0 -= x * l[l0 + k]!;
        s1 -= x * l[l1 + k]!;
        s2 -= x * l[l2 + k]!;
        s3 -= x * l[l3 + k]!;
      }
      // The last terms of s1..s3 use L[i][j..j+2], known only now, in the order the loop above would have taken them.
      s0 = s0 / l[l0 + j]!;
      l[li + j] = s0;
      s1 -= s0 * l[l1 + j]!;
      s1 = s1 / l[l1 + j + 1]!;
      l[li + j + 1] = s1;
      s2 -= s0 * l[l2 + j]!;
      s2 -= s1 * l[l2 + j + 1]!;
      s2 = s2 / l[l2 + j + 2]!;
      l[li + j + 2] = s2;
      s3 -= s0 * l[l3 + j]!;
      s3 -= s1 * l[l3 + j + 1]!;
      s3 -= s2 * l[l3 + j + 2]!;
      s3 = s3 / l[l3 + j + 3]!;
      l[li + j + 3] = s3;
    }
    for (; j <= i; j++) {
      let s = a[li + j]!;
      const lj = j * d;
      for (let k = 0; k < j; k++) s -= l[li + k]! * l[lj + k]!;
      l[li + j] = i === j ? Math.sqrt(Math.max(s, 1e-12)) : s / l[lj + j]!;
    }
  }
  return l;
}

/**
 * L^-1 of a lower-triangular L, a row at a time: row i is (e_i - sum over k < i of L[i][k] x row k) / L[i][i]. The
 * same subtractions in the same order as the column-by-column recurrence, but every pass runs along a row (the
 * column form strode through memory: ~1,900^3 / 6 cache misses for the 1,892-d input). Four rows k are subtracted in
 * one pass over row i (each entry still loses them in the order k, k+1, k+2, k+3: the same inverse, byte for byte).
 */
export function inverseLower(l: Float64Array, d: number): Float64Array {
  const x = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    const xi = i * d;
    x[xi + i] = 1;
    let k = 0;
    for (; k + 3 < i; k += 4) {
      const a0 = l[xi + k]!, a1 = l[xi + k + 1]!, a2 = l[xi + k + 2]!, a3 = l[xi + k + 3]!;
      const x0 = k * d, x1 = x0 + d, x2 = x1 + d, x3 = x2 + d;
      for (let c = 0; c <= k; c++) x[xi + c] = x[xi + c]! - a0 * x[x0 + c]! - a1 * x[x1 + c]! - a2 * x[x2 + c]! - a3 * x[x3 + c]!;
      // Row k + m has no entries right of its diagonal: entry k + m loses only rows k + m and after.
      x[xi + k + 1] = x[xi + k + 1]! - a1 * x[x1 + k + 1]! - a2 * x[x2 + k + 1]! - a3 * x[x3 + k + 1]!;
      x[xi + k + 2] = x[xi + k + 2]! - a2 * x[x2 + k + 2]! - a3 * x[x3 + k + 2]!;
      x[xi + k + 3] = x[xi + k + 3]! - a3 * x[x3 + k + 3]!;
    }
    for (; k < i; k++) {
      const lik = l[xi + k]!;
      const xk = k * d;
      for (let c = 0; c <= k; c++) x[xi + c]! -= lik * x[xk + c]!;
    }
    const inv = l[xi + i]!;
    for (let c = 0; c <= i; c++) x[xi + c]! /= inv;
  }
  return x;
}
