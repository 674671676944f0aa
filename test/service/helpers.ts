import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Lab, startLab } from '../../src/lab/index.ts';
import { ServiceClient } from '../../src/service/client.ts';
import type { HostView } from '../../src/service/views.ts';

export const REPO = path.resolve(import.meta.dirname, '../..');
export const OUTPOST = path.join(REPO, 'bin/outpost.js');

export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), `outpost-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Polls `probe` every `intervalMs` until it returns a value; on timeout says what it waited for and what it saw. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  opts: { timeoutMs?: number; intervalMs?: number; describe?: () => Promise<string> | string } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 100));
  }
  const seen = opts.describe ? await opts.describe() : '';
  throw new Error(
    `timed out after ${opts.timeoutMs ?? 20_000} ms waiting for ${what}${seen ? `; last seen: ${seen}` : ''}${lastError ? `; last error: ${String(lastError)}` : ''}`,
  );
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export function clientFor(url: string, stateDir: string): ServiceClient {
  return new ServiceClient(url, readFileSync(path.join(stateDir, 'api-token'), 'utf8').trim());
}

export async function listHosts(client: ServiceClient): Promise<HostView[]> {
  return (await client.request<{ hosts: HostView[] }>('GET', '/hosts')).hosts;
}

export function summary(hosts: HostView[]): string {
  return hosts
    .map((h) => `${h.name}=${h.state}${h.step ? `/${h.step}` : ''}${h.error ? `(${h.error.message})` : ''}`)
    .join(' ');
}

/** The lab's hosts as an outpost inventory body for POST /api/v1/hosts. */
export function inventoryOf(lab: Lab, names?: string[]) {
  return {
    hosts: lab.hosts
      .filter((h) => !names || names.includes(h.name))
      .map((h) => ({
        name: h.name,
        bmc: { address: h.bmcAddress, username: h.username, password: h.password },
        bootMACAddress: h.bootMac,
      })),
  };
}

/** `outpost serve` as a real child process, so tests can SIGKILL it. Output is kept for assertions. */
export class ServiceProcess {
  readonly stateDir: string;
  readonly mediaDir: string;
  readonly port: number;
  readonly extraArgs: string[];
  child: ChildProcess | undefined;
  output = '';

  constructor(o: { stateDir: string; mediaDir: string; port: number; extraArgs?: string[] }) {
    this.stateDir = o.stateDir;
    this.mediaDir = o.mediaDir;
    this.port = o.port;
    this.extraArgs = o.extraArgs ?? [];
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const child = spawn(
      process.execPath,
      [
        OUTPOST,
        'serve',
        '--state-dir',
        this.stateDir,
        '--media-dir',
        this.mediaDir,
        '--listen',
        `127.0.0.1:${this.port}`,
        ...this.extraArgs,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    child.stdout!.on('data', (d: Buffer) => {
      this.output += d.toString();
    });
    child.stderr!.on('data', (d: Buffer) => {
      this.output += d.toString();
    });
    await waitFor(
      `outpost serve to listen on ${this.url}`,
      async () => child.exitCode === null && (await fetch(`${this.url}/healthz`)).ok,
      { timeoutMs: 20_000, describe: () => this.output.slice(-2000) },
    );
  }

  get pid(): number {
    return this.child!.pid!;
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.kill(signal);
    });
  }
}

/**
 * The usual service test bed: a temp dir with `state/` and `media/` (holding `media`'s files), a lab of
 * `hosts` fake BMCs and `outpost serve` as a child process (created, not started: tests that kill it want
 * to start it themselves). `close()` stops both and removes the dir.
 */
export function fakeSite(
  prefix: string,
  o: { hosts: number; media?: Record<string, string | Uint8Array>; serviceArgs?: string[] },
) {
  const tmp = tempDir(prefix);
  const stateDir = path.join(tmp.dir, 'state');
  const mediaDir = path.join(tmp.dir, 'media');
  let lab: Lab | undefined;
  let service: ServiceProcess | undefined;
  return {
    dir: tmp.dir,
    stateDir,
    mediaDir,
    async start(): Promise<{ lab: Lab; service: ServiceProcess }> {
      mkdirSync(mediaDir);
      for (const [name, content] of Object.entries(o.media ?? {}))
        writeFileSync(path.join(mediaDir, name), content);
      lab = await startLab({ hosts: o.hosts, backend: 'fake', stateDir: path.join(tmp.dir, 'lab') });
      service = new ServiceProcess({ stateDir, mediaDir, port: await freePort(), extraArgs: o.serviceArgs });
      return { lab, service };
    },
    async close(): Promise<void> {
      await service?.kill();
      await lab?.close();
      tmp.cleanup();
    },
  };
}

/**
 * The host side of a callback, as the installer and first boot do it: resent until the service answers
 * (it may be down: it is being killed in these tests), any answer but 200 is a failure.
 */
export async function postCallback(
  stateDir: string,
  name: string,
  body: object,
  o: { deadline: number; requestTimeoutMs: number; retryMs: number },
): Promise<void> {
  const config = JSON.parse(readFileSync(path.join(stateDir, 'host-config', `${name}.json`), 'utf8'));
  while (Date.now() < o.deadline) {
    let answer: Response;
    try {
      answer = await fetch(config.callbackUrl, {
        method: 'POST',
        headers: { Authorization: `Bearer ${config.callbackToken}` },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(o.requestTimeoutMs),
      });
    } catch {
      await new Promise((r) => setTimeout(r, o.retryMs)); // service down: retry
      continue;
    }
    if (answer.status === 200) return;
    throw new Error(
      `callback ${JSON.stringify(body)} for ${name} answered ${answer.status}: ${await answer.text()}`,
    );
  }
  throw new Error(`callback for ${name} not accepted before the deadline`);
}
