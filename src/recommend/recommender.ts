import { Services } from '../app/services.js';
import type { Config } from '../config.js';
import type { Embedder } from '../embedding/embedder.js';
import type { Query } from '../query/query.js';
import type { MatchResult } from '../search/match.js';
import type { OutfitResult } from '../search/outfit.js';
import type { CatalogInfo, IsolatedView, MatchOptions, SearchOptions, SearchResult } from '../search/types.js';
import type { Facets } from '../services/catalog.js';
import type { DuplicatesReport } from '../services/duplicates.js';
import type { StoredItem } from '../store/catalogStore.js';
import type { TextQueryOptions, TextSearchResult } from '../text/textQuery.js';
import type { Prediction } from '../refine/refineModel.js';

/**
 * A thin facade over the services of one catalog (src/app/services.ts) with the calls a script or a test makes
 * most: a photo's bytes in, results out. It holds no logic: each method is one call into a service.
 */
export class Recommender {
  private constructor(readonly services: Services) {}

  static async open(config: Config, options: { embedder?: Embedder } = {}): Promise<Recommender> {
    return new Recommender(await Services.open(config, options));
  }

  get config(): Config {
    return this.services.config;
  }

  info(): CatalogInfo {
    return this.services.info();
  }

  facets(): Facets {
    return this.services.catalog.facets();
  }

  allItems(): readonly StoredItem[] {
    return this.services.catalog.items;
  }

  item(id: string): StoredItem {
    return this.services.catalog.item(id);
  }

  hasItem(id: string): boolean {
    return this.services.catalog.has(id);
  }

  imagePath(id: string): string {
    return this.services.catalog.imagePath(id);
  }

  prepareIndex(): { kind: 'exact' | 'hnsw'; items: number } {
    return this.services.prepareIndex();
  }

  async loadModel(): Promise<Embedder> {
    return this.services.embedding.load();
  }

  run(query: Query): Promise<SearchResult | TextSearchResult> {
    return this.services.pipeline.search(query);
  }

  searchImage(bytes: Uint8Array, options: SearchOptions = {}, label = 'the query photo'): Promise<SearchResult> {
    return this.services.pipeline.search({ kind: 'photo', photo: { kind: 'upload', bytes, label }, ...options });
  }

  similar(id: string, options: SearchOptions = {}): Promise<SearchResult> {
    return this.services.pipeline.search({ kind: 'item', id, ...options });
  }

  async searchText(text: string, options: TextQueryOptions = {}): Promise<TextSearchResult> {
    return (await this.services.pipeline.search({ kind: 'text', text, ...options })) as TextSearchResult;
  }

  async searchImageText(bytes: Uint8Array, text: string, options: TextQueryOptions = {}, label = 'the query photo'): Promise<TextSearchResult> {
    return (await this.services.pipeline.search({ kind: 'photo+text', photo: { kind: 'upload', bytes, label }, text, ...options })) as TextSearchResult;
  }

  async similarText(id: string, text: string, options: TextQueryOptions = {}): Promise<TextSearchResult> {
    return (await this.services.pipeline.search({ kind: 'item+text', id, text, ...options })) as TextSearchResult;
  }

  matchImage(bytes: Uint8Array, options: MatchOptions = {}, label = 'the query photo'): Promise<MatchResult & { isolated?: IsolatedView }> {
    return this.services.pipeline.match({ kind: 'upload', bytes, label }, options);
  }

  async categorizeImage(bytes: Uint8Array, label = 'the query photo'): Promise<Record<string, Prediction>> {
    return (await this.services.pipeline.categorize({ kind: 'upload', bytes, label })).predicted;
  }

  outfit(id: string): Promise<OutfitResult> {
    return this.services.pipeline.outfit({ kind: 'item', id });
  }

  outfitImage(bytes: Uint8Array, label = 'the query photo'): Promise<OutfitResult> {
    return this.services.pipeline.outfit({ kind: 'photo', photo: { kind: 'upload', bytes, label } });
  }

  duplicates(options: { threshold?: number; near?: boolean } = {}): DuplicatesReport {
    return this.services.duplicates.find(options);
  }

  close(): Promise<void> {
    return this.services.close();
  }
}
