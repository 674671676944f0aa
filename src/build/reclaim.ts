/**
 * Reclaiming what builds that died left behind (`outpost build --cleanup`, and the 'reclaim' step of every
 * build): everything their journals still hold, then stray temporary files next to outputs — those of a
 * build whose journal is gone (written before a reboot, which empties /run, or inside a builder
 * container that is gone), and loop devices (with their mounts) over such files.
 */
import { readdirSync, realpathSync, rmdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { run } from '../image/exec.ts';
import { liveBuilds, loopDevices, mounts, reclaimDeadBuilds } from '../image/journal.ts';

export interface ReclaimResult {
  /** One line per thing undone, naming the dead build it belonged to. */
  undone: string[];
  problems: string[];
}

/** `.NAME.partial-PID` and everything named after it (`.iso`, `.sha256`). */
const TEMPORARY = /^\..+\.partial-(\d+)(\..*)?$/;

export async function reclaimLeftovers(journalDir: string, outputDirs: string[]): Promise<ReclaimResult> {
  const undone: string[] = [];
  const problems: string[] = [];
  for (const dead of await reclaimDeadBuilds(journalDir)) {
    undone.push(...dead.undone.map((line) => `${line} (left by dead build ${dead.build})`));
    problems.push(...dead.problems.map((line) => `${line} (left by dead build ${dead.build})`));
  }
  const live = liveBuilds(journalDir);
  const heldFiles = new Set(live.flatMap((b) => b.held.flatMap((r) => (r.kind === 'file' ? [r.path] : []))));
  const livePids = new Set(live.map((b) => b.pid));
  await reclaimStrayLoops(outputDirs, livePids, { undone, problems });
  for (const dir of outputDirs) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      const m = name.match(TEMPORARY);
      const file = path.join(dir, name);
      if (!m || heldFiles.has(file) || livePids.has(Number(m[1]))) continue;
      try {
        const stat = statSync(file);
        if (!stat.isFile()) continue;
        rmSync(file, { force: true });
        undone.push(
          `removed ${file} (${((stat.blocks * 512) / 2 ** 20).toFixed(1)} MiB on disk; no running build holds it)`,
        );
      } catch (error) {
        problems.push(`${file}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
  return { undone, problems };
}

const MOUNT_DIR = /^outpost-mnt-\d+-\d+$/;

/**
 * Loop devices over a build's temporary file that no journal accounts for (a builder container's /run
 * went away with the container, taking the journal): the file's name says whose it is. Their mounts are
 * unmounted first (and outpost's own mount points removed), then they are detached.
 */
async function reclaimStrayLoops(
  outputDirs: string[],
  livePids: Set<number>,
  out: ReclaimResult,
): Promise<void> {
  const dirs = new Set(
    outputDirs.flatMap((d) => {
      try {
        return [realpathSync(d)];
      } catch {
        return [];
      }
    }),
  );
  for (const loop of loopDevices()) {
    const m = path.basename(loop.file).match(TEMPORARY);
    if (!m || !dirs.has(path.dirname(loop.file)) || livePids.has(Number(m[1]))) continue;
    try {
      for (const { target } of mounts()
        .filter((x) => x.source === loop.name)
        .reverse()) {
        await run('umount', [target]).catch(() => run('umount', ['--lazy', target]));
        out.undone.push(`unmounted ${target} (over ${loop.file}; no running build holds it)`);
        if (MOUNT_DIR.test(path.basename(target))) {
          rmdirSync(target);
          out.undone.push(`removed directory ${target}`);
        }
      }
      await run('losetup', ['--detach', loop.name]);
      out.undone.push(
        `detached ${loop.name} (${loop.file} at byte ${loop.offset}; no running build holds it)`,
      );
    } catch (error) {
      out.problems.push(`${loop.name}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}
