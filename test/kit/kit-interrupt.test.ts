import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { OUTPOST, tempDir, waitFor } from '../service/helpers.ts';
import { cli, treeOf } from './fixtures.ts';

// kill -9 in the middle of an unpack: the folder does not appear; the next run keeps what was verified
// (the same files, not rewritten) and finishes.
const tmp = tempDir('kit-interrupt');
afterAll(() => tmp.cleanup());

it('an unpack killed mid-way leaves no folder, and a rerun keeps the verified files and completes', async () => {
  const config = path.join(tmp.dir, 'site');
  mkdirSync(path.join(config, 'custom/files'), { recursive: true });
  copyFileSync(path.resolve(import.meta.dirname, '../../example.yaml'), path.join(config, 'site.yaml'));
  for (let i = 0; i < 8; i++)
    writeFileSync(path.join(config, `custom/files/blob-${i}`), randomBytes(256 * 1024));
  const kit = path.join(tmp.dir, 'site.kit');
  const made = await cli([
    'kit',
    'create',
    '--config-dir',
    config,
    '--definition-file',
    'site.yaml',
    '--no-base-images',
    '--output',
    kit,
  ]);
  expect(made.code, made.stderr).toBe(0);

  const into = path.join(tmp.dir, 'unpacked');
  const partial = path.join(tmp.dir, '.unpacked.kit-partial');
  // The unpack stops itself (SIGSTOP) after its third file is in place; then it is killed.
  const child = spawn(process.execPath, [OUTPOST, 'kit', 'unpack', kit, '--into', into], {
    env: { ...process.env, OUTPOST_TEST_STOP_AT: 'unpack:written-3' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  await waitFor(
    'the unpack to stop after its third file',
    () => stderr.includes('stopped at unpack:written-3'),
    {
      timeoutMs: 30_000,
      describe: () => stderr,
    },
  );
  child.kill('SIGKILL');
  await exited;

  expect(existsSync(into)).toBe(false);
  const kept = Object.keys(treeOf(partial)).filter((f) => f !== 'outpost-kit.json');
  expect(kept).toHaveLength(3);
  const inodes = Object.fromEntries(kept.map((f) => [f, statSync(path.join(partial, f)).ino]));

  const rerun = await cli(['kit', 'unpack', kit, '--into', into]);
  expect(rerun.code, rerun.stderr).toBe(0);
  expect(rerun.stdout).toContain('(3 kept from an interrupted run)');
  for (const [f, ino] of Object.entries(inodes)) expect(statSync(path.join(into, f)).ino).toBe(ino);
  const tree = treeOf(into);
  expect(Object.keys(tree)).toHaveLength(10);
  for (let i = 0; i < 8; i++)
    expect(tree[`config/custom/files/blob-${i}`]).toEqual(treeOf(config)[`custom/files/blob-${i}`]);
  expect(existsSync(partial)).toBe(false);
  expect(existsSync(path.join(tmp.dir, '.unpacked.kit-tmp'))).toBe(false);
  expect((await cli(['kit', 'verify', into])).code).toBe(0);
});

it('a kit create killed after packing publishes nothing, and the next run reclaims what it left', async () => {
  const config = path.join(tmp.dir, 'site');
  const out = path.join(tmp.dir, 'out');
  mkdirSync(out);
  const kit = path.join(out, 'site.kit');
  const args = [
    'kit',
    'create',
    '--config-dir',
    config,
    '--definition-file',
    'site.yaml',
    '--no-base-images',
    '--output',
    kit,
  ];
  const child = spawn(process.execPath, [OUTPOST, ...args], {
    env: { ...process.env, OUTPOST_TEST_STOP_AT: 'kit-create:packed' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  await waitFor('kit create to stop after packing', () => stderr.includes('stopped at kit-create:packed'), {
    timeoutMs: 30_000,
    describe: () => stderr,
  });
  child.kill('SIGKILL');
  await exited;
  const { readdirSync } = await import('node:fs');
  const left = readdirSync(out).sort();
  expect(left).toEqual([`.site.kit.partial-${child.pid}`, `.site.kit.stage-${child.pid}`]);

  const rerun = await cli(args);
  expect(rerun.code, rerun.stderr).toBe(0);
  expect(rerun.stderr).toContain(`reclaimed: removed ${path.join(out, `.site.kit.partial-${child.pid}`)}`);
  expect(readdirSync(out).sort()).toEqual(['site.kit', 'site.kit.sha256']);
  expect((await cli(['kit', 'verify', kit])).code).toBe(0);
});
