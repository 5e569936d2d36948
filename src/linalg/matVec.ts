/**
 * out[r] = bias[r] + (row r of a row-major rows x d matrix) . x, summed in doubles. Four rows per pass share each
 * load of x: about twice as fast in V8 as one row at a time (a query photo's first layer, 1024 x 1892: 3.1 -> 1.5 ms).
 */
export function matVecRows(matrix: Float32Array, rows: number, d: number, x: Float32Array, bias: Float32Array | null, out = new Float32Array(rows)): Float32Array {
  let r = 0;
  for (; r + 4 <= rows; r += 4) {
    let s0 = bias ? bias[r]! : 0, s1 = bias ? bias[r + 1]! : 0, s2 = bias ? bias[r + 2]! : 0, s3 = bias ? bias[r + 3]! : 0;
    const r0 = r * d, r1 = r0 + d, r2 = r1 + d, r3 = r2 + d;
    for (let i = 0; i < d; i++) {
      const xi = x[i]!;
      s0 += xi * matrix[r0 + i]!;
      s1 += xi * matrix[r1 + i]!;
      s2 += xi * matrix[r2 + i]!;
      s3 += xi * matrix[r3 + i]!;
    }
    out[r] = s0;
    out[r + 1] = s1;
    out[r + 2] = s2;
    out[r + 3] = s3;
  }
  for (; r < rows; r++) {
    let s = bias ? bias[r]! : 0;
    const row = r * d;
    for (let i = 0; i < d; i++) s += x[i]! * matrix[row + i]!;
    out[r] = s;
  }
  return out;
}
