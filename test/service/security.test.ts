import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Lab, startLab } from '../../src/lab/index.ts';
import { freePort, OUTPOST, ServiceProcess, tempDir, waitFor } from './helpers.ts';

// The service as users run it (a child process driven by the CLI), checked for where secrets end up.
const tmp = tempDir('security');
const stateDir = path.join(tmp.dir, 'state');
const mediaDir = path.join(tmp.dir, 'media');
let lab: Lab;
let service: ServiceProcess;
const cliOutput: string[] = [];

beforeAll(async () => {
  mkdirSync(mediaDir);
  writeFileSync(path.join(mediaDir, 'site.iso'), 'installer');
  lab = await startLab({ hosts: 2, backend: 'fake', stateDir: path.join(tmp.dir, 'lab') });
  service = new ServiceProcess({ stateDir, mediaDir, port: await freePort() });
  await service.start();
});
afterAll(async () => {
  await service?.kill('SIGTERM');
  await lab?.close();
  tmp.cleanup();
});

async function cli(args: string[], env: Record<string, string> = {}) {
  try {
    const r = await promisify(execFile)(process.execPath, [OUTPOST, ...args], {
      env: { ...process.env, OUTPOST_SERVER: service.url, ...env },
      timeout: 30_000,
    });
    cliOutput.push(r.stdout, r.stderr);
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    cliOutput.push(e.stdout, e.stderr);
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('CLI and security model', () => {
  it('imports an inventory with a password file and an environment reference, lists and describes hosts', async () => {
    const [a, b] = lab.hosts;
    writeFileSync(path.join(tmp.dir, 'host-1.password'), `${a!.password}\n`);
    const inventory = path.join(tmp.dir, 'site.yaml');
    writeFileSync(
      inventory,
      `hosts:
  - name: node-a
    bmc: { address: "${a!.bmcAddress}", username: ${a!.username}, passwordFile: host-1.password }
    bootMACAddress: "${a!.bootMac}"
  - name: node-b
    bmc: { address: "${b!.bmcAddress}", username: ${b!.username}, password: "\${NODE_B_PASSWORD}" }
    role: agent
`,
    );
    const imported = await cli(['hosts', 'import', inventory, '--state-dir', stateDir], {
      NODE_B_PASSWORD: b!.password,
    });
    expect(imported).toMatchObject({ code: 0, stdout: 'host/node-a created\nhost/node-b created\n' });
    await waitFor('both hosts available', async () => {
      const r = await cli(['hosts', 'list', '--state-dir', stateDir, '-o', 'json']);
      const hosts = JSON.parse(r.stdout) as { state: string }[];
      return hosts.length === 2 && hosts.every((h) => h.state === 'available');
    });
    const list = await cli(['hosts', 'list', '--state-dir', stateDir]);
    expect(list.stdout).toMatch(
      /^NAME {3,}STATE {3,}CONSUMER {3,}ONLINE {3,}ERROR {3,}AGE\nnode-a {3,}available {3,}true {3,}\d+s\n/,
    );
    const token = readFileSync(path.join(stateDir, 'api-token'), 'utf8').trim();
    const described = await cli(['hosts', 'describe', 'node-a'], { OUTPOST_TOKEN: token });
    expect(described.code).toBe(0);
    expect(described.stdout).toMatch(/State: +available/);
    expect(described.stdout).toMatch(/Credentials: +set/);
    expect(described.stdout).toMatch(/NIC: +\S+ 52:54:00/);
    expect(described.stdout).toMatch(/Timeline:\n.*registering +\d+(ms|\.\ds) +succeeded/);
    expect(described.stdout).toMatch(/Events:\n +AGE +TYPE +REASON +MESSAGE/);
  });

  it('provisions through the CLI and reports clear errors with exit codes', async () => {
    const tokenFile = path.join(stateDir, 'api-token');
    // An ISO inserted as it is cannot report back: refused unless the user says so.
    const silent = await cli([
      'hosts',
      'provision',
      'node-a',
      '--image',
      'site.iso',
      '--token-file',
      tokenFile,
    ]);
    expect(silent.code).toBe(2);
    expect(silent.stderr).toMatch(/'site\.iso' is inserted as it is: .* Or pass --no-callbacks/);
    const ok = await cli([
      'hosts',
      'provision',
      'node-a',
      '--image',
      'site.iso',
      '--no-callbacks',
      '--token-file',
      tokenFile,
    ]);
    expect(ok).toMatchObject({ code: 0, stdout: 'host/node-a provisioning\n' });
    const again = await cli([
      'hosts',
      'provision',
      'node-a',
      '--image',
      'site.iso',
      '--token-file',
      tokenFile,
    ]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/host node-a is provisioning; only an available host can be provisioned/);
    const wrongToken = await cli(['hosts', 'list'], { OUTPOST_TOKEN: 'nope' });
    expect(wrongToken.code).toBe(2);
    expect(wrongToken.stderr).toMatch(/missing or wrong API token/);
    const closed = await freePort();
    const down = await cli([
      'hosts',
      'list',
      '--server',
      `http://127.0.0.1:${closed}`,
      '--token-file',
      tokenFile,
    ]);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain(
      `cannot reach the outpost service at http://127.0.0.1:${closed}: ECONNREFUSED`,
    );
    const bad = path.join(tmp.dir, 'bad.yaml');
    writeFileSync(
      bad,
      'hosts:\n  - name: x\n    bmc: { address: "ipmi://10.0.0.1", username: u, password: p }\n',
    );
    const refused = await cli(['hosts', 'import', bad, '--token-file', tokenFile]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/bad\.yaml:3:21: hosts\[0\]\.bmc\.address: .*IPMI is not supported/);
    const power = await cli(['hosts', 'power', 'node-b', 'reboot', '--token-file', tokenFile, '-o', 'json']);
    expect(JSON.parse(power.stdout)).toMatchObject({ name: 'node-b', powerRequest: 'reboot' });
  });

  it('keeps BMC passwords only in the 0600 credentials file: not in the database, API, logs or CLI output', async () => {
    const passwords = lab.hosts.map((h) => h.password);
    const credentials = path.join(stateDir, 'credentials.json');
    expect(statSync(credentials).mode & 0o777).toBe(0o600);
    expect(statSync(path.join(stateDir, 'api-token')).mode & 0o777).toBe(0o600);
    expect(statSync(path.join(stateDir, 'host-config', 'node-a.json')).mode & 0o777).toBe(0o600);
    const stored = readFileSync(credentials, 'utf8');
    for (const p of passwords) expect(stored).toContain(p);

    // Every other file in the state dir (database, WAL, lock) is free of them.
    for (const file of readdirSync(stateDir)) {
      if (file === 'credentials.json' || file === 'host-config') continue;
      const bytes = readFileSync(path.join(stateDir, file)).toString('latin1');
      for (const p of passwords) expect(bytes.includes(p), `${file} contains a BMC password`).toBe(false);
    }
    // The callback token's plaintext is only in the host's config, the database holds its hash.
    const callbackToken = JSON.parse(
      readFileSync(path.join(stateDir, 'host-config', 'node-a.json'), 'utf8'),
    ).callbackToken;
    const apiToken = readFileSync(path.join(stateDir, 'api-token'), 'utf8').trim();
    for (const file of readdirSync(stateDir).filter((f) => f.startsWith('outpost.db'))) {
      const bytes = readFileSync(path.join(stateDir, file)).toString('latin1');
      expect(bytes.includes(callbackToken)).toBe(false);
      expect(bytes.includes(apiToken)).toBe(false);
    }

    const headers = { Authorization: `Bearer ${apiToken}` };
    const responses = await Promise.all(
      ['/hosts', '/hosts/node-a', '/hosts/node-a/events', '/hosts/node-a/timeline', '/events'].map(
        async (p) => (await fetch(`${service.url}/api/v1${p}`, { headers })).text(),
      ),
    );
    for (const text of [...responses, service.output, ...cliOutput]) {
      for (const p of passwords) expect(text.includes(p)).toBe(false);
      expect(text.includes(callbackToken)).toBe(false);
      expect(text.includes(apiToken)).toBe(false);
      expect(text).not.toMatch(/callbackTokenHash/);
    }
    expect(JSON.parse(responses[1]!).bmc.credentials).toBe('set');
    expect(service.output).toMatch(/node-a Available/);
  });
});
