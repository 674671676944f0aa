/**
 * Copying and hashing disk images. SHA-256 dominates the cost of a build, so hashing runs on every core it
 * can: the base image is hashed in a worker thread while `cp` copies it and while the rest of the build goes
 * on; the output is hashed on the main thread. `cp --sparse=always` skips holes with SEEK_DATA and copies in
 * the kernel, which is several times faster than any copy through user space.
 */
import { createHash } from 'node:crypto';
import { type FileHandle, lstat, open, stat } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { execa } from 'execa';

const BLOCK = 4 << 20;

export type Progress = (done: number, total: number) => void;

interface PassOptions {
  signal?: AbortSignal;
  onProgress?: Progress;
}

/** Reads `file` front to back, handing each block to `each`, with one read always in flight. */
async function readPass(
  handle: FileHandle,
  size: number,
  options: PassOptions,
  each: (block: Buffer, offset: number) => Promise<void> | void,
): Promise<void> {
  const buffers = [Buffer.allocUnsafe(BLOCK), Buffer.allocUnsafe(BLOCK)];
  const readAt = (offset: number, i: number) =>
    handle.read(buffers[i]!, 0, Math.min(BLOCK, size - offset), offset).then((r) => r.bytesRead);
  let offset = 0;
  let which = 0;
  let pending = size > 0 ? readAt(0, 0) : Promise.resolve(0);
  while (offset < size) {
    options.signal?.throwIfAborted();
    const n = await pending;
    if (n === 0) throw new Error(`unexpected end of file at byte ${offset} of ${size}`);
    const next = offset + n;
    pending = next < size ? readAt(next, 1 - which) : Promise.resolve(0);
    await each(buffers[which]!.subarray(0, n), offset);
    offset = next;
    which = 1 - which;
    options.onProgress?.(offset, size);
  }
}

/**
 * Copies `source` to `target` (which must not exist yet), keeping holes; progress is the target's allocated
 * bytes. `onStarted` learns the PID of `cp` (which outlives a killed outpost) and returns what to do once it
 * has exited.
 */
export async function sparseCopy(
  source: string,
  target: string,
  options: PassOptions & { onStarted?: (pid: number) => () => void } = {},
): Promise<void> {
  const total = (await stat(source)).blocks * 512;
  const child = execa('cp', ['--sparse=always', '--', source, target], {
    cancelSignal: options.signal,
    reject: false,
    detached: true,
  });
  const exited = child.pid ? options.onStarted?.(child.pid) : undefined;
  const timer = setInterval(() => {
    stat(target).then(
      (s) => options.onProgress?.(Math.min(s.blocks * 512, total), total),
      () => {},
    );
  }, 250);
  try {
    const result = await child;
    options.signal?.throwIfAborted();
    if (result.failed) throw new Error(`cp ${source} ${target}: ${result.stderr || result.shortMessage}`);
    // Everything after this writes into `target`: it must be a file of its own, never the source itself.
    const [from, to] = await Promise.all([stat(source), lstat(target)]);
    if (!to.isFile() || (to.ino === from.ino && to.dev === from.dev)) {
      throw new Error(`copying ${source} did not produce a separate file at ${target}`);
    }
    options.onProgress?.(total, total);
  } finally {
    clearInterval(timer);
    await child.catch(() => {});
    exited?.();
  }
}

/** Starts hashing a file on a worker thread; `terminate` stops it (on interruption). */
export function hashFileInBackground(file: string): {
  digest: Promise<string>;
  terminate: () => Promise<number>;
} {
  const worker = new Worker(new URL('./hash-worker.ts', import.meta.url), { workerData: { file } });
  const digest = new Promise<string>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`hashing ${file} stopped (worker exit ${code})`)));
  });
  digest.catch(() => {}); // observed by whoever awaits it; never an unhandled rejection
  return { digest, terminate: () => worker.terminate() };
}

export async function hashFile(file: string, options: PassOptions = {}): Promise<string> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    const hash = createHash('sha256');
    await readPass(handle, size, options, (block) => {
      hash.update(block);
    });
    return hash.digest('hex');
  } finally {
    await handle.close();
  }
}

/** Makes a directory's entries (a rename into it) durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function fsyncFile(file: string): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
