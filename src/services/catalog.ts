import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { parseIdentity, SETTING_IDENTITY, SETTING_IMAGES_ROOT } from '../catalog/identity.js';
import { keptPhotoFile } from '../catalog/photoStore.js';
import { isOutOfStock } from '../search/availability.js';
import { isInside } from '../catalog/scanImages.js';
import type { ModelIdentity } from '../embedding/embedder.js';
import { FashionError } from '../errors.js';
import type { CatalogStore, StoredItem } from '../store/catalogStore.js';

const FACET_FIELDS = ['gender', 'masterCategory', 'subCategory', 'articleType', 'baseColour', 'season', 'usage'] as const;

export type Facets = Record<string, Array<{ value: string; count: number }>>;

/** What the catalog service reads from the store's settings. */
export interface CatalogSettings {
  readonly identity: ModelIdentity | null;
  readonly imagesRoot: string | null;
  readonly metadataColumns: readonly string[];
}

/** The settings the catalog service needs, read from the store (inside the snapshot its items come from). */
export async function readCatalogSettings(store: CatalogStore): Promise<CatalogSettings> {
  return {
    identity: parseIdentity(await store.getSetting(SETTING_IDENTITY)),
    imagesRoot: await store.getSetting(SETTING_IMAGES_ROOT),
    metadataColumns: JSON.parse((await store.getSetting('metadataColumns')) ?? '[]') as string[],
  };
}

/**
 * The catalog's items and metadata as one snapshot, read from the store once: lookups by id, facets, a spread
 * for the first page, and photo paths that never leave the catalog's image folder.
 */
export class CatalogService {
  private readonly rowOf: Map<string, number>;
  /** Live changes since the snapshot: items written (new or new versions), and snapshot ids deleted or replaced. */
  private readonly added = new Map<string, StoredItem>();
  private readonly hidden = new Set<string>();
  /** Items whose availability says out of stock: while there is none, searches need no availability filter. */
  private readonly outOfStock = new Set<string>();
  readonly identity: ModelIdentity | null;
  readonly imagesRoot: string | null;
  readonly metadataColumns: string[];
  private facetCache: Facets | null = null;

  constructor(
    readonly items: readonly StoredItem[],
    /** The catalog's settings as the snapshot read them (`readCatalogSettings`). */
    settings: CatalogSettings,
    /** The catalog's folder, where photos written through the API are kept (src/catalog/photoStore.ts). */
    private readonly dataDir?: string,
  ) {
    this.rowOf = new Map(items.map((it, i) => [it.id, i]));
    this.identity = settings.identity;
    this.imagesRoot = settings.imagesRoot;
    this.metadataColumns = [...settings.metadataColumns];
    for (const it of items) if (isOutOfStock(it.metadata)) this.outOfStock.add(it.id);
  }

  /** Items in the catalog now: the snapshot's, less those hidden, and those written since. */
  get size(): number {
    return this.items.length - this.hidden.size + this.added.size;
  }

  /** The snapshot's ids, in row order (the rows of the embedded vector spaces). */
  ids(): string[] {
    return this.items.map((it) => it.id);
  }

  has(id: string): boolean {
    return this.find(id) !== null;
  }

  /** The item as it is now, or null. */
  find(id: string): StoredItem | null {
    const added = this.added.get(id);
    if (added) return added;
    const row = this.rowOf.get(id);
    return row === undefined || this.hidden.has(id) ? null : this.items[row]!;
  }

  /** The item, or item/not-found. */
  item(id: string): StoredItem {
    const it = this.find(id);
    if (!it) throw new FashionError('item/not-found', `Expected an item with id ${JSON.stringify(id)} in the catalog but there is none`);
    return it;
  }

  /**
   * Position of the item in the snapshot's order (the rows of the embedded vector spaces and of everything derived
   * per row: labels, words, outfits); undefined for an item written since the snapshot, or deleted.
   */
  rowOfId(id: string): number | undefined {
    return this.hidden.has(id) ? undefined : this.rowOf.get(id);
  }

  /** Items written (created or replaced) since the snapshot was read. */
  get changes(): number {
    return this.added.size + this.hidden.size;
  }

  /** What changed since the snapshot: items written (their latest versions) and ids deleted. */
  changesSinceSnapshot(): { readonly written: StoredItem[]; readonly removed: string[] } {
    return { written: [...this.added.values()], removed: [...this.hidden].filter((id) => !this.added.has(id)) };
  }

  /** Whether any item is out of stock (searches then leave them out unless asked). */
  get hasOutOfStock(): boolean {
    return this.outOfStock.size > 0;
  }

  /** Writes an item (new, or a new version of one): lookups, listings and facets see it at once. */
  put(item: StoredItem): void {
    if (this.rowOf.has(item.id)) this.hidden.add(item.id);
    if (isOutOfStock(item.metadata)) this.outOfStock.add(item.id);
    else this.outOfStock.delete(item.id);
    for (const field of Object.keys(item.metadata)) if (!this.metadataColumns.includes(field)) this.metadataColumns.push(field);
    this.added.set(item.id, item);
    this.facetCache = null;
  }

  /** Deletes an item: it is gone from lookups, listings, facets and photos at once. */
  remove(id: string): void {
    if (this.rowOf.has(id)) this.hidden.add(id);
    this.outOfStock.delete(id);
    this.added.delete(id);
    this.facetCache = null;
  }

  requireItems(): void {
    if (this.size === 0) throw new FashionError('catalog/empty', 'Expected a catalog with items but it is empty; run `fashion index <images-dir>` first');
  }

  /** Every item as it is now: the snapshot's (less those hidden), then those written since. */
  *current(): Iterable<StoredItem> {
    for (const it of this.items) if (!this.hidden.has(it.id)) yield it;
    yield* this.added.values();
  }

  /** A spread over the whole catalog, so the first page shows more than one kind of product. */
  spread(limit: number, offset = 0): StoredItem[] {
    const all = this.changes === 0 ? this.items : [...this.current()];
    const step = Math.max(1, Math.floor(all.length / limit));
    const out: StoredItem[] = [];
    for (let i = 0; i < limit && offset + i * step < all.length; i++) out.push(all[offset + i * step]!);
    return out;
  }

  /** Distinct values of the common metadata fields, with counts, for the page's filters. */
  facets(): Facets {
    if (this.facetCache) return this.facetCache;
    const out: Facets = {};
    for (const f of FACET_FIELDS) {
      const counts = new Map<string, number>();
      for (const it of this.current()) {
        const v = it.metadata[f];
        if (v) counts.set(v, (counts.get(v) ?? 0) + 1);
      }
      if (counts.size > 0) out[f] = [...counts].map(([value, count]) => ({ value, count })).sort((a, b) => b.count - a.count || a.value.localeCompare(b.value));
    }
    this.facetCache = out;
    return out;
  }

  /**
   * Absolute path of an item's photo (its first, or photo `photo` of a product with several), guaranteed to lie inside
   * the catalog's image folder or its kept photos.
   */
  imagePath(id: string, photo = 0): string {
    const item = this.item(id);
    const it = photo === 0 ? item : item.photos?.[photo - 1];
    if (!it) throw new FashionError('input/not-found', `Expected a photo ${photo} of item ${id} but it has ${1 + (item.photos?.length ?? 0)} (numbered from 0)`);
    const kept = this.dataDir !== undefined ? keptPhotoFile(this.dataDir, it.path) : null;
    if (kept) return kept;
    if (!this.imagesRoot) throw new FashionError('catalog/not-found', 'Expected the catalog to know its image folder but it does not; re-run `fashion index`');
    const full = join(this.imagesRoot, it.path);
    let real: string;
    try {
      real = realpathSync(full);
    } catch {
      // The relative path only: an answer never shows the server's folders.
      throw new FashionError('input/not-found', `Expected the photo of item ${id} (${it.path}) in the catalog folder but it is gone; re-run \`fashion index\``);
    }
    if (!isInside(realpathSync(this.imagesRoot), real)) {
      throw new FashionError('input/path-escape', `Refusing to serve ${it.path}: it resolves outside the catalog folder`);
    }
    return real;
  }
}
