// The default backbone's graphs made in memory as src/embedding/embedder.ts makes them, with SqueezeNet either widened to
// float32 (what the product runs) or kept in float16 between casts (what it ran before): for bench/modelCeiling.ts and
// bench/float32Vectors.ts; and with SqueezeNet quantized to int8 (src/embedding/int8Graph.ts, the committed calibration's
// ranges; `squeezenet-int8:max` and `composed-int8:max` take another statistic of it).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolveConfig, type Config } from '../src/config.js';
import { composeBackbones } from '../src/embedding/composeBackbones.js';
import { headCutModel } from '../src/embedding/headCut.js';
import { activationRanges, int8CalibrationFor, INT8_RANGE_STATISTIC } from '../src/embedding/int8Calibration.js';
import { quantizeInt8 } from '../src/embedding/int8Graph.js';

export const BACKBONE_GRAPHS = ['mobilenet', 'squeezenet-fp16', 'squeezenet-fp32', 'composed-fp16', 'composed-fp32', 'squeezenet-int8', 'composed-int8'] as const;

/**
 * The graph of `name` (one of BACKBONE_GRAPHS); every one takes the first model's pixels (config.preprocess). SqueezeNet
 * at another side than the first model's (config.secondModel.preprocess.size, `--second-size`) resizes them in the graph.
 */
export function backboneGraph(name: string, config: Config = resolveConfig({})): Uint8Array {
  // A config without a second model (bench/modelCeiling.ts's) still names the default one, at the first model's side.
  const second = (config.secondModel ?? resolveConfig({ isolate: 'off', size: config.preprocess.size }).secondModel)!;
  const first = { cut: headCutModel(readFileSync(config.model), { pooling: config.pooling }), preprocess: config.preprocess };
  const squeeze = (float16: 'keep' | 'widen') => ({ cut: headCutModel(readFileSync(second.model), { pooling: config.pooling, float16 }), preprocess: second.preprocess });
  const int8 = () => {
    const source = readFileSync(second.model);
    const ranges = activationRanges(int8CalibrationFor(createHash('sha256').update(source).digest('hex'), second.model), statistic || INT8_RANGE_STATISTIC);
    const cut = headCutModel(source, { pooling: config.pooling });
    return { cut: { ...cut, bytes: quantizeInt8(cut.bytes, ranges) }, preprocess: second.preprocess };
  };
  const [graph, statistic] = name.split(':') as [string, string?];
  switch (graph) {
    case 'mobilenet':
      return first.cut.bytes;
    // Alone, behind the same conversion of the pixels that the composed graph gives it (a Gather, a Mul and an Add).
    case 'squeezenet-fp16':
      return composeBackbones([squeeze('keep')], config.preprocess, { mirror: false });
    case 'squeezenet-fp32':
      return composeBackbones([squeeze('widen')], config.preprocess, { mirror: false });
    case 'composed-fp16':
      return composeBackbones([first, squeeze('keep')], config.preprocess, { mirror: config.mirror });
    case 'composed-fp32':
      return composeBackbones([first, squeeze('widen')], config.preprocess, { mirror: config.mirror });
    case 'squeezenet-int8':
      return composeBackbones([int8()], config.preprocess, { mirror: false });
    case 'composed-int8':
      return composeBackbones([first, int8()], config.preprocess, { mirror: config.mirror });
    default:
      throw new Error(`unknown graph ${name}: one of ${BACKBONE_GRAPHS.join(', ')}`);
  }
}
