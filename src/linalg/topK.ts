/** A row and its distance: smaller is closer. */
export interface RowDistance {
  readonly row: number;
  readonly distance: number;
}

/** Keeps the k smallest distances seen, as a max-heap; ties go to the lower row so results are deterministic. */
export class TopK {
  private readonly rows: number[] = [];
  private readonly dists: number[] = [];

  constructor(private readonly k: number) {}

  worst(): number {
    return this.rows.length < this.k ? Infinity : this.dists[0]!;
  }

  offer(row: number, dist: number): void {
    if (this.k <= 0) return;
    if (this.rows.length < this.k) {
      this.rows.push(row);
      this.dists.push(dist);
      this.up(this.rows.length - 1);
    } else if (this.less(dist, row, this.dists[0]!, this.rows[0]!)) {
      this.rows[0] = row;
      this.dists[0] = dist;
      this.down(0);
    }
  }

  sorted(): RowDistance[] {
    return this.rows
      .map((row, i) => ({ row, distance: this.dists[i]! }))
      .sort((a, b) => a.distance - b.distance || a.row - b.row);
  }

  private less(d1: number, r1: number, d2: number, r2: number): boolean {
    return d1 < d2 || (d1 === d2 && r1 < r2);
  }

  private up(i: number): void {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(this.dists[p]!, this.rows[p]!, this.dists[i]!, this.rows[i]!)) break;
      this.swap(i, p);
      i = p;
    }
  }

  private down(i: number): void {
    const n = this.rows.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.less(this.dists[m]!, this.rows[m]!, this.dists[l]!, this.rows[l]!)) m = l;
      if (r < n && this.less(this.dists[m]!, this.rows[m]!, this.dists[r]!, this.rows[r]!)) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }

  private swap(a: number, b: number): void {
    [this.rows[a], this.rows[b]] = [this.rows[b]!, this.rows[a]!];
    [this.dists[a], this.dists[b]] = [this.dists[b]!, this.dists[a]!];
  }
}
