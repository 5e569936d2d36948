import { scratchInt32 } from './scratch.js';

/**
 * Marks the pixels reachable from the image border through pixels for which `isBackground(i)` holds
 * (4-connected): the studio backdrop or a shopper's table around a product, without the product's own
 * pixels of the same colour that its outline encloses. `i` is the pixel index y * width + x.
 */
export function floodFromBorder(width: number, height: number, isBackground: (i: number) => boolean): Uint8Array {
  const n = width * height;
  const mark = new Uint8Array(n);
  // A pixel is marked when pushed, so each is pushed at most once: a typed stack of n pixels is enough and never grows.
  const stack = new Int32Array(n);
  let top = 0;
  const push = (i: number) => {
    if (!mark[i] && isBackground(i)) {
      mark[i] = 1;
      stack[top++] = i;
    }
  };
  for (let x = 0; x < width; x++) {
    push(x);
    push((height - 1) * width + x);
  }
  for (let y = 0; y < height; y++) {
    push(y * width);
    push(y * width + width - 1);
  }
  while (top > 0) {
    const i = stack[--top]!;
    const x = i % width;
    if (x > 0) push(i - 1);
    if (x < width - 1) push(i + 1);
    if (i >= width) push(i - width);
    if (i < n - width) push(i + width);
  }
  return mark;
}

/**
 * `floodFromBorder` for the common test "value at most `max`" (isolation's distance to the backdrop): the same pixels,
 * without a call through a predicate for each of the ~4 visits per pixel (that call, shared by three callers and so not
 * inlined, took a fifth of a phone photo's isolation).
 */
export function floodFromBorderAtMost(width: number, height: number, values: Float32Array, max: number): Uint8Array {
  const n = width * height;
  const mark = new Uint8Array(n);
  // Scratch (src/imaging/scratch.ts): only what was pushed is read.
  const stack = scratchInt32('flood.stack', n);
  let top = 0;
  const seed = (i: number) => {
    if (!mark[i] && values[i]! <= max) {
      mark[i] = 1;
      stack[top++] = i;
    }
  };
  for (let x = 0; x < width; x++) {
    seed(x);
    seed((height - 1) * width + x);
  }
  for (let y = 0; y < height; y++) {
    seed(y * width);
    seed(y * width + width - 1);
  }
  while (top > 0) {
    const i = stack[--top]!;
    const x = i % width;
    let j = i - 1;
    if (x > 0 && !mark[j] && values[j]! <= max) {
      mark[j] = 1;
      stack[top++] = j;
    }
    j = i + 1;
    if (x < width - 1 && !mark[j] && values[j]! <= max) {
      mark[j] = 1;
      stack[top++] = j;
    }
    j = i - width;
    if (i >= width && !mark[j] && values[j]! <= max) {
      mark[j] = 1;
      stack[top++] = j;
    }
    j = i + width;
    if (i < n - width && !mark[j] && values[j]! <= max) {
      mark[j] = 1;
      stack[top++] = j;
    }
  }
  return mark;
}
