import { execFileSync } from 'node:child_process';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatDiagnostic, forTerminal } from '../../src/common/diagnostics.ts';
import { redactValues } from '../../src/common/redact.ts';
import { renderTemplate } from '../../src/common/templates.ts';
import { YamlSource } from '../../src/common/yaml-cursor.ts';
import { writeFixtureChart, writeFixtureVipCharts } from '../fixtures/rke2-release.ts';
import { BASE_DEFINITION, HostileDirs, mkfifo, POSITIONED, problems } from './support/hostile.ts';

/*
 * One test per finding of issue 9 (untrusted definitions): each input that used to escape the config
 * dir, crash, hang or pass validate only to be refused by build now gets a positioned problem.
 */

const dirs = new HostileDirs();
beforeAll(() => dirs.setUp());
afterAll(() => dirs.tearDown());

const withOs = (os: string) =>
  BASE_DEFINITION.replace(/operatingSystem:\n[\s\S]*$/, `operatingSystem:\n${os}`);
const withKubernetes = (k8s: string, apiVersion = '1.3') =>
  `${BASE_DEFINITION.replace('apiVersion: 1.3', `apiVersion: ${apiVersion}`)}kubernetes:\n  version: v1.32.4+rke2r1\n${k8s}`;
/** A kubernetes section with these Helm chart entries, all from one https repository named `repo`. */
const charts = (list: string) =>
  withKubernetes(
    `  helm:\n    charts:\n${list}    repositories:\n      - name: repo\n        url: https://charts.example\n`,
  );

function allPositioned(lines: string[]): void {
  for (const line of lines) expect(line).toMatch(POSITIONED);
}

describe('containment', () => {
  it('refuses a bond port that climbs out of the output folder', async () => {
    const dir = await dirs.configDir({
      'network/node1.yaml':
        'interfaces:\n  - name: bond0\n    type: bond\n    link-aggregation:\n      mode: active-backup\n      port:\n        - ../../../../tmp/x\n',
    });
    expect(await problems(dir)).toEqual([
      "network/node1.yaml:7:11: interfaces[0].link-aggregation.port[0]: '../../../../tmp/x' is not a valid port name (at most 15 letters, digits, '_', '.', '+', '@' or '-', starting with a letter, digit or '_')",
    ]);
  });

  it('refuses os-files and custom/ that are links to folders outside the config dir', async () => {
    const dir = await dirs.configDir();
    await symlink(dirs.outside, path.join(dir, 'os-files'));
    await mkdir(path.join(dir, 'custom'));
    await symlink(dirs.outside, path.join(dir, 'custom/files'));
    expect(await problems(dir)).toEqual([
      'custom/files:1:1: is a symbolic link that leads outside the config directory',
      'os-files:1:1: is a symbolic link that leads outside the config directory',
    ]);
  });

  it('refuses a file link inside os-files that leads outside, and accepts one that stays inside', async () => {
    const dir = await dirs.configDir({ 'os-files/etc/motd': 'hi\n', 'shared/issue': 'edge\n' });
    await symlink(path.join(dirs.outside, 'id_ed25519'), path.join(dir, 'os-files/etc/key'));
    await symlink('../../shared/issue', path.join(dir, 'os-files/etc/issue'));
    expect(await problems(dir)).toEqual([
      'os-files/etc/key:1:1: is a symbolic link that leads outside the config directory',
    ]);
  });

  it('refuses an output that is the definition or an existing folder, accepts a new file in a subfolder', async () => {
    const onDefinition = await dirs.configDir({}, BASE_DEFINITION.replace('out.raw', 'site.yaml'));
    expect(await problems(onDefinition)).toEqual([
      "site.yaml:6:20: image.outputImageName: must not end in .yaml or .yml (a definition could be overwritten): 'site.yaml'",
    ]);
    const { checkOutputImage } = await import('../../src/definition/checks/output-image.ts');
    const atField = (p: string, message: string) => ({
      file: 'site.yaml',
      line: 1,
      col: 1,
      path: p,
      message,
    });
    const ctx = { configDir: onDefinition, definitionFile: path.join(onDefinition, 'site.def'), atField };
    const onDef = await checkOutputImage({
      ...ctx,
      definition: { image: { outputImageName: 'site.def' } },
      displayPath: (r: string) => r,
      atFile: atField,
    });
    expect(onDef.map((d) => d.message)).toEqual(['is the definition file: the build would overwrite it']);
    const onFolder = await dirs.configDir(
      { 'custom/scripts/50-a.sh': 'true\n', 'out/keep': '' },
      BASE_DEFINITION.replace('out.raw', 'out'),
    );
    expect(await problems(onFolder)).toEqual([
      'site.yaml:6:20: image.outputImageName: out is an existing folder',
    ]);
    const inInputs = await dirs.configDir({}, BASE_DEFINITION.replace('out.raw', 'custom/x.raw'));
    expect((await problems(inInputs))[0]).toContain('must not be inside custom/, which holds inputs');
    const subfolder = await dirs.configDir(
      { 'out/.keep': '' },
      BASE_DEFINITION.replace('out.raw', './out/basic.iso'),
    );
    expect(await problems(subfolder)).toEqual([]);
    const outside = await dirs.configDir({}, BASE_DEFINITION.replace('out.raw', '../basic.raw'));
    expect((await problems(outside))[0]).toContain("no '..'");
  });

  it('refuses a definition in the config dir that is a link leading outside (never quoting what it leads to)', async () => {
    const dir = await dirs.configDir();
    await symlink(path.join(dirs.outside, 'id_ed25519'), path.join(dir, 'key.yaml'));
    const { loadDefinition } = await import('../../src/build/load-definition.ts');
    const result = await loadDefinition({ configDir: dir, definitionFile: 'key.yaml', env: {}, cwd: dir });
    expect(result.diagnostics.map(formatDiagnostic)).toEqual([
      'key.yaml:1:1: cannot read the definition file: is a symbolic link that leads outside the config directory',
    ]);
  });

  it('refuses a _build that is a link leading outside (the build writes its log there)', async () => {
    const dir = await dirs.configDir();
    await symlink(dirs.outside, path.join(dir, '_build'));
    expect(await problems(dir)).toEqual([
      '_build:1:1: is a symbolic link that leads outside the config directory',
    ]);
  });

  it('refuses an output folder that is a link leading outside', async () => {
    const dir = await dirs.configDir({}, BASE_DEFINITION.replace('out.raw', 'out/basic.raw'));
    await symlink(dirs.outside, path.join(dir, 'out'));
    expect(await problems(dir)).toEqual([
      'site.yaml:6:20: image.outputImageName: folder out is a symbolic link that leads outside the config directory',
    ]);
  });
});

describe('no crash', () => {
  it('network/ that is a file', async () => {
    const dir = await dirs.configDir({ network: 'not a folder\n' });
    expect(await problems(dir)).toEqual(['network:1:1: must be a directory of host files']);
  });

  it.each(['network', 'custom/scripts', 'os-files', 'kubernetes/manifests'])(
    'a symlink loop at %s',
    async (where) => {
      const dir = await dirs.configDir();
      await mkdir(path.dirname(path.join(dir, where)), { recursive: true });
      await symlink(path.basename(where), path.join(dir, where));
      const found = await problems(dir);
      expect(found).toContain(`${where}:1:1: is a symbolic link loop`);
      allPositioned(found);
    },
  );

  it('a dangling link in network/', async () => {
    const dir = await dirs.configDir({
      'network/node1.yaml': 'interfaces:\n  - name: eth0\n    type: ethernet\n',
    });
    await symlink('gone.yaml', path.join(dir, 'network/node2.yaml'));
    expect(await problems(dir)).toEqual(['network/node2.yaml:1:1: is a symbolic link to nothing (dangling)']);
  });

  it('a manifest and server.yaml that are folders', async () => {
    const dir = await dirs.configDir(
      { 'kubernetes/manifests/app.yaml/x': '', 'kubernetes/config/server.yaml/x': '' },
      withKubernetes(''),
    );
    expect(await problems(dir)).toEqual([
      'kubernetes/config/server.yaml:1:1: is a folder, not a file',
      'kubernetes/manifests/app.yaml:1:1: is a folder, not a file',
    ]);
  });

  it.each([
    ['10,000 [', `${'['.repeat(10_000)}${']'.repeat(10_000)}`],
    ['3,000 nested maps', `${Array.from({ length: 3000 }, (_, i) => `${' '.repeat(i)}a:`).join('\n')} 1\n`],
    ['20,000 "- "', `${'- '.repeat(20_000)}x\n`],
    ['65 nested lists', `${'['.repeat(65)}${']'.repeat(65)}\n`],
  ])('deeply nested YAML: %s', async (_, text) => {
    const dir = await dirs.configDir({}, text);
    const found = await problems(dir);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^site\.yaml:\d+:\d+: YAML nesting is too deep: at most 64 levels/);
  });
});

describe('no hang', () => {
  it('a FIFO as the definition, a manifest or server.yaml is refused without being opened', async () => {
    const dir = await dirs.configDir({ 'kubernetes/manifests/.keep': '' }, withKubernetes(''));
    await writeFile(path.join(dir, 'kubernetes/manifests/.keep'), '');
    mkfifo(path.join(dir, 'kubernetes/manifests/app.yaml'));
    await mkdir(path.join(dir, 'kubernetes/config'));
    mkfifo(path.join(dir, 'kubernetes/config/server.yaml'));
    expect(await problems(dir)).toEqual([
      'kubernetes/config/server.yaml:1:1: is a FIFO (named pipe): only regular files and folders are read',
      'kubernetes/manifests/.keep:1:1: must be a .yaml or .yml Kubernetes manifest',
      'kubernetes/manifests/app.yaml:1:1: is a FIFO (named pipe): only regular files and folders are read',
    ]);
    mkfifo(path.join(dir, 'fifo.yaml'));
    const { loadDefinition } = await import('../../src/build/load-definition.ts');
    const result = await loadDefinition({ configDir: dir, definitionFile: 'fifo.yaml', env: {}, cwd: dir });
    expect(result.diagnostics.map(formatDiagnostic)).toEqual([
      'fifo.yaml:1:1: cannot read the definition file: is a FIFO (named pipe): only regular files and folders are read',
    ]);
  });

  it('character and block devices are refused without being opened (/dev/zero would never end)', async () => {
    const dir = await dirs.configDir({
      'os-files/etc/motd': 'hi\n',
      'network/node1.yaml': 'interfaces: []\n',
    });
    execFileSync('mknod', [path.join(dir, 'os-files/etc/zero'), 'c', '1', '5']);
    execFileSync('mknod', [path.join(dir, 'network/node2.yaml'), 'b', '7', '250']);
    expect(await problems(dir)).toEqual([
      'network/node2.yaml:1:1: is a block device: only regular files and folders are read',
      'os-files/etc/zero:1:1: is a character device: only regular files and folders are read',
    ]);
  });

  it('reads a host file with 16,000 interfaces (the parser is linear; timing is in npm run bench)', async () => {
    const lines = ['interfaces:'];
    for (let i = 0; i < 16_000; i++) lines.push(`  - name: d${i}`, '    type: dummy');
    const dir = await dirs.configDir({ 'network/node1.yaml': `${lines.join('\n')}\n` });
    expect(await problems(dir)).toEqual([]);
  });
});

describe('validate refuses what build refuses, positioned', () => {
  it.each([
    [
      'a user name with capitals',
      '  users:\n    - username: Edge\n      encryptedPassword: x\n',
      'operatingSystem.users[0].username',
    ],
    ['a timezone with a space', '  time:\n    timezone: Europe/Ber lin\n', 'operatingSystem.time.timezone'],
    ['a keymap with a quote', '  keymap: "us\'"\n', 'operatingSystem.keymap'],
    [
      'an SSH key that is not one',
      '  users:\n    - username: root\n      sshKeys: [not-a-key]\n',
      'operatingSystem.users[0].sshKeys[0]',
    ],
    ['a kernel argument with "', '  kernelArgs: [\'a="b"\']\n', 'operatingSystem.kernelArgs[0]'],
    ['a kernel argument with $', '  kernelArgs: [a=$HOME]\n', 'operatingSystem.kernelArgs[0]'],
    ['a kernel argument with ;', '  kernelArgs: [a=1;reboot]\n', 'operatingSystem.kernelArgs[0]'],
    ['a systemd unit with a space', '  systemd:\n    enable: [a b]\n', 'operatingSystem.systemd.enable[0]'],
    [
      'an NTP server with a quote',
      "  time:\n    ntp:\n      servers: ['ntp\"x']\n",
      'operatingSystem.time.ntp.servers[0]',
    ],
    [
      'a password hash with a colon',
      '  users:\n    - username: root\n      encryptedPassword: a:b\n',
      'operatingSystem.users[0].encryptedPassword',
    ],
    [
      'a uid of 1e26',
      '  users:\n    - username: edge\n      uid: 1e26\n      encryptedPassword: x\n',
      'operatingSystem.users[0].uid',
    ],
    [
      'a gid above 2^32 - 2',
      '  groups:\n    - name: g\n      gid: 4294967295\n',
      'operatingSystem.groups[0].gid',
    ],
  ])('%s', async (_, os, field) => {
    const found = await problems(await dirs.configDir({}, withOs(os)));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(new RegExp(`^site\\.yaml:\\d+:\\d+: ${field.replace(/[.[\]]/g, '\\$&')}: `));
  });

  it('a custom script name with a space or in a subfolder', async () => {
    const dir = await dirs.configDir({
      'custom/scripts/50 setup.sh': 'true\n',
      'custom/scripts/sub/60-x.sh': 'true\n',
    });
    expect(await problems(dir)).toEqual([
      "custom/scripts/50 setup.sh:1:1: a script name may use only letters, digits, '.', '_' and '-' (no folders), starting with a letter or digit",
      "custom/scripts/sub/60-x.sh:1:1: a script name may use only letters, digits, '.', '_' and '-' (no folders), starting with a letter or digit",
    ]);
  });

  it('an ISO base image (build cannot use it yet)', async () => {
    const dir = await dirs.configDir({}, BASE_DEFINITION.replace('imageType: raw', 'imageType: iso'));
    // base.raw is a GPT disk: imageType iso over a raw disk is accepted.
    expect(await problems(dir)).toEqual([]);
  });
});

describe('small defects', () => {
  it('uid 0 and gid 0 reach the shell first-boot engine', () => {
    const users = renderTemplate('firstboot/users.sh.hbs', {
      users: [{ username: 'op', hasUid: true, uid: '0', secondaryGroups: [], sshKeys: [], modifies: true }],
    });
    expect(users).toContain("usermod -u '0' 'op'");
    expect(users).toContain("-u '0' -U 'op'");
    const groups = renderTemplate('firstboot/groups.sh.hbs', {
      groups: [{ name: 'wheel2', hasGid: true, gid: '0' }],
    });
    expect(groups).toContain("groupadd -g '0' 'wheel2'");
  });

  it('the report is redacted by JSON value: a short secret never changes a key', () => {
    const report = { status: 'succeeded', keymap: 'us', note: 'focus' };
    expect(redactValues(report, ['us'])).toEqual({
      status: 'succeeded',
      keymap: '<redacted>',
      note: 'foc<redacted>',
    });
  });

  it('installer settings never carry the host name outside quotes', () => {
    const text = renderTemplate('installer/install.conf.hbs', {
      host: "x\nrm -rf /'",
      image: {},
      disk: { hints: {} },
      callback: {},
      network: {},
    });
    expect(text.split('\n')[0]).toBe(
      '# outpost installer settings (sourced by /init; every value is shell-quoted)',
    );
    expect(text).toContain(`OUTPOST_HOST='x\nrm -rf /'\\''`);
  });

  it('YAML aliases are read as the value they name', async () => {
    const dir = await dirs.configDir(
      {},
      withOs('  kernelArgs: [&q quiet]\n  keymap: &k us\n  time:\n    timezone: *k\n'),
    );
    expect(await problems(dir)).toEqual([]);
  });

  it('an alias bomb is read node by node, never expanded', () => {
    const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 12; i++)
      lines.push(
        `a${i}: &a${i} [${Array(10)
          .fill(`*a${i - 1}`)
          .join(', ')}]`,
      );
    const source = new YamlSource('bomb.yaml', `${lines.join('\n')}\n`);
    expect(source.ok).toBe(true);
    expect(source.root.get('a11').items()[0]!.items()).toHaveLength(10);
    expect(source.root.get('a11').toJS()).toBeUndefined();
    expect(source.diagnostics.map(formatDiagnostic)).toEqual([
      'bomb.yaml:12:11: a11: cannot be read: its aliases expand too far',
    ]);
  });

  it('terminal escape sequences in input are printed as visible escapes', async () => {
    const dir = await dirs.configDir({}, withOs('  keymap: "\\e[2J\\e]0;owned\\a"\n'));
    const [line] = await problems(dir);
    expect(line).not.toMatch(/[\x00-\x1f]/);
    expect(line).toContain('\\x1b[2J\\x1b]0;owned\\x07');
    expect(forTerminal('a\nb\u202e')).toBe('a\\x0ab\\u{202e}');
  });
});

describe("Edge Image Builder's Kubernetes rules", () => {
  it.each([
    ['127.0.0.1', 'apiVIP'],
    ['0.0.0.0', 'apiVIP'],
    ['224.0.0.1', 'apiVIP'],
    ['169.254.1.1', 'apiVIP'],
    ['::1', 'apiVIP6'],
    ['::', 'apiVIP6'],
    ['ff02::1', 'apiVIP6'],
    ['fe80::1', 'apiVIP6'],
  ])('refuses %s as %s (not global unicast)', async (address, field) => {
    const found = await problems(
      await dirs.configDir({}, withKubernetes(`  network:\n    ${field}: "${address}"\n`)),
    );
    expect(found).toEqual([
      expect.stringMatching(
        new RegExp(`kubernetes\\.network\\.${field}: '.*' is not a global unicast address`),
      ),
    ]);
  });

  it('dual stack needs server.yaml with both families, the same first family, in cluster-cidr and service-cidr', async () => {
    const k8s = '  network:\n    apiVIP: 192.168.1.10\n    apiVIP6: fd00::10\n';
    expect(await problems(await dirs.configDir({}, withKubernetes(k8s)))).toEqual([
      'site.yaml:14:5: kubernetes.network: dual stack (apiVIP and apiVIP6) needs kubernetes/config/server.yaml with cluster-cidr and service-cidr',
    ]);
    const cases: [string, string][] = [
      [
        'cluster-cidr: 10.42.0.0/16,fd42::/48\n',
        'dual stack (apiVIP and apiVIP6 in the definition) needs service-cidr',
      ],
      [
        'cluster-cidr: 10.42.0.0/16\nservice-cidr: 10.43.0.0/16,fd43::/112\n',
        'dual stack needs one IPv4 and one IPv6 network here',
      ],
      [
        'cluster-cidr: 10.42.0.0/16,fd42::/48\nservice-cidr: fd43::/112,10.43.0.0/16\n',
        'must list the same address family first as cluster-cidr (IPv4)',
      ],
      [
        'cluster-cidr: 10.42.0.0/16,10.44.0.0/16\nservice-cidr: 10.43.0.0/16,fd43::/112\n',
        'lists two IPv4 entries',
      ],
      [
        'cluster-cidr: 10.42.0.0/33,fd42::/48\nservice-cidr: 10.43.0.0/16,fd43::/112\n',
        "'10.42.0.0/33' is not an IPv4 or IPv6 network",
      ],
      [
        'cluster-cidr: 127.0.0.0/8,fd42::/48\nservice-cidr: 10.43.0.0/16,fd43::/112\n',
        'is not a global unicast network',
      ],
      [
        'cluster-cidr: 10.42.0.0/16,fd42::/48,10.1.0.0/16\nservice-cidr: 10.43.0.0/16,fd43::/112\n',
        'lists more than two entries',
      ],
    ];
    for (const [server, message] of cases) {
      const found = await problems(
        await dirs.configDir({ 'kubernetes/config/server.yaml': server }, withKubernetes(k8s)),
      );
      expect(found, server).toEqual([expect.stringContaining(message)]);
      allPositioned(found);
    }
    const good = 'cluster-cidr: 10.42.0.0/16,fd42::/48\nservice-cidr: 10.43.0.0/16,fd43::/112\n';
    expect(
      await problems(await dirs.configDir({ 'kubernetes/config/server.yaml': good }, withKubernetes(k8s))),
    ).toEqual([]);
  });

  it('node-ip: only with a single server, parses, unicast, one per family', async () => {
    const three =
      '  network:\n    apiVIP: 192.168.1.10\n  nodes:\n    - hostname: a\n      type: server\n    - hostname: b\n      type: server\n';
    expect(
      await problems(
        await dirs.configDir(
          { 'kubernetes/config/server.yaml': 'node-ip: 192.168.1.5\n' },
          withKubernetes(three),
        ),
      ),
    ).toEqual([
      'kubernetes/config/server.yaml:1:10: node-ip: cannot be set when the cluster has more than one server node',
    ]);
    const nodeIps: [string, string][] = [
      ['not-an-ip', "'not-an-ip' is not an IP address"],
      ['127.0.0.1', 'is not a global unicast address'],
      ['192.168.1.5,192.168.1.6', 'lists two IPv4 entries'],
    ];
    for (const [value, message] of nodeIps) {
      const found = await problems(
        await dirs.configDir({ 'kubernetes/config/server.yaml': `node-ip: ${value}\n` }, withKubernetes('')),
      );
      expect(found).toEqual([expect.stringContaining(message)]);
    }
  });

  const chart = (fields: string) => `      - repositoryName: repo\n${fields}`;

  it('refuses empty chart names and versions and a releaseName that is another chart name', async () => {
    const found = await problems(
      await dirs.configDir(
        {},
        charts(
          chart('        name: ""\n        version: 1.0.0\n') +
            chart('        name: a\n        version: ""\n') +
            chart('        name: b\n        version: 1.0.0\n        releaseName: a\n'),
        ),
      ),
    );
    expect(found.map((l) => l.replace(/^site\.yaml:\d+:\d+: /, ''))).toEqual([
      'kubernetes.helm.charts[0].name: must not be empty',
      'kubernetes.helm.charts[1].version: must not be empty',
      "kubernetes.helm.charts[2].releaseName: 'a' is the name of another chart (charts[1]): choose another releaseName",
    ]);
  });

  it('accepts the same chart twice with distinct releaseNames, as EIB does', async () => {
    const found = await problems(
      await dirs.configDir(
        {},
        charts(
          chart('        name: app\n        version: 1.0.0\n        releaseName: app-one\n') +
            chart('        name: app\n        version: 1.0.0\n        releaseName: app-two\n'),
        ),
      ),
    );
    expect(found).toEqual([]);
  });

  it('manifests need a kubernetes section; empty, list and scalar manifests are refused', async () => {
    const without = await dirs.configDir({
      'kubernetes/manifests/ns.yaml': 'apiVersion: v1\nkind: Namespace\n',
    });
    expect(await problems(without)).toEqual([
      'site.yaml:1:1: kubernetes: kubernetes/manifests holds manifests: they need a kubernetes section with a version',
    ]);
    const bad = await dirs.configDir(
      {
        'kubernetes/manifests/empty.yaml': '# nothing\n',
        'kubernetes/manifests/list.yaml': '- a\n- b\n',
        'kubernetes/manifests/scalar.yaml': 'hello\n',
      },
      withKubernetes(''),
    );
    expect(await problems(bad)).toEqual([
      'kubernetes/manifests/empty.yaml:1:1: is empty: a manifest holds at least one Kubernetes object',
      'kubernetes/manifests/list.yaml:1:1: each document must be one Kubernetes object (a mapping), not a list or a value',
      'kubernetes/manifests/scalar.yaml:1:1: each document must be one Kubernetes object (a mapping), not a list or a value',
    ]);
  });
});

describe("validate refuses what the build's Kubernetes step refuses, positioned", () => {
  const strip = (lines: string[]) => lines.map((l) => l.replace(/:\d+:\d+: /, ': '));

  it('K3s', async () => {
    const found = await problems(
      await dirs.configDir({}, withKubernetes('').replace('v1.32.4+rke2r1', 'v1.32.4+k3s1')),
    );
    expect(found).toEqual([
      'site.yaml:12:12: kubernetes.version: K3s is not supported by outpost yet (RKE2 only)',
    ]);
  });

  it('chart names RKE2 cannot give a HelmChart, and two charts one HelmChart name', async () => {
    const found = await problems(
      await dirs.configDir(
        {},
        charts(
          '      - name: My_App\n        repositoryName: repo\n        version: 1.0.0\n' +
            '      - name: web\n        repositoryName: repo\n        version: 1.0.0\n' +
            '      - name: web-chart\n        repositoryName: repo\n        version: 1.0.0\n',
        ),
      ),
    );
    expect(strip(found)).toEqual([
      "site.yaml: kubernetes.helm.charts[0].name: 'My_App' cannot name a HelmChart (lower-case letters, digits and '-', at most 63)",
      "site.yaml: kubernetes.helm.charts[2].name: a second HelmChart named 'web'",
    ]);
  });

  it("a chart released under the name of EIB's API VIP chart", async () => {
    const found = await problems(
      await dirs.configDir(
        {},
        charts(
          '      - name: lb\n        repositoryName: repo\n        version: 1.0.0\n        releaseName: metallb\n',
        ).replace('kubernetes:\n', 'kubernetes:\n  network:\n    apiVIP: 192.168.1.10\n'),
      ),
    );
    expect(strip(found)).toEqual([
      "site.yaml: kubernetes.network: EIB's API VIP chart metallb: a second HelmChart named 'metallb'",
    ]);
  });

  it('manifest names RKE2 cannot name an object after, links among manifests and image archives', async () => {
    const object = 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n';
    const dir = await dirs.configDir(
      {
        'kubernetes/manifests/My_App.yaml': object,
        'kubernetes/manifests/ok.yaml': object,
        'kubernetes/images/app.zip': 'x',
      },
      withKubernetes(''),
    );
    await symlink('ok.yaml', path.join(dir, 'kubernetes/manifests/alias.yaml'));
    expect(await problems(dir)).toEqual([
      'kubernetes/images/app.zip:1:1: must be a container image archive (.tar, .tar.gz or .tar.zst, as docker save writes it)',
      'kubernetes/manifests/alias.yaml:1:1: must be a regular file, not a link (the build does not follow links here)',
      "kubernetes/manifests/My_App.yaml:1:1: RKE2 names an object after this file: use lower-case letters, digits, '-' and '.' (at most 253), e.g. \"my-app.yaml\"",
    ]);
  });

  it("server.yaml's token: a non-empty string, and the variable it names is set", async () => {
    for (const [token, env, message] of [
      ['12345', {}, 'must be a non-empty string'],
      ['""', {}, 'must be a non-empty string'],
      [`\${K8S_TOKEN}`, {}, 'environment variable K8S_TOKEN is not set (the token is read from it)'],
    ] as const) {
      const dir = await dirs.configDir(
        { 'kubernetes/config/server.yaml': `token: ${token}\n` },
        withKubernetes(''),
      );
      expect(await problems(dir, env)).toEqual([`kubernetes/config/server.yaml:1:8: token: ${message}`]);
    }
    const set = await dirs.configDir(
      { 'kubernetes/config/server.yaml': `token: \${K8S_TOKEN}\n` },
      withKubernetes(''),
    );
    expect(await problems(set, { K8S_TOKEN: 'secret-token' })).toEqual([]);
  });
});

describe('one check for both commands', () => {
  it('build refuses what validate refuses, positioned, before writing anything', async () => {
    const { execa } = await import('execa');
    const dir = await dirs.configDir({
      'network/node1.yaml':
        'interfaces:\n  - name: bond0\n    type: bond\n    link-aggregation:\n      mode: active-backup\n      port: [../../x]\n',
    });
    await symlink(dirs.outside, path.join(dir, 'os-files'));
    const bin = path.resolve(import.meta.dirname, '../../bin/outpost.js');
    const run = (command: string) =>
      execa(process.execPath, [bin, command, '--config-dir', dir, '--definition-file', 'site.yaml'], {
        cwd: dir,
        reject: false,
        timeout: 60_000,
      });
    const [validate, build] = [await run('validate'), await run('build')];
    expect(validate.exitCode).toBe(2);
    expect(build.exitCode).toBe(2);
    const positioned = (stderr: string) =>
      stderr
        .split('\n')
        .filter((l) => l.startsWith('  '))
        .map((l) => l.trim());
    expect(positioned(build.stderr)).toEqual(positioned(validate.stderr));
    expect(positioned(build.stderr)).toEqual([
      "network/node1.yaml:6:14: interfaces[0].link-aggregation.port[0]: '../../x' is not a valid port name (at most 15 letters, digits, '_', '.', '+', '@' or '-', starting with a letter, digit or '_')",
      'os-files:1:1: is a symbolic link that leads outside the config directory',
    ]);
    const { readdir } = await import('node:fs/promises');
    expect((await readdir(dir)).sort()).toEqual(['base-images', 'network', 'os-files', 'site.yaml']);
  });

  it("build refuses the Kubernetes step's rules as validate does, before writing anything", async () => {
    const { execa } = await import('execa');
    const dir = await dirs.configDir(
      { 'kubernetes/manifests/My_App.yaml': 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n' },
      withKubernetes(''),
    );
    const bin = path.resolve(import.meta.dirname, '../../bin/outpost.js');
    const run = (command: string) =>
      execa(process.execPath, [bin, command, '--config-dir', dir, '--definition-file', 'site.yaml'], {
        cwd: dir,
        reject: false,
        timeout: 60_000,
      });
    const [validate, build] = [await run('validate'), await run('build')];
    expect([validate.exitCode, build.exitCode]).toEqual([2, 2]);
    const positioned = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('  '));
    expect(positioned(build.stderr)).toEqual(positioned(validate.stderr));
    expect(positioned(build.stderr)[0]).toMatch(
      /^ {2}kubernetes\/manifests\/My_App\.yaml:1:1: RKE2 names an object/,
    );
    const { readdir } = await import('node:fs/promises');
    expect((await readdir(dir)).sort()).toEqual(['base-images', 'kubernetes', 'site.yaml']);
  });
});

describe('charts the image needs', () => {
  it('validate and build refuse a chart that cannot be had alike, before writing anything; with the tarballs both pass the check', async () => {
    const { execa } = await import('execa');
    const k8s =
      '  network:\n    apiVIP: 192.168.1.10\n  helm:\n    charts:\n      - name: app\n        repositoryName: edge\n        version: 1.0.0\n' +
      '    repositories:\n      - name: edge\n        url: oci://registry.example.com/charts\n';
    // A file in kubernetes/helm/charts keeps the fixture from putting the VIP charts there.
    const dir = await dirs.configDir({ 'kubernetes/helm/charts/README': 'air gap\n' }, withKubernetes(k8s));
    const bin = path.resolve(import.meta.dirname, '../../bin/outpost.js');
    const run = (command: string) =>
      execa(process.execPath, [bin, command, '--config-dir', dir, '--definition-file', 'site.yaml'], {
        cwd: dir,
        reject: false,
        timeout: 60_000,
      });
    const [validate, build] = [await run('validate'), await run('build')];
    expect([validate.exitCode, build.exitCode]).toEqual([2, 2]);
    const positioned = (stderr: string) =>
      stderr
        .split('\n')
        .filter((l) => l.startsWith('  '))
        .map((l) => l.trim());
    expect(positioned(build.stderr)).toEqual(positioned(validate.stderr));
    expect(positioned(validate.stderr)).toEqual([
      'site.yaml:14:13: kubernetes.network.apiVIP: the API VIP needs chart metallb 0.1.0+up0.14.9, which cannot be had: put metallb-0.1.0+up0.14.9.tgz (as helm pull writes it) in kubernetes/helm/charts/, or run `outpost artefacts pull` (it fetches it from https://suse-edge.github.io/charts)',
      'site.yaml:14:13: kubernetes.network.apiVIP: the API VIP needs chart endpoint-copier-operator 0.2.1, which cannot be had: put endpoint-copier-operator-0.2.1.tgz (as helm pull writes it) in kubernetes/helm/charts/, or run `outpost artefacts pull` (it fetches it from https://suse-edge.github.io/charts)',
      'site.yaml:17:15: kubernetes.helm.charts[0].name: chart app 1.0.0 cannot be had: the build pulls only from http:// and https:// repositories, not from edge: put app-1.0.0.tgz (as helm pull writes it) in kubernetes/helm/charts/',
    ]);
    const { readdir } = await import('node:fs/promises');
    expect((await readdir(dir)).sort()).toEqual(['base-images', 'kubernetes', 'site.yaml']);

    await writeFixtureVipCharts(dir);
    await writeFixtureChart(path.join(dir, 'kubernetes/helm/charts/app-1.0.0.tgz'), 'app', '1.0.0');
    expect(await problems(dir)).toEqual([]);
  });
});

describe('nesting hidden from the depth guard', () => {
  it("an apostrophe inside a flow scalar does not hide 10,000 '[' from the guard", () => {
    const source = new YamlSource('q.yaml', `a: [don't, ${'['.repeat(10_000)}${']'.repeat(10_000)}]\n`);
    expect(source.diagnostics.map(formatDiagnostic)).toEqual([
      'q.yaml:1:411: YAML nesting is too deep: at most 64 levels of lists and mappings',
    ]);
  });
});
