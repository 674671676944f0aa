import { copyFile, cp, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeGptImage, tempDir } from './fixtures.ts';

const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const bin = path.join(repo, 'bin/outpost.js');

/** Runs the real CLI in `cwd`, as a user would. */
function outpost(args: string[], cwd: string, env: Record<string, string> = {}) {
  return execa(process.execPath, [bin, ...args], {
    cwd,
    env,
    extendEnv: false,
    reject: false,
    timeout: 20_000,
  });
}

const TEN_MISTAKES = `apiVersion: 1.3
image:
  imageType: qcow2
  arch: x86_64
  baseImage: missing.raw
  outputImageName: out/site.raw
operatingSystem:
  kernelArgs: [quiet, quiet]
  users:
    - username: edge
  systemd:
    enable: [sshd.service]
    disable: [sshd.service]
  rawConfiguration:
    diskSize: 10GB
  keymapp: us
kubernetes:
  version: v1.32.4
embeddedArtifactRegistry:
  images: [{ name: nginx }]
`;

const TEN_PROBLEMS = [
  "ten.yaml:3:14: image.imageType: must be one of 'raw', 'iso', not 'qcow2'",
  "ten.yaml:5:14: image.baseImage: base image not found: put 'missing.raw' in base-images/",
  'ten.yaml:6:20: image.outputImageName: folder out/ does not exist: create it first',
  "ten.yaml:8:23: operatingSystem.kernelArgs[1]: duplicate kernel argument 'quiet'",
  'ten.yaml:10:7: operatingSystem.users[0]: needs encryptedPassword or at least one entry in sshKeys',
  "ten.yaml:13:15: operatingSystem.systemd.disable[0]: 'sshd.service' is both enabled and disabled",
  "ten.yaml:15:15: operatingSystem.rawConfiguration.diskSize: must be a whole number followed by M, G or T (e.g. 8G), not '10GB'",
  "ten.yaml:16:3: operatingSystem.keymapp: unknown field 'keymapp' (did you mean 'keymap'?)",
  "ten.yaml:18:12: kubernetes.version: must be an RKE2 or K3s release such as v1.32.4+rke2r1 or v1.32.4+k3s1, not 'v1.32.4'",
  'ten.yaml:19:1: embeddedArtifactRegistry: not supported by outpost yet (needs an image mirror to pull the container images and serve them on the nodes; load images from custom/files instead)',
];

let dir: string;
let remove: () => Promise<void>;

beforeAll(async () => {
  ({ dir, remove } = await tempDir('outpost-cli-'));
  // The repository's own example config dir, with a tiny real disk as its base image.
  await copyFile(path.join(repo, 'example.yaml'), path.join(dir, 'example.yaml'));
  await cp(path.join(repo, 'custom'), path.join(dir, 'custom'), { recursive: true });
  await cp(path.join(repo, 'network'), path.join(dir, 'network'), { recursive: true });
  await mkdir(path.join(dir, 'base-images'));
  await makeGptImage(path.join(dir, 'base-images/debian-12-outpost-base.raw'));
  await copyFile(
    path.join(dir, 'base-images/debian-12-outpost-base.raw'),
    path.join(dir, 'base-images/SLE-Micro.x86_64-5.5.0-Default-GM.raw'),
  );
  await writeFile(path.join(dir, 'ten.yaml'), TEN_MISTAKES);
  await copyFile(
    path.join(repo, 'test/definition/valid/metal3-quickstart.yaml'),
    path.join(dir, 'metal3.yaml'),
  );
});
afterAll(() => remove?.());

describe('outpost validate', () => {
  it('prints all ten mistakes of a definition at once, grouped by section, and exits 2', async () => {
    const result = await outpost(['validate', '--config-dir', dir, '--definition-file', 'ten.yaml'], dir);
    expect(result.exitCode).toBe(2);
    expect(result.stdout).toBe('');
    const lines = result.stderr.split('\n');
    expect(lines[0]).toBe('Image definition validation found 10 problem(s):');
    expect(lines.filter((l) => l.startsWith('  ')).map((l) => l.trim())).toEqual(TEN_PROBLEMS);
    expect(lines.filter((l) => /^\S.*:$/.test(l))).toEqual([
      'Image definition validation found 10 problem(s):',
      'Image:',
      'Operating system:',
      'Kubernetes:',
      'Embedded artifact registry:',
    ]);
  });

  it('prints the problems as JSON with --output json', async () => {
    const result = await outpost(
      ['validate', '--config-dir', dir, '--definition-file', 'ten.yaml', '--output', 'json'],
      dir,
    );
    expect(result.exitCode).toBe(2);
    const report = JSON.parse(result.stdout);
    expect(Object.keys(report).sort()).toEqual(['file', 'problems', 'valid']);
    expect(report.valid).toBe(false);
    expect(report.file).toBe('ten.yaml');
    expect(report.problems).toHaveLength(10);
    expect(report.problems[0]).toEqual({
      file: 'ten.yaml',
      line: 3,
      col: 14,
      path: 'image.imageType',
      message: "must be one of 'raw', 'iso', not 'qcow2'",
      section: 'Image',
    });
  });

  it('accepts the example definition', async () => {
    const result = await outpost(['validate', '--config-dir', '.', '--definition-file', 'example.yaml'], dir);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('example.yaml: valid (apiVersion 1.3)');
    expect(result.exitCode).toBe(0);
    const json = await outpost(['validate', '--definition-file', 'example.yaml', '-o', 'json'], dir);
    expect(JSON.parse(json.stdout)).toEqual({ valid: true, file: 'example.yaml', problems: [] });
  });

  it('resolves environment references and never prints their values', async () => {
    const env = {
      ROOT_PASSWORD: '$6$cliSalt$cliHashNeverPrinted',
      USERKEY1: 'ssh-ed25519 AAAAcliKeyNeverPrinted',
    };
    const unset = await outpost(['validate', '--definition-file', 'metal3.yaml'], dir);
    expect(unset.exitCode).toBe(2);
    expect(unset.stderr).toContain(
      'metal3.yaml:17:26: operatingSystem.users[0].encryptedPassword: environment variable ROOT_PASSWORD is not set',
    );
    const set = await outpost(['validate', '--definition-file', 'metal3.yaml', '-o', 'json'], dir, env);
    expect(set.exitCode).toBe(0);
    for (const value of Object.values(env)) expect(set.stdout + set.stderr).not.toContain(value);
  });

  it('has --help, and refuses unknown options and a missing --definition-file with exit code 2', async () => {
    const help = await outpost(['validate', '--help'], dir);
    expect(help.exitCode).toBe(0);
    for (const option of ['--config-dir <dir>', '--definition-file <file>', '--output <format>']) {
      expect(help.stdout).toContain(option);
    }
    const unknown = await outpost(['validate', '--definition-file', 'ten.yaml', '--bogus'], dir);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toContain("unknown option '--bogus'");
    const missing = await outpost(['validate'], dir);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain("required option '--definition-file <file>' not specified");
  });
});

describe('outpost version', () => {
  it('prints the version and the definition versions it reads, and has --help', async () => {
    const text = await outpost(['version'], dir);
    expect(text.exitCode).toBe(0);
    expect(text.stdout).toMatch(/^outpost \d+\.\d+\.\d+ \(node v\d+.*apiVersion 1\.0, 1\.1, 1\.2, 1\.3\)$/);
    const json = JSON.parse((await outpost(['version', '--output', 'json'], dir)).stdout);
    expect(json.apiVersions).toEqual(['1.0', '1.1', '1.2', '1.3']);
    const help = await outpost(['version', '--help'], dir);
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toContain('Print the outpost version');
  });
});
