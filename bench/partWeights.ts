/**
 * Prices query-time part scales (src/search/partWeights.ts) for photos taken off a backdrop, on bench/generalise.ts photo sets,
 * without reading each photo again per variant. A diagnostic for choosing OFF_BACKDROP_SCALES: point it at TUNE sets and
 * clean photos only.
 *
 *   read: each photo read once as the photo case of QueryPipeline.search reads it (readPhoto, then the kind prior), and what
 *         the search needs of it (search vector with the kind shares, same-product vector, backbone reading, off a backdrop or
 *         not) cached in <cache dir>/<set>.bin (a set already cached is skipped):
 *     flock /tmp/fashion-heavy.lock node --import tsx bench/partWeights.ts read <catalog dir> <cache dir> <photos dir>...
 *         FASHION_QUERY_WORKING_SIDE=N reads the photos with their product found at a working side of N (Config.queryWorkingSide);
 *         give each side its own cache dir.
 *   grid: every variant searched on the cached photos as the pipeline searches them (SearchService.nearest with the pin, the
 *         re-rank and the slots for off-backdrop photos), scored as bench/generalise.ts scores them (clean and phone-like P@5 /
 *         strict by the query's kind and colour, mild own item first, hard own item in the top 5). A variant is
 *         `colour,histogram,sameProduct[,hidden[,type]]` (multipliers; `1,1,1` is the pipeline without scales), optionally
 *         followed by `/slots,at,margin[,minSimilarity[,kind|any[,off|all]]]` to search with that slot rule instead of SLOT_RULE
 *         (`/0` for no slots), so scales and slot rules are priced together:
 *     flock /tmp/fashion-heavy.lock node --import tsx bench/partWeights.ts grid <catalog dir> <cache dir> <out.json> VARIANT...
 *
 * Set names say what they are (bench/generalise.ts): queries-clean-*, queries-phone-*, items-mild-*, items-phone-*.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Services } from '../src/app/services.js';
import { demoCatalog, REPO_ROOT, resolveConfig } from '../src/config.js';
import { parseMetadataCsv } from '../src/catalog/metadataCsv.js';
import { precisionAtK } from '../src/eval/metrics.js';
import { offBackdrop } from '../src/search/backboneRerank.js';
import { KIND_NEIGHBOURS, KIND_TEMPERATURE, KIND_WEIGHT } from '../src/search/kindPrior.js';
import type { PartScales } from '../src/search/partWeights.js';
import type { SearchResult } from '../src/search/types.js';
import { SLOT_RULE, type SlotRule } from '../src/search/sameProductSlots.js';
import type { Metadata } from '../src/store/catalogStore.js';
import { forEachSetPhoto } from './common.js';

const [mode, data, cacheDir, ...rest] = process.argv.slice(2);
if ((mode !== 'read' && mode !== 'grid') || !data || !cacheDir) throw new Error('usage: bench/partWeights.ts read|grid <catalog dir> <cache dir> ...');
const demo = demoCatalog();
if (!demo) throw new Error('needs the shared catalog');
const styles = parseMetadataCsv(readFileSync(demo.metadata, 'utf8'));
const log = (m: string) => process.stderr.write(`${m}\n`);

/** One photo as the search needs it. */
interface Cached {
  readonly id: string;
  readonly off: boolean;
  readonly search: Float32Array;
  readonly sameProduct: Float32Array | null;
  readonly backbone: Float32Array;
}

/** <header length u32><JSON header: ids, off flags, dims><float32: search, sameProduct, backbone of each photo>. */
function save(file: string, rows: readonly Cached[]): void {
  const dims = { search: rows[0]!.search.length, sameProduct: rows[0]!.sameProduct?.length ?? 0, backbone: rows[0]!.backbone.length };
  const head = Buffer.from(JSON.stringify({ ids: rows.map((r) => r.id), off: rows.map((r) => r.off), dims }));
  const len = Buffer.alloc(4);
  len.writeUInt32LE(head.length);
  const body = new Float32Array(rows.length * (dims.search + dims.sameProduct + dims.backbone));
  let o = 0;
  for (const r of rows) {
    body.set(r.search, o);
    o += dims.search;
    if (r.sameProduct) body.set(r.sameProduct, o);
    o += dims.sameProduct;
    body.set(r.backbone, o);
    o += dims.backbone;
  }
  writeFileSync(file, Buffer.concat([len, head, Buffer.from(body.buffer)]));
}

function load(file: string): Cached[] {
  const buf = readFileSync(file);
  const len = buf.readUInt32LE(0);
  const head = JSON.parse(buf.subarray(4, 4 + len).toString('utf8')) as { ids: string[]; off: boolean[]; dims: { search: number; sameProduct: number; backbone: number } };
  const all = new Float32Array(buf.buffer.slice(buf.byteOffset + 4 + len, buf.byteOffset + buf.length));
  const { search, sameProduct, backbone } = head.dims;
  const row = search + sameProduct + backbone;
  return head.ids.map((id, i) => {
    const o = i * row;
    return { id, off: head.off[i]!, search: all.subarray(o, o + search), sameProduct: sameProduct ? all.subarray(o + search, o + search + sameProduct) : null, backbone: all.subarray(o + search + sameProduct, o + row) };
  });
}

/**
 * A variant's slot rule: SLOT_RULE when the variant has no `/...` part, else `slots,at,margin[,minSimilarity[,kind|any[,off|all]]]`
 * (unset fields as SLOT_RULE), so scales and slot rules are priced together on the same search.
 */
function slotRule(spec: string | undefined, variant: string): SlotRule {
  if (spec === undefined) return SLOT_RULE;
  const f = spec.split(',');
  const num = (i: number, dflt: number) => {
    const x = f[i] === undefined || f[i] === '' ? dflt : Number(f[i]);
    if (!Number.isFinite(x)) throw new Error(`variant ${variant}: slot field ${i + 1} is not a number`);
    return x;
  };
  const word = (i: number, yes: string, no: string, dflt: boolean) => {
    if (f[i] === undefined || f[i] === '') return dflt;
    if (f[i] !== yes && f[i] !== no) throw new Error(`variant ${variant}: slot field ${i + 1} is ${yes} or ${no}`);
    return f[i] === yes;
  };
  return { slots: num(0, SLOT_RULE.slots), at: num(1, SLOT_RULE.at), margin: num(2, SLOT_RULE.margin), minSimilarity: num(3, SLOT_RULE.minSimilarity), sameKind: word(4, 'kind', 'any', SLOT_RULE.sameKind), offBackdropOnly: word(5, 'off', 'all', SLOT_RULE.offBackdropOnly) };
}


// The query photos' working side is the one setting taken from the environment (FASHION_QUERY_WORKING_SIDE: a read per side
// into its own cache dir); everything else is fixed here so that a shell's FASHION_* does not change what is measured.
const config = resolveConfig({ dataDir: data, isolate: 'on', threads: 2, pooling: 'max', queryWorkingSide: process.env.FASHION_QUERY_WORKING_SIDE }, {}, REPO_ROOT);
const svc = await Services.open(config);
const t0 = performance.now();
try {
  if (mode === 'read') {
    mkdirSync(cacheDir, { recursive: true });
    for (const dir of rest) {
      const file = join(cacheDir, `${basename(dir)}.bin`);
      if (existsSync(file)) {
        log(`${basename(dir)}: cached already`);
        continue;
      }
      const rows: Cached[] = await forEachSetPhoto(dir, async (id, bytes) => {
        const read = await svc.pipeline.readPhoto({ kind: 'upload', bytes, label: id });
        // As QueryPipeline.search's photo case: the kind prior from the same-product space, mixed into the type part.
        const sp = read.analysis.sameProductVector;
        const kinds = sp ? await svc.search.neighbourKinds(sp, KIND_NEIGHBOURS, KIND_TEMPERATURE, 'sameProduct') : new Map<string, number>();
        const search = svc.refinement.withKindShares(read.analysis.searchVector, kinds, KIND_WEIGHT);
        return { id, off: offBackdrop(read.reading.photo.isolation), search: new Float32Array(search), sameProduct: sp ? new Float32Array(sp) : null, backbone: new Float32Array(read.reading.vector) };
      });
      save(file, rows);
      writeFileSync(join(cacheDir, 'read.json'), JSON.stringify({ queryWorkingSide: config.queryWorkingSide }));
      log(`${basename(dir)}: ${rows.length} photos read, ${rows.filter((r) => r.off).length} off a backdrop (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
    }
  } else {
    const [out, ...args] = rest;
    // --dump: each variant is searched without slots (whatever it says) and, beside the figures, its answers (first 20) and
    // the same-product space's nearest 10 are written as a bench/slotProbe.ts dump, <out>-<variant>.dump.json, for
    // bench/slotSim.ts to price every slot rule on that variant's search.
    const dump = args.includes('--dump');
    const variantArgs = args.filter((a) => a !== '--dump');
    if (!out || variantArgs.length === 0) throw new Error('grid: <out.json> [--dump] VARIANT...');
    const variants = variantArgs.map((v): { name: string; scales: PartScales; slots: SlotRule } => {
      const [scalePart, slotPart] = v.split('/');
      const [colour, histogram, sameProduct, hidden, type] = scalePart!.split(',').map(Number);
      if ([colour, histogram, sameProduct].some((x) => x === undefined || !Number.isFinite(x))) throw new Error(`variant ${v}: colour,histogram,sameProduct[,hidden[,type]][/slots,at,margin[,minSimilarity[,kind|any[,off|all]]]]`);
      return { name: v, scales: { colour: colour!, histogram: histogram!, sameProduct: sameProduct!, ...(hidden !== undefined ? { hidden } : {}), ...(type !== undefined ? { type } : {}) }, slots: dump ? { ...SLOT_RULE, slots: 0 } : slotRule(slotPart, v) };
    });
    const sets = readdirSync(cacheDir).filter((f) => f.endsWith('.bin')).sort().map((f) => ({ name: f.slice(0, -4), rows: load(join(cacheDir, f)) }));
    const results: Record<string, Record<string, unknown>> = {};
    const ruleKey = (r: SlotRule) => `${r.slots},${r.at},${r.margin},${r.minSimilarity},${r.sameKind},${r.offBackdropOnly}`;
    const studio = new Map<string, SearchResult>();
    const perPhoto: Record<string, Record<string, number[]>> = {};
    const spSpace = svc.searchedSpaces().sameProduct;
    const label = (id: string) => {
      const m = styles.rows.get(id);
      return { t: m?.articleType ?? '', c: m?.baseColour ?? '' };
    };
    for (const v of variants) {
      const tv = performance.now();
      const figures: Record<string, unknown> = {};
      const dumped: Record<string, unknown[]> = {};
      perPhoto[v.name] = {};
      for (const s of sets) {
        const kind = s.name.startsWith('queries-clean') ? 'clean' : s.name.startsWith('queries-') ? 'phone' : s.name.startsWith('items-mild') ? 'mild' : 'hard';
        const p5: number[] = [];
        const strict: number[] = [];
        const ranks: number[] = [];
        for (let i = 0; i < s.rows.length; i += 16) {
          const part = s.rows.slice(i, i + 16);
          const answers = await Promise.all(
            part.map((r) =>
              // A studio shot is searched the same under every variant: once.
              (!r.off ? studio.get(`${ruleKey(v.slots)}/${s.name}/${r.id}`) : undefined) ??
              // As QueryPipeline.search's photo case (k 10, as bench/generalise.ts asks), the scales for off-backdrop photos only.
              svc.search.nearest(r.off ? svc.refinement.withPartScales(r.search, v.scales) : r.search, {
                k: dump ? 20 : 10,
                metric: 'cosine',
                filter: {},
                sameProduct: r.sameProduct,
                ...(r.off ? { backbone: r.backbone } : {}),
                ...(r.off || !v.slots.offBackdropOnly ? { slots: v.slots } : {}),
              }).then((res) => {
                if (!r.off) studio.set(`${ruleKey(v.slots)}/${s.name}/${r.id}`, res);
                return res;
              }),
            ),
          );
          if (dump) {
            if (!spSpace) throw new Error('--dump needs the same-product space');
            const near = await Promise.all(part.map((r) => (r.sameProduct ? spSpace.search(r.sameProduct, { k: 10, metric: 'cosine' }) : Promise.resolve([]))));
            (dumped[s.name] ??= []).push(
              ...part.map((r, j) => ({
                id: r.id,
                ...label(r.id),
                off: r.off,
                pinned: Boolean(answers[j]!.hits[0]?.lookAlike),
                ans: answers[j]!.hits.map((h) => ({ id: h.id, t: h.metadata.articleType ?? '', c: h.metadata.baseColour ?? '' })),
                sp: near[j]!.map((n) => ({ id: n.id, cos: 1 - n.distance, ...label(n.id) })),
              })),
            );
          }
          part.forEach((r, j) => {
            const hits = answers[j]!.hits;
            const at5 = precisionAtK(styles.rows.get(r.id) as Metadata, hits.map((h) => h.metadata), 5);
            p5.push(at5.type);
            strict.push(at5.strict);
            ranks.push(hits.map((h) => h.id).indexOf(r.id));
          });
        }
        const mean = (xs: readonly number[]) => Math.round((xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)) * 10000) / 10000;
        figures[s.name] =
          kind === 'clean' || kind === 'phone'
            ? { p5: mean(p5), strictP5: mean(strict) }
            : kind === 'mild'
              ? { ownFirst: mean(ranks.map((k) => (k === 0 ? 1 : 0))) }
              : { ownTop5: mean(ranks.map((k) => (k >= 0 && k < 5 ? 1 : 0))) };
        // Per photo: the own item's rank (item copies), or 10 x (how many of the first five are of the query's kind) + (how many of its kind and colour).
        perPhoto[v.name]![s.name] = kind === 'hard' || kind === 'mild' ? ranks : p5.map((x, k) => Math.round(x * 5) * 10 + Math.round(strict[k]! * 5));
      }
      results[v.name] = figures;
      if (dump) writeFileSync(`${out.replace(/\.json$/, '')}-${v.name.replace(/[^0-9a-z.,-]/gi, '_')}.dump.json`, JSON.stringify(dumped));
      log(`${v.name}: ${JSON.stringify(figures)} (${((performance.now() - tv) / 1000).toFixed(0)} s)`);
    }
    // The working side the cache was read at (a cache read before it was recorded: unknown).
    const readAt = existsSync(join(cacheDir, 'read.json')) ? (JSON.parse(readFileSync(join(cacheDir, 'read.json'), 'utf8')) as { queryWorkingSide: number }).queryWorkingSide : null;
    writeFileSync(out, JSON.stringify({ catalog: data, queryWorkingSide: readAt, slotRule: SLOT_RULE, slotRules: Object.fromEntries(variants.map((v) => [v.name, v.slots])), results, perPhoto }));
  }
} finally {
  await svc.close();
}
