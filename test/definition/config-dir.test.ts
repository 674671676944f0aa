import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { configDirChecks, loadDefinition } from '../../src/build/load-definition.ts';
import { formatDiagnostic } from '../../src/common/diagnostics.ts';
import { YamlSource } from '../../src/common/yaml-cursor.ts';
import {
  looksLikeRawDisk,
  readImageSignature,
  signatureOf,
} from '../../src/definition/checks/image-signature.ts';
import type { ConfigDirCheck } from '../../src/definition/config-dir-checks.ts';
import { parseDiskSize } from '../../src/definition/disk-size.ts';
import { makeGptImage, makeIsoImage, makeMbrImage, tempDir, writeTree } from './fixtures.ts';

const DEFINITION = `apiVersion: 1.3
image:
  imageType: raw
  arch: x86_64
  baseImage: base.raw
  outputImageName: out.raw
`;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

// sgdisk waits a second after writing, so one GPT image is made and copied into each config dir.
let gptImage: string;
let removeGptDir: () => Promise<void>;
beforeAll(async () => {
  const temp = await tempDir('outpost-gpt-');
  removeGptDir = temp.remove;
  gptImage = path.join(temp.dir, 'base.raw');
  await makeGptImage(gptImage);
});
afterAll(() => removeGptDir?.());

/** A config dir with a real GPT base image, the definition above and `files`. */
async function configDir(files: Record<string, string> = {}, definition = DEFINITION): Promise<string> {
  const { dir, remove } = await tempDir('outpost-config-');
  cleanups.push(remove);
  await mkdir(path.join(dir, 'base-images'));
  await copyFile(gptImage, path.join(dir, 'base-images/base.raw'));
  await writeTree(dir, { 'site.yaml': definition, ...files });
  return dir;
}

async function problems(dir: string): Promise<string[]> {
  const result = await loadDefinition({ configDir: dir, definitionFile: 'site.yaml', env: {}, cwd: dir });
  return result.diagnostics.map(formatDiagnostic);
}

describe('config directory checks', () => {
  it('accepts a config dir with non-empty custom/scripts and custom/files', async () => {
    const dir = await configDir({
      'custom/scripts/50-hello.sh': 'echo hello\n',
      'custom/files/motd': 'hi\n',
    });
    expect(await problems(dir)).toEqual([]);
  });

  it('refuses empty component directories and a file where a directory belongs', async () => {
    const dir = await configDir({ 'custom/files': 'not a directory\n' });
    await mkdir(path.join(dir, 'custom/scripts'), { recursive: true });
    await mkdir(path.join(dir, 'kubernetes/manifests'), { recursive: true });
    expect(await problems(dir)).toEqual([
      'kubernetes/manifests:1:1: is an empty directory: add files or remove it',
      'custom/files:1:1: must be a directory',
      'custom/scripts:1:1: is an empty directory: add files or remove it',
    ]);
  });

  it('refuses elemental/ and rpms/, which outpost cannot act on yet', async () => {
    const dir = await configDir({
      'elemental/elemental_config.yaml': 'registration: {}\n',
      'rpms/a.rpm': 'x',
    });
    expect(await problems(dir)).toEqual([
      'elemental:1:1: not supported by outpost yet (needs Elemental registration against a Rancher Elemental operator)',
      'rpms:1:1: not supported by outpost yet (needs RPM dependency resolution; install packages from custom/scripts instead)',
    ]);
  });

  it('parses local manifests and the RKE2 config files', async () => {
    const dir = await configDir({
      'kubernetes/manifests/good.yaml':
        'apiVersion: v1\nkind: Namespace\n---\napiVersion: v1\nkind: ConfigMap\n',
      'kubernetes/manifests/bad.yaml': 'apiVersion: v1\nkind: [Namespace\n',
      'kubernetes/manifests/notes.txt': 'hello\n',
      'kubernetes/config/server.yaml': '- cni: cilium\n',
    });
    expect(await problems(dir)).toEqual([
      'kubernetes/config/server.yaml:1:1: must be a YAML mapping',
      'kubernetes/manifests/bad.yaml:3:1: YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ]',
      'kubernetes/manifests/notes.txt:1:1: must be a .yaml or .yml Kubernetes manifest',
      // As in EIB: local manifests without a kubernetes section are a mistake.
      'site.yaml:1:1: kubernetes: kubernetes/manifests holds manifests: they need a kubernetes section with a version',
    ]);
  });

  it('names files relative to the working directory, as the user gave them', async () => {
    const dir = await configDir({}, DEFINITION.replace('base.raw', 'missing.raw'));
    const result = await loadDefinition({
      configDir: dir,
      definitionFile: 'site.yaml',
      env: {},
      cwd: path.dirname(dir),
    });
    const shown = path.basename(dir);
    expect(result.diagnostics.map(formatDiagnostic)).toEqual([
      `${shown}/site.yaml:5:14: image.baseImage: base image not found: put 'missing.raw' in ${shown}/base-images/`,
    ]);
  });

  it('reports a missing definition file as a problem, not a crash', async () => {
    const dir = await configDir();
    const result = await loadDefinition({ configDir: dir, definitionFile: 'nope.yaml', env: {}, cwd: dir });
    expect(result.diagnostics.map(formatDiagnostic)).toEqual([
      'nope.yaml:1:1: cannot read the definition file: not found',
    ]);
  });

  it('runs a registered check with a context that can point at definition fields', async () => {
    const definition = `${DEFINITION}kubernetes:
  version: v1.32.4+k3s1
  network:
    apiVIP: 10.0.0.10
  nodes:
    - hostname: node1
      type: server
    - hostname: node2
      type: agent
`;
    const dir = await configDir({}, definition);
    // What a check about node host names (e.g. the network one) does with the context.
    const nodeCheck: ConfigDirCheck = async (ctx) =>
      (ctx.definition.kubernetes?.nodes ?? []).flatMap((node, i) =>
        node.hostname === 'node2'
          ? [
              ctx.atField(
                `kubernetes.nodes[${i}].hostname`,
                `no ${ctx.displayPath('network/node2.yaml')}`,
                'Network',
              ),
            ]
          : [],
      );
    configDirChecks.push(nodeCheck);
    try {
      expect(await problems(dir)).toEqual([
        'site.yaml:8:12: kubernetes.version: K3s is not supported by outpost yet (RKE2 only)',
        'site.yaml:14:17: kubernetes.nodes[1].hostname: no network/node2.yaml',
      ]);
    } finally {
      configDirChecks.splice(configDirChecks.indexOf(nodeCheck), 1);
    }
  });
});

describe('base image signatures', () => {
  it('recognises GPT, MBR and ISO 9660 images made by sgdisk, sfdisk and xorriso', async () => {
    const { dir, remove } = await tempDir('outpost-sig-');
    cleanups.push(remove);
    await makeGptImage(path.join(dir, 'gpt.raw'));
    await makeMbrImage(path.join(dir, 'mbr.raw'));
    await makeIsoImage(path.join(dir, 'x.iso'));
    const gpt = await readImageSignature(path.join(dir, 'gpt.raw'));
    const mbr = await readImageSignature(path.join(dir, 'mbr.raw'));
    const iso = await readImageSignature(path.join(dir, 'x.iso'));
    expect(gpt).toMatchObject({ mbrSignature: true, gptSectorSize: 512, iso9660: false });
    expect(mbr).toMatchObject({ mbrSignature: true, gptSectorSize: undefined, mbrPartition: true });
    expect(iso).toMatchObject({ mbrSignature: false, iso9660: true });
    expect([gpt, mbr, iso].map(looksLikeRawDisk)).toEqual([true, true, false]);
  });

  it('finds a GPT header at LBA 1 of a 4096-byte-sector disk', () => {
    const head = Buffer.alloc(8192);
    head[510] = 0x55;
    head[511] = 0xaa;
    head.write('EFI PART', 4096, 'latin1');
    expect(signatureOf(head)).toMatchObject({ gptSectorSize: 4096, mbrPartition: false });
    expect(looksLikeRawDisk(signatureOf(head))).toBe(true);
  });

  it('refuses an MBR signature without a GPT or a usable partition entry', () => {
    const head = Buffer.alloc(1024);
    head[510] = 0x55;
    head[511] = 0xaa;
    head[446] = 0x7f; // an impossible status byte
    head[446 + 4] = 0x83;
    head.writeUInt32LE(1000, 446 + 12);
    expect(looksLikeRawDisk(signatureOf(head))).toBe(false);
    head[446] = 0x80;
    expect(looksLikeRawDisk(signatureOf(head))).toBe(true);
  });
});

describe('small readers', () => {
  it('converts EIB disk sizes to bytes', () => {
    expect(parseDiskSize('512M')).toBe(512 * 2 ** 20);
    expect(parseDiskSize('8G')).toBe(8 * 2 ** 30);
    expect(parseDiskSize('2T')).toBe(2 * 2 ** 40);
    for (const bad of ['8', '8g', '8GB', '0G', '1.5G', ' 8G', '-1G'])
      expect(parseDiskSize(bad)).toBeUndefined();
  });

  it('keeps resolved environment values out of every message', async () => {
    const secret = 'correct-horse-battery';
    const dir = await configDir(
      {},
      `${DEFINITION}operatingSystem:
  kernelArgs:
    - token=\${TOKEN}
    - token=\${TOKEN}
`,
    );
    const result = await loadDefinition({
      configDir: dir,
      definitionFile: 'site.yaml',
      env: { TOKEN: secret },
      cwd: dir,
    });
    expect(result.diagnostics.map(formatDiagnostic)).toEqual([
      "site.yaml:10:7: operatingSystem.kernelArgs[1]: duplicate kernel argument 'token'",
    ]);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: an environment reference as users write it
    const source = new YamlSource('x.yaml', 'a: ${TOKEN}\n', { TOKEN: secret });
    expect(source.root.get('a').string()).toBe(secret);
    expect([...source.secrets]).toEqual([secret]);
  });
});
