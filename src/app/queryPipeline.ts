import type { Config } from '../config.js';
import { isUrl } from '../embedding/modelSource.js';
import { FashionError } from '../errors.js';
import { readImageFile } from '../imaging/decode.js';
import { fetchImage } from '../imaging/fetchImage.js';
import type { PhotoSource, Query } from '../query/query.js';
import type { Recommender, SearchResult } from '../recommend/recommender.js';
import type { TextSearchResult } from '../text/textQuery.js';

/** The bytes of a shopper's photo, read once at the edge of the pipeline (upload, URL, file). */
export async function photoBytes(photo: PhotoSource, config: Config): Promise<{ bytes: Uint8Array; label: string }> {
  switch (photo.kind) {
    case 'upload':
      return { bytes: photo.bytes, label: photo.label };
    case 'url':
      return { bytes: await fetchImage(photo.url, { maxBytes: config.maxUploadBytes }), label: photo.url };
    case 'file':
      return { bytes: await readImageFile(photo.path, { maxBytes: config.maxUploadBytes, maxPixels: config.maxPixels }), label: photo.path };
    case 'handle':
      throw new FashionError('input/not-found', `Expected a photo handle from an earlier search but ${JSON.stringify(photo.handle)} is unknown or expired; send the photo again`);
  }
}

/** A CLI argument that names a photo: an http(s) URL or a file path. */
export function photoArg(arg: string): PhotoSource {
  return isUrl(arg) ? { kind: 'url', url: arg } : { kind: 'file', path: arg };
}

/** Runs one query of any kind. */
export async function runQuery(rec: Recommender, config: Config, query: Query): Promise<SearchResult | TextSearchResult> {
  const options = { ...(query.k !== undefined ? { k: query.k } : {}), ...(query.metric ? { metric: query.metric } : {}), ...(query.filters ? { filters: query.filters } : {}) };
  switch (query.kind) {
    case 'photo': {
      const { bytes, label } = await photoBytes(query.photo, config);
      return rec.searchImage(bytes, options, label);
    }
    case 'item':
      return rec.similar(query.id, options);
    case 'text':
      return rec.searchText(query.text, { ...options, dropFilters: query.dropFilters ?? [] });
    case 'photo+text': {
      const { bytes, label } = await photoBytes(query.photo, config);
      return rec.searchImageText(bytes, query.text, { ...options, dropFilters: query.dropFilters ?? [] }, label);
    }
    case 'item+text':
      return rec.similarText(query.id, query.text, { ...options, dropFilters: query.dropFilters ?? [] });
  }
}
