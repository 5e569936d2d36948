import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';

const { onnx } = onnxProto;

/**
 * Dense matrix products on onnxruntime's CPU kernels (MLAS): one to two orders of magnitude faster than
 * a JavaScript loop, which is what makes training the refinement and scoring whole catalogs practical
 * on two cores. C = op(A) * op(B), row-major float32, op = optional transpose.
 */
export class Gemm {
  private constructor(private readonly sessions: Map<string, ort.InferenceSession>) {}

  static async create(threads = 2): Promise<Gemm> {
    const sessions = new Map<string, ort.InferenceSession>();
    for (const [ta, tb] of [[0, 0], [1, 0], [0, 1]] as const) {
      const graph = onnx.GraphProto.create({
        name: 'gemm',
        node: [
          onnx.NodeProto.create({
            opType: 'Gemm',
            input: ['A', 'B'],
            output: ['C'],
            attribute: [
              { name: 'transA', type: onnx.AttributeProto.AttributeType.INT, i: ta },
              { name: 'transB', type: onnx.AttributeProto.AttributeType.INT, i: tb },
            ],
          }),
        ],
        input: [matrix('A', 'a0', 'a1'), matrix('B', 'b0', 'b1')],
        output: [matrix('C', 'c0', 'c1')],
      });
      const bytes = onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 7, opsetImport: [{ domain: '', version: 13 }], graph })).finish();
      sessions.set(`${ta}${tb}`, await ort.InferenceSession.create(bytes, { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential' }));
    }
    return new Gemm(sessions);
  }

  /** A is rows x inner (or inner x rows when transA), B is inner x cols (or cols x inner when transB). */
  async mul(a: Float32Array, aRows: number, aCols: number, b: Float32Array, bRows: number, bCols: number, transA = false, transB = false): Promise<Float32Array> {
    const s = this.sessions.get(`${transA ? 1 : 0}${transB ? 1 : 0}`);
    if (!s) throw new Error('transposing both operands is not supported');
    const out = await s.run({ A: new ort.Tensor('float32', a, [aRows, aCols]), B: new ort.Tensor('float32', b, [bRows, bCols]) });
    return out.C!.data as Float32Array;
  }

  async close(): Promise<void> {
    for (const s of this.sessions.values()) await s.release();
  }
}

function matrix(name: string, d0: string, d1: string) {
  return onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: d0 }, { dimParam: d1 }] } } } });
}
