import type { Metadata } from '../store/catalogStore.js';

/** Labels an item may lack and get predicted from its neighbours (auto-categorisation). */
export const PREDICTED_FIELDS = ['articleType', 'baseColour', 'gender'] as const;
export type PredictedField = (typeof PREDICTED_FIELDS)[number];

export interface Prediction {
  readonly value: string;
  /** Share of the voting neighbours that agree, in [0, 1]. */
  readonly confidence: number;
}
export type Predicted = Partial<Record<PredictedField, Prediction>>;

/** A value is missing when empty or the catalog's "NA". */
export function missing(value: string | undefined): boolean {
  return !value || value === 'NA';
}

export function needsPrediction(m: Metadata): boolean {
  return PREDICTED_FIELDS.some((f) => missing(m[f]));
}

/**
 * Majority vote of labelled neighbours (nearest first) for each field the item lacks. Ties go to the value
 * whose first vote came from the nearer neighbour. This is the switch point for `Recommender.categorize`
 * once it exists: callers pass the neighbours' metadata, wherever the neighbours come from.
 */
export function voteLabels(own: Metadata, neighbours: readonly Metadata[], fields: readonly string[] = PREDICTED_FIELDS): Predicted {
  const out: Record<string, Prediction> = {};
  for (const f of fields) {
    if (!missing(own[f])) continue;
    const votes = new Map<string, { n: number; first: number }>();
    let voters = 0;
    neighbours.forEach((m, i) => {
      const v = m[f];
      if (missing(v)) return;
      voters++;
      const e = votes.get(v!) ?? { n: 0, first: i };
      e.n++;
      votes.set(v!, e);
    });
    const best = [...votes].sort((a, b) => b[1].n - a[1].n || a[1].first - b[1].first)[0];
    if (best) out[f] = { value: best[0], confidence: Math.round((best[1].n / voters) * 100) / 100 };
  }
  return out;
}

/** The item's labels with predicted values filled in where it has none. */
export function effectiveMetadata(m: Metadata, predicted: Predicted | undefined): Metadata {
  if (!predicted) return m;
  const out: Record<string, string> = { ...m };
  for (const [f, p] of Object.entries(predicted)) if (p) out[f] = p.value;
  return out;
}
