import { createRequire } from 'node:module';
import type { SingleBar } from 'cli-progress';

// Loaded on the first bar only: every command imports this module, few draw bars (CLI start-up time).
const load = () => createRequire(import.meta.url)('cli-progress') as typeof import('cli-progress');

/**
 * One bar per long step (copy, checksum, verify, ...), for terminals only: callers create it when standard
 * output is a TTY, so logs and scripts keep line-oriented output.
 */
export function progressBars() {
  let bar: SingleBar | undefined;
  let current = '';
  const mib = (n: number) => Math.round(n / 2 ** 20);
  return {
    update(step: string, done: number, total: number) {
      if (step !== current) {
        bar?.stop();
        const { Presets, SingleBar } = load();
        bar = new SingleBar(
          { format: ` ${step.padEnd(8)} [{bar}] {percentage}% {value}/{total} MiB`, hideCursor: true },
          Presets.shades_classic,
        );
        bar.start(mib(total), 0);
        current = step;
      }
      bar!.update(mib(done));
    },
    stop() {
      bar?.stop();
      bar = undefined;
      current = '';
    },
  };
}
