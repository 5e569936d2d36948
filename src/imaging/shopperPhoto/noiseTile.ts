import { mulberry32 } from '../../util/random.js';

/** Side of the shared noise tile (a power of two, so offsets wrap with a mask). */
export const TILE = 256;
const MASK = TILE - 1;

let tile: Float32Array | null = null;

/**
 * One tile of unit Gaussian noise, three planes, made once per process from a fixed seed. Grain and sensor noise
 * read it at a copy's seeded offset instead of drawing three random numbers per pixel (which made a copy cost
 * ~60 ms): the same offset gives the same noise, so copies stay seeded.
 */
function noiseTile(): Float32Array {
  if (tile) return tile;
  const rng = mulberry32(0x5eed7113);
  const t = new Float32Array(TILE * TILE * 3);
  for (let i = 0; i < t.length; i += 2) {
    // Box-Muller: two normal values from two uniforms.
    const r = Math.sqrt(-2 * Math.log(1 - rng()));
    const a = 2 * Math.PI * rng();
    t[i] = r * Math.cos(a);
    t[i + 1] = r * Math.sin(a);
  }
  tile = t;
  return t;
}

/**
 * Adds noise of standard deviation `sd` to an interleaved RGB image (floats, or clamped bytes), read from
 * the tile at `at`. `chroma`: each channel its own noise (a phone sensor in low light); otherwise one value for all
 * three (film-like grain in the brightness only).
 */
export function addNoise(img: Float32Array | Uint8ClampedArray, w: number, h: number, sd: number, at: readonly [number, number], chroma: boolean): void {
  if (sd <= 0) return;
  const t = noiseTile();
  const [ox, oy] = at;
  for (let y = 0; y < h; y++) {
    const row = ((y + oy) & MASK) * TILE;
    // A row of the image reads one or two contiguous runs of a tile row (it wraps at most once when w <= TILE).
    for (let x = 0; x < w; ) {
      const tx = (x + ox) & MASK;
      const run = Math.min(w - x, TILE - tx);
      let ti = (row + tx) * 3;
      let o = (y * w + x) * 3;
      const end = o + run * 3;
      if (chroma) {
        for (; o < end; o += 3, ti += 3) {
          img[o] = img[o]! + t[ti]! * sd;
          img[o + 1] = img[o + 1]! + t[ti + 1]! * sd;
          img[o + 2] = img[o + 2]! + t[ti + 2]! * sd;
        }
      } else {
        for (; o < end; o += 3, ti += 3) {
          const n = t[ti]! * sd;
          img[o] = img[o]! + n;
          img[o + 1] = img[o + 1]! + n;
          img[o + 2] = img[o + 2]! + n;
        }
      }
      x += run;
    }
  }
}
