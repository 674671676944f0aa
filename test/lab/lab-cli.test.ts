import { type ChildProcess, spawn } from 'node:child_process';
import { appendFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { loadInventoryFiles } from '../../src/service/inventory.ts';
import { connectClient } from '../fixtures/redfish-lab.ts';

const CLI = fileURLToPath(new URL('../../bin/outpost.js', import.meta.url));
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Starts `outpost lab` and resolves with its parsed stdout once the inventory is complete. */
function startCli(args: string[]): Promise<{
  child: ChildProcess;
  stderr: () => string;
  inventory: {
    hosts: {
      name: string;
      bmc: { address: string; username: string; password: string };
      bootMACAddress: string;
    }[];
  };
}> {
  const child = spawn(process.execPath, [CLI, 'lab', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  cleanups.push(async () => {
    if (child.exitCode === null) {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
  });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(
      () =>
        reject(
          new Error(
            `outpost lab printed no complete inventory within 20 s; stdout:\n${out}\nstderr:\n${err}`,
          ),
        ),
      20_000,
    );
    child.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
    });
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      try {
        const inventory = JSON.parse(out);
        clearTimeout(timer);
        resolve({ child, inventory, stderr: () => err });
      } catch {
        // Not complete yet.
      }
    });
    child.once('exit', (code) => reject(new Error(`outpost lab exited (${code}) early:\n${err}`)));
  });
}

describe('outpost lab (CLI)', () => {
  it('prints an inventory the service imports, serves the BMCs, and stops cleanly on SIGTERM', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'outpost-lab-cli-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const inventoryFile = path.join(dir, 'inventory.yaml');
    const { child, inventory, stderr } = await startCli([
      '--hosts',
      '2',
      '--backend',
      'fake',
      '--vendor',
      'lenovo',
      '--state-dir',
      path.join(dir, 'state'),
      '--fault',
      'host-2:reset:busy:1',
      '--inventory',
      inventoryFile,
      '--output',
      'json',
    ]);
    expect(inventory.hosts.map((h) => h.name)).toEqual(['host-1', 'host-2']);
    expect(inventory.hosts[1]!.bootMACAddress).toBe('52:54:00:6c:00:02');

    const imported = loadInventoryFiles([inventoryFile]);
    expect(imported.diagnostics).toEqual([]);
    expect(imported.hosts.map((h) => h.spec.name)).toEqual(['host-1', 'host-2']);
    expect((await stat(inventoryFile)).mode & 0o777).toBe(0o600);

    const entry = inventory.hosts[1]!;
    const { client, events } = await connectClient({
      name: entry.name,
      bmcAddress: entry.bmc.address,
      username: entry.bmc.username,
      password: entry.bmc.password,
      bootMac: entry.bootMACAddress,
    });
    await client.power('on');
    await client.close();
    expect(events.some((e) => e.type === 'retry' && /busy/.test(e.message))).toBe(true);

    // The commands that go with this lab, to copy as they are: the service (BMCs of a fake lab fetch
    // media on this machine, so no --host-url) and the import of the inventory it wrote.
    for (let waited = 0; !stderr().includes('outpost hosts list -w'); waited += 50) {
      if (waited > 5_000) throw new Error(`outpost lab printed no next steps within 5 s:\n${stderr()}`);
      await sleep(50);
    }
    expect(stderr()).toContain('\n  outpost serve --listen 127.0.0.1:8080\n');
    expect(stderr()).toContain(`\n  outpost hosts import ${inventoryFile}\n`);

    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(0);
  });

  it('--tls ca and a behaviour profile: https addresses, the lab CA in the state folder, a client that trusts it', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'outpost-lab-cli-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const state = path.join(dir, 'state');
    const { inventory } = await startCli([
      ...['--backend', 'fake', '--vendor', 'multi-socket', '--tls', 'ca'],
      ...['--state-dir', state, '--output', 'json'],
    ]);
    const entry = inventory.hosts[0]!;
    expect(entry.bmc.address).toMatch(/^redfish-virtualmedia\+https:\/\/127\.0\.0\.1:\d+\//);
    // The CA key never leaves the state folder's tls/ (mode 0600).
    expect((await stat(path.join(state, 'tls', 'lab-ca.key'))).mode & 0o777).toBe(0o600);
    const { client } = await connectClient(
      {
        name: entry.name,
        bmcAddress: entry.bmc.address,
        username: entry.bmc.username,
        password: entry.bmc.password,
        bootMac: entry.bootMACAddress,
      },
      { caCertificates: await readFile(path.join(state, 'tls', 'lab-ca.pem'), 'utf8') },
    );
    expect((await client.inspect()).cpu?.count).toBe(16);
    await client.close();
  });

  it('--site-network: network data with each host its site address, the namespace gone after SIGTERM', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'outpost-lab-cli-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const inventoryFile = path.join(dir, 'inventory.yaml');
    const { child, inventory, stderr } = await startCli([
      ...['--hosts', '2', '--backend', 'fake', '--site-network', '--state-dir', path.join(dir, 'state')],
      ...['--inventory', inventoryFile, '--output', 'json'],
    ]);
    const imported = loadInventoryFiles([inventoryFile]);
    expect(imported.diagnostics).toEqual([]);
    const data = JSON.stringify((inventory.hosts[1] as { networkData?: unknown }).networkData);
    expect(data).toContain('52:54:00:6d:00:02');
    for (let i = 0; i < 100 && !/namespace (\S+);/.test(stderr()); i++) await sleep(100);
    const site = /site network (10\.231\.\d+)\.0\/24 in namespace (\S+);.*free for the API VIP: (\S+)/.exec(
      stderr(),
    );
    expect(site, stderr()).not.toBeNull();
    expect(data).toContain(`${site![1]}.11`);
    expect(site![3]).toBe(`${site![1]}.100`);
    expect((await execa('ip', ['netns', 'list'])).stdout).toContain(site![2]);

    child.kill('SIGTERM');
    expect(await new Promise<number | null>((resolve) => child.once('exit', resolve))).toBe(0);
    expect((await execa('ip', ['netns', 'list'])).stdout).not.toContain(site![2]);
  });

  it('refuses bad options with exit code 2', async () => {
    const badFault = await execa(process.execPath, [CLI, 'lab', '--fault', 'reset:explode'], {
      reject: false,
    });
    expect(badFault.exitCode).toBe(2);
    expect(badFault.stderr).toMatch(/kind must be one of/);
    const badHosts = await execa(process.execPath, [CLI, 'lab', '--hosts', '0'], { reject: false });
    expect(badHosts.exitCode).toBe(2);
    const badSubnet = await execa(process.execPath, [CLI, 'lab', '--site-network', '10.231.7.5/24'], {
      reject: false,
    });
    expect(badSubnet.exitCode).toBe(2);
    expect(badSubnet.stderr).toMatch(/--site-network: site network subnet must be an IPv4 \/24/);
    const help = await execa(process.execPath, [CLI, 'lab', '--help']);
    expect(help.stdout).toMatch(/--backend/);
  });

  it("lab console follows a guest's serial console as it is written, and from its start after a restart", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'outpost-lab-console-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const serial = path.join(dir, 'host-2', 'serial.log');
    await mkdir(path.dirname(serial));
    await writeFile(serial, 'BdsDxe: loading Boot0001\n');
    const child = spawn(process.execPath, [CLI, 'lab', 'console', 'host-2', '--state-dir', dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    cleanups.push(async () => {
      if (child.exitCode === null) {
        child.kill('SIGKILL');
        await new Promise((r) => child.once('exit', r));
      }
    });
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    /** Waits (at most 10 s) until the console has printed `text`. */
    const shown = async (text: string) => {
      for (const deadline = Date.now() + 10_000; !out.includes(text); await sleep(50))
        if (Date.now() > deadline)
          throw new Error(`lab console did not show '${text}' within 10 s; it showed:\n${out}`);
    };
    await shown('BdsDxe: loading Boot0001\n');
    await appendFile(serial, 'outpost-installer: [write] 40%\n');
    await shown('outpost-installer: [write] 40%\n');
    // A new lab run writes the log from the start again: followed from its start, nothing skipped.
    await writeFile(serial, 'new run\n');
    await shown('new run\n');
    expect(out).toBe('BdsDxe: loading Boot0001\noutpost-installer: [write] 40%\nnew run\n');
    child.kill('SIGINT');
    expect(await exited).toBe(0);
  });

  it('lab console and lab ssh refuse a name outside the lab, and say when no QEMU lab runs there', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'outpost-lab-console-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    for (const command of ['console', 'ssh']) {
      const outside = await execa(process.execPath, [CLI, 'lab', command, '../../etc', '--state-dir', dir], {
        reject: false,
      });
      expect(outside.exitCode, outside.stderr).toBe(2);
      expect(outside.stderr).toBe("lab host names are host-1, host-2, ...; not '../../etc'");
      const none = await execa(process.execPath, [CLI, 'lab', command, 'host-1', '--state-dir', dir], {
        reject: false,
      });
      expect(none.exitCode, none.stderr).toBe(2);
      expect(none.stderr).toMatch(
        /^no (serial console|SSH forward) for host-1 in .* \(is a QEMU lab running there\?\)$/,
      );
    }
  });
});
