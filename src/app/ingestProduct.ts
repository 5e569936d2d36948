import { join } from 'node:path';
import { modelMismatch, SETTING_IDENTITY, SETTING_IMAGES_ROOT, storedIdentity } from '../catalog/identity.js';
import { MAX_PHOTOS } from '../catalog/itemFields.js';
import { openCatalogStore } from '../catalog/openCatalog.js';
import { keptPhotoFile } from '../catalog/photoStore.js';
import type { Config } from '../config.js';
import { identityKey, type Embedder } from '../embedding/embedder.js';
import { IngestBatcher } from '../embedding/ingestBatcher.js';
import { FashionError } from '../errors.js';
import { DEFAULT_DOWNLOAD, PhotoDownloader, type PhotoResult } from '../feeds/downloader.js';
import { PhotoCache } from '../feeds/photoCache.js';
import { pixelHash, readImageFile, type ImageLimits } from '../imaging/decode.js';
import type { JobItemError } from '../jobs/jobQueue.js';
import { canonicalJson, productJobKey, type ProductJob } from '../jobs/productJob.js';
import type { ProductOutcome } from '../jobs/runRecords.js';
import { COLOUR_FEATURES_VERSION } from '../refine/colourFeatures.js';
import { findRefinement, SETTING_REFINE_MODEL } from '../refine/loadRefinement.js';
import type { RefineModel } from '../refine/refineModel.js';
import type { CatalogStore, ItemWithVector, Metadata, PhotoWithVector, StoredItem } from '../store/catalogStore.js';
import { loadEmbedder } from './indexFolder.js';

export interface ProductResult {
  readonly outcome: ProductOutcome;
  /** What went wrong with the product or one of its photos (a run's item errors). */
  readonly errors: JobItemError[];
}

/** A photo to embed for the product: the item's file state and how to read its bytes. */
interface PhotoIn {
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
  readonly label: string;
  readonly read: () => Promise<Uint8Array>;
}

/**
 * One product of a queued ingest run (src/jobs/productJob.ts), as a worker handles it: its photo(s) fetched (a feed's
 * through the guarded downloader and the photo cache, a folder's read by path), compared with the catalog's version,
 * embedded when new or changed (isolation and both backbones, as every ingest: IngestBatcher), and written in one
 * transaction with its colour evidence, its other photos, its refined vector when the catalog has a refinement, and
 * the job's key. The rules are `fashion index`'s (src/catalog/ingest.ts, src/feeds/ingestFeed.ts), product by product:
 * an unchanged photo is not embedded again (its fields are updated when they changed), a photo that fails leaves a
 * feed's product with its earlier photo and takes a folder's product out of the catalog.
 *
 * Exactly once: the key is claimed in the write's own transaction (CatalogStore.claimWriteKey); a job delivered again
 * after its commit finds it and returns `repeated` without writing.
 */
/** A product's write waiting for the next commit. */
interface PendingCommit {
  readonly job: ProductJob;
  readonly write: (tx: CatalogStore) => Promise<void>;
  readonly resolve: (written: boolean) => void;
  readonly reject: (err: unknown) => void;
}

export class ProductIngester {
  private readonly commits: PendingCommit[] = [];
  private committing = false;
  private refinement: { readonly digest: string | null; readonly model: RefineModel | null } | null = null;
  private readonly limits: ImageLimits;

  private constructor(
    private readonly config: Config,
    readonly store: CatalogStore,
    readonly embedder: Embedder,
    private readonly cache: PhotoCache,
    private readonly batcher: IngestBatcher,
  ) {
    this.limits = { maxBytes: config.maxUploadBytes, maxPixels: config.maxPixels };
  }

  /** Opens the catalog for writing and the embedder of its photos (the catalog's backbone where it has one). */
  static async open(config: Config): Promise<ProductIngester> {
    const store = await openCatalogStore(config, { create: true });
    try {
      const embedder = await loadEmbedder(config, await storedIdentity(store));
      const stored = await storedIdentity(store);
      if (stored && identityKey(stored) !== identityKey(embedder.identity)) {
        await embedder.close();
        throw modelMismatch(stored, embedder.identity);
      }
      return new ProductIngester(config, store, embedder, PhotoCache.open(config.dataDir), new IngestBatcher(embedder, { maxBytes: config.maxUploadBytes, maxPixels: config.maxPixels }, config.batchSize));
    } catch (err) {
      await store.close();
      throw err;
    }
  }

  async ingest(job: ProductJob, signal?: AbortSignal): Promise<ProductResult> {
    // Delivered again after its write committed (its worker died before it told the queue): nothing to fetch or embed.
    if (await this.store.hasWriteKey(productJobKey(job))) return { outcome: 'repeated', errors: [] };
    return job.source.kind === 'feed' ? this.feedProduct(job, signal) : this.folderProduct(job);
  }

  async close(): Promise<void> {
    this.cache.close();
    await this.store.close();
    await this.embedder.close();
  }

  private async feedProduct(job: ProductJob, signal?: AbortSignal): Promise<ProductResult> {
    const src = job.source as Extract<ProductJob['source'], { kind: 'feed' }>;
    const at = `line ${src.line}`;
    // A downloader per product: it remembers each URL for its life, which must not be the worker's.
    const downloader = new PhotoDownloader(this.config.dataDir, this.cache, { ...DEFAULT_DOWNLOAD, maxBytes: this.config.maxUploadBytes, ...(job.guard ? { guard: { allow: job.guard.allow } } : {}) }, signal);
    const [first, ...others] = await Promise.all([src.imageUrl, ...src.additionalImageUrls.slice(0, MAX_PHOTOS - 1)].map((u) => downloader.photo(u)));
    const stored = await this.store.getItem(job.id);
    const errors: JobItemError[] = others.filter((o): o is Extract<PhotoResult, { ok: false }> => !o.ok).map((o) => ({ item: job.id, message: `${at}: ${o.code}: ${o.message}${stored?.photos?.length ? '; the product keeps its earlier photos' : ''}` }));
    if (!first!.ok) {
      errors.unshift({ item: job.id, message: `${at}: ${first!.code}: ${first!.message}${stored ? '; the product keeps its earlier photo' : ''}` });
      // Its fields are updated all the same (availability must not wait for a CDN).
      if (stored && differs(stored.metadata, src.metadata)) await this.commit(job, (tx) => tx.updateMetadata(new Map([[job.id, src.metadata]])));
      return { outcome: 'failed', errors };
    }
    const okOthers = others.filter((o): o is Extract<PhotoResult, { ok: true }> => o.ok);
    const had = stored?.photos ?? [];
    const samePhotos = stored?.path === first!.path && (okOthers.length < others.length ? had.length > 0 : okOthers.length === had.length && okOthers.every((o, i) => o.path === had[i]!.path));
    if (stored && samePhotos) return this.unchanged(job, stored, src.metadata, errors);
    const photo = (p: Extract<PhotoResult, { ok: true }>): PhotoIn => ({ path: p.path, size: p.size, mtimeMs: p.fetchedAtMs, label: p.url, read: () => readImageFile(keptPhotoFile(this.config.dataDir, p.path)!, this.limits) });
    return this.write(job, stored, [photo(first!), ...okOthers.map(photo)], src.metadata, errors, at);
  }

  private async folderProduct(job: ProductJob): Promise<ProductResult> {
    const src = job.source as Extract<ProductJob['source'], { kind: 'folder' }>;
    const stored = await this.store.getItem(job.id);
    const root = await this.store.getSetting(SETTING_IMAGES_ROOT);
    const errors: JobItemError[] = [];
    const sameFile = stored && stored.path === src.path && stored.size === src.size && root === src.root;
    // With a CSV, an unchanged photo takes its row (none: no fields); without one, the item keeps its fields.
    const keptFields = () => src.metadata ?? (src.csv ? {} : stored!.metadata);
    if (sameFile && stored.mtimeMs === src.mtimeMs) return this.unchanged(job, stored, keptFields(), errors);
    // Same place and size, another mtime (a folder copied, restored or extracted again): the pixels decide, as in
    // `fashion index` (src/catalog/ingest.ts), for a decode costs a fraction of an embedding.
    if (sameFile && stored.pixelHash && (await this.pixelsOf(join(src.root, src.path), src.path)) === stored.pixelHash) {
      return this.touched(job, stored, src.mtimeMs, keptFields(), errors);
    }
    // A photo embedded again without a CSV row keeps the fields its item had.
    const metadata = src.metadata ?? stored?.metadata ?? {};
    const photo: PhotoIn = { path: src.path, size: src.size, mtimeMs: src.mtimeMs, label: src.path, read: () => readImageFile(join(src.root, src.path), this.limits) };
    return this.write(job, stored, [photo], metadata, errors, src.path);
  }

  /** The hash of a photo's decoded pixels; null when it cannot be read or decoded (embedding it reports why). */
  private async pixelsOf(file: string, label: string): Promise<string | null> {
    try {
      return await pixelHash(await readImageFile(file, this.limits), { limits: this.limits, label });
    } catch {
      return null;
    }
  }

  /**
   * The photo's pixels are the catalog's, its file is newer: its mtime is recorded (and changed fields), so the next run
   * skips the decode. Search is untouched, so nothing goes into the change log unless fields changed.
   */
  private async touched(job: ProductJob, stored: StoredItem, mtimeMs: number, metadata: Metadata, errors: JobItemError[]): Promise<ProductResult> {
    const fields = differs(stored.metadata, metadata);
    const written = await this.commit(job, async (tx) => {
      await tx.touchFiles(new Map([[job.id, mtimeMs]]));
      if (fields) await tx.updateMetadata(new Map([[job.id, metadata]]));
    });
    return { outcome: !written ? 'repeated' : fields ? 'metadata' : 'unchanged', errors };
  }

  /** The photos are the catalog's already: only changed fields are written. */
  private async unchanged(job: ProductJob, stored: StoredItem, metadata: Metadata, errors: JobItemError[]): Promise<ProductResult> {
    if (!differs(stored.metadata, metadata)) return { outcome: 'unchanged', errors };
    // The refined vector reads the labels: updateMetadata drops it, and finishing the run makes it again.
    const written = await this.commit(job, (tx) => tx.updateMetadata(new Map([[job.id, metadata]])));
    return { outcome: written ? 'metadata' : 'repeated', errors };
  }

  private async write(job: ProductJob, stored: StoredItem | null, photos: readonly PhotoIn[], metadata: Metadata, errors: JobItemError[], at: string): Promise<ProductResult> {
    const embedded = await this.batcher.embed(photos.map((p) => ({ bytes: p.read, label: p.label })));
    const first = embedded[0]!;
    if (first instanceof FashionError) {
      const folder = job.source.kind === 'folder';
      errors.unshift({ item: job.id, message: `${at}: ${first.code}: ${first.message}${stored && !folder ? '; the product keeps its earlier photo' : ''}` });
      // A folder's photo that fails is not in the catalog, whatever an earlier run had stored for it (as `fashion index`).
      if (stored && folder) await this.commit(job, (tx) => tx.removeItems([job.id]));
      return { outcome: 'failed', errors };
    }
    const others: PhotoWithVector[] = [];
    embedded.slice(1).forEach((e, i) => {
      const p = photos[i + 1]!;
      if (e instanceof FashionError) errors.push({ item: job.id, message: `${at}: ${e.code}: ${e.message}` });
      else others.push({ path: p.path, size: p.size, mtimeMs: p.mtimeMs, vector: e.vector, colour: e.colour, ...(e.pixelHash ? { pixelHash: e.pixelHash } : {}) });
    });
    const p0 = photos[0]!;
    const item: ItemWithVector = { id: job.id, path: p0.path, size: p0.size, mtimeMs: p0.mtimeMs, metadata, vector: first.vector, colour: first.colour, ...(first.pixelHash ? { pixelHash: first.pixelHash } : {}) };
    const written = await this.commit(job, async (tx) => {
      if (job.source.kind === 'folder' && (await tx.getSetting(SETTING_IMAGES_ROOT)) !== job.source.root) await tx.setSetting(SETTING_IMAGES_ROOT, job.source.root);
      await tx.putItems([item]);
      if (others.length > 0) await tx.putPhotos(job.id, others);
      const model = await this.refinementOf(tx);
      if (model) await tx.putFeatures('refined', new Map([[job.id, model.itemVector(first.vector, first.colour, metadata)]]));
    });
    return { outcome: !written ? 'repeated' : stored ? 'updated' : 'added', errors };
  }

  /**
   * Runs `write` in a transaction with the job's key, and the catalog's model identity checked (recorded by the first
   * write to an empty catalog). False when the key was there already: the job's write had committed before.
   *
   * The products of this worker that are ready together are committed in one transaction (each with its own key):
   * every write of the catalog holds its writer lock (the change log is numbered in commit order), so one commit per
   * product would make that lock, not the embedding, the limit of many workers. A batch that fails is committed again
   * product by product, so that one product's failure is its own.
   */
  private commit(job: ProductJob, write: (tx: CatalogStore) => Promise<void>): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.commits.push({ job, write, resolve, reject });
      if (!this.committing) void this.drainCommits();
    });
  }

  private async drainCommits(): Promise<void> {
    this.committing = true;
    try {
      while (this.commits.length > 0) {
        const batch = this.commits.splice(0, 64);
        let outcomes: boolean[];
        try {
          outcomes = await this.store.atomically(async (tx) => {
            const out: boolean[] = [];
            for (const c of batch) out.push(await this.writeOne(tx, c));
            return out;
          });
        } catch {
          // Alone, each succeeds or fails by itself.
          for (const c of batch) await this.store.atomically((tx) => this.writeOne(tx, c)).then(c.resolve, c.reject);
          continue;
        }
        batch.forEach((c, i) => c.resolve(outcomes[i]!));
      }
    } finally {
      this.committing = false;
    }
  }

  private async writeOne(tx: CatalogStore, c: PendingCommit): Promise<boolean> {
    if (!(await tx.claimWriteKey(productJobKey(c.job)))) return false;
    const identity = this.embedder.identity;
    const stored = await storedIdentity(tx);
    if (!stored) await tx.setSetting(SETTING_IDENTITY, JSON.stringify(identity));
    else if (identityKey(stored) !== identityKey(identity)) throw modelMismatch(stored, identity);
    await c.write(tx);
    return true;
  }

  /**
   * The catalog's refinement, as its setting names it now (a training since the last product switches it). Its model
   * file is in the --data of the process that trained it: a worker that cannot see it writes no refined vector, and
   * finishing the run (src/app/queueIngest.ts, refineIngested) makes the missing ones.
   */
  private async refinementOf(tx: CatalogStore): Promise<RefineModel | null> {
    const digest = await tx.getSetting(SETTING_REFINE_MODEL);
    if (this.refinement && this.refinement.digest === digest) return this.refinement.model;
    let model: RefineModel | null = null;
    try {
      const found = findRefinement(this.config.dataDir, digest);
      if (found.kind === 'found' && found.model.header.backboneKey === identityKey(this.embedder.identity) && found.model.header.colourVersion === COLOUR_FEATURES_VERSION) model = found.model;
    } catch {
      model = null;
    }
    this.refinement = { digest, model };
    return model;
  }
}

/** Whether two products' fields differ, whatever their keys' order (PostgreSQL's jsonb keeps its own order). */
function differs(a: Metadata, b: Metadata): boolean {
  return canonicalJson(a) !== canonicalJson(b);
}
