import { FashionError } from '../errors.js';
import type { ActivationRanges } from './int8Graph.js';
import squeezenet from './calibration/squeezenet1.0-fp16.int8.json' with { type: 'json' };

/**
 * Activation ranges measured for a model file, as bench/calibrateInt8.ts writes them: its input's range and, per
 * statistic, every ReLU output's upper bound over the calibration photos (fit-side catalog photos only: no held-back
 * item, src/catalog/split.ts, ever chose a range).
 */
export interface Int8Calibration {
  readonly model: string;
  readonly modelSha256: string;
  readonly made: string;
  readonly photos: number;
  readonly input: { readonly min: number; readonly max: number };
  readonly statistics: Readonly<Record<string, Readonly<Record<string, number>>>>;
}

/**
 * The statistic of the calibration that bounds each ReLU output. A high percentile rather than the maximum: one
 * photo's outlying activation would otherwise widen the step of every other photo (docs/bench.md, "SqueezeNet in int8").
 */
export const INT8_RANGE_STATISTIC = 'p99.999';

const CALIBRATIONS: readonly Int8Calibration[] = [squeezenet as Int8Calibration];

/** The committed calibration of the model file with this sha256, or a clear error naming the command that makes one. */
export function int8CalibrationFor(modelSha256: string, modelName: string): Int8Calibration {
  const found = CALIBRATIONS.find((c) => c.modelSha256 === modelSha256);
  if (!found) {
    throw new FashionError(
      'model/unsupported',
      `Expected a calibration of ${modelName} (sha256 ${modelSha256.slice(0, 12)}) to quantize it to int8 but the product has ranges only for ${CALIBRATIONS.map((c) => c.model).join(', ')}; run it in float (--second-precision float)`,
    );
  }
  return found;
}

/** The ranges quantizeInt8 takes, from a calibration and a statistic. */
export function activationRanges(calibration: Int8Calibration, statistic = INT8_RANGE_STATISTIC): ActivationRanges {
  const relu = calibration.statistics[statistic];
  if (!relu) throw new FashionError('model/unsupported', `Expected the calibration of ${calibration.model} to hold the statistic ${statistic} but it has ${Object.keys(calibration.statistics).join(', ')}`);
  return { input: calibration.input, relu };
}
