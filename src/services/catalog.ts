import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { SETTING_IMAGES_ROOT, storedIdentity } from '../catalog/identity.js';
import { isInside } from '../catalog/scanImages.js';
import type { ModelIdentity } from '../embedding/embedder.js';
import { FashionError } from '../errors.js';
import type { CatalogStore, StoredItem } from '../store/catalogStore.js';

const FACET_FIELDS = ['gender', 'masterCategory', 'subCategory', 'articleType', 'baseColour', 'season', 'usage'] as const;

export type Facets = Record<string, Array<{ value: string; count: number }>>;

/**
 * The catalog's items and metadata as one snapshot, read from the store once: lookups by id, facets, a spread
 * for the first page, and photo paths that never leave the catalog's image folder.
 */
export class CatalogService {
  private readonly rowOf: Map<string, number>;
  readonly identity: ModelIdentity | null;
  readonly imagesRoot: string | null;
  readonly metadataColumns: string[];
  private facetCache: Facets | null = null;

  constructor(
    readonly store: CatalogStore,
    readonly items: readonly StoredItem[],
  ) {
    this.rowOf = new Map(items.map((it, i) => [it.id, i]));
    this.identity = storedIdentity(store);
    this.imagesRoot = store.getSetting(SETTING_IMAGES_ROOT);
    this.metadataColumns = JSON.parse(store.getSetting('metadataColumns') ?? '[]') as string[];
  }

  get size(): number {
    return this.items.length;
  }

  ids(): string[] {
    return this.items.map((it) => it.id);
  }

  has(id: string): boolean {
    return this.rowOf.has(id);
  }

  /** The item, or item/not-found. */
  item(id: string): StoredItem {
    const row = this.rowOf.get(id);
    if (row === undefined) throw new FashionError('item/not-found', `Expected an item with id ${JSON.stringify(id)} in the catalog but there is none`);
    return this.items[row]!;
  }

  /** Position of the item in the snapshot's order (the rows of the embedded vector spaces). */
  rowOfId(id: string): number | undefined {
    return this.rowOf.get(id);
  }

  requireItems(): void {
    if (this.items.length === 0) throw new FashionError('catalog/empty', 'Expected a catalog with items but it is empty; run `fashion index <images-dir>` first');
  }

  /** A spread over the whole catalog, so the first page shows more than one kind of product. */
  spread(limit: number, offset = 0): StoredItem[] {
    const step = Math.max(1, Math.floor(this.items.length / limit));
    const out: StoredItem[] = [];
    for (let i = 0; i < limit && offset + i * step < this.items.length; i++) out.push(this.items[offset + i * step]!);
    return out;
  }

  /** Distinct values of the common metadata fields, with counts, for the page's filters. */
  facets(): Facets {
    if (this.facetCache) return this.facetCache;
    const out: Facets = {};
    for (const f of FACET_FIELDS) {
      const counts = new Map<string, number>();
      for (const it of this.items) {
        const v = it.metadata[f];
        if (v) counts.set(v, (counts.get(v) ?? 0) + 1);
      }
      if (counts.size > 0) out[f] = [...counts].map(([value, count]) => ({ value, count })).sort((a, b) => b.count - a.count || a.value.localeCompare(b.value));
    }
    this.facetCache = out;
    return out;
  }

  /** Absolute path of an item's photo, guaranteed to lie inside the catalog's image folder. */
  imagePath(id: string): string {
    const it = this.item(id);
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
