/**
 * The build journal: a record, on disk, of what a running build holds — loop devices, mounts, temporary
 * files and directories, child processes — so that what a build killed with SIGKILL (or a power cut)
 * leaves behind can be found and undone by the next build or `outpost build --cleanup`.
 *
 * One file per build, `<dir>/<pid>-<start>-<n>.jsonl`, one JSON line per event, each fsynced:
 *   {"op":"build", pid, start, bootId, startedAt}     who wrote it (start: the process start time in
 *                                                      clock ticks after boot, from /proc/PID/stat)
 *   {"op":"hold", id, resource}                        written BEFORE the resource is acquired
 *   {"op":"update", id, resource}                      what was learnt while acquiring (a loop's device)
 *   {"op":"release", id}                               written after it was undone (or never acquired)
 * Writing the hold first means a kill at any instant leaves a record of everything that may exist; the
 * reclaimer therefore verifies each item before undoing it (is that directory a mount point, is that
 * loop device still backed by that file at that offset, is that PID still that process).
 *
 * A journal belongs to a dead build when its PID is gone, is a zombie, or runs a process that started at
 * another time (a reused PID), or when it was written during another boot. A live build's journal is
 * never touched. Two reclaimers never work on one journal: each first renames it to
 * `<name>.reclaiming-<its pid>-<its start>` (rename is atomic); a reclaimer that dies leaves a claim that
 * the next one takes over the same way.
 */

import {
  closeSync,
  existsSync,
  fdatasyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmdirSync,
  rmSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import { procStat } from '../common/proc-stat.ts';
import { run } from './exec.ts';

export type Resource =
  /** A temporary file; with `unlessExists`, removed only while that other path does not exist. */
  | { kind: 'file'; path: string; unlessExists?: string }
  /** An (empty) temporary directory, e.g. a mount point. */
  | { kind: 'dir'; path: string }
  | { kind: 'mount'; dir: string }
  /** `file` is the backing file's real path; `device` is known once losetup has answered. */
  | { kind: 'loop'; file: string; offset: number; device?: string }
  | { kind: 'process'; pid: number; start: string; command: string };

export interface ProcessIdentity {
  pid: number;
  /** Start time in clock ticks after boot (field 22 of /proc/PID/stat). */
  start: string;
  bootId: string;
}

export interface Held {
  /** Adds what was learnt while acquiring (a loop device's name). */
  update(patch: Partial<Resource>): void;
  /** The resource is gone (undone, or never acquired). */
  release(): void;
}

const NOT_HELD: Held = { update: () => {}, release: () => {} };
export const notJournaled = (): Held => NOT_HELD;

let cachedBootId: string | undefined;
function bootId(): string {
  cachedBootId ??= readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  return cachedBootId;
}

/** The identity of a running (not zombie) process, or undefined when there is none with that PID. */
export function processIdentity(pid: number): ProcessIdentity | undefined {
  const stat = procStat(pid);
  if (!stat || stat.state === 'Z' || stat.state === 'X') return undefined;
  return { pid, start: stat.startTicks, bootId: bootId() };
}

export function isAlive(who: ProcessIdentity): boolean {
  if (who.bootId !== bootId()) return false;
  return processIdentity(who.pid)?.start === who.start;
}

interface Entry {
  id: number;
  resource: Resource;
  released: boolean;
}

interface JournalFile {
  file: string;
  owner: ProcessIdentity;
  entries: Entry[];
}

function parseJournal(file: string): JournalFile | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  let owner: ProcessIdentity | undefined;
  const entries = new Map<number, Entry>();
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let event: Record<string, unknown>;
    try {
      event = JSON.parse(line);
    } catch {
      continue; // a line cut short by a crash: everything before it still counts
    }
    if (event.op === 'build') owner = event as unknown as ProcessIdentity;
    else if (event.op === 'hold')
      entries.set(event.id as number, {
        id: event.id as number,
        resource: event.resource as Resource,
        released: false,
      });
    else if (event.op === 'update') {
      const e = entries.get(event.id as number);
      if (e) e.resource = event.resource as Resource;
    } else if (event.op === 'release') {
      const e = entries.get(event.id as number);
      if (e) e.released = true;
    }
  }
  if (!owner) {
    // Killed before its first line reached the disk: the file name still says who wrote it.
    const m = path.basename(file).match(/^(\d+)-(\d+)-\d+\.jsonl/);
    if (!m) return undefined;
    owner = { pid: Number(m[1]), start: m[2]!, bootId: '' };
  }
  return { file, owner, entries: [...entries.values()] };
}

let journalsOpened = 0;

/** The journal of one build of the running process. */
export class Journal {
  readonly file: string;
  readonly dir: string;
  readonly #fd: number;
  #next = 1;
  readonly #entries = new Map<number, Entry>();

  private constructor(dir: string, file: string, fd: number) {
    this.dir = dir;
    this.file = file;
    this.#fd = fd;
  }

  static open(dir: string): Journal {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const me = processIdentity(process.pid)!;
    // Several builds may run in one process (tests, `outpost trial`): one journal each.
    const file = path.join(dir, `${me.pid}-${me.start}-${++journalsOpened}.jsonl`);
    const fd = openSync(file, 'w', 0o600);
    const journal = new Journal(dir, file, fd);
    journal.#append({ op: 'build', ...me, startedAt: new Date().toISOString() });
    return journal;
  }

  #append(event: object): void {
    writeSync(this.#fd, `${JSON.stringify(event)}\n`);
    fdatasyncSync(this.#fd);
  }

  hold(resource: Resource): Held {
    const entry: Entry = { id: this.#next++, resource, released: false };
    this.#append({ op: 'hold', id: entry.id, resource });
    this.#entries.set(entry.id, entry);
    return {
      update: (patch) => {
        entry.resource = { ...entry.resource, ...patch } as Resource;
        this.#append({ op: 'update', id: entry.id, resource: entry.resource });
      },
      release: () => {
        if (entry.released) return;
        entry.released = true;
        this.#append({ op: 'release', id: entry.id });
      },
    };
  }

  /**
   * At the end of the build, after the cleanup stack has unwound: undoes whatever is still held (an
   * acquisition cut short by an error), then deletes the journal. Returns what could not be undone.
   */
  async settle(): Promise<string[]> {
    const left = [...this.#entries.values()].filter((e) => !e.released);
    const { problems } = await undoEntries(left, this.dir);
    try {
      closeSync(this.#fd);
      // With problems left, the journal stays: once this process is gone, the next build retries.
      if (problems.length === 0) unlinkSync(this.file);
    } catch (error) {
      problems.push(`${this.file}: ${error instanceof Error ? error.message : String(error)}`);
    }
    return problems;
  }
}

export interface Reclaimed {
  /** The dead build: PID and start time. */
  build: string;
  /** One line per thing undone, e.g. `unmounted /tmp/outpost-mnt-41-2`. */
  undone: string[];
  problems: string[];
}

/** Finds the journals of dead builds in `dir` and undoes everything they still hold. */
export async function reclaimDeadBuilds(dir: string): Promise<Reclaimed[]> {
  if (!existsSync(dir)) return [];
  const me = processIdentity(process.pid)!;
  const results: Reclaimed[] = [];
  for (const name of readdirSync(dir).sort()) {
    const claim = name.match(/^(.*\.jsonl)\.reclaiming-(\d+)-(\d+)$/);
    if (!name.endsWith('.jsonl') && !claim) continue;
    if (claim && isAlive({ pid: Number(claim[2]), start: claim[3]!, bootId: me.bootId })) continue;
    const journal = parseJournal(path.join(dir, name));
    if (!journal || (!claim && isAlive(journal.owner))) continue;
    const claimed = path.join(dir, `${claim ? claim[1] : name}.reclaiming-${me.pid}-${me.start}`);
    try {
      renameSync(journal.file, claimed);
    } catch {
      continue; // another reclaimer was faster
    }
    const { undone, problems } = await undoEntries(
      journal.entries.filter((e) => !e.released),
      dir,
    );
    if (problems.length === 0) rmSync(claimed, { force: true });
    results.push({ build: `pid ${journal.owner.pid}`, undone, problems });
  }
  return results;
}

/** Builds still running and what they hold, e.g. so a sweep of stray files spares theirs. */
export function liveBuilds(dir: string): { pid: number; held: Resource[] }[] {
  if (!existsSync(dir)) return [];
  const live: { pid: number; held: Resource[] }[] = [];
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.jsonl')) continue;
    const journal = parseJournal(path.join(dir, name));
    if (journal && isAlive(journal.owner))
      live.push({
        pid: journal.owner.pid,
        held: journal.entries.filter((e) => !e.released).map((e) => e.resource),
      });
  }
  return live;
}

/** Processes first (a copy still writing), then everything else newest first (mounts before loops). */
async function undoEntries(entries: Entry[], journalDir: string) {
  const undone: string[] = [];
  const problems: string[] = [];
  const ordered = [
    ...entries.filter((e) => e.resource.kind === 'process'),
    ...entries.filter((e) => e.resource.kind !== 'process').reverse(),
  ];
  for (const { resource } of ordered) {
    try {
      const done = await undo(resource, journalDir);
      if (done) undone.push(done);
    } catch (error) {
      problems.push(`${describe(resource)}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return { undone, problems };
}

function describe(r: Resource): string {
  switch (r.kind) {
    case 'file':
    case 'dir':
      return r.path;
    case 'mount':
      return `mount ${r.dir}`;
    case 'loop':
      return `loop device ${r.device ?? '?'} on ${r.file} at byte ${r.offset}`;
    case 'process':
      return `${r.command} (pid ${r.pid})`;
  }
}

/** Undoes one resource if it is still there (verified first); returns what was done, or undefined. */
async function undo(r: Resource, journalDir: string): Promise<string | undefined> {
  switch (r.kind) {
    case 'process': {
      if (!isAlive({ pid: r.pid, start: r.start, bootId: bootId() })) return undefined;
      process.kill(r.pid, 'SIGKILL');
      const deadline = Date.now() + 5000;
      while (isAlive({ pid: r.pid, start: r.start, bootId: bootId() })) {
        if (Date.now() > deadline) throw new Error('still running 5 s after SIGKILL');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return `stopped ${r.command} (pid ${r.pid})`;
    }
    case 'mount': {
      if (!isMountPoint(r.dir)) return undefined;
      try {
        await run('umount', [r.dir]);
      } catch {
        await run('umount', ['--lazy', r.dir]);
      }
      return `unmounted ${r.dir}`;
    }
    case 'loop': {
      const devices = loopDevices().filter((l) => l.file === r.file && l.offset === r.offset);
      const held = new Set(
        liveBuilds(journalDir)
          .flatMap((b) => b.held)
          .flatMap((h) => (h.kind === 'loop' && h.device ? [h.device] : [])),
      );
      // Known device: only if it is still backed by that file there. Unknown (killed while losetup ran):
      // those on that file and offset that no live build holds.
      const ours = devices.filter((l) => (r.device ? l.name === r.device : !held.has(l.name)));
      for (const l of ours) await run('losetup', ['--detach', l.name]);
      return ours.length
        ? `detached ${ours.map((l) => l.name).join(', ')} (${r.file} at byte ${r.offset})`
        : undefined;
    }
    case 'dir': {
      if (!existsSync(r.path)) return undefined;
      rmdirSync(r.path);
      return `removed directory ${r.path}`;
    }
    case 'file': {
      let size: number;
      try {
        size = lstatSync(r.path).blocks * 512;
      } catch {
        return undefined;
      }
      if (r.unlessExists && existsSync(r.unlessExists)) return undefined;
      rmSync(r.path, { force: true });
      return `removed ${r.path} (${(size / 2 ** 20).toFixed(1)} MiB on disk)`;
    }
  }
}

/** Mounts from /proc/self/mounts: device and mount point (octal escapes such as \040 decoded). */
export function mounts(): { source: string; target: string }[] {
  const decode = (field: string) =>
    field.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(Number.parseInt(o, 8)));
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [source, target] = line.split(' ');
      return { source: decode(source!), target: decode(target!) };
    });
}

export function mountPoints(): string[] {
  return mounts().map((m) => m.target);
}

function isMountPoint(dir: string): boolean {
  return mountPoints().includes(dir);
}

interface LoopDevice {
  name: string;
  file: string;
  offset: number;
}

/** Attached loop devices with their backing file (without losetup's ` (deleted)` suffix) and offset. */
export function loopDevices(): LoopDevice[] {
  const sys = '/sys/block';
  const out: LoopDevice[] = [];
  for (const name of readdirSync(sys)) {
    if (!name.startsWith('loop')) continue;
    let file: string;
    try {
      file = readFileSync(path.join(sys, name, 'loop/backing_file'), 'utf8').trim();
    } catch {
      continue; // not attached
    }
    const offset = Number(readFileSync(path.join(sys, name, 'loop/offset'), 'utf8').trim());
    out.push({ name: `/dev/${name}`, file: file.replace(/ \(deleted\)$/, ''), offset });
  }
  return out;
}

/** The path a loop device reports as its backing file (links resolved). */
export function backingPath(file: string): string {
  return realpathSync(file);
}
