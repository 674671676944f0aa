import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '../service/helpers.ts';
import {
  commandLines,
  type DocBlock,
  describeBlock,
  docBlocks,
  newcomerEnv,
  runBlock,
  TESTED_DOCS,
} from '../support/doc-blocks.ts';
import { copyExampleConfigDir } from './support/example-image.ts';

/*
 * The README's walkthrough as written, from a newcomer's shell (`outpost` is install-cli.sh's wrapper,
 * nothing exported): the README's plain blocks first (they build outpost-example.raw), then the lab with
 * one QEMU server, `outpost serve` with its defaults, and the import / provision / wait commands, to a
 * provisioned host. Background blocks run until their ready line, in their own process groups. The
 * service's default state dir /var/lib/outpost is a fresh folder here: every block runs in a private
 * mount namespace (unshare -m) with a temporary folder bound there, so the commands stay as written.
 */
const STATE_MOUNT = '/var/lib/outpost';
let work = '';
const background: ChildProcess[] = [];

afterAll(async () => {
  for (const child of background) await stop(child);
  if (work) await rm(work, { recursive: true, force: true });
});

/** Ends a background block: SIGINT to its process group (the lab then powers its VM off), SIGKILL after 30 s. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  process.kill(-child.pid!, 'SIGINT');
  const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}

describe('the README walkthrough', () => {
  it(
    'goes from the set-up to a provisioned lab server by the commands as written',
    async () => {
      work = await mkdtemp(path.join(tmpdir(), 'outpost-walkthrough-'));
      await copyExampleConfigDir(work);
      const state = path.join(work, '.state');
      mkdirSync(state);
      mkdirSync(STATE_MOUNT, { recursive: true });
      // The password `outpost lab ssh` asks for is typed by ssh's askpass helper, as a person would type it.
      const askpass = path.join(work, '.askpass');
      writeFileSync(askpass, '#!/bin/sh\necho outpost-example\n', { mode: 0o755 });
      const env = {
        ...newcomerEnv(path.join(work, '.bin')),
        WALKTHROUGH_STATE: state,
        SSH_ASKPASS: askpass,
        SSH_ASKPASS_REQUIRE: 'force',
      };
      // Each block sees the temporary state folder at /var/lib/outpost.
      const wrap = [
        'unshare',
        '--mount',
        '--propagation',
        'private',
        'bash',
        '-c',
        `mount --bind "$WALKTHROUGH_STATE" ${STATE_MOUNT} && exec "$@"`,
        'walkthrough',
      ];
      const readme = TESTED_DOCS.flatMap(docBlocks).filter((b) => b.doc === 'README.md');
      const steps = readme.filter((b) => b.marker.kind === 'run' || b.marker.kind === 'walkthrough');
      expect(steps.filter((b) => b.marker.kind === 'walkthrough').length).toBeGreaterThanOrEqual(3);
      let last = '';
      for (const block of steps) {
        const until = block.marker.kind === 'walkthrough' ? block.marker.backgroundUntil : undefined;
        if (until) {
          const { child, output } = startBackground(block, work, env, wrap);
          background.push(child);
          await waitFor(`${describeBlock(block)} to print '${until}'`, () => output().includes(until), {
            timeoutMs: 180_000,
            intervalMs: 500,
            describe: () => output().slice(-3000),
          });
          continue;
        }
        const r = await runBlock(block, { cwd: work, env, timeoutMs: 40 * 60_000, wrap });
        expect(r.code, `${describeBlock(block)}\n${r.output.slice(-6000)}`).toBe(0);
        last = r.output;
        console.log(`${describeBlock(block)}: ok\n${r.output.slice(-3000)}`);
      }
      const final = readme.at(-1)!;
      expect(commandLines(final)).toContain('outpost hosts wait host-1 --for provisioned --timeout 30m');
      expect(commandLines(final).at(-1)).toBe('outpost lab ssh host-1 -l edge hostname');
      expect(last).toContain('host/host-1 provisioned');
      expect(last).toMatch(/State: +provisioned/);
      // `outpost lab ssh` reached the installed server's sshd through the loopback forward: it answers
      // with the host name its config drive gave it.
      expect(last.trimEnd().split('\n').at(-1)).toBe('host-1');
      const serial = spawnSync('outpost', ['lab', 'console', 'host-1', '--no-follow'], {
        cwd: work,
        env,
        encoding: 'utf8',
      });
      expect(serial.status, serial.stderr).toBe(0);
      expect(serial.stdout).toContain('outpost-installer: [write] done 100%');
    },
    45 * 60_000,
  );
});

function startBackground(block: DocBlock, cwd: string, env: NodeJS.ProcessEnv, wrap: string[]) {
  const [cmd, ...args] = [...wrap, 'bash', '-e', '-o', 'pipefail', '-c', block.text];
  const child = spawn(cmd!, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let text = '';
  child.stdout!.on('data', (d: Buffer) => {
    text += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    text += d.toString();
  });
  return { child, output: () => text };
}
