/**
 * Reclaiming what builds that died left behind (`outpost build --cleanup`, and the 'reclaim' step of every
 * build): everything their journals still hold, then stray temporary files next to outputs — those of a
 * build whose journal is gone (written before a reboot, which empties /run).
 */
import { readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { liveBuilds, reclaimDeadBuilds } from '../image/journal.ts';

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
