import type { TextHit, TextQueryInfo } from './textQuery.js';

/** A hit's label as shown: the catalog's, or the predicted one marked as such. */
export function shownLabel(hit: TextHit, field: string): string {
  const own = hit.metadata[field];
  if (own && own !== 'NA') return own;
  const p = hit.predicted?.[field as keyof NonNullable<TextHit['predicted']>];
  return p ? `${p.value} (predicted ${Math.round(p.confidence * 100)}%)` : own ?? '';
}

/** One line saying what the words did: which became filters, which rank, which were dropped. */
export function describeTextQuery(info: TextQueryInfo): string {
  const parts: string[] = [];
  if (info.didYouMean !== undefined) parts.push(`read as "${info.didYouMean}"`);
  if (info.filters.length > 0) parts.push(`filters from words: ${info.filters.map((f) => `${f.field}=${f.values.join('|')} (${f.corrected !== undefined ? 'from ' : ''}"${f.words}")`).join(', ')}`);
  if (info.words.length > 0) parts.push(`ranking words: ${info.words.join(' ')}`);
  if (info.removed.length > 0) parts.push(`removed: ${info.removed.map((f) => f.field).join(', ')}`);
  if (info.relaxed.length > 0) parts.push(`relaxed (nothing matched them all): ${info.relaxed.map((f) => `${f.field}=${f.values.join('|')}`).join(', ')}`);
  if (info.unmatchedWords.length > 0) parts.push(`no item has: ${info.unmatchedWords.join(' ')}`);
  return parts.join('; ') || 'no words to use';
}
