import { Gemm } from './gemm.js';

/**
 * One Gemm, made on first use and kept until closed: the query path's matrix products (src/services/refinement.ts), shared by
 * the services of every catalog version a server reads (a reload makes new services, not new onnxruntime sessions).
 */
export class SharedGemm {
  private made: Promise<Gemm> | null = null;

  /** `threads`: onnxruntime's intra-op threads (one: a query's products are small, and the model's inference has the cores). */
  constructor(private readonly threads = 1) {}

  get(): Promise<Gemm> {
    if (!this.made) {
      const made = Gemm.create(this.threads);
      // A failed start is not kept: the next query tries again.
      made.catch(() => {
        if (this.made === made) this.made = null;
      });
      this.made = made;
    }
    return this.made;
  }

  async close(): Promise<void> {
    const made = this.made;
    this.made = null;
    if (made) await (await made.catch(() => null))?.close();
  }
}
