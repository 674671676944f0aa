import { appendFile, copyFile, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { checkRelease } from '../../src/kubernetes/release.ts';
import { makeGptImage, tempDir } from '../definition/fixtures.ts';
import { writeFixtureRelease } from '../fixtures/rke2-release.ts';

/* `outpost validate` checks the RKE2 release in kubernetes/install: names, presence, checksums; exit 2 naming the file. */

const repo = path.resolve(import.meta.dirname, '../..');
const bin = path.join(repo, 'bin/outpost.js');
const DEFINITION = 'rke2.yaml';
let dir: string;
let remove: () => Promise<void>;
const install = () => path.join(dir, 'kubernetes/install');

function validate() {
  return execa(process.execPath, [bin, 'validate', '--definition-file', DEFINITION], {
    cwd: dir,
    env: { ROOT_PASSWORD: '$6$salt$hash' },
    extendEnv: false,
    reject: false,
    timeout: 30_000,
  });
}

beforeAll(async () => {
  ({ dir, remove } = await tempDir('outpost-rke2-release-'));
  await mkdir(path.join(dir, 'base-images'));
  await makeGptImage(path.join(dir, 'base-images/gpt.raw'));
  await copyFile(path.join(repo, 'test/definition/valid/rke2-single-node.yaml'), path.join(dir, DEFINITION));
});
afterAll(() => remove?.());
beforeEach(async () => {
  await rm(install(), { recursive: true, force: true });
  await writeFixtureRelease(install());
});

describe('RKE2 release checks', () => {
  it('accepts a complete release whose checksums match', async () => {
    const r = await validate();
    expect(r.stdout + r.stderr).not.toMatch(/kubernetes\/install/);
    expect(r.exitCode).toBe(0);
  });

  it("accepts a whole release page as the lab's stand-in writes it (binary, image lists, both compressions)", async () => {
    await rm(install(), { recursive: true });
    await execa(process.execPath, [
      bin,
      'lab',
      'rke2-release',
      '--version',
      'v1.32.4+rke2r1',
      '--arch',
      'x86_64',
      '--out',
      install(),
    ]);
    const r = await validate();
    expect(r.stdout + r.stderr).not.toMatch(/kubernetes\/install/);
    expect(r.exitCode).toBe(0);
    const { release } = await checkRelease(dir, 'x86_64', { verifyChecksums: false });
    expect(release?.images).toContain('rke2-images-core.linux-amd64.tar.zst');
    expect(release?.images).not.toContain('rke2-images-core.linux-amd64.tar.gz');
    expect(release?.images.some((n) => n.endsWith('.txt'))).toBe(false);
  });

  it('refuses a missing release folder', async () => {
    await rm(install(), { recursive: true });
    const r = await validate();
    expect(r.exitCode).toBe(2);
    expect(r.stdout + r.stderr).toContain(
      'kubernetes/install:1:1: not found: it must hold the RKE2 release (rke2.linux-amd64.tar.gz',
    );
  });

  it('refuses a missing tarball, checksum file or image archive, naming it', async () => {
    for (const name of ['rke2.linux-amd64.tar.gz', 'sha256sum-amd64.txt']) {
      await rm(install(), { recursive: true, force: true });
      await writeFixtureRelease(install());
      await rm(path.join(install(), name));
      const r = await validate();
      expect(r.exitCode).toBe(2);
      expect(r.stdout + r.stderr).toContain(`kubernetes/install/${name}:1:1: not found`);
    }
    await rm(install(), { recursive: true, force: true });
    await writeFixtureRelease(install());
    await rm(path.join(install(), 'rke2-images-core.linux-amd64.tar.zst'));
    await rm(path.join(install(), 'rke2-images-cilium.linux-amd64.tar.zst'));
    const r = await validate();
    expect(r.exitCode).toBe(2);
    expect(r.stdout + r.stderr).toContain(
      'kubernetes/install/rke2-images-core.linux-amd64.tar.zst:1:1: not found',
    );
  });

  it('refuses an archive whose checksum does not match, naming it', async () => {
    await appendFile(path.join(install(), 'rke2-images-cilium.linux-amd64.tar.zst'), 'tampered');
    const r = await validate();
    expect(r.exitCode).toBe(2);
    expect(r.stdout + r.stderr).toMatch(
      /kubernetes\/install\/rke2-images-cilium\.linux-amd64\.tar\.zst:1:1: checksum mismatch: sha256 is [0-9a-f]{64}, sha256sum-amd64\.txt says [0-9a-f]{64}/,
    );
    expect(r.stdout + r.stderr).not.toContain('rke2.linux-amd64.tar.gz:');
  });

  it('refuses an archive the checksum file does not list, a stray file and another architecture', async () => {
    await writeFile(path.join(install(), 'rke2-images-canal.linux-amd64.tar.zst'), 'x');
    await writeFile(path.join(install(), 'rke2.linux-arm64.tar.gz'), 'x');
    const r = await validate();
    expect(r.exitCode).toBe(2);
    const out = r.stdout + r.stderr;
    expect(out).toContain(
      'kubernetes/install/rke2.linux-arm64.tar.gz:1:1: is not part of an RKE2 release for x86_64',
    );
    await rm(path.join(install(), 'rke2.linux-arm64.tar.gz'));
    const r2 = await validate();
    expect(r2.exitCode).toBe(2);
    expect(r2.stdout + r2.stderr).toContain(
      'kubernetes/install/rke2-images-canal.linux-amd64.tar.zst:1:1: has no line in sha256sum-amd64.txt',
    );
  });

  it('refuses a release folder that is a link', async () => {
    await rm(install(), { recursive: true });
    await writeFixtureRelease(path.join(dir, 'elsewhere'));
    await symlink(path.join(dir, 'elsewhere'), install());
    const r = await validate();
    await rm(install());
    await rm(path.join(dir, 'elsewhere'), { recursive: true });
    expect(r.exitCode).toBe(2);
    expect(r.stdout + r.stderr).toContain('kubernetes/install:1:1: must be a folder, not a link');
  });

  it('refuses a malformed checksum file', async () => {
    await writeFile(path.join(install(), 'sha256sum-amd64.txt'), 'not a checksum line\n');
    const r = await validate();
    expect(r.exitCode).toBe(2);
    expect(r.stdout + r.stderr).toContain(
      "kubernetes/install/sha256sum-amd64.txt:1:1: line 1: expected '<sha256>  <file name>'",
    );
  });
});
