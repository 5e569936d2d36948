import cliProgress from 'cli-progress';

/** A progress bar on stderr (items/s and ETA); silent when stderr is not a terminal or output is JSON. */
export function progressBar(label: string, enabled: boolean) {
  if (!enabled) return { update: (_done: number, _total: number, _failed?: number) => undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {percentage}% | {value}/{total} | {speed} items/s | ETA {eta_formatted} | failed {failed}`,
      stream: process.stderr,
      hideCursor: true,
      etaBuffer: 200,
      fps: 5,
      noTTYOutput: !process.stderr.isTTY,
      notTTYSchedule: 10_000,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = performance.now();
  let running = false;
  return {
    update(done: number, total: number, failed = 0) {
      const speed = (done / Math.max((performance.now() - started) / 1000, 1e-3)).toFixed(0);
      if (!running) {
        bar.start(total, done, { speed, failed });
        running = true;
      } else {
        bar.setTotal(total);
        bar.update(done, { speed, failed });
      }
    },
    stop() {
      if (running) bar.stop();
      running = false;
    },
  };
}
