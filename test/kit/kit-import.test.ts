import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Lab, startLab } from '../../src/lab/index.ts';
import {
  clientFor,
  freePort,
  listHosts,
  ServiceProcess,
  summary,
  tempDir,
  waitFor,
} from '../service/helpers.ts';
import { cli, makeSite } from './fixtures.ts';

// A kit imported into `outpost serve` running on loopback, its hosts' BMCs emulated by the lab: the
// credentials come only from the secrets file, and the hosts register with them.
const tmp = tempDir('kit-import');
const stateDir = path.join(tmp.dir, 'state');
const mediaDir = path.join(tmp.dir, 'media');
let lab: Lab;
let service: ServiceProcess;
let kit: string;
let site: ReturnType<typeof makeSite>;

beforeAll(async () => {
  lab = await startLab({ hosts: 2, backend: 'fake', stateDir: path.join(tmp.dir, 'lab') });
  service = new ServiceProcess({ stateDir, mediaDir, port: await freePort() });
  await service.start();
  site = makeSite(tmp.dir);
  // The site's inventory as Metal3 manifests: BareMetalHosts, their credentials Secrets, network data.
  const docs = lab.hosts.flatMap((h, i) => [
    `apiVersion: metal3.io/v1alpha1
kind: BareMetalHost
metadata: { name: ${h.name}, namespace: edge }
spec:
  online: false
  bootMACAddress: "${h.bootMac}"
  bmc: { address: "${h.bmcAddress}", credentialsName: ${h.name}-bmc }
${i === 0 ? `  preprovisioningNetworkDataName: ${h.name}-net\n` : ''}`,
    `apiVersion: v1
kind: Secret
metadata: { name: ${h.name}-bmc, namespace: edge }
stringData: { username: "${h.username}", password: "${h.password}" }
`,
    ...(i === 0
      ? [
          `apiVersion: v1
kind: Secret
metadata: { name: ${h.name}-net, namespace: edge }
stringData:
  networkData: |
    interfaces:
      - name: eth0
        type: ethernet
        state: up
        ipv4: { enabled: true, address: [{ ip: 192.168.100.21, prefix-length: 24 }] }
`,
        ]
      : []),
  ]);
  const inventory = path.join(tmp.dir, 'bmh.yaml');
  writeFileSync(inventory, docs.join('---\n'));
  kit = path.join(tmp.dir, 'site.kit');
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
    inventory,
    '--output',
    kit,
  ]);
  expect(made.code, made.stderr).toBe(0);
  for (const h of lab.hosts) expect(readFileSync(kit).includes(h.password)).toBe(false);
});
afterAll(async () => {
  await service?.kill('SIGTERM');
  await lab?.close();
  tmp.cleanup();
});

const importKit = (...args: string[]) =>
  cli(['kit', 'import', ...args, '--state-dir', stateDir], {}, 120_000);
const [first, second] = [0, 1];

it('without the secrets, names each missing credential and imports nothing', async () => {
  const none = await importKit(kit);
  expect(none.code).toBe(2);
  for (const h of lab.hosts)
    expect(none.stderr).toContain(`host ${h.name} (bmh.yaml): BMC Secret edge/${h.name}-bmc`);
  const h0 = lab.hosts[first]!;
  const partial = path.join(tmp.dir, 'partial-secrets.yaml');
  writeFileSync(
    partial,
    `apiVersion: v1\nkind: Secret\nmetadata: { name: ${h0.name}-bmc, namespace: edge }\nstringData: { username: "${h0.username}", password: "${h0.password}" }\n`,
  );
  const some = await importKit(kit, '--secrets', partial);
  expect(some.code).toBe(2);
  expect(some.stderr).toContain(`host ${lab.hosts[second]!.name}`);
  expect(some.stderr).not.toContain(`host ${h0.name} `);
  expect(some.stderr).not.toContain(h0.password);
  expect(await listHosts(clientFor(service.url, stateDir))).toEqual([]);
  expect(readdirSync(mediaDir).filter((f) => !f.startsWith('.') && f !== 'hosts')).toEqual([]);
});

it('with the secrets, places the image in the media dir and imports the hosts, which register with them', async () => {
  const [h0, h1] = [lab.hosts[first]!, lab.hosts[second]!];
  const secrets = path.join(tmp.dir, 'secrets.yaml');
  writeFileSync(
    secrets,
    [
      `apiVersion: v1\nkind: Secret\nmetadata: { name: ${h0.name}-bmc, namespace: edge }`,
      `data: { username: ${Buffer.from(h0.username).toString('base64')}, password: ${Buffer.from(h0.password).toString('base64')} }`,
      '---',
      'credentials:',
      `  - { host: ${h1.name}, username: "${h1.username}", password: "${h1.password}" }`,
      '',
    ].join('\n'),
  );
  // A media dir that already has another site.raw: refused before anything is imported.
  const otherMedia = path.join(tmp.dir, 'other-media');
  mkdirSync(otherMedia);
  writeFileSync(path.join(otherMedia, 'site.raw'), 'another image');
  const clash = await importKit(kit, '--secrets', secrets, '--media-dir', otherMedia);
  expect(clash.code).toBe(2);
  expect(clash.stderr).toContain('the media dir already has another site.raw');
  expect(await listHosts(clientFor(service.url, stateDir))).toEqual([]);
  expect(readFileSync(path.join(otherMedia, 'site.raw'), 'utf8')).toBe('another image');

  const imported = await importKit(kit, '--secrets', secrets, '-o', 'json');
  expect(imported.code, imported.stderr).toBe(0);
  const result = JSON.parse(imported.stdout);
  expect(result.hosts.created.sort()).toEqual([h0.name, h1.name].sort());
  expect(result.images).toEqual([{ name: 'site.raw', path: path.join(mediaDir, 'site.raw'), placed: true }]);
  expect(result.kitDir.startsWith(path.join(stateDir, 'kits'))).toBe(true);
  expect(readFileSync(path.join(mediaDir, 'site.raw')).equals(readFileSync(site.image))).toBe(true);
  expect(readFileSync(path.join(mediaDir, 'site.raw.sha256'), 'utf8')).toBe(
    readFileSync(`${site.image}.sha256`, 'utf8'),
  );
  // The media server serves it by name, as `hosts provision --image site.raw` will use it.
  const head = await fetch(`${service.url}/media/site.raw`, { method: 'HEAD' });
  expect(head.status).toBe(200);
  expect(head.headers.get('content-length')).toBe(String(readFileSync(site.image).length));

  const client = clientFor(service.url, stateDir);
  const hosts = await waitFor(
    'both hosts to register with the credentials from the secrets file and become available',
    async () => {
      const list = await listHosts(client);
      return list.length === 2 && list.every((h) => h.state === 'available') ? list : undefined;
    },
    { timeoutMs: 90_000, describe: async () => summary(await listHosts(client)) },
  );
  expect(hosts.find((h) => h.name === h0.name)?.networkData).toBeDefined();

  // Again, from the file or from the folder it was unpacked into: nothing changes, nothing is copied.
  for (const again of [kit, result.kitDir as string]) {
    const rerun = await importKit(again, '--secrets', secrets, '-o', 'json');
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(JSON.parse(rerun.stdout)).toMatchObject({
      images: [{ name: 'site.raw', placed: false }],
      hosts: { created: [], unchanged: expect.arrayContaining([h0.name, h1.name]) },
    });
  }
  expect(existsSync(path.join(stateDir, 'kits'))).toBe(true);
  expect(service.output).not.toContain(h0.password);
});
