import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isAlive, loopDevices, processIdentity, reclaimDeadBuilds } from '../../src/image/journal.ts';

const line = (event: object) => `${JSON.stringify(event)}\n`;

describe('build journals', () => {
  let dir: string;
  let journals: string;
  const me = processIdentity(process.pid)!;
  // A PID that has certainly exited: a child that ran and was reaped.
  const deadPid = spawnSync('true').pid!;

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'outpost-journal-'));
    journals = path.join(dir, 'builds');
    mkdirSync(journals);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const file = (name: string, content = 'x') => {
    const p = path.join(dir, name);
    writeFileSync(p, content);
    return p;
  };

  it('tells a live process from a dead one and from a reused PID', () => {
    expect(isAlive(me)).toBe(true);
    expect(isAlive({ ...me, start: String(Number(me.start) + 1) })).toBe(false);
    expect(isAlive({ ...me, bootId: 'another-boot' })).toBe(false);
    expect(processIdentity(deadPid)).toBeUndefined();
  });

  it("undoes a dead build's unreleased holds, keeps what a line cut short by the kill said before", async () => {
    const partial = file('.site.raw.partial-1');
    const released = file('released');
    const orphan = file('site.raw.sha256');
    const kept = file('other.raw.sha256');
    file('other.raw');
    writeFileSync(
      path.join(journals, `${deadPid}-5-1.jsonl`),
      line({ op: 'build', pid: deadPid, start: '5', bootId: me.bootId }) +
        line({ op: 'hold', id: 1, resource: { kind: 'file', path: partial } }) +
        line({ op: 'hold', id: 2, resource: { kind: 'file', path: released } }) +
        line({ op: 'release', id: 2 }) +
        line({
          op: 'hold',
          id: 3,
          resource: { kind: 'file', path: orphan, unlessExists: path.join(dir, 'site.raw') },
        }) +
        line({
          op: 'hold',
          id: 4,
          resource: { kind: 'file', path: kept, unlessExists: path.join(dir, 'other.raw') },
        }) +
        '{"op":"hold","id":5,"resou',
    );
    const [result] = await reclaimDeadBuilds(journals);
    expect(result!.build).toBe(`pid ${deadPid}`);
    expect(result!.undone).toEqual([
      expect.stringContaining(`removed ${orphan}`),
      expect.stringContaining(`removed ${partial}`),
    ]);
    expect(result!.problems).toEqual([]);
    expect(existsSync(partial)).toBe(false);
    expect(existsSync(orphan)).toBe(false);
    expect(existsSync(released)).toBe(true);
    expect(existsSync(kept)).toBe(true);
    expect(readdirSync(journals)).toEqual([]);
  });

  it("leaves a live build's journal and claims of live reclaimers alone, takes over a dead reclaimer's", async () => {
    const mine = file('mine');
    const claimedByLive = file('claimed-live');
    const claimedByDead = file('claimed-dead');
    const hold = (p: string, pid: number) =>
      line({ op: 'build', pid, start: '5', bootId: me.bootId }) +
      line({ op: 'hold', id: 1, resource: { kind: 'file', path: p } });
    writeFileSync(
      path.join(journals, `${me.pid}-${me.start}-1.jsonl`),
      line({ op: 'build', ...me }) + line({ op: 'hold', id: 1, resource: { kind: 'file', path: mine } }),
    );
    writeFileSync(
      path.join(journals, `${deadPid}-5-2.jsonl.reclaiming-${me.pid}-${me.start}`),
      hold(claimedByLive, deadPid),
    );
    writeFileSync(
      path.join(journals, `${deadPid}-5-3.jsonl.reclaiming-${deadPid}-7`),
      hold(claimedByDead, deadPid),
    );
    const results = await reclaimDeadBuilds(journals);
    expect(results.flatMap((r) => r.undone)).toEqual([expect.stringContaining(`removed ${claimedByDead}`)]);
    expect(existsSync(mine)).toBe(true);
    expect(existsSync(claimedByLive)).toBe(true);
    expect(readdirSync(journals).sort()).toEqual(
      [`${deadPid}-5-2.jsonl.reclaiming-${me.pid}-${me.start}`, `${me.pid}-${me.start}-1.jsonl`].sort(),
    );
  });

  it("stops a dead build's child that still runs, but not a process that merely reuses its PID", async () => {
    const child = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    const id = processIdentity(child.pid!)!;
    try {
      writeFileSync(
        path.join(journals, `${deadPid}-5-1.jsonl`),
        line({ op: 'build', pid: deadPid, start: '5', bootId: me.bootId }) +
          // Same PID as the test process, other start time: another process now; must be spared.
          line({ op: 'hold', id: 1, resource: { kind: 'process', pid: me.pid, start: '1', command: 'cp' } }) +
          line({
            op: 'hold',
            id: 2,
            resource: { kind: 'process', pid: id.pid, start: id.start, command: 'cp' },
          }),
      );
      const [result] = await reclaimDeadBuilds(journals);
      expect(result!.undone).toEqual([`stopped cp (pid ${id.pid})`]);
      await exited;
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('detaches a loop device by file and offset when the kill came before its name was recorded, and only that one', async () => {
    const backing = file('disk.img');
    const other = file('other.img');
    spawnSync('truncate', ['-s', '8M', backing, other]);
    const attach = (f: string, offset: number) =>
      spawnSync('losetup', ['--find', '--show', '--offset', String(offset), f], {
        encoding: 'utf8',
      }).stdout.trim();
    const ours = attach(backing, 1048576);
    const sameFileOtherOffset = attach(backing, 2097152);
    const otherFile = attach(other, 1048576);
    try {
      writeFileSync(
        path.join(journals, `${deadPid}-5-1.jsonl`),
        line({ op: 'build', pid: deadPid, start: '5', bootId: me.bootId }) +
          line({ op: 'hold', id: 1, resource: { kind: 'loop', file: backing, offset: 1048576 } }) +
          // A recorded device that now backs another file: someone else's, left alone.
          line({
            op: 'hold',
            id: 2,
            resource: { kind: 'loop', file: backing, offset: 1048576, device: otherFile },
          }),
      );
      const [result] = await reclaimDeadBuilds(journals);
      expect(result!.undone).toEqual([`detached ${ours} (${backing} at byte 1048576)`]);
      const attached = loopDevices().map((l) => l.name);
      expect(attached).not.toContain(ours);
      expect(attached).toEqual(expect.arrayContaining([sameFileOtherOffset, otherFile]));
    } finally {
      for (const device of [ours, sameFileOtherOffset, otherFile]) spawnSync('losetup', ['--detach', device]);
    }
  });
});
