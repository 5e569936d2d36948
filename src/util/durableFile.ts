import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';

/**
 * Files beside the catalog (photos, the writer lock's holder, graph sidecars, models) are replaced whole: written under a
 * temporary name, synced, then renamed into place, so a reader (or a rerun after kill -9) sees the old file or the new
 * one, never half of one.
 */
export function replaceFileDurably(path: string, data: Uint8Array | string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileDurably(tmp, data);
  renameSync(tmp, path);
}

/** Writes a file and syncs it to disk before returning (the caller renames it into place). */
export function writeFileDurably(path: string, data: Uint8Array | string): void {
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * fsync of a file, or of a directory's entries (a rename is durable once its directory is synced). Best effort:
 * some file systems refuse it on directories; a process crash is covered by the rename alone.
 */
export function syncPath(path: string): void {
  try {
    const fd = openSync(path, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Durability against power loss only.
  }
}
