/**
 * Working buffers that the imaging passes reuse instead of allocating each time. A typed array's memory lives outside
 * V8's heap, and V8 schedules a full (mark-compact) collection of the whole heap each time ~64 MB of it has been
 * allocated since the last one ("external memory pressure"). A phone photo's query allocated ~6 MiB of such arrays, most
 * of them temporaries of isolation and of the fit, so a server collected its whole heap every ~5 queries, 10-50 ms each
 * time on this machine: that was a large part of a phone photo's p95 (bench/query.ts reports GC per query).
 *
 * A slot holds the largest buffer asked of it so far and hands out a view of the length asked for. Its contents are
 * whatever the last user left: a caller writes every element it reads, or fills the view first. A view is valid until
 * the next call for the same slot, so only a pass that runs to the end without awaiting (every imaging pass here) may
 * use one, and never for what it returns. Each thread (a worker making training copies) has its own slots. Each slot has
 * one purpose, so two temporaries alive at once never share one.
 *
 * Training copies gained as much: a copy's passes (its frame while composed, isolation, the fit) allocated ~5 MB of fresh
 * arrays each, and a copy worker ran a full collection about every ten copies for it, on top of the kernel zeroing
 * fresh pages (bench/trainingCopies.ts, `node --trace-gc`).
 */

/** Views longer than this are allocated afresh and not kept (a very large photo's pass would pin its memory). */
const MAX_KEPT_BYTES = 8 * 2 ** 20;

const f32 = new Map<string, Float32Array>();
const i32 = new Map<string, Int32Array>();

/** A Float32Array of `length` from slot `slot`; contents unspecified. */
export function scratchFloat32(slot: string, length: number): Float32Array {
  return view(f32, slot, length, Float32Array);
}

/** An Int32Array of `length` from slot `slot`; contents unspecified. */
export function scratchInt32(slot: string, length: number): Int32Array {
  return view(i32, slot, length, Int32Array);
}

function view<T extends Float32Array | Int32Array>(slots: Map<string, T>, slot: string, length: number, make: new (n: number) => T): T {
  if (length * 4 > MAX_KEPT_BYTES) return new make(length);
  let buf = slots.get(slot);
  if (!buf || buf.length < length) {
    buf = new make(length);
    slots.set(slot, buf);
  }
  return (buf.length === length ? buf : buf.subarray(0, length)) as T;
}

/**
 * Every kept buffer of this thread filled with `value`: for tests, so that a pass that reads an element of a reused buffer
 * before writing it gives another result than it did on fresh memory.
 */
export function fillScratch(value: number): void {
  for (const b of f32.values()) b.fill(value);
  for (const b of i32.values()) b.fill(value);
}

/** How many elements each kept buffer holds, by slot (for tests). */
export function scratchSizes(): Record<string, number> {
  return Object.fromEntries([...f32, ...i32].map(([slot, b]) => [slot, b.length]));
}
