/**
 * Phone-like query photos for the latency benches (bench/query.ts --photos, bench/queryResults.ts --photos,
 * bench/isolationSpeed.ts --photos): `--n` held-back items (never in a catalog cut by bench/generalise.ts) rendered by the
 * shopper-photo generator with every family on (COPY_SETS.phone), styles from one side of the split. The same photos as
 * bench/generalise.ts's `queries-phone-<split>-<seed>-<n>` set when run with `--queries <n> --catalog 6000 --seed <seed>`
 * (same samples, same seeds, the same texture pool for 'photo' backdrops). Photos already in --out are kept.
 *
 *   node --import tsx bench/phonePhotos.ts [--out /work/cat/phone] [--n 300] [--split tune|held-out] [--seed 1]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { demoCatalog } from '../src/config.js';
import { COPY_SETS, drawRecipe, type Split } from '../src/imaging/shopperPhoto/recipe.js';
import { renderCopy } from '../src/imaging/shopperPhoto/render.js';
import { mulberry32 } from '../src/util/random.js';
import { arg, photoSamples, seedFrom, writePhotos } from './common.js';

const demo = demoCatalog();
if (!demo) throw new Error('needs the shared catalog (FASHION_SHARED)');
const out = arg('out', '/work/cat/phone');
const n = Number(arg('n', '300'));
const split = arg('split', 'tune') as Split;
if (split !== 'tune' && split !== 'held-out') throw new Error('--split: tune or held-out');
const seed = Number(arg('seed', '1'));

// bench/generalise.ts's default catalog size, so that 'photo' backdrops are cut from the same texture pool.
const { catalogIds, queryIds } = photoSamples(demo, { catalog: 6000, queries: n, items: 0 }, seed);
const photo = (id: string) => readFileSync(join(demo.images, `${id}.jpg`));
const spec = COPY_SETS.phone;
await writePhotos(out, queryIds, (id) => {
  const recipe = drawRecipe(mulberry32(seedFrom(`${seed}:phone:${split}:${id}`)), { families: spec.families, split, strength: spec.strength });
  const pick = recipe.backdrop?.style === 'photo' ? catalogIds[recipe.backdrop.texture.pick % catalogIds.length]! : null;
  return renderCopy(photo(id), recipe, pick ? photo(pick) : undefined);
});
console.log(JSON.stringify({ out, photos: queryIds.length, split, seed }));
