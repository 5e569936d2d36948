/**
 * Reusable typed arrays for the temporaries of one synchronous pass (a blur's intermediate rows, a flood's stack, a copy's
 * frame while it is composed), one set per thread (module state is per worker thread). A training copy's passes allocated
 * ~5 MB of fresh arrays each: V8 counts every new array buffer as external memory, and a copy worker ran a full garbage
 * collection about every ten copies for it (bench/trainingCopies.ts, `node --trace-gc`), on top of the kernel zeroing
 * fresh pages.
 *
 * A slot's contents are whatever its last user left: every user writes what it reads, or clears it first. A slot is
 * only ever held inside one synchronous stretch of code, never across an await (another copy on the same thread could
 * take it meanwhile) and never returned to a caller that keeps it. Each slot has one purpose, so two temporaries alive
 * at once never share one.
 */
const float32 = new Map<string, Float32Array>();
const int32 = new Map<string, Int32Array>();

/** A Float32Array of `length` for the slot `slot`, its contents left from its last use. */
export function scratchFloat32(slot: string, length: number): Float32Array {
  let a = float32.get(slot);
  if (!a || a.length < length) {
    a = new Float32Array(length);
    float32.set(slot, a);
  }
  return a.length === length ? a : a.subarray(0, length);
}

/** An Int32Array of `length` for the slot `slot`, its contents left from its last use. */
export function scratchInt32(slot: string, length: number): Int32Array {
  let a = int32.get(slot);
  if (!a || a.length < length) {
    a = new Int32Array(length);
    int32.set(slot, a);
  }
  return a.length === length ? a : a.subarray(0, length);
}
