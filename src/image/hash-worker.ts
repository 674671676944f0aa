/** Worker thread body: SHA-256 of one file, so a second hash can run on another core at the same time. */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';

const { file } = workerData as { file: string };
const hash = createHash('sha256');
const buffer = Buffer.allocUnsafe(4 << 20);
const fd = openSync(file, 'r');
try {
  for (
    let n = readSync(fd, buffer, 0, buffer.length, null);
    n > 0;
    n = readSync(fd, buffer, 0, buffer.length, null)
  ) {
    hash.update(buffer.subarray(0, n));
  }
} finally {
  closeSync(fd);
}
parentPort!.postMessage(hash.digest('hex'));
