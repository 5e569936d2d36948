import type { Config } from '../config.js';
import type { EmbeddedQuery } from '../embedding/queryBatcher.js';
import { averageReadings } from './averageReadings.js';
import { isUrl } from '../embedding/modelSource.js';
import { encodeJpeg, readImageFile, VIEW_JPEG_QUALITY } from '../imaging/decode.js';
import { fetchImage } from '../imaging/fetchImage.js';
import type { VectorStore } from '../index/vectorIndex.js';
import type { ItemOrPhoto, PhotoSource, Query } from '../query/query.js';
import type { MatchResult } from '../search/match.js';
import { isOutOfStock } from '../search/availability.js';
import { offBackdrop } from '../search/backboneRerank.js';
import { OFF_BACKDROP_SCALES, type PartScales } from '../search/partWeights.js';
import { SLOT_RULE, type SlotRule } from '../search/sameProductSlots.js';
import { KIND_NEIGHBOURS, KIND_TEMPERATURE, KIND_WEIGHT } from '../search/kindPrior.js';
import { outfitForItem, outfitForVector, type OutfitResult } from '../search/outfit.js';
import type { IsolatedView, MatchOptions, SearchResult } from '../search/types.js';
import type { Prediction } from '../refine/refineModel.js';
import type { CatalogService } from '../services/catalog.js';
import type { EmbeddingService } from '../services/embedding.js';
import type { LabelService } from '../services/labels.js';
import type { MatchService } from '../services/match.js';
import type { Analysis, RefinementService } from '../services/refinement.js';
import type { SearchService } from '../services/search.js';
import { voteLabels } from '../text/autoLabels.js';
import type { TextEngine, TextSearchResult } from '../text/textQuery.js';

/** The services a query runs through (src/app/services.ts builds them). */
export interface PipelineServices {
  readonly catalog: CatalogService;
  readonly embedding: EmbeddingService;
  readonly refinement: RefinementService;
  readonly search: SearchService;
  readonly match: MatchService;
  /** The searched space as it is now (the snapshot and the items written since, or the database's SQL space). */
  searchedSpaces(): { readonly search: VectorStore };
  labels(): Promise<LabelService>;
  text(): Promise<TextEngine>;
}

/** A shopper's photo after the pipeline's first stages: the reading chosen, and what the refinement made of it. */
export interface PhotoRead {
  readonly query: EmbeddedQuery;
  readonly handle: string;
  /** The reading the catalog explains best (the isolated product averaged with the photo as it is around it, or a balanced one). */
  readonly reading: Pick<EmbeddedQuery, 'vector' | 'colour' | 'photo'>;
  readonly analysis: Analysis;
}

/**
 * One pipeline for every query: source -> bytes (upload, URL, file, or the handle of a photo embedded before) ->
 * readings, embedded in one queue (src/services/embedding.ts) -> the reading the catalog explains best
 * (src/services/search.ts) -> one pass of the refinement (search vector, same-product vector, predictions) ->
 * search -> result. Each stage is a call down to a service that returns here; no service calls back up.
 */
export class QueryPipeline {
  /** The first-screen places for the same-product space's nearest items (src/search/sameProductSlots.ts); benches compare others. */
  slotRule: SlotRule = SLOT_RULE;
  /** How a photo taken off a backdrop weighs its search vector's parts (src/search/partWeights.ts); benches compare others. */
  offBackdropScales: PartScales = OFF_BACKDROP_SCALES;

  constructor(
    private readonly s: PipelineServices,
    private readonly config: Pick<Config, 'maxUploadBytes' | 'maxPixels' | 'fetchAllow'>,
  ) {}

  /** Runs one query of any kind. */
  async search(query: Query): Promise<SearchResult | TextSearchResult> {
    const options = {
      ...(query.k !== undefined ? { k: query.k } : {}),
      ...(query.metric ? { metric: query.metric } : {}),
      ...(query.filters ? { filters: query.filters } : {}),
      ...(query.includeOutOfStock ? { includeOutOfStock: true } : {}),
    };
    const words = 'text' in query ? { ...options, dropFilters: query.dropFilters ?? [] } : options;
    switch (query.kind) {
      case 'photo': {
        const read = await this.readPhoto(query.photo);
        // The product shown beside the results is encoded (libvips, off this thread) while the search runs.
        const isolated = isolatedOf(read.reading);
        const { k, metric } = this.s.search.options(options);
        const off = offBackdrop(read.reading.photo.isolation);
        // The kind the photo is searched for: the network's guess mixed with the kinds of its nearest catalog items in the
        // same-product space (src/search/kindPrior.ts), for studio shots too; its time counts as search time.
        const t0 = performance.now();
        const sp = read.analysis.sameProductVector;
        const kinds = sp ? await this.s.search.neighbourKinds(sp, KIND_NEIGHBOURS, KIND_TEMPERATURE, 'sameProduct') : new Map<string, number>();
        const withKinds = this.s.refinement.withKindShares(read.analysis.searchVector, kinds, KIND_WEIGHT);
        // A photo taken off a backdrop is searched with its parts weighed as src/search/partWeights.ts says (less on the colour
        // the refinement read under the photo's light); a studio shot as the catalog's vectors were fused.
        const searchVector = off ? this.s.refinement.withPartScales(withKinds, this.offBackdropScales) : withKinds;
        const kindMs = performance.now() - t0;
        const res = await this.s.search.nearest(searchVector, {
          k,
          metric,
          filter: { ...(query.filters ? { metadata: query.filters } : {}) },
          sameProduct: read.analysis.sameProductVector,
          // The refined candidates ordered again by how alike the photo's backbone reading is (src/search/backboneRerank.ts),
          // for a photo taken off a backdrop only (offBackdrop).
          ...(off ? { backbone: read.reading.vector } : {}),
          // The same-product space's nearest items on the first screen (src/search/sameProductSlots.ts), for photos off a
          // backdrop only unless the rule says otherwise.
          ...(off || !this.slotRule.offBackdropOnly ? { slots: this.slotRule } : {}),
          ...(query.includeOutOfStock ? { includeOutOfStock: true } : {}),
        });
        const predicted = read.analysis.predicted ?? (await this.vote(read.reading.vector));
        return { ...res, timings: { ...timingsOf(read.query), searchMs: res.timings.searchMs + kindMs }, predicted, handle: read.handle, ...isolated };
      }
      case 'item':
        return this.s.search.similar(query.id, options);
      case 'text':
        this.s.catalog.requireItems();
        // The words engine follows writes itself (rows deleted or replaced since are left out there). Out-of-stock
        // products are left out unless asked for, as in every search; the test is only made when there is one.
        const { catalog } = this.s;
        const hideStock = catalog.hasOutOfStock && !query.includeOutOfStock;
        const outOfStock = (id: string) => isOutOfStock(catalog.find(id)?.metadata ?? {});
        return (await this.s.text()).search(query.text, { ...words, ...(hideStock ? { exclude: outOfStock } : {}) });
      case 'photo+text': {
        const engine = await this.s.text();
        engine.parse(query.text);
        const read = await this.readPhoto(query.photo);
        const res = await engine.searchWithVector(read.analysis.searchVector, query.text, words);
        return { ...res, timings: { ...timingsOf(read.query), searchMs: res.timings.searchMs }, handle: read.handle };
      }
      case 'item+text': {
        this.s.catalog.item(query.id);
        const vector = (await this.s.searchedSpaces().search.get(query.id))!;
        return (await this.s.text()).searchWithVector(vector, query.text, words, query.id);
      }
    }
  }

  /** Second-hand matching: the catalog item the photo shows, or no match below the threshold. */
  async match(photo: PhotoSource, options: MatchOptions = {}): Promise<MatchResult & { isolated?: IsolatedView; handle: string }> {
    const read = await this.readPhoto(photo);
    const isolated = isolatedOf(read.reading);
    const sameProduct = read.analysis.sameProductVector;
    const m = await this.s.match.match({ sameProduct, backbone: read.reading.vector }, options);
    return { ...m, handle: read.handle, ...isolated };
  }

  /** Auto-categorisation of a photo: predicted articleType, baseColour and gender with confidences. */
  async categorize(photo: PhotoSource): Promise<{ predicted: Record<string, Prediction>; handle: string }> {
    const read = await this.readPhoto(photo);
    return { predicted: read.analysis.predicted ?? (await this.vote(read.reading.vector)), handle: read.handle };
  }

  /** Complete the look for a catalog item or a photo (whose labels are voted by its nearest items). */
  async outfit(source: ItemOrPhoto): Promise<OutfitResult> {
    const labels = await this.s.labels();
    const cat = { items: this.s.catalog.items, labels, search: this.s.search, rowOfId: (id: string) => this.s.catalog.rowOfId(id) };
    if (source.kind === 'item') {
      this.s.catalog.item(source.id);
      const vector = (await this.s.searchedSpaces().search.get(source.id))!;
      // An item written since the snapshot has no row of labels yet: its outfit is built like a photo's.
      if (this.s.catalog.rowOfId(source.id) === undefined) return outfitForVector(cat, vector);
      return outfitForItem(cat, source.id, vector);
    }
    const read = await this.readPhoto(source.photo);
    return outfitForVector(cat, read.analysis.searchVector);
  }

  /** decode -> readings -> embed -> the best reading -> refine. */
  async readPhoto(source: PhotoSource): Promise<PhotoRead> {
    this.s.catalog.requireItems();
    const q = source.kind === 'handle' ? this.s.embedding.byHandle(source.handle) : await this.s.embedding.embed(...(await this.bytes(source)));
    // The isolated product and the photo as it is around it are read as one, their vectors averaged: on shopper-photo copies
    // in styles no setting was chosen on, that found more of the right products than keeping whichever of the two the catalog
    // explains better (bench/readings.ts, docs/relevance.md); the balanced reading still competes with the average.
    const asIs = q.alternatives?.find((r) => r.photo.isolation === 'unchanged');
    const first = asIs ? averageReadings(q, asIs) : q;
    const readings = [first, ...(q.alternatives ?? []).filter((r) => r !== asIs)];
    if (readings.length === 1) return { query: q, handle: q.handle, reading: first, analysis: await this.s.refinement.analyse(first) };
    // The chosen reading's same-product vector goes on to the refinement pass, which would otherwise project it again.
    const sameProduct = this.s.refinement.sameProductVectors(readings);
    const i = await this.s.search.chooseReading(sameProduct);
    return { query: q, handle: q.handle, reading: readings[i]!, analysis: await this.s.refinement.analyse(readings[i]!, sameProduct[i]) };
  }

  /** The bytes of a photo, read once at the edge of the pipeline, with the label that errors name. */
  private async bytes(photo: Exclude<PhotoSource, { kind: 'handle' }>): Promise<[Uint8Array, string]> {
    const limits = { maxBytes: this.config.maxUploadBytes, maxPixels: this.config.maxPixels };
    switch (photo.kind) {
      case 'upload':
        return [photo.bytes, photo.label];
      case 'url':
        return [await fetchImage(photo.url, { maxBytes: limits.maxBytes, allow: this.config.fetchAllow }), photo.url];
      case 'file':
        return [await readImageFile(photo.path, limits), photo.path];
    }
  }

  /** Categorisation without a refinement: the labels of the 10 nearest items, by vote. */
  private async vote(vector: Float32Array): Promise<Record<string, Prediction>> {
    const near = await this.s.search.nearest(vector, { k: 10, metric: 'cosine' });
    return voteLabels({}, near.hits.map((h) => h.metadata)) as Record<string, Prediction>;
  }
}

/** A CLI argument that names a photo: an http(s) URL or a file path. */
export function photoArg(arg: string): PhotoSource {
  return isUrl(arg) ? { kind: 'url', url: arg } : { kind: 'file', path: arg };
}

function timingsOf(q: EmbeddedQuery): { decodeMs: number; embedMs: number; batchSize: number } {
  return { decodeMs: q.decodeMs, embedMs: q.embedMs, batchSize: q.batchSize };
}

/**
 * The product as the model saw it, for a photo embedded by a catalog that isolates (shown beside the query), its JPEG
 * started now: libvips encodes it on its own thread while this one searches, instead of after (~1 ms of the answer).
 */
function isolatedOf(r: Pick<EmbeddedQuery, 'photo'>): { isolated?: IsolatedView } {
  if (!r.photo.isolation) return {};
  const jpeg = encodeJpeg(r.photo.product, VIEW_JPEG_QUALITY);
  // Handled here too: a search that fails before the view awaits it must not leave an unhandled rejection behind.
  jpeg.catch(() => undefined);
  return { isolated: { image: r.photo.product, method: r.photo.isolation, jpeg } };
}

