import type { InstancePart } from '../refine/instanceProjection.js';
import type { Prediction, RefineModel } from '../refine/refineModel.js';
import type { SharedGemm } from '../linalg/sharedGemm.js';
import { mixKinds } from '../search/kindPrior.js';
import { scaleParts, type PartScales } from '../search/partWeights.js';

/** A photo's features as the backbone gives them: what the refinement reads. */
export interface Features {
  readonly vector: Float32Array;
  readonly colour: Float32Array;
}

/** Everything search needs of a photo, from one pass of the refinement. */
export interface Analysis {
  /** The vector of the searched space (refined, or the backbone vector without a refinement). */
  readonly searchVector: Float32Array;
  /** Its "same product" part (src/refine/instanceProjection.ts), when the catalog has one. */
  readonly sameProductVector: Float32Array | null;
  /** Predicted articleType, baseColour and gender, when the catalog has a refinement. */
  readonly predicted: Record<string, Prediction> | null;
}

/**
 * The catalog's learned refinement at query time: load only (training lives in src/app/refineCatalog.ts and
 * src/refine/train.ts, which the query path never imports). Without a refinement, search runs on backbone vectors.
 */
export class RefinementService {
  constructor(
    readonly model: RefineModel | null,
    /** Why a catalog with labels searches on backbone vectors. */
    readonly note?: string,
    /** Matrix products for the query's pass (the catalog's services share one; without it, the pass runs in JavaScript). */
    private readonly gemm?: SharedGemm,
  ) {}

  /** Where the same-product part sits in search vectors, its pin gap and match gap; null without one. */
  get instancePart(): InstancePart | null {
    return this.model?.instancePart() ?? null;
  }

  /**
   * A photo's search vector, same-product vector and predictions, from one pass of the network, its products on the
   * query path's Gemm (onnxruntime, one thread; RefineModel.analyseWith) when there is one. `sameProduct`: what
   * `sameProductVectors` gave for these very features, when the caller has it (a photo's readings were compared by it): the
   * projection is then not made a second time.
   */
  async analyse(f: Features, sameProduct?: Float32Array | null): Promise<Analysis> {
    if (!this.model) return { searchVector: f.vector, sameProductVector: null, predicted: null };
    const { vector, predicted } = this.gemm ? await this.model.analyseWith(await this.gemm.get(), f.vector, f.colour, sameProduct) : this.model.analyse(f.vector, f.colour, sameProduct);
    const part = this.instancePart;
    return { searchVector: vector, sameProductVector: part ? vector.subarray(part.offset, part.offset + part.dims) : null, predicted };
  }

  /** The same-product vectors of a photo's readings alone (the projection, without the network): how readings are compared. */
  sameProductVectors(readings: readonly Features[]): Array<Float32Array | null> {
    return readings.map((r) => this.model?.sameProductVector(r.vector, r.colour) ?? null);
  }

  /**
   * A query's search vector with its kind probabilities mixed with kind shares from elsewhere (src/search/kindPrior.ts
   * mixKinds); the vector as it is without a refinement that predicts articleType.
   */
  withKindShares(searchVector: Float32Array, shares: ReadonlyMap<string, number>, weight: number): Float32Array {
    const m = this.model;
    if (!m || m.typeClasses.length === 0 || shares.size === 0) return searchVector;
    return m.withTypeProbabilities(searchVector, mixKinds(m.typeProbabilities(searchVector), m.typeClasses, shares, weight));
  }

  /**
   * A query's search vector with its parts multiplied by `scales` (src/search/partWeights.ts); the vector as it is without a
   * refinement (a backbone vector has no parts).
   */
  withPartScales(searchVector: Float32Array, scales: PartScales): Float32Array {
    return this.model ? scaleParts(searchVector, this.model.partSizes, scales) : searchVector;
  }

  /** A catalog photo's vector as if it were a query (predictions, not its labels): what leave-one-out evaluation searches with. */
  queryVector(f: Features): Float32Array {
    return this.model ? this.model.queryVector(f.vector, f.colour) : f.vector;
  }

  /** Predicted labels, or null without a refinement (search then votes with neighbours). */
  categorize(f: Features): Record<string, Prediction> | null {
    return this.model ? this.model.categorize(f.vector, f.colour) : null;
  }
}
