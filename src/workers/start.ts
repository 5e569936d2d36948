import { fork, type ChildProcess, type ForkOptions } from 'node:child_process';
import { Worker } from 'node:worker_threads';

/**
 * Where a worker's or child's module is: compiled (dist/), plain JavaScript beside its caller; from the TypeScript
 * sources (tests and benches under `node --import tsx`), the .ts file, which needs tsx loaded first.
 * `from` is the caller's import.meta.url, `module` a path relative to it without extension ('./inferenceWorker').
 */
function entryOf(from: string, module: string): { url: URL; fromSources: boolean } {
  const fromSources = new URL(from).pathname.endsWith('.ts');
  return { url: new URL(`${module}${fromSources ? '.ts' : '.js'}`, from), fromSources };
}

/**
 * A worker thread running `module` with `data` as its workerData (plus `entry`, the module's URL). A worker starts
 * without its parent's loader: from the sources boot.mjs registers tsx first and then imports the entry; dist/ has no
 * boot.mjs and never needs tsx. workerData is cloned: what the caller keeps stays its own.
 */
export function startWorker<T extends object>(from: string, module: string, data: T): Worker {
  const { url, fromSources } = entryOf(from, module);
  const script = fromSources ? new URL('./boot.mjs', import.meta.url) : url;
  return new Worker(script, { workerData: { entry: url.href, ...data } });
}

/** A child process running `module` (IPC open), with tsx loaded when running from the sources. */
export function forkModule(from: string, module: string, options: Omit<ForkOptions, 'execArgv'> = {}): ChildProcess {
  const { url, fromSources } = entryOf(from, module);
  return fork(url, [], { ...options, execArgv: fromSources ? ['--import', 'tsx'] : [] });
}
