import { existsSync } from 'node:fs';
import { Command, Option } from 'commander';
import { ingestFolder, storedIdentity, type IngestReport } from '../catalog/ingest.js';
import { openCatalogStore, catalogFile } from '../catalog/openCatalog.js';
import { refreshRefinement, trainCatalog } from '../catalog/refineCatalog.js';
import type { TrainReport } from '../refine/train.js';
import { DEFAULT_AUGMENT, demoCatalog, backboneFor, embedderOptions, resolveConfig, type Config, type ConfigInput } from '../config.js';
import { DEFAULT_TRAIN } from '../refine/mlp.js';
import { describeIdentity, Embedder, type ModelIdentity } from '../embedding/embedder.js';
import { isUrl } from '../embedding/modelSource.js';
import { FashionError, isFashionError } from '../errors.js';
import { readImageFile } from '../imaging/decode.js';
import { fetchImage } from '../imaging/fetchImage.js';
import { evaluate, type EvalReport } from '../recommend/evaluate.js';
import { parseFilterArgs } from '../search/filters.js';
import { Recommender, type SearchResult } from '../recommend/recommender.js';
import { MATCH_THRESHOLD } from '../recommend/match.js';
import { NEAR_DUPLICATE_THRESHOLD, duplicatesCsv } from '../recommend/duplicates.js';
import { startServer } from '../server/start.js';
import { progressBar } from './progressBar.js';
import { describeTextQuery, shownLabel } from '../text/describe.js';
import { evaluateText, type TextEvalReport } from '../text/evalText.js';

const collect = (v: string, prev: string[]) => [...prev, v];

/** Below this many labelled items, search stays on the backbone vectors: too few examples to learn from. */
export const MIN_LABELLED_FOR_REFINEMENT = 200;

function withCommonOptions(cmd: Command): Command {
  return cmd
    .option('--data <dir>', 'folder where the catalog store lives (env FASHION_DATA)', undefined)
    .option('--config <file>', 'JSON config file (default ./fashion.config.json)')
    .option('--model <path|url>', 'ONNX ImageNet classifier (env FASHION_MODEL; default ../shared/models/mobilenetv2-12-int8.onnx)')
    .addOption(new Option('--pooling <kind>', 'global pooling of the feature map').choices(['max', 'avg']))
    .option('--cut-at <tensor>', 'feature map to pool instead of the one found automatically')
    .addOption(new Option('--preprocess <preset>', 'input normalisation').choices(['imagenet', 'caffe']))
    .option('--size <px>', 'model input side')
    .addOption(new Option('--fit <how>', 'how a photo fits the square input').choices(['pad', 'stretch', 'crop']))
    .addOption(new Option('--isolate <on|off>', 'isolate the product (backdrop to white, crop) before embedding (env FASHION_ISOLATE)').choices(['on', 'off']))
    .option('--threads <n>', 'onnxruntime intra-op threads')
    .option('--batch-size <n>', 'images per inference batch')
    .option('--cache <dir>', 'model cache folder (env FASHION_CACHE)')
    .option('--second-model <path|url|none>', 'a second ImageNet classifier whose features join the first model\'s (env FASHION_SECOND_MODEL; default with the default model: ../shared/models/squeezenet1.0-fp16.onnx; none: the first model alone)')
    .addOption(new Option('--second-preprocess <preset>', 'input normalisation of the second model (SqueezeNet 1.0: caffe, the default for the default second model)').choices(['imagenet', 'caffe']))
    .addOption(new Option('--mirror <on|off>', 'features of the photo and its mirror image, summed (env FASHION_MIRROR)').choices(['on', 'off']));
}

function configFrom(opts: Record<string, unknown>): Config {
  const input: ConfigInput = {
    dataDir: opts.data as string | undefined,
    config: opts.config as string | undefined,
    model: opts.model as string | undefined,
    pooling: opts.pooling as string | undefined,
    cutAt: opts.cutAt as string | undefined,
    preprocessPreset: opts.preprocess as string | undefined,
    size: opts.size as string | undefined,
    fit: opts.fit as string | undefined,
    isolate: opts.isolate as string | undefined,
    threads: opts.threads as string | undefined,
    batchSize: opts.batchSize as string | undefined,
    cacheDir: opts.cache as string | undefined,
    secondModel: opts.secondModel as string | undefined,
    secondPreprocess: opts.secondPreprocess as string | undefined,
    mirror: opts.mirror as string | undefined,
    metric: opts.metric as string | undefined,
    k: opts.k as string | undefined,
    port: opts.port as string | undefined,
    host: opts.host as string | undefined,
    augment: opts.augment as string | undefined,
  };
  return resolveConfig(input);
}

/** Opens the catalog named by the command's options, runs `use` and always closes it again. */
async function withRecommender<T>(opts: Record<string, unknown>, use: (rec: Recommender, config: Config) => Promise<T> | T): Promise<T> {
  const config = configFrom(opts);
  const rec = Recommender.open(config);
  try {
    return await use(rec, config);
  } finally {
    await rec.close();
  }
}

/** The embedder for new photos of a catalog: its second model and mirror follow the catalog where the flags leave them at their defaults. */
async function loadEmbedder(config: Config, stored: ModelIdentity | null): Promise<Embedder> {
  return Embedder.load({ ...embedderOptions(config), ...backboneFor(config, stored) });
}

export type IndexResult = IngestReport & { refinement?: { trained: TrainReport | null; updated: number; skipped?: string }; index?: { kind: 'exact' | 'hnsw'; items: number } };

/** Ingest, refine when the catalog has labels, and leave search ready (the HNSW graph built on large catalogs). */
export async function runIndex(config: Config, imagesDir: string, options: { metadata?: string; reembed?: boolean; quiet?: boolean; refine?: boolean }): Promise<IndexResult> {
  const report = await ingestAndRefine(config, imagesDir, options);
  const rec = Recommender.open(config);
  try {
    return { ...report, index: rec.prepareIndex() };
  } finally {
    await rec.close();
  }
}

async function ingestAndRefine(config: Config, imagesDir: string, options: { metadata?: string; reembed?: boolean; quiet?: boolean; refine?: boolean }): Promise<IndexResult> {
  const store = openCatalogStore(config.dataDir, { create: true });
  let embedder: Embedder;
  try {
    // --reembed starts the catalog over, so the configured backbone applies as given.
    embedder = await loadEmbedder(config, options.reembed ? null : storedIdentity(store));
  } catch (err) {
    store.close();
    throw err;
  }
  const bar = progressBar('indexing', !options.quiet);
  try {
    const report = await ingestFolder(store, embedder, {
      imagesDir,
      metadataCsv: options.metadata,
      batchSize: config.batchSize,
      reembed: options.reembed ?? false,
      limits: { maxBytes: config.maxUploadBytes, maxPixels: config.maxPixels },
      onProgress: (p) => {
        if (p.phase === 'embed') bar.update(p.done, p.total, p.failed);
      },
    });
    bar.stop();
    if (options.refine === false) return report;
    // The refined space is the default wherever the catalog has enough labels to learn it from.
    const labelled = store.loadAll().items.filter((it) => it.metadata.articleType).length;
    if (labelled < MIN_LABELLED_FOR_REFINEMENT) {
      return { ...report, refinement: { trained: null, updated: 0, skipped: `${labelled} labelled items; the refinement needs ${MIN_LABELLED_FOR_REFINEMENT}` } };
    }
    const log = (m: string) => {
      if (!options.quiet) console.error(`refinement: ${m}`);
    };
    const copiesBar = progressBar('training copies', !options.quiet);
    try {
      const augment = config.augment > 0 ? { augment: { share: config.augment, embedder }, onCopies: (d: number, t: number) => (d < t ? copiesBar.update(d, t) : copiesBar.stop()) } : {};
      return { ...report, refinement: await refreshRefinement(store, config.dataDir, { threads: config.threads, onProgress: log, ...augment }) };
    } finally {
      copiesBar.stop();
    }
  } finally {
    bar.stop();
    store.close();
    await embedder.close();
  }
}

function printIngest(report: IngestReport, json: boolean): void {
  if (json) {
    console.log(JSON.stringify(report));
    return;
  }
  const { scanned, added, updated, removed, unchanged, metadataUpdated, failed, warnings } = report;
  console.log(`scanned ${scanned} photos: ${added} added, ${updated} updated, ${removed} removed, ${unchanged} unchanged, ${metadataUpdated} metadata updates`);
  console.log(`embedded ${added + updated} in ${report.seconds.toFixed(1)} s (${report.imagesPerSecond.toFixed(1)} images/s)`);
  for (const f of failed.slice(0, 20)) console.error(`skipped ${f.path}: [${f.code}] ${f.message}`);
  if (failed.length > 20) console.error(`... and ${failed.length - 20} more failed photos`);
  for (const w of warnings.slice(0, 20)) console.error(`warning: ${w}`);
  if (warnings.length > 20) console.error(`... and ${warnings.length - 20} more warnings`);
}

async function readQueryImage(source: string, config: Config): Promise<Uint8Array> {
  return isUrl(source) ? fetchImage(source, { maxBytes: config.maxUploadBytes }) : readImageFile(source, { maxBytes: config.maxUploadBytes, maxPixels: config.maxPixels });
}

function printResults(res: SearchResult, json: boolean): void {
  if (json) {
    console.log(JSON.stringify(res));
    return;
  }
  const rows = res.hits.map((h, i) => ({
    rank: i + 1,
    id: h.id,
    score: h.score.toFixed(4),
    articleType: shownLabel(h, 'articleType'),
    baseColour: shownLabel(h, 'baseColour'),
    gender: shownLabel(h, 'gender'),
    name: (h.metadata.productDisplayName ?? '').slice(0, 50),
  }));
  if (rows.length === 0) console.log('no results (check the filters)');
  else console.table(rows);
  const t = res.timings;
  console.error(`${res.metric}, k=${res.k}; ${t.embedMs !== undefined ? `decode ${t.decodeMs!.toFixed(1)} ms, embed ${t.embedMs.toFixed(1)} ms, ` : ''}search ${t.searchMs.toFixed(1)} ms`);
}

function printEval(r: EvalReport, json: boolean): void {
  if (!json) {
    console.log(`${r.mode}, ${r.metric}, ${r.queries} queries (${r.skipped} skipped)`);
    console.table([
      {
        [`P@${r.k}`]: r.precisionAtK,
        [`strict P@${r.k}`]: r.strictPrecisionAtK,
        'mAP@10': r.mapAt10,
        ...(r.itemHitAt1 !== undefined ? { itemHitAt1: r.itemHitAt1, [`itemHitAt${r.k}`]: r.itemHitAtK } : {}),
      },
    ]);
  }
  const line: Record<string, unknown> = { k: r.k, queries: r.queries, precisionAtK: r.precisionAtK, strictPrecisionAtK: r.strictPrecisionAtK, mapAt10: r.mapAt10 };
  if (r.itemHitAt1 !== undefined) Object.assign(line, { itemHitAt1: r.itemHitAt1, itemHitAtK: r.itemHitAtK });
  if (json) console.log(JSON.stringify({ ...line, mode: r.mode, metric: r.metric, skipped: r.skipped }));
}

function printTextEval(r: TextEvalReport, json: boolean): void {
  const line = { mode: r.mode, k: r.k, queries: r.queries, precisionAtK: r.precisionAtK, strictPrecisionAtK: r.strictPrecisionAtK, ...(r.genderPrecisionAtK !== undefined ? { genderPrecisionAtK: r.genderPrecisionAtK } : {}), withoutFilters: r.withoutFilters, trainOnly: r.trainOnly, engine: r.engine, nameModelNames: r.nameModelNames, skipped: r.skipped };
  if (!json) {
    console.log(`text, ${r.engine}, ${r.queries} queries (${r.skipped} skipped, ${r.withoutFilters} without filters)${r.trainOnly ? ', results from the training split only' : ''}`);
    console.log(`name model learned from ${r.nameModelNames} names (training split, the queries' items left out)`);
    console.table([{ [`P@${r.k}`]: r.precisionAtK, [`strict P@${r.k}`]: r.strictPrecisionAtK, ...(r.genderPrecisionAtK !== undefined ? { [`gender P@${r.k}`]: r.genderPrecisionAtK } : {}) }]);
  }
  console.log(JSON.stringify(line));
}

export function buildCli(): Command {
  const program = new Command('fashion')
    .description('Visual fashion recommender: index a catalog of product photos, find the most similar products to any photo.')
    .showHelpAfterError();

  withCommonOptions(program.command('index'))
    .description('embed a folder of product photos into the catalog (incremental, resumable)')
    .argument('<images-dir>', 'folder of product photos (<id>.jpg ...)')
    .option('--metadata <csv>', 'product metadata CSV with an id column')
    .option('--reembed', 're-embed everything when the catalog was made with another model')
    .option('--augment <share>', 'when it trains the refinement: share of labelled items that also train as a re-photographed copy (env FASHION_AUGMENT)')
    .option('--json', 'print the report as JSON')
    .action(async (dir: string, opts) => {
      const config = configFrom(opts);
      const report = await runIndex(config, dir, { metadata: opts.metadata, reembed: opts.reembed, quiet: !!opts.json });
      printIngest(report, !!opts.json);
    });

  const searchOptions = (cmd: Command) =>
    withCommonOptions(cmd)
      .option('-k, --k <n>', 'number of results (default 5)')
      .addOption(new Option('--metric <metric>', 'distance').choices(['cosine', 'euclidean']))
      .option('--filter <field=value>', 'metadata filter, repeatable (e.g. gender=Women)', collect, [])
      .option('--json', 'print JSON');

  searchOptions(program.command('search'))
    .description('find the catalog products most similar to a photo (file or URL), or matching words (--text), or both')
    .argument('[image]', 'photo path or http(s) URL (optional with --text)')
    .option('--text <words>', 'words: alone ("red floral dress") or with the photo ("like this, but in blue")')
    .option('--drop-filter <field>', 'do not turn the words naming this field into a filter (e.g. baseColour), repeatable', collect, [])
    .action(async (image: string | undefined, opts) => {
      if (!image && opts.text === undefined) throw new FashionError('input/invalid', 'Expected a photo (path or URL) or --text "words" to search for but received neither');
      await withRecommender(opts, async (rec, config) => {
        const filters = parseFilterArgs(opts.filter);
        if (opts.text !== undefined) {
          const textOpts = { filters, dropFilters: opts.dropFilter as string[] };
          const res = image
            ? await rec.searchImageText(await readQueryImage(image, config), opts.text, textOpts, image)
            : rec.searchText(opts.text, textOpts);
          if (!opts.json) console.error(describeTextQuery(res.text));
          printResults(res, !!opts.json);
          return;
        }
        const bytes = await readQueryImage(image!, config);
        printResults(await rec.searchImage(bytes, { filters }, image), !!opts.json);
      });
    });

  searchOptions(program.command('similar'))
    .description('more like this: the products most similar to a catalog item')
    .argument('<id>', 'catalog item id')
    .action(async (id: string, opts) =>
      withRecommender(opts, async (rec) => {
        printResults(rec.similar(id, { filters: parseFilterArgs(opts.filter) }), !!opts.json);
      }),
    );

  withCommonOptions(program.command('match'))
    .description('second-hand matching: the catalog product a photo shows, with a confidence, or "no confident match"')
    .argument('<image>', 'photo path or http(s) URL')
    .option('--threshold <margin>', `confidence needed for a match (default: the one training chose on validation copies, or ${MATCH_THRESHOLD} on backbone vectors)`)
    .option('--candidates <n>', 'candidates to list', '3')
    .option('--json', 'print JSON')
    .action(async (image: string, opts) =>
      withRecommender(opts, async (rec, config) => {
        const threshold = opts.threshold === undefined ? undefined : Number(opts.threshold);
        const m = await rec.matchImage(await readQueryImage(image, config), { ...(threshold !== undefined ? { threshold } : {}), candidates: Number(opts.candidates) }, image);
        if (opts.json) {
          console.log(JSON.stringify(m));
          return;
        }
        if (m.match) console.log(`match: item ${m.match.id} (${m.match.metadata.productDisplayName ?? ''}), confidence ${m.confidence.toFixed(4)} >= ${m.threshold}, similarity ${m.similarity.toFixed(4)} (${m.space} space)`);
        else console.log(`no confident match (confidence ${m.confidence.toFixed(4)} < ${m.threshold}, or similarity ${m.similarity.toFixed(4)} too low; ${m.space} space); closest candidates:`);
        console.table(m.candidates.map((h, i) => ({ rank: i + 1, id: h.id, similarity: h.score.toFixed(4), articleType: h.metadata.articleType ?? '', name: (h.metadata.productDisplayName ?? '').slice(0, 45) })));
      }),
    );

  withCommonOptions(program.command('duplicates'))
    .description('exact duplicates (same decoded pixels) and near-duplicate groups (backbone similarity)')
    .option('--threshold <cosine>', `near-duplicate similarity (default ${NEAR_DUPLICATE_THRESHOLD}, chosen by measurement)`)
    .option('--exact-only', 'only exact duplicates (fast)')
    .addOption(new Option('--format <format>', 'output').choices(['table', 'json', 'csv']).default('table'))
    .action(async (opts) =>
      withRecommender(opts, async (rec) => {
        const threshold = opts.threshold === undefined ? undefined : Number(opts.threshold);
        const d = rec.duplicates({ ...(threshold !== undefined ? { threshold } : {}), near: !opts.exactOnly });
        const name = (id: string) => rec.item(id).metadata.productDisplayName ?? '';
        if (opts.format === 'json') console.log(JSON.stringify(d));
        else if (opts.format === 'csv') process.stdout.write(duplicatesCsv(d, name));
        else {
          console.log(`${d.exact.length} exact duplicate groups, ${d.near.length} near-duplicate groups (similarity >= ${d.threshold})`);
          for (const g of [...d.exact, ...d.near].slice(0, 50)) console.log(`${g.kind.padEnd(5)} ${g.similarity.toFixed(4)}  ${g.ids.join(' ')}  ${name(g.ids[0]!).slice(0, 50)}`);
          if (d.exact.length + d.near.length > 50) console.log(`... ${d.exact.length + d.near.length - 50} more groups (use --format csv or json)`);
        }
      }),
    );

  withCommonOptions(program.command('outfit'))
    .description('complete the look: one pick from each complementary group for a catalog item or a photo')
    .argument('<id|image>', 'catalog item id, or a photo path or http(s) URL')
    .option('--json', 'print JSON')
    .action(async (source: string, opts) =>
      withRecommender(opts, async (rec, config) => {
        const res = rec.hasItem(source) ? rec.outfit(source) : await rec.outfitImage(await readQueryImage(source, config), source);
        if (opts.json) {
          console.log(JSON.stringify(res));
          return;
        }
        const q = res.query.labels;
        console.log(`${res.query.id ? `item ${res.query.id}` : source}: ${[q.articleType, q.baseColour, q.gender, q.usage, q.season].filter(Boolean).join(', ')}${res.query.predicted ? ' (predicted from the photo)' : ''}`);
        if (res.message) console.log(res.message);
        if (res.picks.length > 0) console.table(res.picks.map((p) => ({ group: p.group, id: p.id, articleType: p.metadata.articleType ?? '', baseColour: p.metadata.baseColour ?? '', name: (p.metadata.productDisplayName ?? '').slice(0, 40), reason: p.reason })));
        if (res.unfilled.length > 0 && res.picks.length > 0) console.log(`nothing fits for: ${res.unfilled.join(', ')}`);
      }),
    );

  withCommonOptions(program.command('serve'))
    .description('start the HTTP API and web page')
    .option('--port <n>', 'port (env PORT, default 8080)')
    .option('--host <host>', 'address to listen on (default 127.0.0.1)')
    .action(async (opts) => {
      const config = configFrom(opts);
      await startServer(config);
    });

  withCommonOptions(program.command('demo'))
    .description('index the shared demo catalog if needed, then serve the web page over it')
    .option('--port <n>', 'port (env PORT, default 8080)')
    .option('--host <host>', 'address to listen on (default 127.0.0.1)')
    .action(async (opts) => {
      const config = configFrom(opts);
      const demo = demoCatalog();
      if (!demo) throw new FashionError('input/not-found', 'Expected the shared demo catalog in ../shared/datasets/fashion-product-images-small (or FASHION_SHARED) but it is not there');
      const fresh = !existsSync(catalogFile(config.dataDir));
      console.error(fresh ? `indexing the demo catalog into ${config.dataDir} (first run only)...` : `checking the demo catalog in ${config.dataDir} for changes...`);
      printIngest(await runIndex(config, demo.images, { metadata: demo.metadata }), false);
      await startServer(config);
    });

  withCommonOptions(program.command('eval'))
    .description('relevance: P@k, strict P@k (articleType + baseColour) and mAP@10')
    .option('-k, --k <n>', 'cut-off (default 5)')
    .addOption(new Option('--metric <metric>', 'distance').choices(['cosine', 'euclidean']))
    .option('--limit <n>', 'leave-one-out: evaluate this many sampled items (0 = all)', '2000')
    .option('--seed <n>', 'sampling seed', '1')
    .option('--queries <dir>', 'folder of query photos (instead of leave-one-out)')
    .option('--query-metadata <csv>', 'labels of the query photos')
    .option('--text-queries <csv>', 'text relevance instead: rows of query,articleType,baseColour[,gender]')
    .option('--train-only', 'with --text-queries: leave the held-back split out of the results')
    .option('--json', 'print one JSON line last')
    .action(async (opts) => {
      const config = configFrom(opts);
      const rec = Recommender.open(config);
      const bar = progressBar('evaluating', !opts.json);
      try {
        if (opts.textQueries) {
          const report = await evaluateText(rec, opts.textQueries, { k: config.k, trainOnly: !!opts.trainOnly, onProgress: (d, t) => bar.update(d, t) });
          bar.stop();
          printTextEval(report, !!opts.json);
          return;
        }
        const report = await evaluate(rec, {
          k: config.k,
          metric: config.metric,
          limit: Number(opts.limit),
          seed: Number(opts.seed),
          queriesDir: opts.queries,
          queryMetadata: opts.queryMetadata,
          onProgress: (d, t) => bar.update(d, t),
        });
        bar.stop();
        if (!opts.queries && rec.info().refinement) {
          console.error('note: the refinement was trained on these items, so leave-one-out figures are optimistic; for photos outside the catalog see docs/relevance.md (npm run bench:relevance)');
        }
        printEval(report, !!opts.json);
      } finally {
        bar.stop();
        await rec.close();
      }
    });

  withCommonOptions(program.command('train'))
    .description('learn the refinement (projection + colour fusion) from the catalog labels; search uses it by default')
    .option('--epochs <n>', 'training epochs', String(DEFAULT_TRAIN.epochs))
    .option('--seed <n>', 'random seed', String(DEFAULT_TRAIN.seed))
    .option('--augment <share>', `share of labelled items that also train as a re-photographed copy (env FASHION_AUGMENT, default ${DEFAULT_AUGMENT})`)
    .option('--json', 'print the report as JSON')
    .action(async (opts) => {
      const config = configFrom(opts);
      const store = openCatalogStore(config.dataDir);
      // Training copies are embedded as the catalog's photos were.
      const embedder = config.augment > 0 ? await Embedder.load(embedderOptions(config, storedIdentity(store))).catch((err) => {
        store.close();
        throw err;
      }) : null;
      const copiesBar = progressBar('training copies', !opts.json);
      try {
        const report = await trainCatalog(store, config.dataDir, {
          epochs: Number(opts.epochs),
          seed: Number(opts.seed),
          threads: config.threads,
          ...(embedder ? { augment: { share: config.augment, embedder }, onCopies: (d: number, t: number) => (d < t ? copiesBar.update(d, t) : copiesBar.stop()) } : {}),
          onProgress: (m) => {
            if (!opts.json) console.error(m);
          },
        });
        const onCopies = report.copies.validation > 0 ? `; on ${report.copies.validation} re-photographed validation copies ${JSON.stringify(report.copies.validationAccuracy)}` : '';
        const instance = report.instance
          ? `; same-product part learned from ${report.instance.pairs} photo/copy pairs, search weight ${report.instance.weight}, pin gap ${report.instance.pinGap}, match gap ${report.instance.matchGap}`
          : '';
        console.log(opts.json ? JSON.stringify(report) : `trained in ${report.trainSeconds} s on ${report.fitItems} items and ${report.copies.fit} copies; validation (${report.validationItems} items): P@5 ${report.validation.precisionAt5}, strict P@5 ${report.validation.strictPrecisionAt5}, accuracy ${JSON.stringify(report.validationAccuracy)}${onCopies}${instance}`);
      } finally {
        copiesBar.stop();
        store.close();
        await embedder?.close();
      }
    });

  withCommonOptions(program.command('categorize'))
    .description('predict articleType, baseColour and gender of a photo (file or URL), with confidences')
    .argument('<image>', 'photo path or http(s) URL')
    .option('--json', 'print JSON')
    .action(async (image: string, opts) =>
      withRecommender(opts, async (rec, config) => {
        const bytes = await readQueryImage(image, config);
        const prediction = await rec.categorizeImage(bytes, image);
        if (opts.json) console.log(JSON.stringify(prediction));
        else for (const [field, p] of Object.entries(prediction)) console.log(`${field.padEnd(12)} ${p.value} (${(p.confidence * 100).toFixed(0)}%)`);
      }),
    );

  withCommonOptions(program.command('info'))
    .description('catalog size, model and dimensions')
    .option('--json', 'print JSON')
    .action(async (opts) =>
      withRecommender(opts, async (rec) => {
        const info = rec.info();
        if (opts.json) console.log(JSON.stringify(info));
        else {
          console.log(`catalog: ${info.dataDir}`);
          console.log(`items:   ${info.items}`);
          console.log(`dims:    ${info.dims}`);
          console.log(`model:   ${info.model ? describeIdentity(info.model) : 'none yet'}`);
          console.log(`photos:  ${info.imagesRoot ?? 'none yet'}`);
          console.log(`columns: ${info.metadataColumns.join(', ') || 'none'}`);
        }
      }),
    );

  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildCli().parseAsync(argv);
  } catch (err) {
    if (isFashionError(err)) {
      console.error(`error [${err.code}]: ${err.message}`);
      process.exitCode = err.exitCode;
      return;
    }
    console.error(err);
    process.exitCode = 1;
  }
}

