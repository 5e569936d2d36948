import type { Reading } from '../embedding/queryBatcher.js';

/**
 * Two readings of one photo read as one: their backbone vectors and colour evidence averaged as they are (each backbone
 * vector has the same length, so the average stays in the space the refinement was trained on). The photo shown is the
 * first reading's. Used for the isolated product and the photo as it is around it (docs/relevance.md, issue 21): where
 * isolation cut well the two agree, where it cut into the product or left backdrop each makes up for the other.
 */
export function averageReadings(a: Reading, b: Reading): Reading {
  const mean = (x: Float32Array, y: Float32Array) => {
    const out = new Float32Array(x.length);
    for (let j = 0; j < x.length; j++) out[j] = (x[j]! + y[j]!) / 2;
    return out;
  };
  return { vector: mean(a.vector, b.vector), colour: mean(a.colour, b.colour), photo: a.photo };
}
