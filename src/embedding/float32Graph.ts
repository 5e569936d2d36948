import onnxProto from 'onnx-proto';
import { FashionError } from '../errors.js';

const { onnx } = onnxProto;
type Graph = onnxProto.onnx.IGraphProto;
type Tensor = onnxProto.onnx.ITensorProto;
const DataType = onnx.TensorProto.DataType;
const AttrType = onnx.AttributeProto.AttributeType;

/**
 * Rewrites a float16 graph to float32, in place: weights (initializers and Constant tensors) widened, Cast targets,
 * the `dtype` of tensor-making ops and every declared tensor type switched to float32. The onnxruntime CPU kernels
 * have no float16 convolutions: on a float16 graph the runtime inserts a cast to float32 and back around every node,
 * so the graph pays two casts per operator and rounds every activation to float16 on the way; in float32 the
 * kernels run natively. Widening a float16 weight is exact; the outputs move only by the rounding that is no
 * longer done. Returns how many weights were widened.
 */
export function widenFloat16(graph: Graph): number {
  let widened = 0;
  const visit = (g: Graph) => {
    for (const t of g.initializer ?? []) if (widenTensor(t)) widened++;
    for (const list of [g.input, g.output, g.valueInfo]) for (const v of list ?? []) widenType(v.type);
    for (const n of g.node ?? []) {
      for (const a of n.attribute ?? []) {
        if (a.t && widenTensor(a.t)) widened++;
        for (const t of a.tensors ?? []) if (widenTensor(t)) widened++;
        // Cast(to), EyeLike/RandomNormal/... (dtype), ConstantOfShape's value tensor is covered above.
        if ((a.name === 'to' || a.name === 'dtype') && a.type === AttrType.INT && Number(a.i) === DataType.FLOAT16) a.i = DataType.FLOAT;
        if (a.g) visit(a.g);
        for (const sub of a.graphs ?? []) visit(sub);
      }
    }
  };
  visit(graph);
  return widened;
}

/** Whether a graph declares or holds float16 anywhere (its input, output, weights). */
export function hasFloat16(graph: Graph): boolean {
  const typed = [...(graph.input ?? []), ...(graph.output ?? [])].some((v) => v.type?.tensorType?.elemType === DataType.FLOAT16);
  return typed || (graph.initializer ?? []).some((t) => t.dataType === DataType.FLOAT16);
}

function widenType(type: onnxProto.onnx.ITypeProto | null | undefined): void {
  if (type?.tensorType?.elemType === DataType.FLOAT16) type.tensorType.elemType = DataType.FLOAT;
}

/** Widens one float16 tensor to float32 (raw little-endian bytes or int32_data, as ONNX stores float16); false when not float16. */
function widenTensor(t: Tensor): boolean {
  if (t.dataType !== DataType.FLOAT16) return false;
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    throw new FashionError('model/unsupported', `Expected the float16 weight ${t.name} inside the model file but it is stored externally`);
  }
  let halves: Uint16Array;
  if (t.rawData && t.rawData.length > 0) {
    const raw = t.rawData;
    // Copied out: the protobuf's bytes may sit at an odd offset of a larger buffer.
    halves = new Uint16Array(raw.length >> 1);
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let i = 0; i < halves.length; i++) halves[i] = view.getUint16(i * 2, true);
  } else {
    halves = Uint16Array.from(t.int32Data ?? [], (v) => v & 0xffff);
  }
  const floats = new Float32Array(halves.length);
  for (let i = 0; i < halves.length; i++) floats[i] = halfToFloat(halves[i]!);
  t.dataType = DataType.FLOAT;
  t.rawData = new Uint8Array(floats.buffer);
  t.int32Data = [];
  return true;
}

/** IEEE 754 binary16 to a number, exactly (every half is a float32). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24; // zero and subnormals
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}
