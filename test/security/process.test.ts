import { execFile, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService } from '../../src/service/service.ts';
import { processStartTime } from '../../src/service/state-dir.ts';
import {
  clientFor,
  freePort,
  listHosts,
  OUTPOST,
  ServiceProcess,
  tempDir,
  waitFor,
} from '../service/helpers.ts';

// Findings: a service.pid naming a reused PID blocked start-up; an existing state dir kept mode 0755 (the
// database world-readable); a garbage outpost.db or a --state-dir that is a file crashed start-up with a
// stack trace; SIGTERM took 85 s with unreachable BMCs.
const tmp = tempDir('sec-process');
const mediaDir = path.join(tmp.dir, 'media');
const running: ServiceProcess[] = [];

beforeAll(() => {
  mkdirSync(mediaDir);
});
afterAll(async () => {
  for (const s of running) await s.kill();
  tmp.cleanup();
});

async function serve(stateDir: string, extra: string[] = []) {
  try {
    const r = await promisify(execFile)(
      process.execPath,
      [
        OUTPOST,
        'serve',
        '--state-dir',
        stateDir,
        '--media-dir',
        mediaDir,
        '--listen',
        '127.0.0.1:0',
        ...extra,
      ],
      { timeout: 20_000 },
    );
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function started(stateDir: string, extraArgs: string[] = []): Promise<ServiceProcess> {
  const s = new ServiceProcess({ stateDir, mediaDir, port: await freePort(), extraArgs });
  running.push(s);
  await s.start();
  return s;
}

const mode = (file: string) => statSync(file).mode & 0o777;

describe('the service process', { timeout: 120_000 }, () => {
  it('makes an existing state dir private: the dir and folders 0700, every file 0600', async () => {
    const stateDir = path.join(tmp.dir, 'loose');
    mkdirSync(path.join(stateDir, 'host-config'), { recursive: true, mode: 0o755 });
    chmodSync(stateDir, 0o755);
    writeFileSync(path.join(stateDir, 'credentials.json'), '{}\n', { mode: 0o644 });
    writeFileSync(path.join(stateDir, 'host-config', 'a.json'), '{}\n', { mode: 0o644 });
    const s = await started(stateDir);
    await s.kill('SIGTERM');
    const again = await started(stateDir); // takes a backup: the database exists now
    expect(mode(stateDir)).toBe(0o700);
    expect(mode(path.join(stateDir, 'host-config'))).toBe(0o700);
    expect(mode(path.join(stateDir, 'backups'))).toBe(0o700);
    const files = readdirSync(stateDir, { recursive: true, withFileTypes: true }).filter((f) => f.isFile());
    expect(files.map((f) => f.name)).toEqual(
      expect.arrayContaining(['outpost.db', 'credentials.json', 'api-token', 'service.pid', 'a.json']),
    );
    for (const f of files) expect(mode(path.join(f.parentPath, f.name)), f.name).toBe(0o600);
    await again.kill('SIGTERM');
  });

  it('refuses a --state-dir that is a file: a clear message, exit 2, no stack trace', async () => {
    const file = path.join(tmp.dir, 'not-a-dir');
    writeFileSync(file, 'x');
    const r = await serve(file);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--state-dir ${file} is not a directory`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('takes over a lock whose PID is dead or now another program; refuses one held by a live service', async () => {
    const stateDir = path.join(tmp.dir, 'locks');
    mkdirSync(stateDir, { mode: 0o700 });
    // A PID reused by another program (here: sleep), as after a reboot.
    const other = spawn('sleep', ['60']);
    try {
      writeFileSync(path.join(stateDir, 'service.pid'), `${other.pid} ${processStartTime(other.pid!)}\n`);
      const s = await started(stateDir);
      await s.kill('SIGTERM');
    } finally {
      other.kill();
    }
    // The live owner's lock is respected: a second service on the same state dir is refused.
    const owner = await started(stateDir);
    const refused = await serve(stateDir);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`another outpost service (pid ${owner.pid}) is using this state dir`);
    // A dead owner (SIGKILLed: its lock file stays behind, with its own PID and start time): stale.
    const ownerLock = `${owner.pid} ${processStartTime(owner.pid)}\n`;
    await owner.kill('SIGKILL');
    expect(readFileSync(path.join(stateDir, 'service.pid'), 'utf8')).toBe(ownerLock);
    const afterDeath = await started(stateDir);
    // A live outpost process that was started at another time than recorded: its PID was reused.
    writeFileSync(path.join(stateDir, 'service.pid'), `${afterDeath.pid} 1\n`);
    const afterReuse = await started(stateDir);
    await afterReuse.kill('SIGTERM');
    await afterDeath.kill('SIGKILL');
  });

  it('checks outpost.db at start: a damaged one is a clear message, --repair restores the last backup', async () => {
    const stateDir = path.join(tmp.dir, 'db');
    const s = await started(stateDir);
    const api = clientFor(s.url, stateDir);
    await api.request('POST', '/hosts', {
      hosts: [
        {
          name: 'kept',
          bmc: {
            address: 'redfish-virtualmedia+http://127.0.0.1:9/redfish/v1/Systems/1',
            username: 'u',
            password: 'p',
          },
        },
      ],
    });
    await s.kill('SIGTERM');
    const again = await started(stateDir); // backup with the host in it
    await again.kill('SIGTERM');
    writeFileSync(path.join(stateDir, 'outpost.db'), 'this is not a database '.repeat(200));
    const damaged = await serve(stateDir);
    expect(damaged.code).toBe(1);
    expect(damaged.stderr).toMatch(/outpost\.db is damaged \(.+\)\. Run `outpost serve --repair`/);
    expect(damaged.stderr).not.toMatch(/\n\s+at /);
    const repaired = await started(stateDir, ['--repair']);
    expect(repaired.output).toMatch(
      /restored .*outpost\.db from outpost-\d{8}T\d{9}Z\.db; the damaged file is kept/,
    );
    expect((await listHosts(clientFor(repaired.url, stateDir))).map((h) => h.name)).toEqual(['kept']);
    await repaired.kill('SIGTERM');
  });

  it('SIGTERM with BMCs that never answer: exits within 10 s, the interrupted step is resumed at restart', async () => {
    // A "BMC" that accepts connections and never answers (a blackholed address, without leaving loopback).
    const sockets: Socket[] = [];
    let connections = 0;
    const blackhole: Server = createServer((socket) => {
      connections++;
      sockets.push(socket);
    });
    await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', resolve));
    const port = (blackhole.address() as { port: number }).port;
    try {
      const stateDir = path.join(tmp.dir, 'sigterm');
      const s = await started(stateDir);
      const api = clientFor(s.url, stateDir);
      await api.request('POST', '/hosts', {
        hosts: Array.from({ length: 5 }, (_, i) => ({
          name: `silent-${i}`,
          bmc: {
            address: `redfish-virtualmedia+http://127.0.0.1:${port}/redfish/v1/Systems/${i}`,
            username: 'u',
            password: 'p',
          },
        })),
      });
      await waitFor('the service to have 5 requests open to the silent BMCs', () => connections >= 5);
      const stopping = Date.now();
      await s.kill('SIGTERM');
      const took = Date.now() - stopping;
      process.stdout.write(`SIGTERM with 5 silent BMCs: exited in ${took} ms\n`);
      expect(took).toBeLessThan(10_000);
      expect(s.child!.exitCode).toBe(0);
      expect(s.output).toMatch(/stopping: aborting the BMC requests under way/);

      const before = connections;
      const restarted = await started(stateDir);
      const hosts = await listHosts(clientFor(restarted.url, stateDir));
      // Nothing was recorded as failed: the step was cut short, not done.
      expect(hosts.map((h) => [h.state, h.error])).toEqual(Array(5).fill(['registering', undefined]));
      await waitFor('the interrupted steps to be resumed', () => connections >= before + 5);
      await restarted.kill('SIGTERM');
    } finally {
      for (const socket of sockets) socket.destroy();
      blackhole.close();
    }
  });
  it('stopping aborts the requests under way to BMCs that never answer: their connections are closed', async () => {
    const sockets: Socket[] = [];
    const closed: Socket[] = [];
    const blackhole: Server = createServer((socket) => {
      sockets.push(socket);
      socket.once('close', () => closed.push(socket));
      socket.resume(); // read (and drop) what arrives, so the client's close is seen
    });
    await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', resolve));
    const port = (blackhole.address() as { port: number }).port;
    const stateDir = path.join(tmp.dir, 'abort');
    const service = await startService({ stateDir, mediaDir, host: '127.0.0.1', port: 0, log: () => {} });
    try {
      await clientFor(service.url, stateDir).request('POST', '/hosts', {
        hosts: Array.from({ length: 3 }, (_, i) => ({
          name: `silent-${i}`,
          bmc: {
            address: `redfish-virtualmedia+http://127.0.0.1:${port}/redfish/v1/Systems/${i}`,
            username: 'u',
            password: 'p',
          },
        })),
      });
      await waitFor('3 requests open to the silent BMCs', () => sockets.length >= 3);
      const stopping = Date.now();
      await service.close();
      expect(Date.now() - stopping).toBeLessThan(3000);
      // The service (still running in this process) let go of every connection: the requests were
      // cancelled, not merely forgotten until the process exits.
      await waitFor('the connections to the silent BMCs to close', () => closed.length === sockets.length, {
        timeoutMs: 3000,
      });
    } finally {
      for (const socket of sockets) socket.destroy();
      blackhole.close();
    }
  });
});
