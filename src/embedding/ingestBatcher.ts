import { FashionError } from '../errors.js';
import type { ImageLimits } from '../imaging/decode.js';
import type { Embedder } from './embedder.js';
import { embedPreparedFeatures, prepareBatch, type PhotoFeatures } from './vectorize.js';

export type EmbeddedPhoto = (PhotoFeatures & { readonly pixelHash?: string }) | FashionError;

interface Pending {
  readonly photo: { readonly bytes: () => Promise<Uint8Array>; readonly label: string };
  readonly resolve: (e: EmbeddedPhoto) => void;
  readonly reject: (e: unknown) => void;
}

/**
 * Photos of products that arrive one job at a time (an ingest worker runs several jobs at once), embedded in batches:
 * whatever has queued while the previous batch ran goes in the next, up to `maxBatch`, through the same steps as
 * every ingest (prepareBatch: decode, isolate, fit; embedPreparedFeatures: inference and colour evidence). A photo
 * that cannot be read is its own FashionError, never a thrown batch.
 */
export class IngestBatcher {
  private readonly queue: Pending[] = [];
  private running = false;

  constructor(
    private readonly embedder: Embedder,
    private readonly limits: ImageLimits,
    private readonly maxBatch: number,
  ) {}

  embed(photos: ReadonlyArray<Pending['photo']>): Promise<EmbeddedPhoto[]> {
    return Promise.all(
      photos.map(
        (photo) =>
          new Promise<EmbeddedPhoto>((resolve, reject) => {
            this.queue.push({ photo, resolve, reject });
            if (!this.running) void this.drain();
          }),
      ),
    );
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      // Let the jobs started together queue their photos before the first batch leaves.
      await new Promise((r) => setImmediate(r));
      // Decoding the next batch overlaps inference on this one (sharp and onnxruntime run on their own threads), as
      // embedBatches does.
      let next = this.take();
      while (next) {
        const { batch, prepared } = next;
        try {
          const ready = await prepared;
          next = this.take();
          const features = await embedPreparedFeatures(this.embedder, ready);
          features.forEach((f, i) => {
            const hash = ready.photos[i]?.pixelHash;
            batch[i]!.resolve(f instanceof FashionError ? f : { ...f, ...(hash ? { pixelHash: hash } : {}) });
          });
          // Photos queued while this batch ran (no await between this and the loop's end: none can be missed).
          next ??= this.take();
        } catch (err) {
          for (const b of batch) b.reject(err);
          next ??= this.take();
        }
      }
    } finally {
      this.running = false;
    }
  }

  /** The next batch of what has queued, its decoding started; null when nothing waits. */
  private take(): { batch: Pending[]; prepared: ReturnType<typeof prepareBatch> } | null {
    if (this.queue.length === 0) return null;
    const batch = this.queue.splice(0, this.maxBatch);
    const prepared = prepareBatch(this.embedder, batch.map((b) => b.photo), this.limits);
    // Awaited in turn; a failure is handled there, never left unhandled meanwhile.
    prepared.catch(() => undefined);
    return { batch, prepared };
  }
}
