import { closeSync, openSync, readFileSync, readSync, statSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { readSecretsFile, restoreSecrets, stripSecrets } from '../../src/kit/inventory-secrets.ts';
import { parseInventory } from '../../src/service/inventory.ts';
import { tempDir } from '../service/helpers.ts';
import { BMC_PASSWORD, cli, METAL3_PASSWORD, makeSite, sha256, treeOf } from './fixtures.ts';

const tmp = tempDir('kit-roundtrip');
let site: ReturnType<typeof makeSite>;
beforeAll(() => {
  site = makeSite(tmp.dir);
});
afterAll(() => tmp.cleanup());

/** What the kit's config/ must hold: the config dir as the builder reads it, links resolved, no _build. */
function expectedConfig() {
  const tree = treeOf(site.config);
  for (const key of Object.keys(tree)) if (key.startsWith('_build/')) delete tree[key];
  return tree;
}

describe.each(['tar.zst', 'zip'] as const)('a %s kit', (format) => {
  const kit = () => path.join(tmp.dir, `site-${format}.kit`);
  const into = () => path.join(tmp.dir, `unpacked-${format}`);

  it('is made with its checksum, verifies, and unpacks to the same tree', async () => {
    const made = await cli([
      'kit',
      'create',
      '--config-dir',
      site.config,
      '--definition-file',
      'site.yaml',
      '--image',
      site.image,
      '--inventory',
      site.outpostInventory,
      '--format',
      format,
      '--output',
      kit(),
      '--json',
    ]);
    expect(made.code, made.stderr).toBe(0);
    const result = JSON.parse(made.stdout);
    expect(result).toMatchObject({ format, sha256: sha256(readFileSync(kit())) });
    expect(readFileSync(`${kit()}.sha256`, 'utf8')).toBe(`${result.sha256}  ${path.basename(kit())}\n`);
    expect(result.secretsNeeded.map((s: { host: string }) => s.host)).toEqual(['node-1', 'node-2']);

    const verified = await cli(['kit', 'verify', kit(), '-o', 'json']);
    expect(verified.code, verified.stdout).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true, format, problems: [] });

    const unpacked = await cli(['kit', 'unpack', kit(), '--into', into()]);
    expect(unpacked.code, unpacked.stderr).toBe(0);
    const tree = treeOf(into());
    const config = Object.fromEntries(
      Object.entries(tree)
        .filter(([k]) => k.startsWith('config/'))
        .map(([k, v]) => [k.slice('config/'.length), v]),
    );
    expect(config).toEqual(expectedConfig());
    expect(tree['images/site.raw']).toEqual([sha256(readFileSync(site.image)), '644']);
    expect(tree['images/site.raw.sha256']?.[0]).toBe(sha256(readFileSync(`${site.image}.sha256`)));
    expect(
      Object.keys(tree)
        .filter((k) => !k.startsWith('config/'))
        .sort(),
    ).toEqual(['images/site.raw', 'images/site.raw.sha256', 'inventory/hosts.yaml', 'outpost-kit.json']);
    // The unpacked folder verifies too, and a second unpack into it is a no-op.
    expect((await cli(['kit', 'verify', into()])).code).toBe(0);
    const again = await cli(['kit', 'unpack', kit(), '--into', into()]);
    expect(again).toMatchObject({ code: 0 });
    expect(again.stdout).toContain('already holds this kit');
  });

  it('carries the inventory without credentials, network data inlined', () => {
    const text = readFileSync(path.join(into(), 'inventory/hosts.yaml'), 'utf8');
    expect(text).not.toContain(BMC_PASSWORD);
    expect(text).not.toMatch(/username|password/);
    expect(text).toContain('type: ethernet');
    const kitText = readFileSync(kit());
    expect(kitText.includes(BMC_PASSWORD)).toBe(false);
  });

  it('names the file a corrupted byte is in', async () => {
    const bad = path.join(tmp.dir, `corrupt-${format}.kit`);
    const bytes = readFileSync(kit());
    // The image is random bytes stored nearly as they are: find a run of its bytes in the archive.
    const image = readFileSync(site.image);
    const at = bytes.indexOf(image.subarray(500_000, 500_032));
    expect(at).toBeGreaterThan(0);
    bytes[at + 7]! ^= 0x01;
    writeFileSync(bad, bytes);
    const verified = await cli(['kit', 'verify', bad]);
    expect(verified.code).toBe(1);
    expect(verified.stdout).toMatch(/images\/site\.raw: .*(sha256 mismatch|corrupt|CRC)/);
    const unpacked = await cli(['kit', 'unpack', bad, '--into', path.join(tmp.dir, `bad-${format}`)]);
    expect(unpacked.code).toBe(2);
    expect(unpacked.stderr).toContain('images/site.raw');
  });
});

it('verify names a changed file in an unpacked folder', async () => {
  const dir = path.join(tmp.dir, 'unpacked-zip');
  const file = path.join(dir, 'config/custom/scripts/10-hello.sh');
  const fd = openSync(file, 'r+');
  const one = Buffer.alloc(1);
  readSync(fd, one, 0, 1, 3);
  writeSync(fd, Buffer.from([one[0]! ^ 0x20]), 0, 1, 3);
  closeSync(fd);
  const verified = await cli(['kit', 'verify', dir, '-o', 'json']);
  expect(verified.code).toBe(1);
  expect(JSON.parse(verified.stdout).problems).toEqual([
    { path: 'config/custom/scripts/10-hello.sh', message: expect.stringContaining('sha256 mismatch') },
  ]);
  expect(statSync(file).isFile()).toBe(true);
});

it('refuses a config dir with a link out of it, naming the file (exit 2, nothing written)', async () => {
  const { symlinkSync, rmSync, existsSync } = await import('node:fs');
  const link = path.join(site.config, 'custom/files/passwd');
  symlinkSync('/etc/passwd', link);
  try {
    const out = path.join(tmp.dir, 'linked.kit');
    const made = await cli([
      'kit',
      'create',
      '--config-dir',
      site.config,
      '--definition-file',
      'site.yaml',
      '--output',
      out,
    ]);
    expect(made.code).toBe(2);
    expect(made.stderr).toContain('custom/files/passwd');
    expect(made.stderr).toContain('leads outside the config directory');
    expect(existsSync(out)).toBe(false);
  } finally {
    rmSync(link);
  }
});

describe('credentials out at create, back in at import', () => {
  const bmh = (name: string, secret: string) => `apiVersion: metal3.io/v1alpha1
kind: BareMetalHost
metadata: { name: ${name}, namespace: site }
spec:
  online: true
  bootMACAddress: "52:54:00:00:01:0${name.slice(-1)}"
  bmc:
    address: redfish-virtualmedia+http://127.0.0.1:900${name.slice(-1)}/redfish/v1/Systems/1
    credentialsName: ${secret}
  preprovisioningNetworkDataName: ${name}-net
---
apiVersion: v1
kind: Secret
metadata: { name: ${secret}, namespace: site }
stringData: { username: admin, password: ${METAL3_PASSWORD} }
---
apiVersion: v1
kind: Secret
metadata: { name: ${name}-net, namespace: site }
stringData:
  networkData: |
    interfaces:
      - name: eth0
        type: ethernet
        state: up
`;
  const text = `${bmh('m-1', 'm-1-bmc')}---\n${bmh('m-2', 'm-2-bmc')}`;

  it('Metal3: credential Secrets leave, network data Secrets stay; Secrets or a credentials list restore them', () => {
    const stripped = stripSecrets([{ name: 'inventory/bmh.yaml', text, readFile: () => '' }]);
    const out = stripped.files[0]!.text;
    expect(out).not.toContain(METAL3_PASSWORD);
    expect(parseAllDocuments(out).map((d) => d.get('kind'))).toEqual([
      'BareMetalHost',
      'Secret',
      'BareMetalHost',
      'Secret',
    ]);
    expect(stripped.secretsNeeded).toEqual([
      {
        host: 'm-1',
        inventory: 'inventory/bmh.yaml',
        keys: ['username', 'password'],
        secret: { namespace: 'site', name: 'm-1-bmc' },
      },
      {
        host: 'm-2',
        inventory: 'inventory/bmh.yaml',
        keys: ['username', 'password'],
        secret: { namespace: 'site', name: 'm-2-bmc' },
      },
    ]);
    const secretsText = `apiVersion: v1
kind: Secret
metadata: { name: m-1-bmc, namespace: site }
data: { username: ${Buffer.from('admin').toString('base64')}, password: ${Buffer.from('p1').toString('base64')} }
---
credentials:
  - { host: m-2, username: root, password: p2 }
`;
    const secrets = readSecretsFile('secrets.yaml', secretsText, () => '');
    expect(secrets.diagnostics).toEqual([]);
    const restored = restoreSecrets(stripped.files, stripped.secretsNeeded, {
      file: 'secrets.yaml',
      ...secrets,
    });
    expect(restored.missing).toEqual([]);
    const inventory = parseInventory(restored.inputs);
    expect(inventory.diagnostics).toEqual([]);
    expect(inventory.hosts.map((h) => [h.spec.name, h.credentials.username, h.credentials.password])).toEqual(
      [
        ['m-1', 'admin', 'p1'],
        ['m-2', 'root', 'p2'],
      ],
    );
    expect(inventory.hosts[0]!.spec.networkData).toBeDefined();
    // Without m-2's credentials, m-2 is named as missing and nothing is put together.
    const partial = restoreSecrets(stripped.files, stripped.secretsNeeded, {
      file: 'secrets.yaml',
      bySecret: secrets.bySecret,
      byHost: new Map(),
    });
    expect(partial.missing.map((m) => m.host)).toEqual(['m-2']);
    expect(partial.inputs).toEqual([]);
  });

  it('outpost YAML: a credentials list restores username and password per host', () => {
    const original = readFileSync(site.outpostInventory, 'utf8');
    const stripped = stripSecrets([
      {
        name: 'inventory/hosts.yaml',
        text: original,
        readFile: (f) => readFileSync(path.join(tmp.dir, f), 'utf8'),
      },
    ]);
    const secrets = readSecretsFile(
      'creds.yaml',
      'credentials:\n  - { host: node-1, username: admin, password: a }\n  - { host: node-2, username: admin, password: b }\n',
      () => '',
    );
    const restored = restoreSecrets(stripped.files, stripped.secretsNeeded, {
      file: 'creds.yaml',
      ...secrets,
    });
    const inventory = parseInventory(restored.inputs);
    expect(inventory.diagnostics).toEqual([]);
    expect(inventory.hosts.map((h) => h.credentials.password)).toEqual(['a', 'b']);
    expect(inventory.hosts[1]!.spec.role).toBe('agent');
  });
});

it('has --help for kit and each of its commands', async () => {
  for (const args of [['kit'], ['kit', 'create'], ['kit', 'verify'], ['kit', 'unpack'], ['kit', 'import']]) {
    const help = await cli([...args, '--help']);
    expect(help.code, args.join(' ')).toBe(0);
    expect(help.stdout).toContain(`Usage: outpost ${args.join(' ')}`);
  }
});

it('refuses a definition that does not validate, with its diagnostics (exit 2, no kit)', async () => {
  const { existsSync } = await import('node:fs');
  const broken = path.join(site.config, 'broken.yaml');
  writeFileSync(broken, 'apiVersion: 1.3\nimage:\n  imageType: floppy\n');
  const out = path.join(tmp.dir, 'broken.kit');
  const made = await cli([
    'kit',
    'create',
    '--config-dir',
    site.config,
    '--definition-file',
    'broken.yaml',
    '--output',
    out,
  ]);
  expect(made.code).toBe(2);
  expect(made.stderr).toMatch(/broken\.yaml:3:\d+: image\.imageType/);
  expect(existsSync(out)).toBe(false);
  const { rmSync } = await import('node:fs');
  rmSync(broken);
});

it('refuses a config file whose name cannot travel (a newline), naming it', async () => {
  const { rmSync, existsSync } = await import('node:fs');
  const odd = path.join(site.config, 'custom/files/two\nlines');
  writeFileSync(odd, 'x');
  try {
    const out = path.join(tmp.dir, 'odd.kit');
    const made = await cli([
      'kit',
      'create',
      '--config-dir',
      site.config,
      '--definition-file',
      'site.yaml',
      '--output',
      out,
      '--format',
      'zip',
    ]);
    expect(made.code).toBe(2);
    expect(made.stderr).toContain('custom/files/two\\x0alines');
    expect(existsSync(out)).toBe(false);
  } finally {
    rmSync(odd);
  }
});
