import { readFileSync } from 'node:fs';

/**
 * A process's state and start time (clock ticks after boot) from /proc/PID/stat, or undefined when there
 * is no such process. A PID is reused; the start time tells a process from its successor.
 */
export function procStat(pid: number): { state: string; startTicks: string } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: fields are counted after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  const startTicks = fields[19];
  return state !== undefined && startTicks !== undefined ? { state, startTicks } : undefined;
}
