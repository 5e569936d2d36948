import { Embedder } from './embedder.js';
import { embedReadings, prepareReadings } from './vectorize.js';
import { FashionError } from '../errors.js';
import type { FittedPhoto, ImageLimits } from '../imaging/decode.js';
import { QUERY_ISOLATION, type IsolateTuning } from '../imaging/isolateProduct.js';

export interface EmbeddedQuery {
  /** Backbone vector. */
  readonly vector: Float32Array;
  /** Colour evidence. */
  readonly colour: Float32Array;
  /** The photo as the model saw it (the isolated product and how it was isolated). */
  readonly photo: FittedPhoto;
  /** Decode and fit time of this photo's batch, ms. */
  readonly decodeMs: number;
  /** Inference time of this photo's batch, ms. */
  readonly embedMs: number;
  /** Photos in this photo's batch (their other readings ride in the same inference run). */
  readonly batchSize: number;
  /**
   * The photo's other readings, when it has any (src/imaging/decode.ts, `fitPhoto`): balanced (a light-grey backdrop taken as a white
   * one under other light) and as it is (the backdrop kept, when isolation replaced one).
   */
  readonly alternatives?: readonly Reading[];
}

export interface Reading {
  readonly vector: Float32Array;
  readonly colour: Float32Array;
  readonly photo: FittedPhoto;
}

interface Pending {
  bytes: Uint8Array;
  label: string;
  resolve: (q: EmbeddedQuery) => void;
  reject: (e: unknown) => void;
}

/**
 * Queues query photos and embeds whatever has queued while the previous batch ran, in one batch: under
 * load, concurrent queries share inference instead of contending for the cores, and past `maxQueue`
 * waiting photos a query is refused with server/busy rather than letting latency grow without bound.
 */
export class QueryBatcher {
  private readonly queue: Pending[] = [];
  private running = false;

  constructor(
    private readonly embedder: Embedder,
    private readonly limits: ImageLimits,
    /** Whether a photo's second reading is of use (only a catalog with a same-product space can choose between readings). */
    private readonly secondReading: () => boolean = () => true,
    private readonly maxBatch = 16,
    private readonly maxQueue = 256,
    /** Isolation of the query photos (Config.queryWorkingSide sets its working side). */
    private readonly isolation: IsolateTuning = QUERY_ISOLATION,
  ) {}

  embed(bytes: Uint8Array, label: string): Promise<EmbeddedQuery> {
    if (this.queue.length >= this.maxQueue) {
      return Promise.reject(new FashionError('server/busy', `Expected a free slot for the query but ${this.queue.length} photos are waiting; try again shortly`));
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ bytes, label, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch);
        try {
          const t0 = performance.now();
          const photos = batch.map((b) => ({ bytes: b.bytes, label: b.label }));
          // Every reading of every photo of the batch in one inference run (a phone photo has up to three).
          const prepared = await prepareReadings(this.embedder, photos, this.limits, this.secondReading() ? 'both' : 'one', this.isolation);
          const t1 = performance.now();
          const read = await embedReadings(this.embedder, prepared);
          const t2 = performance.now();
          const photoCount = prepared.photos.filter((p) => p !== null).length;
          read.features.forEach((v, i) => {
            if (v instanceof FashionError) return batch[i]!.reject(v);
            const alternatives = read.others.filter((o) => o.i === i).map((o) => ({ ...o.features, photo: o.photo }));
            const photo = prepared.photos[i]!;
            batch[i]!.resolve({ vector: v.vector, colour: v.colour, photo, decodeMs: t1 - t0, embedMs: t2 - t1, batchSize: photoCount, ...(alternatives.length ? { alternatives } : {}) });
          });
        } catch (err) {
          for (const b of batch) b.reject(err);
        }
      }
    } finally {
      this.running = false;
    }
  }
}
