import { copyFile, readdir, readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDefinition } from '../../src/build/load-definition.ts';
import { formatDiagnostic } from '../../src/common/diagnostics.ts';
import { CORPUS_ENV, makeCorpusConfigDir, tempDir } from './fixtures.ts';

/*
 * Each file under invalid/ ends with the exact problems it must produce, one `# expect: ` line each,
 * in the order outpost prints them. Each file under valid/ must produce none. A `# without: <file>` line
 * takes a file of the shared config dir away while that case is validated.
 */

const here = path.dirname(new URL(import.meta.url).pathname);
const invalidDir = path.join(here, 'invalid');
const validDir = path.join(here, 'valid');
const invalidFiles = (await readdir(invalidDir)).filter((f) => f.endsWith('.yaml')).sort();
const validFiles = (await readdir(validDir)).filter((f) => f.endsWith('.yaml')).sort();

let configDir: string;
let removeConfigDir: () => Promise<void>;

beforeAll(async () => {
  const temp = await tempDir('outpost-corpus-');
  configDir = temp.dir;
  removeConfigDir = temp.remove;
  await makeCorpusConfigDir(configDir);
});
afterAll(() => removeConfigDir?.());

/** Copies a corpus file into the config dir and validates it from there, so names print as written. */
async function validate(dir: string, name: string) {
  await copyFile(path.join(dir, name), path.join(configDir, name));
  return loadDefinition({ configDir, definitionFile: name, env: CORPUS_ENV, cwd: configDir });
}

describe('invalid definitions', () => {
  it('has at least 40 cases', () => {
    expect(invalidFiles.length).toBeGreaterThanOrEqual(40);
  });

  it.each(invalidFiles)('%s reports exactly its expected problems', async (name) => {
    const text = await readFile(path.join(invalidDir, name), 'utf8');
    const expected = text
      .split('\n')
      .filter((line) => line.startsWith('# expect: '))
      .map((line) => line.slice('# expect: '.length));
    expect(expected.length, 'the file lists its expected problems').toBeGreaterThan(0);

    const without = text
      .split('\n')
      .filter((line) => line.startsWith('# without: '))
      .map((line) => path.join(configDir, line.slice('# without: '.length)));
    for (const file of without) await rename(file, `${file}.away`);
    const { loaded, diagnostics } = await validate(invalidDir, name).finally(() =>
      Promise.all(without.map((file) => rename(`${file}.away`, file))),
    );
    expect(diagnostics.map(formatDiagnostic)).toEqual(expected);
    expect(loaded).toBeUndefined();
    for (const secret of Object.values(CORPUS_ENV)) {
      expect(JSON.stringify(diagnostics)).not.toContain(secret);
    }
  });
});

describe('valid definitions', () => {
  it.each(validFiles)('%s has no problems', async (name) => {
    const { loaded, diagnostics } = await validate(validDir, name);
    expect(diagnostics.map(formatDiagnostic)).toEqual([]);
    expect(loaded?.definition.apiVersion).toMatch(/^1\.[0-3]$/);
  });

  it('reads the Metal3 quick start as EIB does, with its environment references resolved', async () => {
    const { loaded } = await validate(validDir, 'metal3-quickstart.yaml');
    const definition = loaded!.definition;
    expect(definition.apiVersion).toBe('1.0');
    expect(definition.image).toEqual({
      imageType: 'raw', // written RAW
      arch: 'x86_64',
      baseImage: 'SLE-Micro.x86_64-5.5.0-Default-GM.raw',
      outputImageName: 'SLE-Micro-eib-output.raw',
    });
    expect(definition.operatingSystem.kernelArgs).toEqual([
      'ignition.platform.id=openstack',
      'net.ifnames=1',
    ]);
    expect(definition.operatingSystem.systemd).toEqual({ enable: [], disable: ['rebootmgr'] });
    const [root] = definition.operatingSystem.users;
    expect(root?.username).toBe('root');
    expect(root?.encryptedPassword).toBe(CORPUS_ENV.ROOT_PASSWORD);
    expect(root?.sshKeys).toEqual([CORPUS_ENV.USERKEY1]);
    expect([...loaded!.secrets].sort()).toEqual([CORPUS_ENV.ROOT_PASSWORD, CORPUS_ENV.USERKEY1].sort());
  });

  it('normalises sizes and keeps every OS field', async () => {
    const os = (await validate(validDir, 'full-os.yaml')).loaded!.definition.operatingSystem;
    expect(os.rawConfiguration).toEqual({ diskSize: 8 * 2 ** 30, diskSizeText: '8G' });
    expect(os.groups).toEqual([
      { name: 'edgeops', gid: 2001 },
      { name: 'auditors', gid: undefined },
    ]);
    expect(os.users[0]?.secondaryGroups).toEqual(['auditors', 'wheel']);
    expect(os.time).toEqual({
      timezone: 'Europe/Berlin',
      ntp: { pools: ['2.suse.pool.ntp.org'], servers: ['10.0.0.1'], forceWait: true },
    });
    expect(os.proxy?.noProxy).toEqual(['localhost', '127.0.0.1', '.edge.example']);
    expect(os.keymap).toBe('de');
  });

  it('reads a multi-node RKE2 cluster with its VIPs and charts', async () => {
    const k8s = (await validate(validDir, 'rke2-multi-node-vip.yaml')).loaded!.definition.kubernetes!;
    expect(k8s.distribution).toBe('rke2');
    expect(k8s.network).toEqual({
      apiVIP: '192.168.122.100',
      apiVIP6: 'fd00:122::100',
      apiHost: 'api.cluster.edge.example',
    });
    expect(k8s.nodes.map((n) => [n.hostname, n.type, n.initializer])).toEqual([
      ['node1', 'server', true],
      ['node2', 'server', false],
      ['node3', 'server', false],
      ['worker1', 'agent', false],
    ]);
    expect(k8s.helm.charts.map((c) => c.valuesFile)).toEqual(['metallb.yaml', undefined]);
    expect(k8s.helm.repositories[1]?.authentication?.username).toBe(CORPUS_ENV.HELM_USER);
  });

  it('reads a single-node cluster and an unattended ISO', async () => {
    const single = (await validate(validDir, 'rke2-single-node.yaml')).loaded!.definition.kubernetes!;
    expect(single.nodes).toEqual([]);
    expect(single.manifests.urls).toHaveLength(1);
    const iso = (await validate(validDir, 'iso-unattended.yaml')).loaded!.definition;
    expect(iso.image.imageType).toBe('iso'); // written ISO
    expect(iso.operatingSystem.isoConfiguration).toEqual({ installDevice: '/dev/sda' });
  });
});
