import { setFlagsFromString } from 'node:v8';

/**
 * How far V8 lets the old generation grow past what the last full collection kept before it starts the next one, in
 * percent, for a server process.
 *
 * Left to itself V8 chooses that growth from how fast it collects against how fast the program allocates on its heap.
 * A query allocates little on the heap (its pixels and tensors are typed arrays, outside it), so V8 set the limit at only
 * ~1.35-1.4x the ~67 MB kept (the catalog's items and metadata), and with the young generation's capacity above the
 * room left, it started marking again right after each full collection: the server collected its whole heap about every
 * 8 phone-photo queries (10-50 ms of pauses and marking steps each, on 2 cores shared with other work), the largest part
 * of a phone photo's p95. At 100 (the limit at twice what was kept, ~135 MB) one full collection was left in 300 phone
 * queries (bench/query.ts gcByKind; docs/bench.md). It costs at most the heap's growth before collecting: ~67 MB here.
 * V8 reads the setting at each full collection, so setting it once the process runs takes effect at the next one.
 */
export const SERVER_HEAP_GROWING_PERCENT = 100;

/** Applies SERVER_HEAP_GROWING_PERCENT to this process (the server, and the benches that measure its queries). */
export function tuneHeapForServing(): void {
  setFlagsFromString(`--heap-growing-percent=${SERVER_HEAP_GROWING_PERCENT}`);
}
