import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { InputError, OperationError } from '../common/diagnostics.ts';
import { procStat } from '../common/proc-stat.ts';
import { statePaths } from './state-paths.ts';

/** How many start-up backups of the database are kept. */
const BACKUPS_KEPT = 3;

/**
 * Makes the state dir private before anything is read from or written to it: the dir 0700, every file
 * in it 0600, every folder 0700 (a dir created by hand, or restored from a backup, is often 0755 and would
 * leave the database world-readable). A path that exists and is not a folder is the user's mistake.
 */
export function prepareStateDir(dir: string): void {
  let stats: ReturnType<typeof statSync> | undefined;
  try {
    stats = statSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new InputError(`--state-dir ${dir}: ${(error as NodeJS.ErrnoException).code}`);
    }
  }
  if (stats && !stats.isDirectory()) {
    throw new InputError(
      `--state-dir ${dir} is not a directory; give a directory (it is created if missing)`,
    );
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  tighten(dir);
}

/** Private modes for a folder and everything under it; links are left alone (never followed). */
export function tighten(dir: string): void {
  chmodSync(dir, 0o700);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) tighten(file);
    else if (entry.isFile() && (lstatSync(file).mode & 0o777) !== 0o600) chmodSync(file, 0o600);
  }
}

/**
 * One service per state dir: two reconcilers would drive the same BMCs twice. The lock file records the
 * owner's PID and its start time (from /proc); a lock is stale, and taken over, when that PID is dead or is
 * now another process (a PID reused after a reboot or a crash): a different start time, or not outpost.
 */
export function takeLock(file: string): () => void {
  const me = `${process.pid} ${processStartTime(process.pid) ?? 0}\n`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, me);
      closeSync(fd);
      return () => rmSync(file, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const [pidText, startText] = readFileSync(file, 'utf8').trim().split(/\s+/);
      const pid = Number(pidText);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && ownerAlive(pid, startText)) {
        throw new OperationError(`another outpost service (pid ${pid}) is using this state dir (${file})`);
      }
      rmSync(file, { force: true });
    }
  }
  throw new OperationError(`cannot take the lock ${file}`);
}

function ownerAlive(pid: number, recordedStart: string | undefined): boolean {
  const start = processStartTime(pid);
  if (start === undefined) return false;
  // A lock written before start times were recorded: the PID alone has to do.
  if (recordedStart !== undefined && recordedStart !== String(start)) return false;
  return isOutpost(pid);
}

/** The process's start time in clock ticks after boot (/proc/PID/stat field 22), or undefined if it is gone. */
export function processStartTime(pid: number): number | undefined {
  const start = Number(procStat(pid)?.startTicks);
  return Number.isFinite(start) ? start : undefined;
}

/** The process runs outpost: its command line has the `outpost` program (or bin/outpost.js) in it. */
function isOutpost(pid: number): boolean {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return argv.slice(0, 3).some((arg) => ['outpost', 'outpost.js'].includes(path.basename(arg)));
  } catch {
    return false;
  }
}

/**
 * Checks the database before the service uses it (SQLite's quick_check; a file that is not a database fails
 * here too) and keeps a copy of it: a backup at each start, the last BACKUPS_KEPT kept, so `--repair` has a
 * recent good one to restore. A damaged database is a clear message naming what to do, not a stack trace.
 */
export function checkAndBackUpDatabase(stateDir: string): void {
  const paths = statePaths(stateDir);
  if (!existsSync(paths.database)) return;
  const problem = databaseProblem(paths.database);
  if (problem) {
    const backup = newestBackup(stateDir);
    throw new OperationError(
      `${paths.database} is damaged (${problem}). ${
        backup
          ? `Run \`outpost serve --repair\` with the same --state-dir to restore the last good copy (${path.basename(backup)})`
          : 'There is no backup to restore; move it aside to start with an empty database'
      }`,
    );
  }
  mkdirSync(paths.backups, { recursive: true, mode: 0o700 });
  // A UTC time stamp to the millisecond: names sort in the order the backups were taken.
  const name = `outpost-${new Date().toISOString().replace(/[-:.]/g, '')}.db`;
  const target = path.join(paths.backups, name);
  const partial = `${target}.partial`;
  rmSync(partial, { force: true });
  const db = new DatabaseSync(paths.database);
  try {
    db.exec(`VACUUM INTO '${partial.replaceAll("'", "''")}'`);
  } finally {
    db.close();
  }
  chmodSync(partial, 0o600);
  renameSync(partial, target);
  for (const old of listBackups(stateDir).slice(0, -BACKUPS_KEPT)) rmSync(old, { force: true });
}

/**
 * `outpost serve --repair`: replaces the database with the newest backup that passes the check (the damaged
 * file is kept beside it, renamed). Returns what was done, for the user.
 */
export function repairDatabase(stateDir: string): string {
  const paths = statePaths(stateDir);
  if (existsSync(paths.database) && !databaseProblem(paths.database)) {
    return `${paths.database} passes the check: nothing to repair`;
  }
  const good = listBackups(stateDir)
    .reverse()
    .find((b) => !databaseProblem(b));
  if (!good) throw new OperationError(`no good backup of ${paths.database} in ${paths.backups}`);
  const damaged = `${paths.database}.damaged-${Date.now()}`;
  if (existsSync(paths.database)) renameSync(paths.database, damaged);
  for (const suffix of ['-wal', '-shm']) {
    if (existsSync(paths.database + suffix)) renameSync(paths.database + suffix, damaged + suffix);
  }
  const partial = `${paths.database}.partial`;
  copyFileSync(good, partial);
  chmodSync(partial, 0o600);
  renameSync(partial, paths.database);
  return `restored ${paths.database} from ${path.basename(good)}${existsSync(damaged) ? `; the damaged file is kept as ${path.basename(damaged)}` : ''}`;
}

function databaseProblem(file: string): string | undefined {
  let db: DatabaseSync | undefined;
  try {
    // Read-write: a database left by a crash may need its WAL recovered before it can be read.
    db = new DatabaseSync(file);
    const rows = db.prepare('PRAGMA quick_check').all() as { quick_check: string }[];
    const result = rows.map((r) => r.quick_check).join('; ');
    if (result !== 'ok') return result.slice(0, 300);
    db.prepare("SELECT value FROM meta WHERE key = 'schemaVersion'").get();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  } finally {
    db?.close();
  }
}

function listBackups(stateDir: string): string[] {
  const dir = statePaths(stateDir).backups;
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => /^outpost-.*\.db$/.test(f))
    .sort()
    .map((f) => path.join(dir, f));
}

function newestBackup(stateDir: string): string | undefined {
  return listBackups(stateDir).at(-1);
}
