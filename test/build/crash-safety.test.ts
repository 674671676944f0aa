/**
 * Crash safety of `outpost build`, at every step: SIGKILL there, and a full disk there. The build runs in
 * a small tmpfs (output, build directory and TMPDIR, so mount points too) against a synthetic MBR/xfs base
 * image (a build takes about a second). `OUTPOST_TEST_STOP_AT` (src/build/test-stop.ts) makes the build
 * stop itself with SIGSTOP at a named point; the test then kills it, or fills the tmpfs and resumes it.
 * The points come from the step table, so a step added to it is covered here without a change.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILD_STEPS } from '../../src/build/steps.ts';
import { hashFile } from '../../src/image/copy.ts';
import { processIdentity } from '../../src/image/journal.ts';
import { cli, loopDevicesUnder, mountsUnder } from './helpers.ts';
import { makeMbrXfsImage } from './synthetic-images.ts';

const definition = `apiVersion: 1.2
image:
  imageType: raw
  arch: x86_64
  baseImage: ubuntu.raw
  outputImageName: site.raw
operatingSystem:
  kernelArgs:
    - console=ttyS0,115200
`;

// Steps that apply to every build (the ISO step is skipped for raw output: test/e2e/iso-output covers it).
const STEPS = BUILD_STEPS.filter((s) => !s.appliesWhen).map((s) => s.id);
const INNER = [
  'inspect:mounted',
  'copy:running',
  'publish:synced',
  'publish:old-removed',
  'publish:checksum',
];
// Each step as it starts (what the earlier steps hold), the instants inside steps where what is held
// changes, and after the last step. (`<id>:done` exists too, but holds what the next step starts with.)
const KILL_POINTS = [...STEPS, ...INNER, `${STEPS.at(-1)}:done`];
const FULL_DISK_POINTS = [...STEPS, ...INNER];

const work = mkdtempSync(path.join(tmpdir(), 'outpost-crash-'));
const site = path.join(work, 'site');
const image = path.join(site, 'site.raw');
const checksum = `${image}.sha256`;
const filler = path.join(site, 'filler');
// The builds' journals, private to this test: a build running elsewhere on the machine at the same time
// reclaims the dead builds of the journal dir it uses, and would race this test's reclaimers.
const BUILD_JOURNAL_DIR = path.join(work, 'journals');
const buildEnv = { TMPDIR: path.join(site, 'tmp'), OUTPOST_TEST_JOURNAL_DIR: BUILD_JOURNAL_DIR };

interface Started {
  child: ChildProcess;
  exited: Promise<number | null>;
  stderr: () => string;
}

function start(env: Record<string, string> = {}, definitionFile = 'definition.yaml'): Started {
  const child = spawn(
    process.execPath,
    [cli, 'build', '--config-dir', site, '--definition-file', definitionFile],
    { env: { ...process.env, ...buildEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, stderr: () => stderr };
}

/** Resolves once the build has stopped itself at `point` (stderr line and process state T), within 60 s. */
async function stoppedAt(build: Started, point: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const stat = readFileSync(`/proc/${build.child.pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    if (build.stderr().includes(`outpost: stopped at ${point}\n`) && state === 'T') return;
    if (build.child.exitCode !== null || Date.now() > deadline)
      throw new Error(`the build did not stop at ${point} within 60 s:\n${build.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function exitWithin(build: Started, ms: number): Promise<number | null> {
  const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), ms));
  const result = await Promise.race([build.exited, timeout]);
  if (result === 'timeout') {
    build.child.kill('SIGKILL');
    throw new Error(`the build did not exit within ${ms} ms:\n${build.stderr()}`);
  }
  return result;
}

function run(...args: string[]) {
  return spawnSync(process.execPath, [cli, 'build', '--config-dir', site, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...buildEnv },
    timeout: 120_000,
  });
}

/** Everything a build may leave: loop devices and mounts under the work dir, temporary files, its journal. */
function leftovers(pid?: number) {
  return {
    loops: loopDevicesUnder(work).map((l) => l.split(/\s+/)[0]!),
    mounts: mountsUnder(path.join(site, 'tmp')).map((m) => m.split(' ')[1]!),
    files: readdirSync(site).filter((f) => f.includes('.partial-')),
    mountDirs: readdirSync(path.join(site, 'tmp')),
    journals: pid ? readdirSync(BUILD_JOURNAL_DIR).filter((f) => f.startsWith(`${pid}-`)) : [],
  };
}

const nothing = { loops: [], mounts: [], files: [], mountDirs: [], journals: [] };

/** The invariant: an image under the final name only together with its matching checksum. */
async function expectNoImageWithoutChecksum(name = 'site.raw'): Promise<'none' | 'complete'> {
  const file = path.join(site, name);
  if (!existsSync(file)) return 'none';
  expect(existsSync(`${file}.sha256`), `${file} exists without its .sha256`).toBe(true);
  expect(readFileSync(`${file}.sha256`, 'utf8')).toBe(`${await hashFile(file)}  ${name}\n`);
  return 'complete';
}

describe('crash safety of outpost build', () => {
  const killFigures: string[] = [];
  const diskFigures: string[] = [];

  beforeAll(() => {
    const base = makeMbrXfsImage(path.join(work, 'ubuntu.raw'), { grub: true });
    mkdirSync(site);
    // Room for the copy (7 MiB on disk) plus the 64 MiB reserve of the free-space check, and for the
    // ISO case its installer base (kernel and initrd, in the build directory's cache) and the ISO.
    execOrThrow('mount', ['-t', 'tmpfs', '-o', 'size=256m', 'tmpfs', site]);
    mkdirSync(path.join(site, 'base-images'));
    mkdirSync(path.join(site, 'tmp'));
    symlinkSync(base, path.join(site, 'base-images', 'ubuntu.raw'));
    writeFileSync(path.join(site, 'definition.yaml'), definition);
    writeFileSync(
      path.join(site, 'iso.yaml'),
      definition
        .replace('imageType: raw', 'imageType: iso')
        .replace('site.raw', 'site.iso')
        .concat('  isoConfiguration:\n    installDevice: /dev/vda\n'),
    );
  }, 120_000);

  afterAll(() => {
    // Whatever a failed test left (this also exercises --cleanup once more).
    run('--cleanup');
    spawnSync('umount', [site]);
    rmSync(work, { recursive: true, force: true });
    process.stdout.write(`\nSIGKILL points (${killFigures.length}):\n  ${killFigures.join('\n  ')}\n`);
    process.stdout.write(`\nfull-disk points (${diskFigures.length}):\n  ${diskFigures.join('\n  ')}\n`);
  });

  it('builds (the image every later kill must leave intact or replace whole)', async () => {
    const r = run('--definition-file', 'definition.yaml');
    expect(r.status, r.stderr).toBe(0);
    expect(await expectNoImageWithoutChecksum()).toBe('complete');
  });

  it.each(KILL_POINTS.map((point, i) => [point, i % 2 === 0 ? '--cleanup' : 'the next build'] as const))(
    'SIGKILL at %s: no image without its checksum; %s reclaims everything',
    async (point, reclaimer) => {
      const build = start({ OUTPOST_TEST_STOP_AT: point });
      await stoppedAt(build, point);
      const pid = build.child.pid!;
      build.child.kill('SIGKILL');
      await exitWithin(build, 10_000);
      const left = leftovers(pid);
      const state = await expectNoImageWithoutChecksum();

      const r = reclaimer === '--cleanup' ? run('--cleanup') : run('--definition-file', 'definition.yaml');
      expect(r.status, r.stderr).toBe(0);
      const said = reclaimer === '--cleanup' ? r.stdout : r.stderr;
      // Each loop device, mount and temporary file the dead build left is named in what was reclaimed.
      for (const item of [...left.loops, ...left.mounts, ...left.files, ...left.mountDirs])
        expect(said, `${item} not reported as reclaimed`).toContain(path.basename(item));
      expect(leftovers(pid)).toEqual(nothing);
      expect(existsSync(checksum), 'a checksum without its image is left').toBe(existsSync(image));
      if (reclaimer === 'the next build') expect(await expectNoImageWithoutChecksum()).toBe('complete');
      else await expectNoImageWithoutChecksum();
      const reclaimed = said.split('\n').filter((l) => l.includes('reclaimed:')).length;
      killFigures.push(
        `${point}: image after kill ${state}; left ${left.loops.length} loop, ${left.mounts.length} mount, ` +
          `${left.files.length} file(s), ${left.mountDirs.length} dir(s); ${reclaimer} reclaimed ${reclaimed} item(s)`,
      );
    },
    120_000,
  );

  it.each(FULL_DISK_POINTS)(
    'full disk at %s: a clear error naming the step and path, exit 1, nothing under the final names, nothing left',
    async (point) => {
      rmSync(image, { force: true });
      rmSync(checksum, { force: true });
      const build = start({ OUTPOST_TEST_STOP_AT: point });
      await stoppedAt(build, point);
      const pid = build.child.pid!;
      spawnSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=1M'], { stdio: 'ignore' });
      build.child.kill('SIGCONT');
      const code = await exitWithin(build, 120_000);
      const stderr = build.stderr();
      expect(stderr).not.toContain('internal error');
      expect(stderr).not.toMatch(/^\s+at /m);
      rmSync(filler);
      let outcome: string;
      if (code === 0) {
        // Nothing was left to write: the build completes, image and checksum together.
        expect(await expectNoImageWithoutChecksum()).toBe('complete');
        outcome = 'completed (nothing left to write)';
      } else {
        expect(code, stderr).toBe(1);
        const failure = stderr.match(/error: step "([\w:-]+)" \(.+?\) failed on (\/\S+)/);
        expect(failure, stderr).not.toBeNull();
        expect(stderr).toMatch(/no space left on device|ENOSPC|not enough free space/i);
        expect(existsSync(image)).toBe(false);
        expect(existsSync(checksum)).toBe(false);
        outcome = `exit 1 in step "${failure![1]}" naming ${failure![2]}`;
      }
      // The build undid everything itself; --cleanup finds nothing of it.
      expect(leftovers(pid)).toEqual(nothing);
      const r = run('--cleanup');
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).not.toContain(`dead build pid ${pid}`);
      diskFigures.push(`${point}: ${outcome}`);
    },
    180_000,
  );

  // The ISO step applies only to imageType: iso, so it gets its own definition here.
  it('SIGKILL and a full disk as the self-installing ISO is made', async () => {
    let build = start({ OUTPOST_TEST_STOP_AT: 'installer-iso' }, 'iso.yaml');
    await stoppedAt(build, 'installer-iso');
    let pid = build.child.pid!;
    build.child.kill('SIGKILL');
    await exitWithin(build, 10_000);
    const left = leftovers(pid);
    expect(left.files).toEqual([`.site.iso.partial-${pid}`]);
    let r = run('--cleanup');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`.site.iso.partial-${pid}`);
    expect(leftovers(pid)).toEqual(nothing);

    build = start({ OUTPOST_TEST_STOP_AT: 'installer-iso' }, 'iso.yaml');
    await stoppedAt(build, 'installer-iso');
    pid = build.child.pid!;
    spawnSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=1M'], { stdio: 'ignore' });
    build.child.kill('SIGCONT');
    expect(await exitWithin(build, 120_000), build.stderr()).toBe(1);
    rmSync(filler);
    expect(build.stderr()).toMatch(/error: step "installer-iso" \(Self-installing ISO\) failed on \//);
    expect(build.stderr()).toMatch(/no space left on device/i);
    expect(build.stderr()).not.toMatch(/internal error|^\s+at /m);
    expect(existsSync(path.join(site, 'site.iso'))).toBe(false);
    expect(leftovers(pid)).toEqual(nothing);

    r = run('--definition-file', 'iso.yaml');
    expect(r.status, r.stderr).toBe(0);
    expect(await expectNoImageWithoutChecksum('site.iso')).toBe('complete');
    rmSync(path.join(site, 'site.iso'));
    rmSync(path.join(site, 'site.iso.sha256'));
    killFigures.push('installer-iso (imageType: iso): left 1 file; --cleanup reclaimed it');
    diskFigures.push(`installer-iso (imageType: iso): ${build.stderr().match(/error: .*/)![0]}`);
  }, 300_000);

  it('reclaims by name what a build left whose journal is gone (a builder container taken away)', async () => {
    const build = start({ OUTPOST_TEST_STOP_AT: 'kernel-args' });
    await stoppedAt(build, 'kernel-args');
    const pid = build.child.pid!;
    build.child.kill('SIGKILL');
    await exitWithin(build, 10_000);
    const left = leftovers(pid);
    expect(left.loops.length).toBe(1);
    for (const journal of left.journals) rmSync(path.join(BUILD_JOURNAL_DIR, journal));
    const r = run('--cleanup');
    expect(r.status, r.stderr).toBe(0);
    for (const item of [...left.loops, ...left.mounts, ...left.files, ...left.mountDirs])
      expect(r.stdout, `${item} not reported as reclaimed`).toContain(path.basename(item));
    expect(leftovers(pid)).toEqual(nothing);
    killFigures.push(
      `kernel-args, journal deleted: --cleanup reclaimed ${r.stdout.trim().split('\n').length} item(s) by name`,
    );
  }, 120_000);

  it('leaves a live build alone, and treats a reused PID as dead', async () => {
    const build = start({ OUTPOST_TEST_STOP_AT: 'write-bundle' });
    await stoppedAt(build, 'write-bundle');
    const pid = build.child.pid!;
    const held = leftovers(pid);
    expect(held.mounts.length).toBe(1);
    // A journal naming this test's own PID with another start time: a build that died long ago.
    const me = processIdentity(process.pid)!;
    const stale = path.join(site, `.site.raw.partial-${process.pid}`);
    writeFileSync(stale, 'left by a build whose PID is now reused');
    const journal = path.join(BUILD_JOURNAL_DIR, `${process.pid}-1-1.jsonl`);
    writeFileSync(
      journal,
      `${JSON.stringify({ op: 'build', pid: process.pid, start: '1', bootId: me.bootId })}\n` +
        `${JSON.stringify({ op: 'hold', id: 1, resource: { kind: 'file', path: stale } })}\n`,
    );
    const r = run('--cleanup');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`removed ${stale}`);
    expect(existsSync(journal)).toBe(false);
    expect(r.stdout).not.toContain(`pid ${pid}`);
    expect(leftovers(pid)).toEqual(held);
    build.child.kill('SIGCONT');
    expect(await exitWithin(build, 60_000)).toBe(0);
    expect(leftovers(pid)).toEqual(nothing);
    expect(await expectNoImageWithoutChecksum()).toBe('complete');
  }, 120_000);
});

function execOrThrow(command: string, args: string[]): void {
  const r = spawnSync(command, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')}: ${r.stderr}`);
}
