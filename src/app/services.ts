import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { openCatalogStore } from '../catalog/openCatalog.js';
import { embedderOptions, queryIsolation, type Config } from '../config.js';
import { identityKey, type Embedder } from '../embedding/embedder.js';
import { EmbeddedSpace, type GraphFile } from '../index/embeddedSpace.js';
import { LiveSpace } from '../index/liveSpace.js';
import { ExactIndex } from '../index/exactIndex.js';
import { EmbeddedJobQueue, JOBS_FILE } from '../jobs/embeddedJobQueue.js';
import type { JobQueue } from '../jobs/jobQueue.js';
import { RedisJobQueue } from '../jobs/redisJobQueue.js';
import { openQueue, type QueueHandles } from './queueHandles.js';
import { SETTING_IDENTITY } from '../catalog/identity.js';
import { loadCatalogRefinement, SETTING_REFINE_MODEL } from '../refine/loadRefinement.js';
import type { RefineModel } from '../refine/refineModel.js';
import type { CatalogInfo } from '../search/types.js';
import { CatalogService, readCatalogSettings, type CatalogSettings } from '../services/catalog.js';
import { DuplicatesService } from '../services/duplicates.js';
import { EmbeddingService } from '../services/embedding.js';
import { LabelService } from '../services/labels.js';
import { MatchService } from '../services/match.js';
import { SharedGemm } from '../linalg/sharedGemm.js';
import { RefinementService, type Features } from '../services/refinement.js';
import { SearchService } from '../services/search.js';
import type { CatalogStore, Change, Metadata, PhotoVectors, StoredItem } from '../store/catalogStore.js';
import { FtsTextSearch } from '../text/ftsIndex.js';
import { TextEngine, type TextEngineOptions } from '../text/textQuery.js';
import type { TextSearch } from '../text/textSearch.js';
import { FOLLOW_EVERY_MS, FOLLOW_PAGE, FollowLoop } from './followLoop.js';
import { QueryPipeline } from './queryPipeline.js';
import { buildSqlIndexes, SQL_ANN_THRESHOLD, sqlSources, sqlSpaces, type SpaceShape, type SqlSpaces } from './sqlSpaces.js';

/** The catalog's vector spaces, all with rows in the catalog's order. */
export interface Spaces {
  /** What search ranks by: refined vectors, or backbone vectors without a refinement. */
  readonly search: EmbeddedSpace;
  /** The same-product parts of the refined vectors, when the refinement has them. */
  readonly sameProduct: EmbeddedSpace | null;
  /** The backbone vectors as stored (matching without a same-product space, duplicates). */
  readonly backbone: EmbeddedSpace;
}

/** The spaces as searched: each snapshot space with the items written since (src/index/liveSpace.ts). */
export interface LiveSpaces {
  readonly search: LiveSpace;
  readonly sameProduct: LiveSpace | null;
  readonly backbone: LiveSpace;
}

/** What the services are made of, read from the store as one snapshot. */
interface CatalogRead {
  readonly items: StoredItem[];
  readonly vectors: Float32Array;
  readonly dims: number;
  readonly settings: CatalogSettings;
  readonly colours: Float32Array | null;
  readonly refinement: Awaited<ReturnType<typeof loadCatalogRefinement>>;
  readonly generation: number;
  /** The store's change log where this snapshot stands: `follow` applies the changes after it. */
  readonly cursor: number;
  /** What, when it changes in the store, is read anew rather than followed (see reloadKey). */
  readonly reloadKey: string;
  readonly photos: PhotoVectors[];
}

/** One photo of an item as the write path made it: its vectors. */
export interface PhotoVersion {
  readonly backbone: Float32Array;
  readonly colour: Float32Array;
  /** Its vector in the searched space (refined, or the backbone vector without a refinement). */
  readonly search: Float32Array;
}

/** One item as the write path made it: its stored row and the vectors of each space, of its photo and its others. */
export interface ItemVersion extends PhotoVersion {
  readonly item: StoredItem;
  /** Its other photos' vectors (photos 1, 2, ...), as `item.photos` lists their files. */
  readonly photos?: readonly PhotoVersion[];
}

/**
 * The composition root: every service of one catalog, built once and injected into each other here and
 * nowhere else. The CLI, the server and the benches open a catalog through `Services.open`; the embedded
 * adapters (SQLite store, in-memory exact/HNSW spaces) are chosen here, and a server-backed store and
 * vector index would be chosen here too.
 */
export class Services {
  // What is read from the catalog: composed at start, and composed anew at once by `reload` (after a background
  // index or training), so these are replaced together, never one by one.
  catalog!: CatalogService;
  refinement!: RefinementService;
  spaces!: Spaces;
  live!: LiveSpaces;
  /**
   * The spaces searched in SQL (config.sqlSearch on PostgreSQL), or null. With them, search and matching go to the
   * database, which holds every committed write, so they need no overlay of the writes applied since the snapshot; the
   * in-memory spaces stay for what reads vectors synchronously (an item's features, the duplicates scan).
   */
  sql: SqlSpaces | null = null;
  /** The spaces searched: in SQL (the database holds every committed write), or in memory with the writes applied since. */
  searchedSpaces(): SqlSpaces | LiveSpaces {
    return this.sql ?? this.live;
  }

  /** What the catalog's spaces are made of (the SQL indexes are built for it). */
  private shape!: SpaceShape;
  embedding!: EmbeddingService;
  search!: SearchService;
  match!: MatchService;
  duplicates!: DuplicatesService;
  pipeline!: QueryPipeline;
  /**
   * Background jobs (the duplicates scan; ingest, feeds, training): records in <data>/jobs.sqlite, opened on first use;
   * with a queue (config.queueUrl), ingest runs' records in Redis too (src/jobs/redisJobQueue.ts).
   */
  readonly jobs: JobQueue;
  /** The ingest workers' queue and run records, when configured (POST /api/imports enqueues there). */
  readonly queue: QueueHandles | null;
  /** Colour evidence of the items written since the snapshot. */
  private readonly addedColours = new Map<string, Float32Array>();
  /** Backbone vectors and colour evidence of every item's other photos (a change of labels refines them again). */
  private readonly otherPhotos = new Map<string, Features[]>();
  /** Colour evidence of every item (rows as items), when stored. */
  private colours: Float32Array | null = null;
  /** The store's change log where the catalog being served stands (`follow` applies later changes). */
  private cursor = 0;
  /** The refinement and model the catalog being served was read with (reloadKey). */
  private reloadKey = '';
  /**
   * Follow passes, reloads and this server's own writes (`exclusively`), one at a time: a page of changes read before
   * an own write committed must not be applied after it (it would put the older version back until the next pass).
   */
  private gate: Promise<unknown> = Promise.resolve();
  /** Keeps the catalog up to date with what other writers commit (a server starts it; a background job holds it). */
  readonly follower: FollowLoop;
  private labelService: Promise<LabelService> | null = null;
  private textIndex: TextSearch | null = null;
  private textEngine: Promise<TextEngine> | null = null;

  private constructor(
    readonly config: Config,
    readonly store: CatalogStore,
  ) {
    const local = new EmbeddedJobQueue({ file: join(config.dataDir, JOBS_FILE) });
    // A queue serves a PostgreSQL catalog only (startServer refuses --queue without --database; other commands ignore it).
    this.queue = config.queueUrl && config.databaseUrl ? openQueue(config) : null;
    this.jobs = this.queue ? new RedisJobQueue(this.queue.runs, local) : local;
    this.follower = new FollowLoop(this, config.followMs > 0 ? config.followMs : FOLLOW_EVERY_MS);
  }

  /** The query path's matrix products (the refinement's pass), one onnxruntime session for every catalog version read. */
  private readonly queryGemm = new SharedGemm(1);

  /**
   * Reads everything the services are made of as one snapshot: items, vectors, derived vectors, settings and the
   * version, so that a writer committing meanwhile (another process) cannot leave this catalog with rows of two versions.
   */
  private read(): Promise<CatalogRead> {
    const { config, store } = this;
    return store.snapshot(async (tx) => {
      const all = await tx.loadAll();
      const rowIds = all.items.map((it) => it.id);
      return {
        ...all,
        settings: await readCatalogSettings(tx),
        colours: await tx.loadFeatures('colour', rowIds),
        refinement: await loadCatalogRefinement(tx, config.dataDir, rowIds),
        generation: await tx.generation(),
        cursor: await tx.changeCursor(),
        reloadKey: await reloadKey(tx),
        photos: await tx.loadPhotos(),
      };
    });
  }

  /**
   * Makes every service from what `read` read, in one synchronous step: a request sees the catalog before or after,
   * never a mix.
   */
  private compose(read: CatalogRead, embedder: Embedder | undefined): void {
    const { config, store } = this;
    const { items, vectors, dims, colours, refinement, generation, cursor, photos, settings } = read;
    this.cursor = cursor;
    this.reloadKey = read.reloadKey;
    this.addedColours.clear();
    this.otherPhotos.clear();
    this.labelService = null;
    this.textEngine = null;
    this.textIndex = null;
    this.catalog = new CatalogService(items, settings, config.dataDir);
    const ids = this.catalog.ids();
    const metadata = items.map((it) => it.metadata);
    this.colours = colours;
    const model = refinement.model && refinement.vectors ? refinement.model : null;
    this.refinement = new RefinementService(model, refinement.note, this.queryGemm);
    const part = this.refinement.instancePart;
    this.shape = { backboneDims: dims, refinedDims: model?.dims ?? null, part: part ? { offset: part.offset, dims: part.dims } : null, otherPhotos: photos.length > 0 };
    // Searched in SQL, a refined catalog's refined vectors (and their same-product part) stay in the database: the
    // in-memory spaces of them start empty and hold only the items written since (what reads them by id reads SQL),
    // ~210 MiB less on the demo catalog (39,930 x 1331 floats). The backbone vectors stay: the duplicates scan and a
    // write's re-refinement read them here.
    const refinedInSql = model !== null && sqlSources(config, store, this.shape) !== null;
    const backbone = new EmbeddedSpace(ids, metadata, new ExactIndex(vectors, Math.max(dims, 1)));
    const search = !model ? backbone : refinedInSql ? new EmbeddedSpace([], [], new ExactIndex(new Float32Array(0), model.dims)) : new EmbeddedSpace(ids, metadata, new ExactIndex(refinement.vectors!, model.dims));
    // Its rows are the searched space's: none in memory when the refined vectors stay in SQL.
    const sameProduct = part ? new EmbeddedSpace(refinedInSql ? [] : ids, refinedInSql ? [] : metadata, new ExactIndex(sliceColumns(search.exact, part.offset, part.dims), part.dims)) : null;
    this.spaces = { search, sameProduct, backbone };
    const liveSearch = new LiveSpace(search);
    this.live = {
      search: liveSearch,
      sameProduct: sameProduct ? new LiveSpace(sameProduct) : null,
      backbone: backbone === search ? liveSearch : new LiveSpace(backbone),
    };
    this.addOtherPhotos(photos);
    this.sql = sqlSpaces(config, store, this.shape, this.wantsGraph(true) ? 'hnsw' : 'exact');
    if (!this.sql && this.wantsGraph()) this.useGraphs(false);
    const searched = this.sql ?? this.live;
    const identity = this.catalog.identity;
    this.embedding = new EmbeddingService(
      store,
      identity,
      { embedder: embedderOptions(config, identity), limits: { maxBytes: config.maxUploadBytes, maxPixels: config.maxPixels }, readings: sameProduct !== null, isolation: queryIsolation(config) },
      embedder,
    );
    this.search = new SearchService(this.catalog, { search: searched.search, sameProduct: searched.sameProduct, backbone: model ? searched.backbone : null }, { k: config.k, metric: config.metric, pinGap: part?.pinGap ?? null });
    this.match = new MatchService(this.search, { sameProduct: searched.sameProduct, backbone: searched.backbone }, part?.matchGap ?? null);
    // The scan is kept per catalog version: the generation of the store this snapshot was read from.
    this.duplicates = new DuplicatesService(this.catalog, { vectors: backbone.exact.vectors, dims: backbone.dims }, { generation, jobs: this.jobs });
    this.pipeline = new QueryPipeline(this, config);
  }

  /**
   * Reads the catalog again and swaps every service at once (one synchronous step: a request sees the old catalog
   * or the new one, never a mix): after a background index or training has committed a new refinement and saved its
   * graphs. The loaded model carries over; writes applied since the last snapshot are in the store, so in the new one.
   */
  reload(options: { readonly prepare?: boolean } = {}): Promise<void> {
    return this.exclusively(() => this.reloadNow(options));
  }

  private async reloadNow(options: { readonly prepare?: boolean }): Promise<void> {
    const previous = { duplicates: this.duplicates, embedder: this.embedding.loaded };
    this.compose(await this.read(), previous.embedder ?? undefined);
    // Graphs a writer saved are opened by compose; `prepare` also builds missing ones (minutes on a large catalog, on
    // this thread: only when the catalog is complete).
    if (options.prepare !== false) this.prepareIndex();
    await previous.duplicates.stop();
  }

  /**
   * Applies a page of what other writers (other servers on the same catalog, a `fashion index`, a background job's
   * child) committed since the snapshot or the last call, from the store's change log: items new or written again
   * (their vectors made in this catalog's spaces, as a write here makes them), metadata changed, photos changed, items
   * deleted. Searchable, listed and shown at once. Returns how many changes it applied. A new refinement or model in
   * the store cannot be followed item by item (every vector changes): with `reloadOnNewRefinement` the catalog is read
   * again instead; a log that no longer reaches back to this catalog's cursor (pruned) is read again too.
   *
   * This server's own writes come back through the log as well: applying an item's latest version again is harmless.
   */
  follow(options: { readonly limit?: number; readonly reloadOnNewRefinement?: boolean } = {}): Promise<number> {
    const limit = options.limit ?? FOLLOW_PAGE;
    return this.exclusively(async () => {
      const { key, page } = await this.store.snapshot(async (tx) => ({ key: await reloadKey(tx), page: await tx.changesAfter(this.cursor, limit) }));
      if (page.gap || (options.reloadOnNewRefinement !== false && key !== this.reloadKey)) {
        await this.reloadNow({});
        return 0;
      }
      // A change this catalog cannot take (a vector of another width) must not stop the ones after it: it is skipped,
      // the cursor moves on, and the caller hears of it.
      const failed: string[] = [];
      for (const change of page.changes) {
        try {
          this.applyChange(change);
        } catch (err) {
          failed.push(`${change.id}: ${(err as Error).message}`);
        }
      }
      this.cursor = page.cursor;
      if (failed.length > 0) throw new Error(`Expected to apply every change another writer committed but ${failed.length} failed (${failed.slice(0, 3).join('; ')})`);
      return page.changes.length;
    });
  }

  /**
   * For a write of this server's, inside `exclusively` and holding the writer lock: reads the catalog again when the
   * store's refinement or model is no longer the one served (another process trained since, and this server has not
   * followed yet), so that the write makes its vectors with the catalog's current refinement. Otherwise an item written
   * in that gap would keep a vector of the old model until the next training. Returns whether it read again.
   */
  async readAgainIfStale(writer: CatalogStore): Promise<boolean> {
    if ((await reloadKey(writer)) === this.reloadKey) return false;
    await this.reloadNow({});
    return true;
  }

  /**
   * Runs a write of this server's (src/app/catalogWriter.ts: its commit, then `applyWrite`) with no follow pass or
   * reload in between.
   */
  exclusively<T>(run: () => Promise<T>): Promise<T> {
    const out = this.gate.then(run);
    this.gate = out.catch(() => undefined);
    return out;
  }

  private applyChange(change: Change): void {
    if ('deleted' in change) {
      if (this.catalog.has(change.id)) this.applyWrite({ remove: change.id });
      return;
    }
    const { vector, colour, photoVectors, ...item } = change.item;
    const others = (photoVectors ?? []).map((p) => this.photoVersion({ vector: p.vector, colour: p.colour ?? new Float32Array(0) }, item.metadata));
    this.applyWrite({ put: { item, ...this.photoVersion({ vector, colour: colour ?? new Float32Array(0) }, item.metadata), photos: others } });
  }

  /** A stored photo's vectors in each space: refined with the item's labels when there is a refinement. */
  photoVersion(f: Features, metadata: Metadata): PhotoVersion {
    const model = this.refinement.model;
    return { backbone: f.vector, colour: f.colour, search: model && f.colour.length > 0 ? model.itemVector(f.vector, f.colour, metadata) : f.vector };
  }

  /** The snapshot's items' other photos, into every space (searched exactly beside the snapshot's rows). */
  private addOtherPhotos(photos: readonly PhotoVectors[]): void {
    const byItem = new Map<string, Features[]>();
    for (const p of photos) {
      const list = byItem.get(p.id) ?? [];
      list.push({ vector: p.vector, colour: p.colour ?? new Float32Array(0) });
      byItem.set(p.id, list);
    }
    const part = this.refinement.instancePart;
    const entries: Array<{ id: string; metadata: Metadata; versions: PhotoVersion[] }> = [];
    for (const [id, features] of byItem) {
      const item = this.catalog.find(id);
      if (!item) continue;
      this.otherPhotos.set(id, features);
      entries.push({ id, metadata: item.metadata, versions: features.map((f) => this.photoVersion(f, item.metadata)) });
    }
    if (entries.length === 0) return;
    const of = (pick: (v: PhotoVersion) => Float32Array) => entries.map((e) => ({ id: e.id, metadata: e.metadata, vectors: e.versions.map(pick) }));
    this.live.search.setSnapshotPhotos(of((v) => v.search));
    if (this.live.backbone !== this.live.search) this.live.backbone.setSnapshotPhotos(of((v) => v.backbone));
    if (this.live.sameProduct && part) this.live.sameProduct.setSnapshotPhotos(of((v) => v.search.slice(part.offset, part.offset + part.dims)));
  }

  /**
   * Opens the catalog in `config.dataDir` (the model loads on the first photo, or with `embedding.load()`), read-only:
   * the services only read the catalog; writers (src/app/indexFolder.ts, refineCatalog.ts) open their own store.
   */
  static async open(config: Config, options: { embedder?: Embedder } = {}): Promise<Services> {
    const svc = new Services(config, await openCatalogStore(config, { readonly: true }));
    try {
      svc.compose(await svc.read(), options.embedder);
    } catch (err) {
      await svc.store.close();
      throw err;
    }
    return svc;
  }

  /** Every item's effective labels (auto-categorised where the CSV has gaps), built on first use. */
  labels(): Promise<LabelService> {
    this.labelService ??= LabelService.build(this.catalog, this.search);
    return this.labelService;
  }

  /**
   * The words engine over this catalog, built on first use. With options, a separate engine, not kept
   * (evaluation's, whose name model must not learn from the queries' items).
   */
  text(options?: TextEngineOptions): Promise<TextEngine> {
    this.textIndex ??= this.store.textSearch?.() ?? FtsTextSearch.inMemory(this.catalog.items);
    const make = async () => new TextEngine(this.catalog.items, await this.labels(), this.search, this.textIndex!, { k: this.config.k, metric: this.config.metric }, options);
    if (options) return make();
    this.textEngine ??= make().then((engine) => {
      // Writes applied before the engine was made (it reads the snapshot); those after reach it through applyWrite.
      const { written, removed } = this.catalog.changesSinceSnapshot();
      for (const it of written) engine.put(it);
      for (const id of removed) engine.remove(id);
      return engine;
    });
    return this.textEngine;
  }

  /**
   * Applies a write that the store has committed (src/app/catalogWriter.ts) to the catalog being served: lookups,
   * listings and every vector space see the new version (or the deletion) at once, without a restart.
   */
  applyWrite(change: { readonly put: ItemVersion } | { readonly remove: string }): void {
    // The words engine, once made, takes each write in order (callbacks on one promise run in the order they were added).
    const words = this.textEngine;
    if ('remove' in change) {
      void words?.then((engine) => engine.remove(change.remove), () => undefined);
      this.catalog.remove(change.remove);
      for (const space of this.liveSpaces()) space.remove(change.remove);
      this.addedColours.delete(change.remove);
      this.otherPhotos.delete(change.remove);
      return;
    }
    const { item, backbone, colour, search } = change.put;
    const others = change.put.photos ?? [];
    void words?.then((engine) => engine.put(item), () => undefined);
    this.catalog.put(item);
    this.live.search.put(item.id, search, item.metadata, others.map((p) => p.search));
    if (this.live.backbone !== this.live.search) this.live.backbone.put(item.id, backbone, item.metadata, others.map((p) => p.backbone));
    const part = this.refinement.instancePart;
    const slice = (v: Float32Array) => v.slice(part!.offset, part!.offset + part!.dims);
    if (this.live.sameProduct && part) this.live.sameProduct.put(item.id, slice(search), item.metadata, others.map((p) => slice(p.search)));
    this.addedColours.set(item.id, colour);
    if (others.length > 0) this.otherPhotos.set(item.id, others.map((p) => ({ vector: p.backbone, colour: p.colour })));
    else this.otherPhotos.delete(item.id);
  }

  /** A catalog item's other photos' backbone vectors and colour evidence, as stored (none for most items). */
  otherPhotoFeatures(id: string): readonly Features[] {
    return this.otherPhotos.get(id) ?? [];
  }

  private liveSpaces(): LiveSpace[] {
    return [...new Set([this.live.search, this.live.backbone, ...(this.live.sameProduct ? [this.live.sameProduct] : [])])];
  }

  /** A catalog photo's backbone vector and colour evidence, as stored. */
  itemFeatures(id: string): Features {
    const added = this.addedColours.get(id);
    const addedVector = added ? this.live.backbone.vectorOf(id) : null;
    if (added && addedVector) return { vector: addedVector, colour: added };
    const row = this.catalog.rowOfId(id);
    const vector = this.spaces.backbone.vectorOf(id);
    if (row === undefined || !vector) throw new Error(`Expected item ${id} in the catalog`);
    const c = this.colours ? this.colours.length / Math.max(1, this.catalog.size) : 0;
    return { vector, colour: this.colours ? this.colours.subarray(row * c, (row + 1) * c) : new Float32Array(0) };
  }

  /**
   * Makes search ready at full speed: on catalogs of `annThreshold` items or more (or with index=hnsw), opens the saved
   * HNSW graphs or builds them in memory. With `save` (`fashion index` and `fashion train`, which hold the writer lock)
   * graphs that differ from their files are saved beside the catalog; without it (the server) nothing is written, and
   * later opens load what the writers saved.
   */
  prepareIndex(options: { save?: boolean } = {}): { kind: 'exact' | 'hnsw'; items: number } {
    // Searched in SQL: the database's indexes serve (prepareSqlIndexes builds them), not graphs in memory.
    if (this.sql) return { kind: this.sql.search.kind, items: this.catalog.size };
    if (this.wantsGraph() && this.spaces.search.kind !== 'hnsw') this.useGraphs(true);
    if (options.save && this.wantsGraph()) {
      this.spaces.search.saveGraph();
      this.spaces.sameProduct?.saveGraph();
    }
    return { kind: this.spaces.search.kind, items: this.catalog.size };
  }

  /**
   * Builds the HNSW indexes of the spaces searched in SQL, when the catalog is searched through a graph (annThreshold
   * items or more, or index=hnsw): writers call it after prepareIndex({ save: true }), where the embedded backend saves
   * its graphs. What it built: name, milliseconds, bytes.
   */
  async prepareSqlIndexes(): Promise<Array<{ name: string; built: boolean; ms: number; bytes: number }>> {
    if (!this.sql || !this.wantsGraph(true)) return [];
    return buildSqlIndexes(this.config, this.store, this.shape);
  }

  info(): CatalogInfo {
    const model = this.refinement.model;
    return {
      items: this.catalog.size,
      dims: this.live.search.dims,
      model: this.catalog.identity,
      imagesRoot: this.catalog.imagesRoot,
      dataDir: this.config.dataDir,
      metadataColumns: this.catalog.metadataColumns,
      index: (this.sql ?? this.spaces).search.kind,
      refinement: model ? { trainedAt: model.header.trainedAt, dims: model.dims, report: model.header.report } : null,
      ...(this.refinement.note ? { refinementNote: this.refinement.note } : {}),
    };
  }

  async close(): Promise<void> {
    await this.follower.stop();
    // A running duplicates scan holds a thread and the vectors: it ends with the catalog it scans.
    await this.duplicates.stop();
    // Jobs still running end as interrupted (their records say so); the file stays for the next start.
    await this.jobs.close();
    await this.queue?.queue.close();
    this.textIndex?.close?.();
    await this.store.close();
    await this.embedding.close();
    await this.queryGemm.close();
  }

  /**
   * Whether search goes through a graph: index=hnsw, or index=auto from annThreshold items up; in SQL from
   * SQL_ANN_THRESHOLD up if that is lower (an exact scan costs more there than in memory: src/app/sqlSpaces.ts).
   */
  private wantsGraph(inSql = false): boolean {
    return wantsGraph(this.config, this.catalog.size, inSql);
  }

  /** Opens (patching in memory) or builds the HNSW graphs of the searched space and its same-product space; see prepareIndex for saving. */
  private useGraphs(build: boolean): void {
    useCatalogGraphs(this.config, this.catalog.items, this.spaceId(), this.refinement.model !== null, this.spaces, build);
  }

  /** What the searched vectors are: a saved graph made for another space is rebuilt. */
  private spaceId(): string {
    const model = this.refinement.model;
    const identity = this.catalog.identity;
    return model ? refinedSpaceId(model) : `raw:${createHash('sha256').update(identity ? identityKey(identity) : '').digest('hex').slice(0, 16)}`;
  }
}

/** Services.wantsGraph for a catalog of `items` items. */
function wantsGraph(config: Config, items: number, inSql = false): boolean {
  const threshold = inSql ? Math.min(config.annThreshold, SQL_ANN_THRESHOLD) : config.annThreshold;
  return config.index === 'hnsw' || (config.index === 'auto' && items >= threshold);
}

/**
 * Opens (patching in memory) or builds the graphs of the searched space and its same-product space, under their files'
 * names beside the catalog, one after the other, each with usearch's own threads. (Built side by side, the second on a
 * worker thread, they were ~1 s slower on 2 cores: usearch's 2-thread add already keeps both busy; docs/bench.md.)
 */
function useCatalogGraphs(config: Config, items: readonly StoredItem[], space: string, refined: boolean, spaces: Pick<Spaces, 'search' | 'sameProduct'>, build: boolean): void {
  const keys = BigUint64Array.from(items.map(itemKey));
  const file = (name: string, id: string): GraphFile => ({ path: join(config.dataDir, name), space: id, keys, threads: config.threads });
  if (!spaces.search.useGraph(file(`ann-${refined ? 'refined' : 'raw'}.usearch`, space), build)) return;
  spaces.sameProduct?.useGraph(file('ann-same-product.usearch', `same-product:${space}`), true);
}

/** What training installed as the catalog's refinement: the items as it read them and every item's refined vector. */
export interface InstalledRefinement {
  readonly items: readonly StoredItem[];
  readonly model: RefineModel;
  /** items.length x model.dims, rows as items: the vectors committed as the catalog's refined features. */
  readonly vectors: Float32Array;
}

/**
 * Leaves search ready after training from what training holds, instead of reading the whole catalog again (~7 s on the
 * demo catalog): the graphs that Services.open + prepareIndex({ save: true }) would build and save, from the same
 * vectors (the refined vectors just committed, the keys of the items training read under the same writer lock), and
 * saved under the same names. On a PostgreSQL catalog it does nothing and returns null: the caller reads the catalog
 * (what it searches and how is decided there).
 */
export function saveGraphsOfTraining(config: Config, installed: InstalledRefinement): { kind: 'exact' | 'hnsw'; items: number } | null {
  if (config.databaseUrl) return null;
  const { items, model, vectors } = installed;
  if (!wantsGraph(config, items.length)) return { kind: 'exact', items: items.length };
  const ids = items.map((it) => it.id);
  const metadata = items.map((it) => it.metadata);
  const search = new EmbeddedSpace(ids, metadata, new ExactIndex(vectors, model.dims));
  const part = model.instancePart();
  const sameProduct = part ? new EmbeddedSpace(ids, metadata, new ExactIndex(sliceColumns(search.exact, part.offset, part.dims), part.dims)) : null;
  useCatalogGraphs(config, items, refinedSpaceId(model), true, { search, sameProduct }, true);
  search.saveGraph();
  sameProduct?.saveGraph();
  return { kind: search.kind, items: items.length };
}

/** The space id of a refinement's vectors (Services.spaceId). */
function refinedSpaceId(model: RefineModel): string {
  return `refined:${model.header.trainedAt}`;
}

/**
 * What the catalog's vectors are made with: its refinement generation (SETTING_REFINE_MODEL) and its model identity.
 * When either changes in the store (another process trained, or re-embedded), every vector changes: read, not followed.
 */
async function reloadKey(store: CatalogStore): Promise<string> {
  return JSON.stringify([await store.getSetting(SETTING_REFINE_MODEL), await store.getSetting(SETTING_IDENTITY)]);
}

/** A stable key for an item's vector: it changes when the photo or the labels (label-aware vectors) change. */
function itemKey(it: StoredItem): bigint {
  const h = createHash('sha256').update(`${it.id}|${it.size}|${it.mtimeMs}|${JSON.stringify(it.metadata)}`).digest();
  return h.readBigUInt64BE(0);
}

/** Columns [offset, offset + dims) of every row, packed. */
function sliceColumns(exact: ExactIndex, offset: number, dims: number): Float32Array {
  const d = exact.dims;
  const n = exact.size;
  const packed = new Float32Array(n * dims);
  for (let r = 0; r < n; r++) packed.set(exact.vectors.subarray(r * d + offset, r * d + offset + dims), r * dims);
  return packed;
}
