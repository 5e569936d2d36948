/** How often the catalog being served applies what other writers have committed (each change is searchable then). */
export const FOLLOW_EVERY_MS = 1000;
/** Changes read from the store's log at once (each page applied in one go). */
export const FOLLOW_PAGE = 2000;
/** Followed items from which the catalog is read again (and then each time they outnumber the snapshot). */
export const RELOAD_FROM = 2000;
/** No reads of a growing catalog once its snapshot holds this many items (a job's end, or a new refinement, reads it). */
export const RELOAD_UNTIL = 8000;

/** What the loop drives: the served catalog (src/app/services.ts), which applies one page of changes per call. */
export interface Followed {
  /**
   * Applies one page of the changes other writers committed since the last call; returns how many. With
   * `reloadOnNewRefinement`, a new refinement (or model) in the store reads the whole catalog again instead.
   */
  follow(options: { readonly limit: number; readonly reloadOnNewRefinement: boolean }): Promise<number>;
  reload(options?: { readonly prepare?: boolean }): Promise<void>;
  readonly catalog: { readonly items: readonly unknown[]; readonly changes: number };
}

/**
 * The one loop that keeps a served catalog up to date with its store, every `everyMs`: the changes that other servers,
 * a `fashion index` run by hand, or a background index's child committed. A server runs it for its life (`start`);
 * a background job holds it for its own run (`hold`), so the two never run two loops, and while a job holds it a new
 * refinement is left to the job's own read at its end (the child trains last, then saves the graphs that read opens).
 */
export class FollowLoop {
  private timer: ReturnType<typeof setInterval> | null = null;
  private started = false;
  private holds = 0;
  private pass: Promise<void> | null = null;
  /** Where a failed pass is reported (the server's log); the loop goes on, and the next pass reads from where it was. */
  onError: (err: unknown) => void = () => undefined;

  constructor(
    private readonly served: Followed,
    private readonly everyMs = FOLLOW_EVERY_MS,
  ) {}

  /** Follows until `stop` (a server). */
  start(): void {
    this.started = true;
    this.arm();
  }

  /** Follows at least until the returned release is called (a background job, on a server that may not follow). */
  hold(): () => void {
    this.holds++;
    this.arm();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holds--;
      this.disarm();
    };
  }

  /** Stops following and waits for a pass in flight. */
  async stop(): Promise<void> {
    this.started = false;
    this.holds = 0;
    this.disarm();
    await this.pass;
  }

  /** One pass now, or the one in flight: every page the store has, then a read of a catalog that has outgrown its snapshot. */
  drain(): Promise<void> {
    this.pass ??= this.passOnce().finally(() => (this.pass = null));
    return this.pass;
  }

  private arm(): void {
    // A timer that does not keep the process alive: a CLI run that served nothing ends when its work does.
    this.timer ??= setInterval(() => void this.drain().catch((err: unknown) => this.onError(err)), this.everyMs);
    this.timer.unref?.();
  }

  private disarm(): void {
    if (this.started || this.holds > 0 || !this.timer) return;
    clearInterval(this.timer);
    this.timer = null;
  }

  private async passOnce(): Promise<void> {
    const reloadOnNewRefinement = this.holds === 0;
    while ((await this.served.follow({ limit: FOLLOW_PAGE, reloadOnNewRefinement })) >= FOLLOW_PAGE) {
      // A full page: there may be more (a large index committing); each page is applied in one go.
    }
    // The items followed are searched exactly and are not yet in the words engine or the labels outfits read: each
    // time they outnumber the snapshot, the catalog is read again (at 2,000, 4,000 and 8,000 items), so words cover
    // the growing catalog's first part and photo search stays fast. A read blocks requests for a time that grows with
    // the catalog (0.9 s at 8,000 items, 4.6 s at 32,000 with an index child busy, measured on 2 cores): past
    // RELOAD_UNTIL items only the reads at a job's end or on a new refinement are made.
    const { catalog } = this.served;
    if (catalog.items.length < RELOAD_UNTIL && catalog.changes >= Math.max(RELOAD_FROM, catalog.items.length)) {
      await this.served.reload({ prepare: false });
    }
  }
}
