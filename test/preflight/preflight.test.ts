import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../definition/fixtures.ts';
import { withLab } from '../fixtures/redfish-lab.ts';

/*
 * `outpost preflight` on this machine (real systeminformation, real tools), with a lab BMC on loopback that
 * answers, a BMC address whose port is closed, and a port held by another listener.
 */

const repo = path.resolve(import.meta.dirname, '../..');
const bin = path.join(repo, 'bin/outpost.js');

let lab: Awaited<ReturnType<typeof withLab>>;
let work: { dir: string; remove: () => Promise<void> };
let taken: net.Server;
let takenPort: number;
let closedPort: number;

async function listen(): Promise<net.Server> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, resolve));
  return server;
}

function preflight(...args: string[]) {
  return execa(process.execPath, [bin, 'preflight', '--state-dir', path.join(work.dir, 'state'), ...args], {
    reject: false,
    timeout: 60_000,
  });
}

beforeAll(async () => {
  work = await tempDir('outpost-preflight-');
  lab = await withLab({ hosts: 1, backend: 'fake' });
  taken = await listen();
  takenPort = (taken.address() as net.AddressInfo).port;
  const closed = await listen();
  closedPort = (closed.address() as net.AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  const host = lab.hosts[0]!;
  await writeFile(
    path.join(work.dir, 'inventory.yaml'),
    `hosts:
  - name: ${host.name}
    bmc:
      address: ${host.bmcAddress}
      username: ${host.username}
      password: ${host.password}
    bootMACAddress: ${host.bootMac}
  - name: gone
    bmc:
      address: redfish-virtualmedia+http://127.0.0.1:${closedPort}/redfish/v1/Systems/1
      username: admin
      password: not-a-real-secret
    bootMACAddress: 52:54:00:00:00:99
`,
    { mode: 0o600 },
  );
});
afterAll(async () => {
  await lab?.stop();
  await new Promise((resolve) => taken?.close(resolve));
  await work?.remove();
});

describe('outpost preflight on this machine', { timeout: 120_000 }, () => {
  it('checks this machine with a free port and no inventory, as a table; exit 1 only on a fail', async () => {
    const free = await listen();
    const port = (free.address() as net.AddressInfo).port;
    await new Promise((resolve) => free.close(resolve));
    // Without --port, the advertise URL's port is checked.
    const r = await preflight('--advertise-url', `http://127.0.0.1:${port}`);
    expect(r.stderr).toBe('');
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+STATUS\s+DETAIL$/);
    const rows = lines.slice(1, -1).map((l) => /^(.+?)\s{3,}(pass|warn|fail)\s{3,}(.*)$/.exec(l));
    expect(rows.every(Boolean), r.stdout).toBe(true);
    const status = new Map(rows.map((m) => [m![1]!, m![2]!]));
    // What this machine has for sure (scripts/install-deps.sh installs the tools); the rest depends on it.
    expect(status.get(`port ${port}`)).toBe('pass');
    expect(status.get('tool xorriso')).toBe('pass');
    expect(r.stdout).toMatch(/^tool xorriso\s+pass\s+xorriso \d+\.\d+/m);
    expect(status.get('advertise-url')).toBe('warn'); // loopback
    for (const name of ['cpu', 'memory', 'disk state', 'disk media', 'network interfaces', 'clock'])
      expect(['pass', 'warn', 'fail']).toContain(status.get(name));
    const fails = [...status.values()].filter((s) => s === 'fail').length;
    expect(lines.at(-1)).toMatch(new RegExp(`^\\d+ pass, \\d+ warn, ${fails} fail$`));
    expect(r.exitCode).toBe(fails > 0 ? 1 : 0);
  });

  it('fails an unreachable BMC and a taken port (exit 1); the lab BMC passes; JSON shape', async () => {
    const r = await preflight(
      '--inventory',
      path.join(work.dir, 'inventory.yaml'),
      '--port',
      String(takenPort),
      '--output',
      'json',
    );
    expect(r.exitCode).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.ok).toBe(false);
    expect(Object.keys(report).sort()).toEqual(['ok', 'results', 'thresholds']);
    for (const result of report.results) {
      expect(Object.keys(result).sort()).toEqual(['detail', 'name', 'status']);
      expect(['pass', 'warn', 'fail']).toContain(result.status);
    }
    const get = (name: string) => report.results.find((x: { name: string }) => x.name === name);
    expect(get(`bmc ${lab.hosts[0]!.name}`)).toMatchObject({
      status: 'pass',
      detail: expect.stringMatching(/TCP \d+ ms, Redfish \d+\.\d+/),
    });
    expect(get('bmc gone')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('TCP connect failed: ECONNREFUSED'),
    });
    expect(get(`port ${takenPort}`)).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/in use/),
    });
    expect(get('disk state').detail).toContain('not there yet');
    expect(report.thresholds.mediaFail).toBe(5 * 2 ** 30);
    // Passwords from the inventory appear nowhere.
    expect(r.stdout + r.stderr).not.toContain(lab.hosts[0]!.password);
    expect(r.stdout + r.stderr).not.toContain('not-a-real-secret');
  });

  it('refuses bad input with exit 2', async () => {
    expect((await preflight('--port', '70000')).exitCode).toBe(2);
    expect((await preflight('--advertise-url', 'ftp://x')).exitCode).toBe(2);
    const bad = await preflight('--inventory', path.join(work.dir, 'missing.yaml'));
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('missing.yaml');
  });
});
