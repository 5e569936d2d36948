import { existsSync } from 'node:fs';
import { Command, Option } from 'commander';
import { searchView, matchView, outfitView, duplicatesView } from '../api/views.js';
import { evaluate, type EvalReport } from '../app/evaluate.js';
import { evaluateText, type TextEvalReport } from '../app/evaluateText.js';
import { indexFeed, type IndexFeedResult } from '../app/indexFeed.js';
import { indexFolder, type IndexEvent, type IndexResult } from '../app/indexFolder.js';
import { photoArg } from '../app/queryPipeline.js';
import { trainCatalogFolder } from '../app/refineCatalog.js';
import { Services } from '../app/services.js';
import { MAX_UNPRUNED_SHARE, type IngestReport } from '../catalog/ingest.js';
import { catalogFile, openCatalogStore } from '../catalog/openCatalog.js';
import { DEFAULT_AUGMENT, demoCatalog, resolveConfig, type Config, type ConfigInput } from '../config.js';
import { describeIdentity } from '../embedding/embedder.js';
import { FashionError, isFashionError } from '../errors.js';
import { parseMappings } from '../feeds/readFeed.js';
import type { Query } from '../query/query.js';
import { DEFAULT_TRAIN } from '../refine/mlp.js';
import { duplicatesCsv, NEAR_DUPLICATE_THRESHOLD } from '../search/duplicates.js';
import { parseFilterArgs } from '../search/filters.js';
import { MATCH_THRESHOLD } from '../search/match.js';
import type { SearchResult } from '../search/types.js';
import { startServer } from '../server/start.js';
import { createApiKey, listApiKeys, revokeApiKey } from '../app/apiKeyAdmin.js';
import { indexInBackground } from '../app/backgroundIndex.js';
import { migrateCatalog, type MigrateEvent, type MigrateReport } from '../app/migrateCatalog.js';
import { nearThreshold } from '../services/duplicates.js';
import { describeTextQuery, shownLabel } from '../text/describe.js';
import type { TextSearchResult } from '../text/textQuery.js';
import { intFlag, numberFlag } from './flags.js';
import { progressBar } from './progressBar.js';
import { jobView } from '../api/views.js';
import type { Job } from '../jobs/jobQueue.js';
import { startIngestWorker, type WorkerEvent } from '../app/ingestWorker.js';
import { openQueue, type QueueHandles } from '../app/queueHandles.js';
import { enqueueFeed, enqueueFolder, followRun, retryRun } from '../app/queueIngest.js';

const collect = (v: string, prev: string[]) => [...prev, v];

function withCommonOptions(cmd: Command): Command {
  return cmd
    .option('--data <dir>', 'folder where the catalog store lives (env FASHION_DATA)', undefined)
    .option('--database <url>', 'keep the catalog in PostgreSQL (postgres://…, env FASHION_DATABASE_URL) instead of the SQLite file in --data')
    .option('--read-database <url>', 'a streaming replica for reads (env FASHION_READ_DATABASE_URL)')
    .option('--database-schema <name>', 'the PostgreSQL schema of the catalog (env FASHION_DATABASE_SCHEMA, default fashion)')
    .option('--queue <url>', 'the ingest workers\' job queue (redis://…, env FASHION_QUEUE_URL; needs --database): index and POST /api/imports enqueue there, `fashion worker` takes from it')
    .option('--config <file>', 'JSON config file (default ./fashion.config.json)')
    .option('--model <path|url>', 'ONNX ImageNet classifier (env FASHION_MODEL; default ../shared/models/mobilenetv2-12-int8.onnx)')
    .addOption(new Option('--pooling <kind>', 'global pooling of the feature map (gem: generalised mean, p = 3)').choices(['max', 'avg', 'gem']))
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
    .option('--second-size <px>', 'input side of the second model (env FASHION_SECOND_SIZE; default: --size); the composed graph resizes the photo\'s square for it')
    .addOption(new Option('--second-precision <kind>', 'arithmetic of the second model (env FASHION_SECOND_PRECISION; default float): int8 runs it quantized with the committed calibration').choices(['float', 'int8']))
    .addOption(new Option('--mirror <on|off>', 'features of the photo and its mirror image, summed (env FASHION_MIRROR)').choices(['on', 'off']));
}

function configFrom(opts: Record<string, unknown>): Config {
  const input: ConfigInput = {
    dataDir: opts.data as string | undefined,
    databaseUrl: opts.database as string | undefined,
    readDatabaseUrl: opts.readDatabase as string | undefined,
    databaseSchema: opts.databaseSchema as string | undefined,
    queueUrl: opts.queue as string | undefined,
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
    secondSize: opts.secondSize as string | undefined,
    secondPrecision: opts.secondPrecision as string | undefined,
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
async function withServices<T>(opts: Record<string, unknown>, use: (svc: Services, config: Config) => Promise<T> | T): Promise<T> {
  const config = configFrom(opts);
  const svc = await Services.open(config);
  try {
    return await use(svc, config);
  } finally {
    await svc.close();
  }
}

/** `fashion index` with progress bars drawn from the use case's events. */
async function runIndex(config: Config, imagesDir: string, options: { metadata?: string; reembed?: boolean; prune?: boolean; quiet?: boolean; refine?: boolean }): Promise<IndexResult> {
  return withIndexBars(!!options.quiet, (onEvent) =>
    indexFolder(config, imagesDir, { metadata: options.metadata, reembed: options.reembed, prune: options.prune, ...(options.refine !== undefined ? { refine: options.refine } : {}), onEvent }),
  );
}

/**
 * `fashion index --queue`: the run's products are queued for the workers; its id is printed at once, and the run is
 * followed with the same bars to its end (unless --no-wait).
 */
async function runQueued(config: Config, dir: string | undefined, opts: Record<string, unknown>): Promise<void> {
  if (opts.reembed) throw new FashionError('input/invalid', 'Expected --reembed without --queue: re-embedding a catalog with another model starts it over, which `fashion index --database …` does in one process');
  if (opts.feed !== undefined && dir !== undefined) throw new FashionError('input/invalid', `Expected a folder of photos or --feed, not both, but received ${dir} and --feed ${String(opts.feed)}`);
  if (opts.feed === undefined && dir === undefined && opts.retry === undefined) throw new FashionError('input/invalid', 'Expected a folder of product photos or a product feed (--feed FILE) to queue but received neither');
  const handles = openQueue(config);
  const json = !!opts.json;
  try {
    if (opts.retry !== undefined) {
      if (dir !== undefined || opts.feed !== undefined) throw new FashionError('input/invalid', 'Expected --retry RUN alone: it finishes a run that was queued already, with nothing new to queue');
      const run = await retryRun(handles, String(opts.retry));
      if (!json) console.error(`run ${run.id}: its finishing step queued again for the workers`);
      await followQueued(handles, run, opts);
      return;
    }
    const announce = (id: string) => {
      if (!json) console.error(`run ${id}: queueing products for the workers (fashion worker --queue …); GET /api/jobs/${id} follows it`);
    };
    const run =
      opts.feed !== undefined
        ? await enqueueFeed(config, handles, String(opts.feed), { map: parseMappings(opts.map as string[]), prune: !!opts.prune, onRun: announce })
        : await enqueueFolder(config, handles, dir!, { metadata: opts.metadata as string | undefined, prune: !!opts.prune, onRun: announce });
    if (!json && opts.wait !== false) console.error(`run ${run.id}: ${run.progress.total} products queued`);
    await followQueued(handles, run, opts);
  } finally {
    await handles.close();
  }
}

/** Prints a queued run's id (--no-wait), or follows it to its end with the bars and prints its report. */
async function followQueued(handles: QueueHandles, run: Job, opts: Record<string, unknown>): Promise<void> {
  const json = !!opts.json;
  if (opts.wait === false) {
    console.log(json ? JSON.stringify(jobView(run)) : run.id);
    return;
  }
  const done = await withIndexBars(json, (onEvent) => followRun(handles.runs, run.id, onEvent));
  if (json) console.log(JSON.stringify(jobView(done)));
  else {
    const products = ((done.result as { products?: Record<string, number> } | null)?.products ?? {}) as Record<string, number>;
    console.log(`run ${done.id} ${done.status}: ${done.progress.total} products: ${products.added ?? 0} added, ${products.updated ?? 0} updated, ${products.unchanged ?? 0} unchanged, ${products.metadata ?? 0} metadata updates, ${products.failed ?? 0} failed`);
    for (const e of done.errors.first) console.error(`skipped ${e.item ?? ''}: ${e.message}`);
    if (done.errors.count > done.errors.first.length) console.error(`... and ${done.errors.count - done.errors.first.length} more (GET /api/jobs/${done.id})`);
  }
  if (done.status !== 'succeeded') throw new FashionError(done.failure?.code === 'job/cancelled' ? 'input/invalid' : 'server/error', `The ingest run ${done.id} ${done.status}: ${done.failure?.message ?? ''}`);
}

/** Runs an index use case with its bars (rows or photos, training copies) and refinement messages; the bars always stop. */
async function withIndexBars<R>(quiet: boolean, run: (onEvent: (e: IndexEvent) => void) => Promise<R>): Promise<R> {
  const embedBar = progressBar('indexing', !quiet);
  const copiesBar = progressBar('training copies', !quiet);
  const onEvent = (e: IndexEvent) => {
    if (e.kind === 'embed' && e.progress.phase === 'embed') embedBar.update(e.progress.done, e.progress.total, e.progress.failed);
    else if (e.kind === 'embed' && e.progress.phase === 'done') embedBar.stop();
    else if (e.kind === 'copies') e.done < e.total ? copiesBar.update(e.done, e.total) : copiesBar.stop();
    else if (e.kind === 'refinement' && !quiet) console.error(`refinement: ${e.message}`);
  };
  try {
    return await run(onEvent);
  } finally {
    embedBar.stop();
    copiesBar.stop();
  }
}

/** `fashion migrate` with a bar per stage, drawn from the use case's events; the bars always stop. */
async function withMigrateBars<R>(quiet: boolean, run: (onEvent: (e: MigrateEvent) => void) => Promise<R>): Promise<R> {
  const bars = { files: progressBar('files', !quiet), items: progressBar('items', !quiet), changes: progressBar('changes', !quiet), features: progressBar('derived vectors', !quiet) };
  const onEvent = (e: MigrateEvent) => {
    if (e.kind === 'search') {
      for (const bar of Object.values(bars)) bar.stop();
      if (!quiet) console.error(e.message);
    } else if (e.kind === 'changes') bars.changes.update(e.done, e.done);
    else bars[e.kind].update(e.done, e.total);
  };
  try {
    return await run(onEvent);
  } finally {
    for (const bar of Object.values(bars)) bar.stop();
  }
}

function printMigrate(r: MigrateReport, json: boolean): void {
  if (json) {
    console.log(JSON.stringify(r));
    return;
  }
  const where = `PostgreSQL schema ${r.schema}`;
  if (r.upToDate) {
    console.log(`${where} is up to date with ${r.from} (${r.items.total} items): nothing copied`);
    return;
  }
  const features = Object.entries(r.features).map(([k, n]) => `${n} ${k}`).join(', ');
  console.log(`${r.replaced ? 'replaced the catalog in ' : ''}${where}${r.resumed ? ' (resumed)' : ''}: ${r.items.copied} items copied, ${r.items.removed} removed (${r.items.total} in ${r.from}); ${r.photos} other photos; derived vectors: ${features || 'none'}; ${r.settings} settings; files: ${r.files.models} refinement models, ${r.files.keptPhotos} kept photos; ${r.seconds.toFixed(1)} s`);
  if (r.search) console.log(`search: ${r.search.kind} over ${r.search.items} items`);
}

/** `fashion index --feed`: the report as JSON, or a summary with the rows that were skipped and why. */
function printFeed(report: IndexFeedResult, json: boolean): void {
  if (json) {
    console.log(JSON.stringify(report));
    return;
  }
  const { scanned, added, updated, removed, unchanged, metadataUpdated, failed, problems, downloads: d } = report;
  const size = d.bytes < 2 ** 20 ? `${(d.bytes / 2 ** 10).toFixed(0)} KiB` : `${(d.bytes / 2 ** 20).toFixed(1)} MiB`;
  console.log(`read ${scanned} products${problems.length > 0 ? ` (${problems.length} malformed ${problems.length === 1 ? 'row' : 'rows'} skipped)` : ''}: ${added} added, ${updated} updated, ${removed} removed, ${unchanged} unchanged, ${metadataUpdated} metadata updates, ${failed.length} failed`);
  console.log(`photos: ${d.fetched} downloaded (${size}), ${d.notModified} not modified, ${d.failed} failed, ${d.retries} retries; ${scanned} rows in ${report.seconds.toFixed(1)} s (${report.rowsPerSecond.toFixed(1)} rows/s)`);
  const o = report.otherPhotos;
  if (o.products + o.unchanged > 0) console.log(`other photos (additional_image_link): ${o.embedded} embedded for ${o.products} products, ${o.unchanged} products unchanged`);
  for (const f of failed.slice(0, 20)) console.error(`skipped line ${f.line} (${f.id}, ${f.url}): [${f.code}] ${f.message}`);
  if (failed.length > 20) console.error(`... and ${failed.length - 20} more failed photos (retried on the next run)`);
  const warnings = report.warnings;
  for (const w of warnings.slice(0, 20)) console.error(`warning: ${w}`);
  if (warnings.length > 20) console.error(`... and ${warnings.length - 20} more warnings`);
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

/** Prints a search's results: a table, or with --json the API's response body (src/api/views.ts), the same schema. */
async function printResults(query: Query, res: SearchResult | TextSearchResult, json: boolean): Promise<void> {
  if (json) {
    console.log(JSON.stringify(await searchView(query, res)));
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
  const line = { mode: r.mode, k: r.k, queries: r.queries, precisionAtK: r.precisionAtK, strictPrecisionAtK: r.strictPrecisionAtK, ...(r.genderPrecisionAtK !== undefined ? { genderPrecisionAtK: r.genderPrecisionAtK } : {}), withoutFilters: r.withoutFilters, corrected: r.corrected, latencyMs: r.latencyMs, trainOnly: r.trainOnly, engine: r.engine, nameModelNames: r.nameModelNames, skipped: r.skipped };
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
    .description('embed a folder of product photos, or a product feed, into the catalog (incremental, resumable)')
    .argument('[images-dir]', 'folder of product photos (<id>.jpg ...); or --feed')
    .option('--metadata <csv>', 'product metadata CSV with an id column')
    .option('--feed <file>', 'a product feed instead of a folder: CSV, TSV or JSON Lines with id, image_link (or image_url, image), additional_image_link, availability and any other columns; photos downloaded from any host')
    .option('--map <target=source>', 'with --feed: the feed column <source> becomes the field <target>, repeatable (e.g. articleType=product_type)', collect, [])
    .option('--concurrency <n>', 'with --feed: photos downloaded at once (default 8)')
    .option('--reembed', 're-embed everything when the catalog was made with another model')
    .option('--prune', `delete the items whose photos are gone (or that left the feed) even when they are more than ${MAX_UNPRUNED_SHARE * 100}% of the catalog (refused without it)`)
    .option('--augment <share>', 'when it trains the refinement: share of labelled items that also train as a re-photographed copy (env FASHION_AUGMENT)')
    .option('--json', 'print the report as JSON')
    .option('--no-wait', 'with --queue: print the run\'s id and return once its products are queued, instead of following it to the end')
    .option('--retry <run>', 'with --queue: finish again a run whose products all finished but whose finishing step failed (refinement, search indexes), and follow it; nothing is queued or embedded again')
    .action(async (dir: string | undefined, opts) => {
      const config = configFrom(opts);
      if (config.queueUrl) {
        await runQueued(config, dir, opts);
        return;
      }
      if (opts.retry !== undefined) throw new FashionError('input/invalid', 'Expected --queue redis://… with --retry: it finishes a run of the ingest workers');
      // Refusals (an empty or unmounted folder, a feed without a valid row or whose every photo failed, too many
      // deletions, another writer) are FashionErrors: main() maps them to exit codes.
      if (opts.feed !== undefined) {
        if (dir !== undefined) throw new FashionError('input/invalid', `Expected a folder of photos or --feed, not both, but received ${dir} and --feed ${opts.feed}`);
        if (opts.metadata !== undefined) throw new FashionError('input/invalid', 'Expected the feed to carry the products\' fields, but --metadata was given too; map its columns with --map');
        const map = parseMappings(opts.map as string[]);
        const concurrency = intFlag('--concurrency', opts.concurrency, { min: 1, max: 256 });
        const report = await withIndexBars(!!opts.json, (onEvent) => indexFeed(config, opts.feed, { map, reembed: opts.reembed, prune: !!opts.prune, download: { concurrency }, onEvent }));
        printFeed(report, !!opts.json);
        return;
      }
      if (dir === undefined) throw new FashionError('input/invalid', 'Expected a folder of product photos (fashion index <images-dir>) or a product feed (--feed FILE) but received neither');
      if ((opts.map as string[]).length > 0 || opts.concurrency !== undefined) throw new FashionError('input/invalid', 'Expected --map and --concurrency with --feed only');
      const report = await runIndex(config, dir, { metadata: opts.metadata, reembed: opts.reembed, prune: !!opts.prune, quiet: !!opts.json });
      printIngest(report, !!opts.json);
    });

  withCommonOptions(program.command('migrate'))
    .description('copy an embedded catalog (the SQLite store in --from) into PostgreSQL (--database): items, metadata, vectors, other photos, the refinement and API keys, nothing embedded again; resumable, and a second run copies only what changed')
    .requiredOption('--from <dir>', 'the embedded catalog\'s folder (its --data); only read')
    .option('--replace', 'drop what the PostgreSQL schema holds when it is another catalog (refused without it)')
    .option('--no-search-index', 'do not build the search index afterwards (the first server or `fashion index` does)')
    .option('--json', 'print the report as JSON')
    .action(async (opts) => {
      const config = configFrom(opts);
      const report = await withMigrateBars(!!opts.json, (onEvent) => migrateCatalog(config, opts.from, { replace: !!opts.replace, prepareSearch: opts.searchIndex !== false, onEvent }));
      printMigrate(report, !!opts.json);
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
      await withServices(opts, async (svc, config) => {
        const options = { k: config.k, metric: config.metric, filters: parseFilterArgs(opts.filter) };
        const words = opts.text !== undefined ? { text: opts.text as string, dropFilters: opts.dropFilter as string[] } : null;
        const query: Query = words
          ? image
            ? { kind: 'photo+text', photo: photoArg(image), ...words, ...options }
            : { kind: 'text', ...words, ...options }
          : { kind: 'photo', photo: photoArg(image!), ...options };
        const res = await svc.pipeline.search(query);
        if (words && !opts.json) console.error(describeTextQuery((res as TextSearchResult).text));
        await printResults(query, res, !!opts.json);
      });
    });

  searchOptions(program.command('similar'))
    .description('more like this: the products most similar to a catalog item')
    .argument('<id>', 'catalog item id')
    .action(async (id: string, opts) =>
      withServices(opts, async (svc, config) => {
        const query: Query = { kind: 'item', id, k: config.k, metric: config.metric, filters: parseFilterArgs(opts.filter) };
        await printResults(query, await svc.pipeline.search(query), !!opts.json);
      }),
    );

  withCommonOptions(program.command('match'))
    .description('second-hand matching: the catalog product a photo shows, with a confidence, or "no confident match"')
    .argument('<image>', 'photo path or http(s) URL')
    .option('--threshold <margin>', `confidence needed for a match (default: the one training chose on validation copies, or ${MATCH_THRESHOLD} on backbone vectors)`)
    .option('--candidates <n>', 'candidates to list', '3')
    .option('--json', 'print JSON')
    .action(async (image: string, opts) =>
      withServices(opts, async (svc) => {
        const threshold = numberFlag('--threshold', opts.threshold, { min: 0, max: 1 });
        const photo = photoArg(image);
        const m = await svc.pipeline.match(photo, { ...(threshold !== undefined ? { threshold } : {}), candidates: intFlag('--candidates', opts.candidates, { min: 1, max: 100 }) });
        if (opts.json) {
          console.log(JSON.stringify(await matchView(photo, m)));
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
      withServices(opts, async (svc) => {
        const threshold = nearThreshold(numberFlag('--threshold', opts.threshold, { min: 0, max: 1 }));
        // The same scan as the server's, on its worker thread; here nothing else waits, so the command just awaits it.
        if (!opts.exactOnly) await svc.duplicates.scan();
        const d = svc.duplicates.find({ threshold, near: !opts.exactOnly });
        const name = (id: string) => svc.catalog.item(id).metadata.productDisplayName ?? '';
        if (opts.format === 'json') console.log(JSON.stringify(duplicatesView(d, name)));
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
      withServices(opts, async (svc) => {
        const res = await svc.pipeline.outfit(svc.catalog.has(source) ? { kind: 'item', id: source } : { kind: 'photo', photo: photoArg(source) });
        if (opts.json) {
          console.log(JSON.stringify(outfitView(res)));
          return;
        }
        const q = res.query.labels;
        console.log(`${res.query.id ? `item ${res.query.id}` : source}: ${[q.articleType, q.baseColour, q.gender, q.usage, q.season].filter(Boolean).join(', ')}${res.query.predicted ? ' (predicted from the photo)' : ''}`);
        if (res.message) console.log(res.message);
        if (res.picks.length > 0) console.table(res.picks.map((p) => ({ group: p.group, id: p.id, articleType: p.metadata.articleType ?? '', baseColour: p.metadata.baseColour ?? '', name: (p.metadata.productDisplayName ?? '').slice(0, 40), reason: p.reason })));
        if (res.unfilled.length > 0 && res.picks.length > 0) console.log(`nothing fits for: ${res.unfilled.join(', ')}`);
      }),
    );

  withCommonOptions(program.command('worker'))
    .description('take ingest jobs from the queue (--queue) and write products into the PostgreSQL catalog (--database); run one per machine, as many as you like')
    .option('--concurrency <n>', 'products in hand at once: their photos are embedded together, so about --batch-size fills the inference batches', '32')
    .option('--lock-ms <ms>', 'how long the jobs of a worker that died wait before another worker takes them (BullMQ lock)', '30000')
    .action(async (opts) => {
      const config = configFrom(opts);
      const concurrency = intFlag('--concurrency', opts.concurrency, { min: 1, max: 256 })!;
      const lockMs = intFlag('--lock-ms', opts.lockMs, { min: 1000, max: 3_600_000 })!;
      // JSON lines on stdout, one per event: what a log collector reads; no bars.
      const log = (e: WorkerEvent) => console.log(JSON.stringify({ time: new Date().toISOString(), pid: process.pid, ...e }));
      const worker = await startIngestWorker(config, { concurrency, lockMs }, log);
      await new Promise<void>((resolve) => {
        // SIGTERM (or Ctrl-C): finish the products in hand and stop; a second one hands them back to the queue at once.
        let signals = 0;
        const stop = () => void worker.stop(++signals > 1).then(resolve, (err: unknown) => {
          log({ type: 'error', message: (err as Error).message });
          resolve();
        });
        process.on('SIGTERM', stop);
        process.on('SIGINT', stop);
      });
    });

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
      // The page first: the server answers at once on the catalog as it is (empty on the first run), while the demo
      // catalog is indexed in the background and becomes searchable as it grows (src/app/backgroundIndex.ts).
      if (fresh || config.databaseUrl) await (await openCatalogStore(config, { create: true })).close();
      const { svc, url } = await startServer(config);
      const job = await indexInBackground(svc, demo.images, demo.metadata);
      console.error(
        fresh
          ? `serving ${url}; indexing the demo catalog into ${config.dataDir} in the background (job ${job.id}: GET /api/jobs/${job.id}); search covers it as it grows`
          : `serving ${url}; checking the demo catalog for changes in the background (job ${job.id})`,
      );
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
      const limit = intFlag('--limit', opts.limit, { min: 0 })!;
      const seed = intFlag('--seed', opts.seed, { min: 0 })!;
      const svc = await Services.open(config);
      const bar = progressBar('evaluating', !opts.json);
      try {
        if (opts.textQueries) {
          const report = await evaluateText(svc, opts.textQueries, { k: config.k, trainOnly: !!opts.trainOnly, onProgress: (d, t) => bar.update(d, t) });
          bar.stop();
          printTextEval(report, !!opts.json);
          return;
        }
        const report = await evaluate(svc, {
          k: config.k,
          metric: config.metric,
          limit,
          seed,
          queriesDir: opts.queries,
          queryMetadata: opts.queryMetadata,
          onProgress: (d, t) => bar.update(d, t),
        });
        bar.stop();
        if (!opts.queries && svc.refinement.model) {
          console.error('note: the refinement was trained on these items, so leave-one-out figures are optimistic; for photos outside the catalog see docs/relevance.md (npm run bench:relevance)');
        }
        printEval(report, !!opts.json);
      } finally {
        bar.stop();
        await svc.close();
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
      const epochs = intFlag('--epochs', opts.epochs, { min: 1, max: 10_000 })!;
      const seed = intFlag('--seed', opts.seed, { min: 0 })!;
      const copiesBar = progressBar('training copies', !opts.json);
      try {
        const report = await trainCatalogFolder(config, {
          epochs,
          seed,
          onCopies: (d, t) => (d < t ? copiesBar.update(d, t) : copiesBar.stop()),
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
      }
    });

  withCommonOptions(program.command('categorize'))
    .description('predict articleType, baseColour and gender of a photo (file or URL), with confidences')
    .argument('<image>', 'photo path or http(s) URL')
    .option('--json', 'print JSON')
    .action(async (image: string, opts) =>
      withServices(opts, async (svc) => {
        const prediction = (await svc.pipeline.categorize(photoArg(image))).predicted;
        if (opts.json) console.log(JSON.stringify(prediction));
        else for (const [field, p] of Object.entries(prediction)) console.log(`${field.padEnd(12)} ${p.value} (${(p.confidence * 100).toFixed(0)}%)`);
      }),
    );

  const keys = program.command('keys').description('API keys that may write the catalog through the server (kept hashed in the catalog)');
  withCommonOptions(keys.command('create'))
    .description('make a write key; it is printed once and kept only as a hash')
    .option('--name <name>', 'what the key is for, e.g. "shop backend"', 'api key')
    .action(async (opts) => {
      const { key, stored } = await createApiKey(configFrom(opts), String(opts.name));
      console.error(`key ${stored.id} (${stored.name}) created; it is shown once: keep it in the shop backend's secrets`);
      console.log(key);
    });
  withCommonOptions(keys.command('list'))
    .description('the keys: id, name, created, revoked (never the keys themselves)')
    .option('--json', 'print JSON')
    .action(async (opts) => {
      const list = (await listApiKeys(configFrom(opts))).map(({ sha256: _hash, ...k }) => k);
      if (opts.json) console.log(JSON.stringify(list));
      else if (list.length === 0) console.log('no keys (FASHION_API_KEY may still name some)');
      else for (const k of list) console.log(`${k.id}  ${k.name.padEnd(24)} created ${k.createdAt}${k.revokedAt ? `  revoked ${k.revokedAt}` : ''}`);
    });
  withCommonOptions(keys.command('revoke'))
    .description('stop a key working (a running server notices within seconds)')
    .argument('<id>', 'the key id that `fashion keys list` shows')
    .action(async (id: string, opts) => {
      const k = await revokeApiKey(configFrom(opts), id);
      console.log(`key ${k.id} (${k.name}) revoked`);
    });

  withCommonOptions(program.command('info'))
    .description('catalog size, model and dimensions')
    .option('--json', 'print JSON')
    .action(async (opts) =>
      withServices(opts, async (svc) => {
        const info = svc.info();
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

