import type { Metadata } from '../store/catalogStore.js';
import { effectiveMetadata, needsPrediction, voteLabels, type Predicted } from '../text/autoLabels.js';
import type { ItemLabels } from '../search/types.js';
import type { CatalogService } from './catalog.js';
import type { SearchService } from './search.js';

/**
 * Every item's effective labels: its own, and for items that lack some (a shop's CSV with gaps), labels voted by
 * their 10 nearest labelled neighbours (auto-categorisation). Words and outfits read labels from here.
 */
export class LabelService implements ItemLabels {
  private constructor(
    private readonly labels: readonly Metadata[],
    private readonly predicted: ReadonlyMap<number, Predicted>,
  ) {}

  static async build(catalog: CatalogService, search: Pick<SearchService, 'similar'>): Promise<LabelService> {
    const predicted = new Map<number, Predicted>();
    for (let row = 0; row < catalog.items.length; row++) {
      const it = catalog.items[row]!;
      if (!needsPrediction(it.metadata) || catalog.rowOfId(it.id) === undefined) continue;
      const neighbours = (await search.similar(it.id, { k: 10 })).hits.map((h) => h.metadata);
      predicted.set(row, voteLabels(it.metadata, neighbours));
    }
    return new LabelService(catalog.items.map((it, row) => effectiveMetadata(it.metadata, predicted.get(row))), predicted);
  }

  labelsOf(row: number): Metadata {
    return this.labels[row]!;
  }

  predictedOf(row: number): Predicted | undefined {
    return this.predicted.get(row);
  }
}
