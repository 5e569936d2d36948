import { createHash } from 'node:crypto';
import { checkIdentity, modelMismatch } from '../catalog/identity.js';
import { Embedder, identityKey, type EmbedderOptions, type ModelIdentity } from '../embedding/embedder.js';
import { QueryBatcher, type EmbeddedQuery } from '../embedding/queryBatcher.js';
import { FashionError } from '../errors.js';
import type { ImageLimits } from '../imaging/decode.js';
import type { IsolateTuning } from '../imaging/isolateProduct.js';
import type { CatalogStore } from '../store/catalogStore.js';

/** How many recent query photos keep their embedding under a handle (each holds its readings' pixels, ~1-2 MB). */
const HANDLES_KEPT = 32;

export interface EmbeddingSettings {
  /** The embedder's options for this catalog (its backbone follows the catalog's identity). */
  readonly embedder: EmbedderOptions;
  readonly limits: ImageLimits;
  /** Whether a photo's other readings are of use (only a catalog with a same-product space can choose between them). */
  readonly readings: boolean;
  /** Isolation of query photos (QUERY_ISOLATION at Config.queryWorkingSide); QUERY_ISOLATION when not given. */
  readonly isolation?: IsolateTuning;
}

/**
 * Query photos in, backbone vectors and colour evidence of each reading out. Loads the catalog's model once
 * (the same model that embedded the catalog, or catalog/model-mismatch), batches concurrent photos through one
 * inference queue, and keeps recent photos' embeddings under a handle so that a page's outfit, match and
 * categorize calls reuse a search's photo instead of uploading it again.
 */
export class EmbeddingService {
  private embedder: Embedder | null = null;
  private loading: Promise<Embedder> | null = null;
  private batcher: QueryBatcher | null = null;
  private readonly handles = new Map<string, EmbeddedQuery>();

  constructor(
    private readonly store: CatalogStore,
    private readonly identity: ModelIdentity | null,
    private readonly settings: EmbeddingSettings,
    embedder?: Embedder,
  ) {
    if (embedder) this.use(embedder);
  }

  /** The model, when it has been loaded (a reloaded catalog carries it over). */
  get loaded(): Embedder | null {
    return this.embedder;
  }

  /** Loads the model (once); later photos reuse it, so there is no cold start after idle. */
  async load(): Promise<Embedder> {
    if (this.embedder) return this.embedder;
    this.loading ??= (async () => {
      const e = await Embedder.load(this.settings.embedder);
      await checkIdentity(this.store, e.identity, false);
      this.use(e);
      return e;
    })();
    try {
      return await this.loading;
    } catch (err) {
      this.loading = null;
      throw err;
    }
  }

  /** Every reading of a photo, embedded in the shared batch; the result is kept under its handle. */
  async embed(bytes: Uint8Array, label: string): Promise<EmbeddedQuery & { handle: string }> {
    await this.load();
    const handle = createHash('sha256').update(bytes).digest('hex').slice(0, 24);
    const kept = this.handles.get(handle);
    if (kept) {
      this.remember(handle, kept);
      return { ...kept, handle };
    }
    const q = await this.batcher!.embed(bytes, label);
    this.remember(handle, q);
    return { ...q, handle };
  }

  /**
   * Whether photos can be embedded: degraded while the inference thread restarts after a crash, or once it gave up
   * (then only restarting the process helps). A model not loaded yet is no fault: it loads on the first photo.
   */
  health(): { status: 'ok' } | { status: 'degraded'; reason: string } {
    const h = this.embedder?.thread.health;
    return !h || h.state === 'up' ? { status: 'ok' } : { status: 'degraded', reason: h.reason };
  }

  /** A photo embedded earlier, by its handle, or input/not-found. */
  byHandle(handle: string): EmbeddedQuery & { handle: string } {
    const q = this.handles.get(handle);
    if (!q) throw new FashionError('input/not-found', `Expected a photo handle from an earlier search but ${JSON.stringify(handle)} is unknown or expired; send the photo again`);
    this.remember(handle, q);
    return { ...q, handle };
  }

  async close(): Promise<void> {
    this.handles.clear();
    await this.embedder?.close();
  }

  private use(e: Embedder): void {
    if (this.identity && identityKey(this.identity) !== identityKey(e.identity)) throw modelMismatch(this.identity, e.identity);
    this.embedder = e;
    this.batcher = new QueryBatcher(e, this.settings.limits, () => this.settings.readings, undefined, undefined, this.settings.isolation);
  }

  private remember(handle: string, q: EmbeddedQuery): void {
    this.handles.delete(handle);
    this.handles.set(handle, q);
    while (this.handles.size > HANDLES_KEPT) this.handles.delete(this.handles.keys().next().value!);
  }
}
