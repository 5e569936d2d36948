import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import { FashionError } from '../errors.js';
import { replaceFileDurably } from '../util/durableFile.js';

/**
 * One writer at a time per catalog. proper-lockfile makes the lock a directory (mkdir is atomic on every file system,
 * network shares included) and keeps its mtime fresh while the holder lives. Its own staleness test is time alone,
 * which cannot tell a writer whose event loop is busy (a synchronous HNSW build of a large catalog takes minutes) from
 * a dead one, so on this machine the holder's pid decides instead: a lock whose holder is gone is taken over at once,
 * one whose holder runs is never broken. A holder on another machine is judged by the mtime (STALE_MS).
 */
export const WRITER_LOCK = 'writer.lock';
/** Who holds the lock (pid, host, command, since), written beside it right after taking it. */
export const WRITER_HOLDER = 'writer.lock.json';
/**
 * A short lock around taking, breaking and releasing the writer lock, so that the lock and its holder file always
 * change together: without it, a process that finds a dead holder could remove a lock another process had just taken.
 */
const GATE = 'writer.gate';

/** A lock on another machine whose mtime has not moved for this long is taken for abandoned. */
export const STALE_MS = 10 * 60_000;
const HEARTBEAT_MS = 10_000;
/** The gate is held for milliseconds; one left by a killed process goes stale after proper-lockfile's minimum, 2 s. */
const GATE_STALE_MS = 2_000;
const GATE_RETRIES = { retries: 40, factor: 1.2, minTimeout: 20, maxTimeout: 250 };

export interface LockHolder {
  readonly pid: number;
  readonly host: string;
  /** What it is doing, e.g. `fashion index photos/`. */
  readonly command: string;
  /** ISO time it took the lock. */
  readonly since: string;
  /** The process's start time as the kernel counts it (Linux), so that a reused pid is not taken for the holder. */
  readonly started?: string | null;
}

export interface WriterLock {
  readonly holder: LockHolder;
  /** Throws when the lock was lost meanwhile (another machine judged it stale and took it): stop before committing. */
  assertHeld(): void;
  release(): Promise<void>;
}

/** Takes the catalog's writer lock or throws `catalog/locked` naming its holder. Readers never take it. */
export async function acquireWriterLock(dataDir: string, command: string): Promise<WriterLock> {
  mkdirSync(dataDir, { recursive: true });
  const lockDir = join(dataDir, WRITER_LOCK);
  const openGate = await takeGate(dataDir);
  try {
    const holder = readLockHolder(dataDir);
    if (existsSync(lockDir) && holder && holder.host === hostname()) {
      if (isRunning(holder)) throw lockedError(dataDir, holder);
      // Its holder on this machine is gone (killed, crashed): the lock is stale whatever its age.
      rmSync(lockDir, { recursive: true, force: true });
    }
    let lost: Error | null = null;
    let unlock: () => Promise<void>;
    try {
      unlock = await lockfile.lock(join(dataDir, 'writer'), {
        lockfilePath: lockDir,
        realpath: false,
        stale: STALE_MS,
        update: HEARTBEAT_MS,
        retries: 0,
        // proper-lockfile throws from a timer by default; the writer checks assertHeld() before it commits instead.
        onCompromised: (err) => {
          lost = err;
        },
      });
    } catch (err) {
      if ((err as { code?: string }).code === 'ELOCKED') throw lockedError(dataDir, holder);
      throw err;
    }
    const me: LockHolder = { pid: process.pid, host: hostname(), command, since: new Date().toISOString(), started: processStart(process.pid) };
    writeHolder(dataDir, me);
    let released = false;
    return {
      holder: me,
      assertHeld() {
        if (lost) throw new FashionError('catalog/locked', `Expected to hold the writer lock of the catalog in ${dataDir} but it was taken over (${lost.message}); nothing more was written`);
      },
      async release() {
        if (released) return;
        released = true;
        // Without the gate (held too long by others) the lock is released all the same; the holder file is then left,
        // harmless: a holder file counts only while the lock directory exists.
        const gate = await takeGate(dataDir).catch(() => null);
        try {
          const current = readLockHolder(dataDir);
          if (gate && current && current.pid === me.pid && current.host === me.host && current.since === me.since) rmSync(join(dataDir, WRITER_HOLDER), { force: true });
          await unlock().catch(() => {
            // Already released (compromised, or removed by the exit handler): nothing left to remove.
          });
        } finally {
          await gate?.();
        }
      },
    };
  } finally {
    await openGate();
  }
}

/** Runs `use` holding the catalog's writer lock, and always releases it. */
export async function withWriterLock<T>(dataDir: string, command: string, use: (lock: WriterLock) => Promise<T>): Promise<T> {
  const lock = await acquireWriterLock(dataDir, command);
  try {
    return await use(lock);
  } finally {
    await lock.release();
  }
}

/** The recorded holder of the catalog's writer lock, if any (it may be stale: see acquireWriterLock). */
export function readLockHolder(dataDir: string): LockHolder | null {
  try {
    const h = JSON.parse(readFileSync(join(dataDir, WRITER_HOLDER), 'utf8')) as LockHolder;
    return typeof h.pid === 'number' && typeof h.host === 'string' ? h : null;
  } catch {
    return null;
  }
}

function lockedError(dataDir: string, holder: LockHolder | null): FashionError {
  const who = holder ? `pid ${holder.pid} on ${holder.host} (\`${holder.command}\`) has been writing it since ${holder.since}` : 'another process is writing it (its holder file is missing)';
  return new FashionError(
    'catalog/locked',
    `Expected to be the only writer of the catalog in ${dataDir}, but ${who}. Wait for it to finish and run again; ` +
      `a lock left by a process that died on this machine is taken over automatically (elsewhere after ${STALE_MS / 60_000} minutes).`,
  );
}

async function takeGate(dataDir: string): Promise<() => Promise<void>> {
  try {
    return await lockfile.lock(join(dataDir, GATE), { lockfilePath: join(dataDir, `${GATE}.lock`), realpath: false, stale: GATE_STALE_MS, retries: GATE_RETRIES, onCompromised: () => {} });
  } catch (err) {
    if ((err as { code?: string }).code === 'ELOCKED') throw lockedError(dataDir, readLockHolder(dataDir));
    throw err;
  }
}

/** Written to a temporary name and renamed, so a reader sees the old holder or the new one, never half of one. */
function writeHolder(dataDir: string, holder: LockHolder): void {
  replaceFileDurably(join(dataDir, WRITER_HOLDER), JSON.stringify(holder));
}

/** Whether the holder's process still runs: its pid answers signal 0 and, where the kernel tells, started when it did. */
function isRunning(holder: LockHolder): boolean {
  try {
    process.kill(holder.pid, 0);
  } catch (err) {
    // EPERM: it runs, under another user.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = procStat(holder.pid);
  if (!stat) return true;
  // A zombie (killed, not yet reaped by its parent) answers signal 0 but writes nothing more.
  if (stat.state === 'Z' || stat.state === 'X') return false;
  return !holder.started || stat.start === holder.started;
}

function processStart(pid: number): string | null {
  return procStat(pid)?.start ?? null;
}

/** Fields 3 (state) and 22 (start time in clock ticks since boot) of /proc/<pid>/stat; null where there is no /proc. */
function procStat(pid: number): { state: string; start: string } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count fields after its closing one.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ? { state: fields[0]!, start: fields[19] } : null;
  } catch {
    return null;
  }
}
