import { encodeJpeg, VIEW_JPEG_QUALITY } from '../imaging/decode.js';
import type { PhotoSource, Query } from '../query/query.js';
import type { Job } from '../jobs/jobQueue.js';
import type { DuplicateGroup } from '../search/duplicates.js';
import type { MatchResult } from '../search/match.js';
import type { OutfitResult } from '../search/outfit.js';
import type { CatalogInfo, IsolatedView, SearchHit, SearchResult } from '../search/types.js';
import type { Prediction } from '../refine/refineModel.js';
import type { StoredItem } from '../store/catalogStore.js';
import type { TextHit, TextSearchResult } from '../text/textQuery.js';
import type {
  CategorizeBody,
  DuplicatesBody,
  HealthBody,
  HitBody,
  InfoBody,
  IsolatedBody,
  JobBody,
  ItemsPageBody,
  ItemViewBody,
  MatchBody,
  OutfitBody,
  PredictionsBody,
  SearchBody,
} from './schemas.js';

/**
 * Results as the API answers them (and as the CLI's --json prints them): plain objects shaped by the response
 * schemas of src/api/schemas.ts. No fastify here.
 */

/** The URL of an item's photo: its first, or photo `photo` (1, 2, ...) of a product with several. */
export function imageUrlOf(id: string, photo?: number): string {
  return `/api/images/${encodeURIComponent(id)}${photo ? `?photo=${photo}` : ''}`;
}

export function itemView(item: StoredItem): ItemViewBody {
  const others = item.photos ?? [];
  return {
    id: item.id,
    imageUrl: imageUrlOf(item.id),
    ...(others.length > 0 ? { imageUrls: [imageUrlOf(item.id), ...others.map((_, i) => imageUrlOf(item.id, i + 1))] } : {}),
    metadata: { ...item.metadata },
  };
}

/** A page of the catalog (the catalog service's spread over all of it) and the catalog's size. */
export function browseView(total: number, page: readonly StoredItem[]): ItemsPageBody {
  return { total, items: page.map(itemView) };
}

export function healthView(info: CatalogInfo): HealthBody {
  return { status: 'ok', items: info.items, dims: info.dims, model: info.model?.modelName ?? null };
}

/** The catalog as the API describes it: no folder of the server's (they say nothing a client needs and much an attacker wants). */
export function infoView(info: CatalogInfo, facets: InfoBody['facets']): InfoBody {
  const { dataDir: _dataDir, imagesRoot, ...rest } = info;
  return { ...rest, photos: imagesRoot !== null, model: info.model ? { ...info.model, preprocess: { ...info.model.preprocess } } : null, facets };
}

/** Predicted labels, without the fields left unpredicted. */
export function predictionsView(p: Readonly<Record<string, Prediction | undefined>> | undefined): PredictionsBody | undefined {
  if (!p) return undefined;
  const out: PredictionsBody = {};
  for (const [field, v] of Object.entries(p)) if (v) out[field] = { value: v.value, confidence: v.confidence };
  return out;
}

export function hitView(h: SearchHit | TextHit): HitBody {
  const extra = h as TextHit;
  const predicted = predictionsView(extra.predicted);
  return {
    id: h.id,
    score: h.score,
    distance: h.distance,
    imageUrl: imageUrlOf(h.id, (h as SearchHit).photo),
    metadata: { ...h.metadata },
    ...(h.lookAlike ? { lookAlike: true } : {}),
    ...(predicted ? { predicted } : {}),
    ...(extra.unmatched ? { unmatched: [...extra.unmatched] } : {}),
  };
}

/** The product as isolation cut it out (a data URL), shown on the page beside the photo; nothing when the catalog does not isolate. */
export async function isolatedView(iso: IsolatedView | undefined): Promise<{ isolated?: IsolatedBody }> {
  if (!iso) return {};
  const jpeg = await (iso.jpeg ?? encodeJpeg(iso.image, VIEW_JPEG_QUALITY));
  return { isolated: { imageUrl: `data:image/jpeg;base64,${jpeg.toString('base64')}`, method: iso.method } };
}

/** Which kind of photo a request sent, as the responses name it. */
function photoKind(photo: PhotoSource): string {
  return photo.kind;
}

/** What was searched for, echoed: the item, or the photo's kind (and URL, and the isolated product), and the words. */
async function queryEcho(query: Query, res: SearchResult | TextSearchResult): Promise<SearchBody['query']> {
  switch (query.kind) {
    case 'item':
      return { id: query.id };
    case 'photo':
      return { kind: photoKind(query.photo), ...(query.photo.kind === 'url' ? { url: query.photo.url } : {}), ...(res.handle ? { handle: res.handle } : {}), ...(await isolatedView(res.isolated)) };
    case 'text':
      return { text: query.text };
    case 'photo+text':
      return { text: query.text, kind: photoKind(query.photo), ...(res.handle ? { handle: res.handle } : {}) };
    case 'item+text':
      return { text: query.text, id: query.id };
  }
}

/** A search's answer: the query echoed, the words as read (for a words query), timings, the prediction and the results. */
export async function searchView(query: Query, res: SearchResult | TextSearchResult): Promise<SearchBody> {
  const text = (res as Partial<TextSearchResult>).text;
  const predicted = predictionsView(res.predicted);
  return {
    query: await queryEcho(query, res),
    ...(text ? { text: { ...text, filters: [...text.filters], removed: [...text.removed], relaxed: [...text.relaxed], corrections: [...text.corrections] } } : {}),
    metric: res.metric,
    k: res.k,
    timings: { ...res.timings },
    ...(predicted ? { predicted } : {}),
    results: res.hits.map(hitView),
  };
}

function matchHitView(h: SearchHit): MatchBody['candidates'][number] {
  return { id: h.id, score: h.score, imageUrl: imageUrlOf(h.id, h.photo), metadata: { ...h.metadata } };
}

/** Second-hand matching: the catalog product the photo shows, or match: null, with the candidates to check. */
export async function matchView(photo: PhotoSource, m: MatchResult & { isolated?: IsolatedView }): Promise<MatchBody> {
  return {
    query: { kind: photoKind(photo), ...(await isolatedView(m.isolated)) },
    match: m.match ? matchHitView(m.match) : null,
    confidence: m.confidence,
    similarity: m.similarity,
    threshold: m.threshold,
    space: m.space,
    message: m.match ? `Matched item ${m.match.id}` : 'No confident match: this product does not seem to be in the catalog',
    candidates: m.candidates.map(matchHitView),
  };
}

export function categorizeView(predicted: Readonly<Record<string, Prediction>>): CategorizeBody {
  return { predicted: predictionsView(predicted) ?? {} };
}

export function outfitView(res: OutfitResult): OutfitBody {
  const predicted = predictionsView(res.query.predicted);
  return {
    query: { ...(res.query.id !== undefined ? { id: res.query.id } : {}), labels: { ...res.query.labels }, ...(predicted ? { predicted } : {}), role: res.query.role },
    picks: res.picks.map((p) => ({ group: p.group, id: p.id, metadata: { ...p.metadata }, style: p.style, reason: p.reason, imageUrl: imageUrlOf(p.id) })),
    unfilled: [...res.unfilled],
    ...(res.message !== undefined ? { message: res.message } : {}),
  };
}

/** Duplicate groups with each member's photo and name (`nameOf`: the item's display name), and the scan they come from. */
export function duplicatesView(d: { exact: readonly DuplicateGroup[]; near: readonly DuplicateGroup[]; threshold: number; scan?: DuplicatesBody['scan'] }, nameOf: (id: string) => string): DuplicatesBody {
  const groupView = (g: DuplicateGroup) => ({ kind: g.kind, ids: [...g.ids], similarity: g.similarity, items: g.ids.map((id) => ({ id, imageUrl: imageUrlOf(id), name: nameOf(id) })) });
  return { threshold: d.threshold, exact: d.exact.map(groupView), near: d.near.map(groupView), ...(d.scan ? { scan: { ...d.scan } } : {}) };
}

/** Where a job is polled: GET /api/jobs/{id}. */
export function jobUrl(job: Pick<Job, 'id'>): string {
  return `/api/jobs/${encodeURIComponent(job.id)}`;
}

/** A job's record as the API shows it: the failure's internal detail stays in the log. */
export function jobView(job: Job): JobBody {
  return {
    id: job.id,
    kind: job.kind,
    status: job.status,
    params: job.params,
    progress: { ...job.progress },
    errors: { count: job.errors.count, first: job.errors.first.map((e) => ({ ...e })) },
    result: job.result,
    failure: job.failure ? { code: job.failure.code, message: job.failure.message } : null,
    createdAt: job.createdAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
  };
}
