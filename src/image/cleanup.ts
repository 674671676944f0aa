/**
 * Undo actions for disk surgery (unmount, detach a loop device, delete a partial output), run in reverse
 * order on success, on errors and on SIGINT/SIGTERM, so an interrupted build leaves nothing behind. With a
 * journal (journal.ts), each resource is also recorded on disk before it is acquired, so what a SIGKILL
 * leaves behind is reclaimed by the next build.
 */
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { type Held, type Journal, notJournaled, type Resource } from './journal.ts';

export class Interrupted extends Error {
  override name = 'Interrupted';
  readonly signal: NodeJS.Signals;
  constructor(signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`);
    this.signal = signal;
  }
}

interface Undo {
  label: string;
  run: () => Promise<void> | void;
}

export class CleanupStack {
  readonly #undos: Undo[] = [];
  readonly #controller = new AbortController();
  readonly failures: string[] = [];
  readonly journal: Journal | undefined;

  constructor(journal?: Journal) {
    this.journal = journal;
  }

  /** Records a resource in the journal; call it BEFORE acquiring, release once undone or not acquired. */
  hold(resource: Resource): Held {
    return this.journal?.hold(resource) ?? notJournaled();
  }

  /**
   * A temporary file: recorded before it exists, removed on unwind (with `unlessExists`: only while that
   * path does not exist). Returns the removal, to run early.
   */
  tempFile(file: string, options: { unlessExists?: string } = {}): () => Promise<void> {
    const held = this.hold({ kind: 'file', path: file, ...options });
    return this.push(`remove ${file}`, async () => {
      if (!options.unlessExists || !existsSync(options.unlessExists)) await rm(file, { force: true });
      held.release();
    });
  }

  /** Aborted when SIGINT or SIGTERM arrives: long loops check it, `checkpoint()` throws on it. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Registers an undo action and returns a function that runs it now and removes it from the stack. */
  push(label: string, run: Undo['run']): () => Promise<void> {
    const undo = { label, run };
    this.#undos.push(undo);
    return async () => {
      const i = this.#undos.lastIndexOf(undo);
      if (i === -1) return;
      this.#undos.splice(i, 1);
      await run();
    };
  }

  /** Throws `Interrupted` once a signal has arrived; call it between steps. */
  checkpoint(): void {
    if (this.signal.aborted) throw this.signal.reason as Error;
  }

  interrupt(signal: NodeJS.Signals): void {
    if (!this.signal.aborted) this.#controller.abort(new Interrupted(signal));
  }

  /** Runs every undo action, newest first; a failing one is recorded and the rest still run. */
  async unwind(): Promise<void> {
    while (this.#undos.length) {
      const undo = this.#undos.pop()!;
      try {
        await undo.run();
      } catch (error) {
        this.failures.push(`${undo.label}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
}

/**
 * Runs `body` with a cleanup stack wired to SIGINT and SIGTERM. The signal aborts the work at the next
 * checkpoint; the stack unwinds either way; the original error (or `Interrupted`) is rethrown.
 */
export async function withCleanup<T>(
  body: (stack: CleanupStack) => Promise<T>,
  options: { journal?: Journal } = {},
): Promise<T> {
  const stack = new CleanupStack(options.journal);
  const onSignal = (signal: NodeJS.Signals) => stack.interrupt(signal);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await body(stack);
  } finally {
    await stack.unwind();
    // Whatever an acquisition cut short by an error may have left, then the journal itself.
    if (options.journal) stack.failures.push(...(await options.journal.settle()));
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (stack.failures.length) {
      // Leftover mounts or loop devices must not go unnoticed, even when the build itself failed.
      process.stderr.write(`cleanup problems:\n${stack.failures.map((f) => `  ${f}`).join('\n')}\n`);
      process.exitCode = 1;
    }
  }
}
