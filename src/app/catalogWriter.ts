import { SETTING_IDENTITY, storedIdentity } from '../catalog/identity.js';
import { openCatalogStore } from '../catalog/openCatalog.js';
import { keepPhoto } from '../catalog/photoStore.js';
import { checkId, checkMetadata, MAX_PHOTOS } from '../catalog/itemFields.js';
import { withWriterLock } from '../catalog/writerLock.js';
import type { Config } from '../config.js';
import { requireImageType } from '../imaging/imageType.js';
import { FashionError } from '../errors.js';
import type { CatalogStore, Metadata, PhotoFile, StoredItem } from '../store/catalogStore.js';
import type { ItemVersion, Services } from './services.js';

export interface PutItem {
  /** The product's photos, its first first (the one lists show); each is embedded, and a search by any finds it. */
  readonly photos: ReadonlyArray<{ readonly bytes: Uint8Array; readonly label: string }>;
  readonly metadata: Metadata;
}

export interface WriteResult {
  readonly item: StoredItem;
  /** False when an item of that id was replaced. */
  readonly created: boolean;
}

/**
 * The catalog's write path while it is served: create or replace an item with its photo, change its metadata,
 * delete it. Each write is committed to the store as one transaction (the item, its colour evidence and its refined
 * vector together) under the catalog's writer lock, and then applied to the catalog being served
 * (`Services.applyWrite`), so it is searchable when the call returns, without a restart; a restart reads it from the
 * store. The photo's embedding runs before the lock is taken (concurrent writes share inference batches); the
 * commits run one at a time.
 */
export class CatalogWriter {
  private store: CatalogStore | null = null;
  /** The commit of the previous write: commits are chained, one at a time. */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly svc: Services,
    private readonly config: Config,
  ) {}

  async put(id: string, input: PutItem): Promise<WriteResult> {
    checkId(id);
    const metadata = checkMetadata(input.metadata);
    if (input.photos.length === 0) throw new FashionError('input/invalid', `Expected at least one photo of ${id} but received none`);
    if (input.photos.length > MAX_PHOTOS) throw new FashionError('input/invalid', `Expected at most ${MAX_PHOTOS} photos of one product but received ${input.photos.length}`);
    const types = input.photos.map((p) => requireImageType(p.bytes, p.label));
    // Embedded together: the inference thread batches them with each other and with other requests.
    const embedded = await Promise.all(input.photos.map((p) => this.svc.embedding.embed(p.bytes, p.label)));
    const identity = (await this.svc.embedding.load()).identity;
    return this.commit(`PUT /api/items/${id}`, async (store) => {
      const created = !this.svc.catalog.has(id);
      const files: PhotoFile[] = input.photos.map((p, i) => ({
        path: keepPhoto(this.config.dataDir, p.bytes, types[i]!),
        size: p.bytes.length,
        mtimeMs: Date.now(),
        pixelHash: embedded[i]!.photo.pixelHash,
      }));
      const [first, ...others] = files;
      const item: StoredItem = { id, ...first!, metadata, ...(others.length > 0 ? { photos: others } : {}) };
      const versions = embedded.map((e) => ({ backbone: e.vector, colour: e.colour, search: this.searchVector(e.vector, e.colour, metadata) }));
      const v: ItemVersion = { item, ...versions[0]!, photos: versions.slice(1) };
      await store.atomically(async (tx) => {
        if (!(await storedIdentity(tx))) await tx.setSetting(SETTING_IDENTITY, JSON.stringify(identity));
        await tx.putItems([{ ...first!, id, metadata, vector: v.backbone, colour: v.colour }]);
        if (others.length > 0) await tx.putPhotos(id, others.map((f, i) => ({ ...f, vector: versions[i + 1]!.backbone, colour: versions[i + 1]!.colour })));
        if (this.svc.refinement.model) await tx.putFeatures('refined', new Map([[id, v.search]]));
        await addColumns(tx, metadata);
      });
      this.svc.applyWrite({ put: v });
      return { item, created };
    });
  }

  /**
   * Changes metadata fields (a null value removes the field) without embedding the photo again: the refined vector,
   * which reads the labels, is recomputed from the stored backbone vector and colour evidence.
   */
  async patch(id: string, changes: Readonly<Record<string, string | null>>): Promise<WriteResult> {
    checkId(id);
    return this.commit(`PATCH /api/items/${id}`, async (store) => {
      const old = this.svc.catalog.item(id);
      const merged: Record<string, string> = { ...old.metadata };
      for (const [field, value] of Object.entries(changes)) {
        if (value === null) delete merged[field];
        else merged[field] = value;
      }
      const metadata = checkMetadata(merged);
      const { vector, colour } = this.svc.itemFeatures(id);
      const item: StoredItem = { ...old, metadata };
      const search = this.searchVector(vector, colour, metadata);
      // Its other photos' refined vectors read the labels too (they are made when the catalog is read, not stored).
      const photos = this.svc.otherPhotoFeatures(id).map((f) => this.svc.photoVersion(f, metadata));
      await store.atomically(async (tx) => {
        await tx.updateMetadata(new Map([[id, metadata]]));
        if (this.svc.refinement.model) await tx.putFeatures('refined', new Map([[id, search]]));
        await addColumns(tx, metadata);
      });
      this.svc.applyWrite({ put: { item, backbone: vector, colour, search, photos } });
      return { item, created: false };
    });
  }

  async remove(id: string): Promise<void> {
    checkId(id);
    await this.commit(`DELETE /api/items/${id}`, async (store) => {
      this.svc.catalog.item(id);
      await store.removeItems([id]);
      this.svc.applyWrite({ remove: id });
    });
  }

  async close(): Promise<void> {
    await this.store?.close();
    this.store = null;
  }

  /** The item's vector in the searched space: refined with its labels, or the backbone vector without a refinement. */
  private searchVector(backbone: Float32Array, colour: Float32Array, metadata: Metadata): Float32Array {
    return this.svc.refinement.model ? this.svc.refinement.model.itemVector(backbone, colour, metadata) : backbone;
  }

  /**
   * Runs `write` after every earlier commit, holding the writer lock (a `fashion index` running holds it: 409). Other
   * servers on the same catalog read the write from the store's change log (`Services.follow`); so does this one, again.
   */
  private commit<T>(what: string, write: (store: CatalogStore) => Promise<T>): Promise<T> {
    const run = this.tail.then(() =>
      withWriterLock(this.config.dataDir, `fashion serve: ${what}`, async (lock) => {
        this.store ??= await openCatalogStore(this.config);
        lock.assertHeld();
        const store = this.store;
        // No follow pass between the commit and its applyWrite: a page read before the commit, applied after it, would
        // put the older version back until the next pass.
        return await this.svc.exclusively(async () => {
          await this.svc.readAgainIfStale(store);
          return write(store);
        });
      }),
    );
    this.tail = run.catch(() => undefined);
    return run;
  }
}

/** New metadata fields join the catalog's columns (the fields its filters offer). */
async function addColumns(store: CatalogStore, metadata: Metadata): Promise<void> {
  const columns = JSON.parse((await store.getSetting('metadataColumns')) ?? '[]') as string[];
  const missing = Object.keys(metadata).filter((f) => !columns.includes(f));
  if (missing.length > 0) await store.setSetting('metadataColumns', JSON.stringify([...columns, ...missing]));
}
