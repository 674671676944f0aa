/**
 * A test hook, inert unless a test sets it: with `OUTPOST_TEST_STOP_AT=<point>` in its environment the
 * build stops itself with SIGSTOP at that point, after printing `outpost: stopped at <point>` on stderr.
 * The crash-safety tests then kill it with SIGKILL (a crash at exactly that point) or fill its disk and
 * let it continue with SIGCONT (a full disk at exactly that point). Points: every step id (as the step
 * starts), `<step id>:done` (its work done, nothing released yet), and the instants inside steps named
 * where `stopPoint` is called (`inspect:mounted`, `copy:running`, `publish:synced`, `publish:old-removed`,
 * `publish:checksum`).
 */
export function stopPoint(point: string): void {
  if (process.env.OUTPOST_TEST_STOP_AT !== point) return;
  process.stderr.write(`outpost: stopped at ${point}\n`);
  process.kill(process.pid, 'SIGSTOP');
}
