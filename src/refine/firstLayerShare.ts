import type { Gemm } from '../linalg/gemm.js';
import { adamRange, type AdamScalars } from './adam.js';

/**
 * One thread's share of the network's first layer: input features [offset, offset + dims) of the training rows, the
 * rows of W1 for them (dims x hidden, updated in place) and their Adam moments. z1 = x W1 is the sum of the shares'
 * products, and W1's gradient x^T dh splits by the same rows, so each share updates its own weights.
 */
export class FirstLayerShare {
  private readonly m: Float32Array;
  private readonly v: Float32Array;
  private readonly xb: Float32Array;
  private bs = 0;

  constructor(
    private readonly gemm: Gemm,
    /** The rows' inputs: row r's features at x[r * stride + offset ...]. */
    private readonly x: Float32Array,
    private readonly stride: number,
    private readonly offset: number,
    readonly dims: number,
    readonly w: Float32Array,
    private readonly hidden: number,
    maxBatch: number,
  ) {
    this.m = new Float32Array(w.length);
    this.v = new Float32Array(w.length);
    this.xb = new Float32Array(maxBatch * dims);
  }

  /** This share's part of z1 for the batch of rows (bs x hidden). */
  forward(rows: ArrayLike<number>, bs: number): Promise<Float32Array> {
    const { x, stride, offset, dims, xb } = this;
    for (let i = 0; i < bs; i++) {
      const from = rows[i]! * stride + offset;
      xb.set(x.subarray(from, from + dims), i * dims);
    }
    this.bs = bs;
    return this.gemm.mul(xb.subarray(0, bs * dims), bs, dims, this.w, dims, this.hidden);
  }

  /** This share's rows of W1's gradient for the last forward batch, from dh (bs x hidden), and their Adam step. */
  async backward(dh: Float32Array, s: AdamScalars): Promise<void> {
    const { bs, dims, hidden } = this;
    const g = await this.gemm.mul(this.xb.subarray(0, bs * dims), bs, dims, dh, bs, hidden, true, false);
    adamRange(this.w, g, this.m, this.v, s);
  }
}
