import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureDebianBaseImage } from '../fixtures/base-images.ts';
import {
  type ConfigDir,
  cli,
  exampleDefinition,
  loopDevicesUnder,
  makeConfigDir,
  mountsUnder,
} from './helpers.ts';

let running: { child: ChildProcess; exited: Promise<number | null> } | undefined;

/** A build a failed test left running is interrupted (and so cleans up after itself) before its dir goes. */
async function stopRunningBuild(): Promise<void> {
  if (!running || running.child.exitCode !== null || running.child.signalCode !== null) return;
  process.kill(-running.child.pid!, 'SIGINT');
  await exitWithin(running.exited, running.child, 60_000).catch(() => {});
}

/** Starts a build and resolves once a stderr line matches `trigger`; bounded, and says what it waited for. */
function startBuild(config: ConfigDir, trigger: RegExp, timeoutMs: number) {
  const child = spawn(
    process.execPath,
    [cli, 'build', '--config-dir', config.dir, '--definition-file', 'definition.yaml'],
    {
      env: { ...process.env, TMPDIR: path.join(config.dir, 'tmp') },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so a test can signal the group as a terminal's Ctrl-C does.
      detached: true,
    },
  );
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  running = { child, exited };
  const triggered = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no stderr line matching ${trigger} within ${timeoutMs} ms:\n${stderr}`)),
      timeoutMs,
    );
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (trigger.test(stderr)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', () => reject(new Error(`build exited before ${trigger}:\n${stderr}`)));
  });
  return { child, exited, triggered, stderr: () => stderr };
}

async function exitWithin(
  exited: Promise<number | null>,
  child: ChildProcess,
  ms: number,
): Promise<number | null> {
  const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), ms));
  const result = await Promise.race([exited, timeout]);
  if (result === 'timeout') {
    child.kill('SIGKILL');
    throw new Error(`build did not exit within ${ms} ms of SIGINT`);
  }
  return result;
}

describe('interrupting a build with SIGINT', () => {
  let base: string;
  let config: ConfigDir | undefined;
  beforeAll(async () => {
    base = await ensureDebianBaseImage();
  }, 900_000);
  afterEach(async () => {
    await stopRunningBuild();
    config?.remove();
  });

  const setup = (payloadMiB: number) => {
    config = makeConfigDir({
      baseImage: base,
      baseName: 'debian-12-outpost-base.raw',
      definition: exampleDefinition(),
      withCustom: true,
    });
    mkdirSync(path.join(config.dir, 'tmp'));
    // A bulky custom file keeps the root filesystem mounted long enough to be interrupted there for certain.
    if (payloadMiB)
      writeFileSync(path.join(config.dir, 'custom/files/payload.bin'), Buffer.alloc(payloadMiB * 2 ** 20, 1));
    return config;
  };

  const expectNothingLeft = (dir: string) => {
    expect(mountsUnder(dir)).toEqual([]);
    expect(loopDevicesUnder(dir)).toEqual([]);
    expect(readdirSync(dir).filter((f) => f.endsWith('.raw') || f.includes('.partial'))).toEqual([]);
  };

  it('early, as the copy starts: exit 130, no output, no partial file', async () => {
    const c = setup(0);
    const build = startBuild(c, /Copy base image/, 300_000);
    await build.triggered;
    build.child.kill('SIGINT');
    expect(await exitWithin(build.exited, build.child, 60_000)).toBe(130);
    // cp takes well under a second on this fixture: the signal lands in the copy or just after it.
    expect(build.stderr()).toMatch(/build interrupted by SIGINT during step "(copy|grow)"/);
    expectNothingLeft(c.dir);
  }, 400_000);

  it('while the root filesystem is mounted: unmounted, loop device detached, no output', async () => {
    const c = setup(256);
    const build = startBuild(c, /\] Write bundle/, 300_000);
    await build.triggered;
    // To the whole process group, like Ctrl-C in a terminal: tools outpost runs must not die half-way.
    process.kill(-build.child.pid!, 'SIGINT');
    expect(await exitWithin(build.exited, build.child, 60_000)).toBe(130);
    // Each of these steps runs with the root filesystem mounted on a loop device.
    expect(build.stderr()).toMatch(
      /build interrupted by SIGINT during step "(write-bundle|engine|kernel-args)"/,
    );
    expectNothingLeft(c.dir);
  }, 400_000);
});
