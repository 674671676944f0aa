import { Worker } from 'node:worker_threads';
import type { Diagnostic } from '../common/diagnostics.ts';
import { ActionError } from './actions.ts';
import type { InventoryHost } from './types.ts';

/** Bounds for parsing one inventory sent to the API: time and memory of the worker that parses it. */
const PARSE_TIMEOUT_MS = 30_000;
const PARSE_HEAP_MB = 256;

type Parsed = { hosts: InventoryHost[]; diagnostics: Diagnostic[] };

/**
 * Parses inventory request bodies off the event loop (see inventory-worker.ts), one at a time in one
 * long-lived worker (starting a thread costs more than parsing a small inventory). A parse that runs too
 * long or needs too much memory ends that worker; the next parse starts a new one.
 */
export class InventoryParser {
  private worker: Worker | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private nextId = 0;

  parse(text: string): Promise<Parsed> {
    const run = this.queue.then(() => this.parseNow(text));
    this.queue = run.catch(() => {});
    return run;
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  private parseNow(text: string): Promise<Parsed> {
    const worker = this.ensureWorker();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const done = (fn: () => void) => {
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
        fn();
      };
      const discard = () => {
        if (this.worker === worker) this.worker = undefined;
        void worker.terminate();
      };
      const onMessage = (message: Parsed & { id: number }) => {
        if (message.id !== id) return;
        done(() => resolve({ hosts: message.hosts, diagnostics: message.diagnostics }));
      };
      const onError = (error: Error) => {
        discard();
        done(() =>
          reject(
            (error as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY'
              ? new ActionError(413, `the inventory needs more than ${PARSE_HEAP_MB} MiB to read`)
              : error,
          ),
        );
      };
      const onExit = (code: number) => {
        discard();
        done(() => reject(new Error(`inventory parser exited with code ${code} without an answer`)));
      };
      const timer = setTimeout(() => {
        discard();
        done(() =>
          reject(new ActionError(413, `the inventory took more than ${PARSE_TIMEOUT_MS / 1000} s to read`)),
        );
      }, PARSE_TIMEOUT_MS);
      worker.on('message', onMessage);
      worker.once('error', onError);
      worker.once('exit', onExit);
      worker.postMessage({ id, text });
    });
  }

  private ensureWorker(): Worker {
    if (!this.worker) {
      this.worker = new Worker(new URL('./inventory-worker.ts', import.meta.url), {
        resourceLimits: { maxOldGenerationSizeMb: PARSE_HEAP_MB },
      });
      // An idle parser never keeps the process alive.
      this.worker.unref();
    }
    return this.worker;
  }
}
