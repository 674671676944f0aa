/**
 * Runs the lab's RKE2 stand-in (bin/rke2 from a release written by writeRke2Release) on loopback with a
 * private root (RKE2_LAB_ROOT) and free ports, and talks to it the way kubectl and a node do.
 */
import { mkdir, readFile } from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { parse } from 'yaml';
import { writeRke2Release } from '../../src/lab/rke2/index.ts';

export const KUBECTL = '/usr/bin/kubectl';
export const VERSION = 'v1.32.4+rke2r1';

/** Writes the release into `<dir>/release` and unpacks its tarball into `<dir>/prefix`; returns bin/rke2. */
export async function installRelease(dir: string): Promise<{ release: string; rke2: string }> {
  const release = path.join(dir, 'release');
  await writeRke2Release({ version: VERSION, arch: 'x86_64', outDir: release });
  const prefix = path.join(dir, 'prefix');
  await mkdir(prefix, { recursive: true });
  await execa('tar', ['xzf', path.join(release, 'rke2.linux-amd64.tar.gz'), '-C', prefix]);
  return { release, rke2: path.join(prefix, 'bin', 'rke2') };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface StandIn {
  root: string;
  apiPort: number;
  supervisorPort: number;
  kubeconfig: string;
  process: ResultPromise;
  output: () => string;
  running: () => boolean;
  stop: () => Promise<void>;
}

/** Starts `rke2 <role>` and waits (at most 20 s) until its supervisor answers /ping, or the process ends. */
export async function startStandIn(
  rke2: string,
  root: string,
  role: 'server' | 'agent',
  args: string[],
  ports?: { api: number; supervisor: number },
  env: Record<string, string> = {},
): Promise<StandIn> {
  const apiPort = ports?.api ?? (await freePort());
  const supervisorPort = ports?.supervisor ?? (await freePort());
  let output = '';
  const child = execa(
    rke2,
    [
      role,
      '--bind-address',
      '127.0.0.1',
      '--https-listen-port',
      String(apiPort),
      '--supervisor-port',
      String(supervisorPort),
      ...args,
    ],
    { env: { RKE2_LAB_ROOT: root, ...env }, reject: false, all: true, buffer: false },
  );
  child.all?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  let exited = false;
  void child.then(() => {
    exited = true;
  });
  const stop = async () => {
    if (!exited) child.kill('SIGTERM');
    await child;
  };
  const standIn: StandIn = {
    root,
    apiPort,
    supervisorPort,
    kubeconfig: path.join(root, 'etc/rancher/rke2/rke2.yaml'),
    process: child,
    output: () => output,
    running: () => !exited,
    stop,
  };
  if (role === 'agent') return standIn;
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (exited) throw new Error(`rke2 ${role} exited before answering /ping:\n${output}`);
    const pong = await supervisorGet(supervisorPort, '/ping').catch(() => undefined);
    if (pong?.body === 'pong') return standIn;
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  throw new Error(`rke2 ${role} did not answer /ping on ${supervisorPort} within 20 s:\n${output}`);
}

/** An unauthenticated GET on the supervisor (its certificate is checked later, by the tests that need it). */
export function supervisorGet(port: number, urlPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      { host: '127.0.0.1', port, path: urlPath, rejectUnauthorized: false, timeout: 5000 },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => {
          body += c.toString('latin1');
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${urlPath}: no answer in 5 s`)));
    req.on('error', reject);
  });
}

interface Credentials {
  server: URL;
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

export async function credentials(kubeconfig: string): Promise<Credentials> {
  const config = parse(await readFile(kubeconfig, 'utf8'));
  const b64 = (s: string) => Buffer.from(s, 'base64');
  return {
    server: new URL(config.clusters[0].cluster.server),
    ca: b64(config.clusters[0].cluster['certificate-authority-data']),
    cert: b64(config.users[0].user['client-certificate-data']),
    key: b64(config.users[0].user['client-key-data']),
  };
}

/** A request to the API with the kubeconfig's client certificate, verifying the server against its CA. */
export async function apiRequest(
  kubeconfig: string,
  urlPath: string,
  options: { method?: string; body?: unknown; contentType?: string; timeoutMs?: number } = {},
): Promise<{ status: number; body: string }> {
  const c = await credentials(kubeconfig);
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: c.server.hostname,
        port: c.server.port,
        path: urlPath,
        method: options.method ?? 'GET',
        ca: c.ca,
        cert: c.cert,
        key: c.key,
        headers: options.body ? { 'Content-Type': options.contentType ?? 'application/json' } : {},
        timeout: options.timeoutMs ?? 10_000,
      },
      (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => {
          body += chunk.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${urlPath}: no answer within the timeout`)));
    req.on('error', reject);
    if (options.body) req.write(JSON.stringify(options.body));
    req.end();
  });
}

export interface WatchEvent {
  type: string;
  object: {
    kind?: string;
    code?: number;
    reason?: string;
    metadata?: { name?: string; resourceVersion?: string; annotations?: Record<string, string> };
  };
}

/** Reads a watch stream until the server ends it (the path must carry timeoutSeconds). */
export async function watch(kubeconfig: string, urlPath: string): Promise<WatchEvent[]> {
  const { status, body } = await apiRequest(kubeconfig, urlPath, { timeoutMs: 30_000 });
  if (status !== 200) throw new Error(`watch ${urlPath}: HTTP ${status} ${body}`);
  return body
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line) as WatchEvent);
}

/** Real kubectl with its own discovery cache, bounded by a request timeout. */
export function kubectl(kubeconfig: string, args: string[], timeout = 60_000) {
  return execa(
    KUBECTL,
    ['--kubeconfig', kubeconfig, '--cache-dir', path.join(path.dirname(kubeconfig), '.kube-cache'), ...args],
    { reject: false, timeout },
  );
}
