import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BuildReport } from '../../src/build/build-image.ts';
import { withCleanup } from '../../src/image/cleanup.ts';
import { hashFile } from '../../src/image/copy.ts';
import { readEspFile } from '../../src/image/esp.ts';
import { openRootFilesystem } from '../../src/image/root-fs.ts';
import { ensureDebianBaseImage } from '../fixtures/base-images.ts';
import {
  type ConfigDir,
  cli,
  exampleDefinition,
  loopDevicesUnder,
  makeConfigDir,
  mountsUnder,
} from './helpers.ts';

describe('building the example definition against the Debian fixture', () => {
  let config: ConfigDir;
  let base: string;
  let baseHash: string;
  let baseMtime: number;
  let outputHash: string;
  let result: ReturnType<typeof spawnSync>;
  let report: BuildReport;
  const output = () => path.join(config.dir, 'outpost-example.raw');

  beforeAll(async () => {
    base = await ensureDebianBaseImage();
    baseHash = await hashFile(base);
    baseMtime = statSync(base).mtimeMs;
    config = makeConfigDir({
      baseImage: base,
      baseName: 'debian-12-outpost-base.raw',
      definition: exampleDefinition(),
      withCustom: true,
    });
    mkdirSync(path.join(config.dir, 'tmp'));
    result = spawnSync(
      process.execPath,
      [cli, 'build', '--config-dir', config.dir, '--definition-file', 'definition.yaml', '--output', 'json'],
      {
        encoding: 'utf8',
        env: { ...process.env, TMPDIR: path.join(config.dir, 'tmp') },
        timeout: 600_000,
      },
    );
    if (result.status !== 0) throw new Error(`build failed (${result.status}): ${result.stderr}`);
    report = JSON.parse(String(result.stdout));
    outputHash = await hashFile(output());
  }, 900_000);
  afterAll(() => config?.remove());

  it('writes the output grown to diskSize, with a correct .sha256, and leaves the base untouched', async () => {
    expect(statSync(output()).size).toBe(3 * 2 ** 30);
    const line = readFileSync(`${output()}.sha256`, 'utf8');
    expect(line).toBe(`${outputHash}  outpost-example.raw\n`);
    // coreutils as the independent reader of the checksum file
    execFileSync('sha256sum', ['--check', '--status', 'outpost-example.raw.sha256'], { cwd: config.dir });
    expect(await hashFile(base)).toBe(baseHash);
    expect(statSync(base).mtimeMs).toBe(baseMtime);
    expect(report.inputs.find((i) => i.role === 'base-image')?.sha256).toBe(baseHash);
    // Sparse: far less allocated than the apparent size.
    expect(statSync(output()).blocks * 512).toBeLessThan(2 ** 30 * 1.5);
    expect(readdirSync(config.dir).filter((f) => f.includes('.partial'))).toEqual([]);
  }, 300_000); // hashes 3 GiB and 1.4 GiB on a shared machine

  it('grows the root partition and its filesystem to the end of the disk', () => {
    const table = JSON.parse(
      execFileSync('sfdisk', ['--json', output()], { encoding: 'utf8' }),
    ).partitiontable;
    const root = table.partitions[1];
    expect(root.start + root.size).toBeGreaterThan((3 * 2 ** 30) / 512 - 2048);
    execFileSync('sgdisk', ['--verify', output()]);
    expect(report.image.rootGrown).toBe(true);
  });

  it('puts the bundle in the root filesystem, enables the first-boot unit and adds the kernel arguments to the ESP entry', async () => {
    await withCleanup(async (stack) => {
      const root = await openRootFilesystem(stack, output(), { readOnly: true });
      const mnt = root.mount.dir;
      expect(root.fs.sizeBytes).toBeGreaterThan(2.8 * 2 ** 30);
      const script = path.join(mnt, 'combustion/script');
      expect(statSync(script).mode & 0o777).toBe(0o755);
      expect(existsSync(path.join(mnt, 'combustion/50-site-motd.sh'))).toBe(true);
      expect(readFileSync(path.join(mnt, 'etc/systemd/system/outpost-firstboot.service'), 'utf8')).toContain(
        '[Install]',
      );
      const wants = readdirSync(path.join(mnt, 'etc/systemd/system')).filter((d) => d.endsWith('.wants'));
      const link = wants
        .map((w) => path.join(mnt, 'etc/systemd/system', w, 'outpost-firstboot.service'))
        .find((l) => existsSync(l) || lstatSync(l, { throwIfNoEntry: false }));
      expect(link && readlinkSync(link)).toBe('/etc/systemd/system/outpost-firstboot.service');
      const esp = root.table.partitions[0]!;
      const entry = await readEspFile(output(), esp, '/loader/entries/debian.conf');
      expect(entry).toMatch(/^options .* outpost\.example=1 net\.ifnames=1$/m);
      await root.close();
    });
  });

  it('records the build in _build/ with timings and without the password hash', () => {
    const hash = exampleDefinition().match(/encryptedPassword: (\S+)/)![1]!;
    expect(report.buildDir).toMatch(/_build\/build-/);
    const files = execFileSync('find', [report.buildDir!, '-type', 'f'], { encoding: 'utf8' })
      .trim()
      .split('\n');
    expect(files.map((f) => path.relative(report.buildDir!, f))).toEqual(
      expect.arrayContaining(['report.json', 'build.log']),
    );
    for (const f of files) expect(readFileSync(f, 'utf8'), f).not.toContain(hash);
    expect(String(result.stdout)).not.toContain(hash);
    expect(report.steps.map((s) => s.id)).toContain('copy');
    expect(report.outputs[0]).toMatchObject({ role: 'image', sha256: outputHash });
    const onDisk = JSON.parse(readFileSync(path.join(report.buildDir!, 'report.json'), 'utf8'));
    expect(onDisk.bundle.digest).toBe(report.bundle.digest);
    expect(
      createHash('sha256')
        .update(readFileSync(path.join(config.dir, 'definition.yaml')))
        .digest('hex'),
    ).toBe(report.inputs.find((i) => i.role === 'definition')?.sha256);
  });

  it('leaves no mount and no loop device behind', () => {
    expect(mountsUnder(config.dir)).toEqual([]);
    expect(loopDevicesUnder(config.dir)).toEqual([]);
  });
});
