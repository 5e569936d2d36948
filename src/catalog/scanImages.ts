import { opendir, realpath, stat } from 'node:fs/promises';
import { extname, join, relative, sep } from 'node:path';
import { FashionError } from '../errors.js';
import type { FileState } from '../store/catalogStore.js';
import { isValidId } from './metadataCsv.js';

export const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp']);

export interface ScannedFile extends FileState {
  readonly id: string;
}

export interface ScanProblem {
  readonly path: string;
  readonly message: string;
}

/**
 * Lists the photos under `root` (recursively). An item's id is its file name without the extension, as
 * the shop's CSV names it. Links that lead outside the folder, unreadable entries and repeated ids are
 * reported and skipped.
 */
export async function scanImages(root: string): Promise<{ root: string; files: ScannedFile[]; problems: ScanProblem[] }> {
  let realRoot: string;
  try {
    realRoot = await realpath(root);
    if (!(await stat(realRoot)).isDirectory()) throw new Error('not a directory');
  } catch (err) {
    throw new FashionError('input/not-found', `Expected a folder of images at ${root} but ${(err as Error).message}`, { cause: err });
  }
  const files: ScannedFile[] = [];
  const problems: ScanProblem[] = [];
  const seen = new Map<string, string>();
  const walk = async (dir: string): Promise<void> => {
    const entries = [];
    for await (const e of await opendir(dir)) entries.push(e);
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const full = join(dir, e.name);
      const rel = relative(realRoot, full);
      if (e.name.startsWith('.')) continue;
      if (e.isDirectory()) {
        await walk(full);
        continue;
      }
      if (!IMAGE_EXTENSIONS.has(extname(e.name).toLowerCase())) continue;
      try {
        const real = await realpath(full);
        if (!isInside(realRoot, real)) {
          problems.push({ path: rel, message: 'links outside the catalog folder; skipped' });
          continue;
        }
        const st = await stat(real);
        if (!st.isFile()) continue;
        const id = e.name.slice(0, e.name.length - extname(e.name).length);
        if (!isValidId(id)) {
          problems.push({ path: rel, message: `file name ${JSON.stringify(id)} is not a valid item id; skipped` });
          continue;
        }
        const other = seen.get(id);
        if (other) {
          problems.push({ path: rel, message: `id ${id} is already used by ${other}; skipped` });
          continue;
        }
        seen.set(id, rel);
        files.push({ id, path: rel, size: st.size, mtimeMs: Math.floor(st.mtimeMs) });
      } catch (err) {
        problems.push({ path: rel, message: `could not be read: ${(err as Error).message}` });
      }
    }
  };
  await walk(realRoot);
  return { root: realRoot, files, problems };
}

export function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel !== '' && !rel.startsWith('..') && !rel.startsWith(sep) && !rel.includes(`..${sep}`) && rel !== '..';
}
