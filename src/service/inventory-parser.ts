import { Worker } from 'node:worker_threads';
import type { Diagnostic } from '../common/diagnostics.ts';
import { ActionError } from './actions.ts';
import type { InventoryHost } from './types.ts';

/** Bounds for parsing an inventory sent to the API: time and memory of the worker that parses it. */
const PARSE_TIMEOUT_MS = 30_000;
const PARSE_HEAP_MB = 256;

let queue: Promise<unknown> = Promise.resolve();

/**
 * Parses an inventory request body off the event loop (see inventory-worker.ts), one at a time, so a burst
 * of imports queues instead of starting a thread each.
 */
export function parseInventoryOffThread(
  text: string,
): Promise<{ hosts: InventoryHost[]; diagnostics: Diagnostic[] }> {
  const run = queue.then(() => parseInWorker(text));
  queue = run.catch(() => {});
  return run;
}

function parseInWorker(text: string): Promise<{ hosts: InventoryHost[]; diagnostics: Diagnostic[] }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./inventory-worker.ts', import.meta.url), {
      workerData: { text },
      resourceLimits: { maxOldGenerationSizeMb: PARSE_HEAP_MB },
    });
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate();
      fn();
    };
    const timer = setTimeout(
      () =>
        finish(() =>
          reject(new ActionError(413, `the inventory took more than ${PARSE_TIMEOUT_MS / 1000} s to read`)),
        ),
      PARSE_TIMEOUT_MS,
    );
    worker.once('message', (result) => finish(() => resolve(result)));
    worker.once('error', (error) =>
      finish(() =>
        reject(
          (error as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY'
            ? new ActionError(413, `the inventory needs more than ${PARSE_HEAP_MB} MiB to read`)
            : error,
        ),
      ),
    );
    worker.once('exit', (code) =>
      finish(() => reject(new Error(`inventory parser exited with code ${code} without an answer`))),
    );
  });
}
