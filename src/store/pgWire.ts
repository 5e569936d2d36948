import pg from 'pg';

/**
 * pgvector's `vector` in its binary form (vector_send / vector_recv): int16 dimensions, int16 unused (0), then each
 * float4 big-endian. The store writes vectors as binary parameters and reads them back through vector_send, so a
 * Float32Array comes back bit for bit (no decimal round trip; -0 stays -0). pgvector's node helpers (`toSql`,
 * `registerTypes`) go through decimal text and number[]: slower for 1331-dim rows, and `toSql` drops -0's sign.
 */

const HEADER = 4;
/** pgvector's limit on a vector's dimensions (VECTOR_MAX_DIM). */
export const MAX_VECTOR_DIMS = 16000;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A Float32Array as a binary `vector` parameter (pg sends a Buffer parameter in binary format). */
export function vectorParam(v: Float32Array): Buffer {
  if (v.length < 1 || v.length > MAX_VECTOR_DIMS) throw new RangeError(`a vector has 1 to ${MAX_VECTOR_DIMS} dimensions, not ${v.length}`);
  const buf = Buffer.allocUnsafe(HEADER + v.byteLength);
  buf.writeInt16BE(v.length, 0);
  buf.writeInt16BE(0, 2);
  buf.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), HEADER);
  if (LITTLE_ENDIAN) buf.subarray(HEADER).swap32();
  return buf;
}

/**
 * SQL that reads a `vector` column as its binary form (vector_send), in base64. Node-postgres decodes every result
 * column as UTF-8 text, even in its binary result mode, so binary results cannot carry float bytes; base64 text can,
 * at 1.37 bytes a byte (decimal text takes ~3, and rounds through a decimal).
 */
export function vectorSql(column: string): string {
  return `encode(vector_send(${column}), 'base64')`;
}

/** A vector read through vectorSql, as a Float32Array of its own (aligned, host byte order). */
export function vectorFromSql(base64: string): Float32Array {
  // Buffer's base64 decoder skips the line breaks PostgreSQL's encode() puts in every 76 characters.
  const buf = Buffer.from(base64, 'base64');
  const dims = buf.readUInt16BE(0);
  if (buf.byteLength !== HEADER + dims * 4) throw new Error(`a binary vector of ${dims} dimensions has ${buf.byteLength} bytes`);
  const out = new Float32Array(dims);
  const bytes = Buffer.from(out.buffer, out.byteOffset, out.byteLength);
  bytes.set(buf.subarray(HEADER));
  if (LITTLE_ENDIAN) bytes.swap32();
  return out;
}

/** int8 as a number (counts, sizes and insertion numbers stay far below 2^53); every other type as pg parses it. */
export const storeTypes: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format: 'text' | 'binary' = 'text') =>
    oid === 20 && format === 'text' ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};
