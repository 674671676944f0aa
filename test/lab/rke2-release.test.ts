import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeRke2Release } from '../../src/lab/rke2/index.ts';

const VERSION = 'v1.32.4+rke2r1';
const COMPONENTS = ['core', 'canal', 'cilium', 'calico', 'flannel', 'multus', 'harvester', 'vsphere'];

let dir: string;
let release: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'rke2-release-'));
  release = path.join(dir, 'amd64');
  await writeRke2Release({ version: VERSION, arch: 'x86_64', outDir: release });
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const sha256 = async (file: string) =>
  createHash('sha256')
    .update(await readFile(file))
    .digest('hex');
/** A file out of a (compressed) tar archive, read by GNU tar. */
async function member(archive: string, name: string): Promise<string> {
  const { stdout } = await execa('tar', ['-xOf', archive, name], { stripFinalNewline: false });
  return stdout;
}

describe('outpost lab rke2-release', () => {
  it('writes the artefacts a published release has, under their real names', async () => {
    const expected = ['rke2.linux-amd64', 'rke2.linux-amd64.tar.gz', 'sha256sum-amd64.txt', 'install.sh'];
    expected.push('rke2-images-all.linux-amd64.txt');
    for (const base of ['rke2-images', ...COMPONENTS.map((c) => `rke2-images-${c}`)])
      for (const ext of ['tar.zst', 'tar.gz', 'txt']) expected.push(`${base}.linux-amd64.${ext}`);
    expect((await readdir(release)).sort()).toEqual(expected.sort());
  });

  it('checksum file: sha256sum format, every artefact with the arch in its name, each digest right', async () => {
    const text = await readFile(path.join(release, 'sha256sum-amd64.txt'), 'utf8');
    const lines = text.trimEnd().split('\n');
    for (const line of lines) expect(line).toMatch(/^[0-9a-f]{64} {2}\S+$/);
    const listed = lines.map((l) => l.slice(66));
    expect(listed).toEqual(
      (await readdir(release)).filter((n) => n.includes('amd64') && !n.startsWith('sha')).sort(),
    );
    for (const line of lines)
      expect(await sha256(path.join(release, line.slice(66)))).toBe(line.slice(0, 64));
    // install.sh greps for the tarball's name: exactly one line may match.
    expect(lines.filter((l) => /rke2.linux-amd64.tar.gz/.test(l))).toHaveLength(1);
    // And sha256sum itself agrees.
    await execa('sha256sum', ['-c', '--quiet', 'sha256sum-amd64.txt'], { cwd: release });
  });

  it('tarball: bin, lib, share as RKE2 ships them, owned by root, bin/rke2 the stand-in of this version', async () => {
    const { stdout } = await execa('tar', ['-tvzf', path.join(release, 'rke2.linux-amd64.tar.gz')]);
    const entries = stdout.split('\n').map((l) => l.split(/\s+/));
    expect(new Set(entries.map((e) => e[1]))).toEqual(new Set(['root/root']));
    const files = entries.filter((e) => !e[0]!.startsWith('d')).map((e) => `${e[0]} ${e[5]}`);
    expect(files.sort()).toEqual(
      [
        '-rwxr-xr-x bin/rke2',
        '-rwxr-xr-x bin/rke2-killall.sh',
        '-rwxr-xr-x bin/rke2-uninstall.sh',
        '-rw-r--r-- lib/systemd/system/rke2-agent.env',
        '-rw-r--r-- lib/systemd/system/rke2-agent.service',
        '-rw-r--r-- lib/systemd/system/rke2-server.env',
        '-rw-r--r-- lib/systemd/system/rke2-server.service',
        '-rw-r--r-- share/rke2/LICENSE.txt',
        '-rw-r--r-- share/rke2/rke2-cis-sysctl.conf',
      ].sort(),
    );
    const tarball = path.join(release, 'rke2.linux-amd64.tar.gz');
    const unit = await member(tarball, 'lib/systemd/system/rke2-server.service');
    expect(unit).toContain('Type=notify');
    expect(unit).toContain('ExecStart=/usr/local/bin/rke2 server');
    expect(unit).toContain('EnvironmentFile=-/usr/local/lib/systemd/system/%N.env');
    expect(await member(tarball, 'lib/systemd/system/rke2-agent.env')).toBe('HOME=/root\n');
    const program = await member(tarball, 'bin/rke2');
    expect(program).toBe(await readFile(path.join(release, 'rke2.linux-amd64'), 'utf8'));
    expect(program.startsWith('#!/usr/bin/python3\n')).toBe(true);
    expect(program).toContain(`VERSION = '${VERSION}'`);
  });

  it('image archives are docker-save tarballs (manifest.json, repositories first) of the listed images', async () => {
    for (const base of ['rke2-images', 'rke2-images-core', 'rke2-images-canal']) {
      const list = (await readFile(path.join(release, `${base}.linux-amd64.txt`), 'utf8'))
        .trimEnd()
        .split('\n');
      for (const ext of ['tar.zst', 'tar.gz']) {
        const archive = path.join(release, `${base}.linux-amd64.${ext}`);
        const { stdout } = await execa('tar', ['-tf', archive]);
        expect(stdout.split('\n').slice(0, 2)).toEqual(['manifest.json', 'repositories']);
        const manifest = JSON.parse(await member(archive, 'manifest.json')) as {
          Config: string;
          RepoTags: string[];
          Layers: string[];
        }[];
        expect(manifest.flatMap((m) => m.RepoTags)).toEqual(list.map((i) => i.replace(/^docker\.io\//, '')));
        const first = manifest[0]!;
        const config = JSON.parse(await member(archive, first.Config));
        expect(config).toMatchObject({ architecture: 'amd64', os: 'linux' });
        const layer = await execa('tar', ['-xOf', archive, first.Layers[0]!], { encoding: 'buffer' });
        const digest = createHash('sha256').update(layer.stdout).digest('hex');
        expect(config.rootfs.diff_ids).toEqual([`sha256:${digest}`]);
        const repositories = JSON.parse(await member(archive, 'repositories'));
        const [repo, tag] = first.RepoTags[0]!.split(/:(?=[^:]+$)/);
        expect(repositories[repo!][tag!]).toBe(path.dirname(first.Layers[0]!));
      }
    }
    const core = await readFile(path.join(release, 'rke2-images-core.linux-amd64.txt'), 'utf8');
    expect(core.split('\n')[0]).toBe('docker.io/rancher/rke2-runtime:v1.32.4-rke2r1');
    expect(core).toContain('docker.io/rancher/hardened-kubernetes:v1.32.4-rke2r1-build');
    const legacy = await readFile(path.join(release, 'rke2-images.linux-amd64.txt'), 'utf8');
    const canal = await readFile(path.join(release, 'rke2-images-canal.linux-amd64.txt'), 'utf8');
    expect(legacy).toBe(core + canal);
  });

  it('is reproducible, and arm64 has its own names and no vSphere archive', async () => {
    const again = path.join(dir, 'again');
    await writeRke2Release({ version: VERSION, arch: 'amd64', outDir: again, installScript: false });
    expect(await readFile(path.join(again, 'sha256sum-amd64.txt'), 'utf8')).toBe(
      await readFile(path.join(release, 'sha256sum-amd64.txt'), 'utf8'),
    );
    const arm = path.join(dir, 'arm64');
    await writeRke2Release({ version: VERSION, arch: 'aarch64', outDir: arm, installScript: false });
    const names = await readdir(arm);
    expect(names).toContain('rke2.linux-arm64.tar.gz');
    expect(names).toContain('sha256sum-arm64.txt');
    expect(names.some((n) => n.includes('vsphere'))).toBe(false);
    expect(names.some((n) => n.includes('amd64'))).toBe(false);
  });

  it('CLI: writes the release, prints it as JSON, refuses a bad version or arch with exit 2 and no output', async () => {
    const out = path.join(dir, 'cli');
    const ok = await execa('node', [
      'bin/outpost.js',
      'lab',
      'rke2-release',
      '--out',
      out,
      '--output',
      'json',
    ]);
    const printed = JSON.parse(ok.stdout);
    expect(printed).toMatchObject({ version: VERSION, arch: 'amd64' });
    expect(printed.runtimeImage).toBe('docker.io/rancher/rke2-runtime:v1.32.4-rke2r1');
    expect(printed.files.map((f: { name: string }) => f.name)).toContain(
      'rke2-images-core.linux-amd64.tar.zst',
    );
    for (const bad of [
      ['--version', '1.32.4'],
      ['--arch', 's390'],
    ]) {
      const empty = path.join(dir, `bad-${bad[0]!.slice(2)}`);
      const run = await execa('node', ['bin/outpost.js', 'lab', 'rke2-release', '--out', empty, ...bad], {
        reject: false,
      });
      expect(run.exitCode).toBe(2);
      expect(run.stderr).toContain(bad[0]);
      await expect(readdir(empty)).rejects.toThrow();
    }
  });
});
