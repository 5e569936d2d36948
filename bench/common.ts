import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../src/config.js';

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

export function machine() {
  return { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', memoryGiB: round(totalmem() / 2 ** 30, 1), node: process.version };
}

const RESULTS_FILE = join(REPO_ROOT, 'bench', 'results.json');

/** Every benchmark's figures, by key, as bench/results.json holds them. */
export function loadResults(): Record<string, unknown> {
  return existsSync(RESULTS_FILE) ? (JSON.parse(readFileSync(RESULTS_FILE, 'utf8')) as Record<string, unknown>) : {};
}

/** Merges one benchmark's figures into bench/results.json (each script owns its key). */
export function saveResult(key: string, value: unknown): void {
  mkdirSync(join(REPO_ROOT, 'bench'), { recursive: true });
  const all = loadResults();
  all[key] = { ...(value as object), measuredAt: new Date().toISOString(), machine: machine() };
  writeFileSync(RESULTS_FILE, JSON.stringify(all, null, 2) + '\n');
}

export function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
}
