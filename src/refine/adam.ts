const B1 = 0.9;
const B2 = 0.999;
const EPS = 1e-8;

/** One step's constants: Adam's bias corrections folded into the step size and epsilon, and the decoupled weight decay. */
export interface AdamScalars {
  readonly step: number;
  readonly eps: number;
  readonly decay: number;
}

/**
 * p -= (step m)/(sqrt(v) + eps) + decay p over one range, with m and v the running moments: Adam with decoupled weight
 * decay. m^/(sqrt(v^)+eps) = (sqrt(c2)/c1) m/(sqrt(v)+eps sqrt(c2)) (Kingma & Ba, section 2): one division and one
 * square root per weight instead of three divisions (the first layer's ~2M weights per step made the update cost as
 * much as a matrix product). Shared by every thread that updates weights, so a weight comes out the same whichever does.
 */
export function adamRange(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, s: AdamScalars): void {
  const a1 = 1 - B1, a2 = 1 - B2;
  const { step, eps, decay } = s;
  for (let i = 0; i < p.length; i++) {
    const gi = g[i]!;
    const mi = B1 * m[i]! + a1 * gi;
    const vi = B2 * v[i]! + a2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    const pi = p[i]!;
    p[i] = pi - (step * mi) / (Math.sqrt(vi) + eps) - decay * pi;
  }
}

/** Adam's state for a list of weight arrays, updated in place. */
export class Adam {
  private readonly m: Float32Array[];
  private readonly v: Float32Array[];
  private t = 0;

  constructor(private readonly params: readonly Float32Array[]) {
    this.m = params.map((p) => new Float32Array(p.length));
    this.v = params.map((p) => new Float32Array(p.length));
  }

  /** The next step's constants for learning rate lr and decoupled weight decay wd (weights updated elsewhere use them too). */
  next(lr: number, wd: number): AdamScalars {
    this.t++;
    const c1 = 1 - B1 ** this.t, c2 = 1 - B2 ** this.t;
    const root = Math.sqrt(c2);
    return { step: (lr * root) / c1, eps: EPS * root, decay: lr * wd };
  }

  /** Updates the weights with `grads` (one per weight array) under the step's constants. */
  apply(grads: readonly Float32Array[], s: AdamScalars): void {
    this.params.forEach((p, k) => adamRange(p, grads[k]!, this.m[k]!, this.v[k]!, s));
  }
}
