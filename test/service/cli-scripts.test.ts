import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { type Lab, startLab } from '../../src/lab/index.ts';
import { freePort, OUTPOST, ServiceProcess, tempDir, waitFor } from './helpers.ts';

// The CLI as people and scripts use it, against `outpost serve` as a child process on this machine.
const tmp = tempDir('cli-scripts');
const stateDir = path.join(tmp.dir, 'state');
// Not created beforehand: `serve` makes its media dir.
const mediaDir = path.join(tmp.dir, 'media');
let lab: Lab;
let service: ServiceProcess;

/** No OUTPOST_* settings: the CLI finds the service through its state dir, as a newcomer's shell would. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith('OUTPOST_')) delete env[key];
  return env;
}

async function cli(args: string[], timeoutMs = 30_000) {
  try {
    const r = await promisify(execFile)(process.execPath, [OUTPOST, ...args], {
      env: cleanEnv(),
      timeout: timeoutMs,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(async () => {
  lab = await startLab({ hosts: 2, backend: 'fake', stateDir: path.join(tmp.dir, 'lab') });
  service = new ServiceProcess({ stateDir, mediaDir, port: await freePort() });
  await service.start();
  const inventory = path.join(tmp.dir, 'inventory.yaml');
  const hosts = lab.hosts.map((h, i) => ({
    name: h.name,
    bmc: { address: h.bmcAddress, username: h.username, password: i === 1 ? 'wrong' : h.password },
  }));
  writeFileSync(inventory, stringify({ hosts }));
  const imported = await cli(['hosts', 'import', inventory, '--state-dir', stateDir]);
  expect(imported.code, imported.stderr).toBe(0);
});
afterAll(async () => {
  await service?.kill('SIGTERM');
  await lab?.close();
  tmp.cleanup();
});

describe('the CLI for people and scripts', () => {
  it('prints its version, and serve made its media dir and a discovery file', async () => {
    const pkg = JSON.parse(readFileSync(path.resolve(import.meta.dirname, '../../package.json'), 'utf8'));
    expect(await cli(['--version'])).toMatchObject({ code: 0, stdout: `outpost ${pkg.version}\n` });
    expect(existsSync(mediaDir)).toBe(true);
    expect(JSON.parse(readFileSync(path.join(stateDir, 'service.json'), 'utf8'))).toEqual({
      url: service.url,
      pid: service.pid,
      mediaDir,
    });
    expect(service.output).toContain(`on this machine: outpost hosts list --state-dir ${stateDir}`);
    expect(service.output).toMatch(
      /elsewhere: export OUTPOST_SERVER=http:\/\/127\.0\.0\.1:\d+ OUTPOST_TOKEN=/,
    );
  });

  it('without a service says where it looked and the exact lines to set', async () => {
    const r = await cli(['hosts', 'list', '--state-dir', path.join(tmp.dir, 'nowhere')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      `where is the service? None runs on this machine with the state dir ${tmp.dir}/nowhere`,
    );
    expect(r.stderr).toContain('  export OUTPOST_SERVER=http://SERVICE-ADDRESS:8080\n');
  });

  it('hosts wait: 0 when reached, 124 on timeout, 1 for an error that is not retried', async () => {
    const reached = await cli([
      'hosts',
      'wait',
      'host-1',
      '--for',
      'available',
      '--timeout',
      '20s',
      '--state-dir',
      stateDir,
    ]);
    expect(reached).toMatchObject({ code: 0, stdout: 'host/host-1 available\n' });
    const timeout = await cli([
      'hosts',
      'wait',
      'host-1',
      '--for',
      'provisioned',
      '--timeout',
      '1s',
      '--interval',
      '0.2',
      '--state-dir',
      stateDir,
    ]);
    expect(timeout.code).toBe(124);
    expect(timeout.stderr).toMatch(/host\/host-1: not provisioned after 1\.0s; it is available/);
    const refused = await cli([
      'hosts',
      'wait',
      'host-2',
      '--for',
      'available',
      '--timeout',
      '20s',
      '--state-dir',
      stateDir,
    ]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /host\/host-2 registering: registration error: .*HTTP 401.*outpost hosts import again/,
    );
    const usage = await cli(['hosts', 'wait', 'host-1', '--for', 'sleeping', '--state-dir', stateDir]);
    expect(usage.code).toBe(2);
    expect((await cli(['hosts', 'wait', 'nobody', '--for', 'ready', '--state-dir', stateDir])).code).toBe(2);
  });

  it('hosts list -o wide shows STEP, PROGRESS and POWER', async () => {
    const r = await cli(['hosts', 'list', '-o', 'wide', '--state-dir', stateDir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^NAME +STATE +STEP +PROGRESS +CONSUMER +ONLINE +POWER +ERROR +AGE\n/);
    expect(r.stdout).toMatch(/\nhost-1 +available +true +Off +\d+s\n/);
  });

  it('hosts list -w prints a row when a host changes, until interrupted', async () => {
    const child = spawn(
      process.execPath,
      [OUTPOST, 'hosts', 'list', '-w', '--interval', '0.2', '--state-dir', stateDir],
      {
        env: cleanEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    try {
      await waitFor('the first table', () => out.includes('host-2'), { describe: () => out });
      const power = await cli(['hosts', 'power', 'host-1', 'on', '--state-dir', stateDir]);
      expect(power.code, power.stderr).toBe(0);
      // A later row for host-1 (no second header) once the power request is done.
      await waitFor(
        'a row for the change',
        () => out.split('\n').filter((l) => l.startsWith('host-1')).length >= 2,
        {
          describe: () => out,
        },
      );
      expect(out.match(/^NAME/gm)).toHaveLength(1);
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGINT');
      await exited;
    }
    expect(child.exitCode).toBe(0);
  });

  it('every action is in its --help', async () => {
    const power = await cli(['hosts', 'power', '--help']);
    expect(power.stdout).toMatch(/^ {2}on {7}power on/m);
    expect(power.stdout).toMatch(/^ {2}off {6}power off/m);
    expect(power.stdout).toMatch(/^ {2}reboot {3}restart/m);
    const hosts = await cli(['hosts', '--help']);
    for (const action of [
      'list',
      'wait',
      'describe',
      'import',
      'provision',
      'deprovision',
      'power',
      'inspect',
      'delete',
    ])
      expect(hosts.stdout).toMatch(new RegExp(`^ {2}${action}\\b`, 'm'));
    const wait = await cli(['hosts', 'wait', '--help']);
    expect(wait.stdout).toMatch(/Exit codes: 0 reached; 1 .* 124 timed out/s);
  });
});
