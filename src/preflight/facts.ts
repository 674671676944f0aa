import { lookup } from 'node:dns/promises';
import { constants } from 'node:fs';
import { access, lstat, statfs } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import si from 'systeminformation';
import { parseBmcAddress } from '../redfish/bmc-address.ts';
import type {
  AdvertiseFact,
  BmcFact,
  ClockFact,
  DiskFact,
  Facts,
  NicFact,
  PortFact,
  ToolFact,
} from './evaluate.ts';
import { TOOLS } from './tools.ts';

/** What preflight measures on this machine; every wait is bounded by these. */
export const TIMEOUTS_MS = { tool: 5000, resolve: 5000, tcp: 3000, redfish: 5000 } as const;
const MAX_ROOT_BYTES = 1 << 20;
/** BMCs checked at once. */
const BMC_CONCURRENCY = 16;

/** A BMC of the inventory: its host's name and its address in Metal3's formats. */
export interface BmcTarget {
  host: string;
  address: string;
}

export interface GatherOptions {
  stateDir: string;
  mediaDir: string;
  advertiseUrl?: string;
  ports: number[];
  bmcs: BmcTarget[];
}

export async function gatherFacts(o: GatherOptions): Promise<Facts> {
  const [cpu, mem, nics, disks, advertise, ports, tools, clock, bmcs] = await Promise.all([
    si.cpu(),
    si.mem(),
    networkInterfaces(),
    Promise.all([diskFact('state', o.stateDir), diskFact('media', o.mediaDir)]),
    o.advertiseUrl ? resolveAdvertise(o.advertiseUrl) : Promise.resolve(undefined),
    Promise.all(o.ports.map(portFact)),
    Promise.all(TOOLS.map(toolFact)),
    clockFact(),
    inBatches(o.bmcs, BMC_CONCURRENCY, bmcFact),
  ]);
  return {
    cpu: { cores: cpu.cores, model: [cpu.manufacturer, cpu.brand].filter(Boolean).join(' ') },
    memory: { totalBytes: mem.total, availableBytes: mem.available },
    disks,
    nics,
    advertise,
    ports,
    tools,
    clock,
    bmcs,
  };
}

async function networkInterfaces(): Promise<NicFact[]> {
  const list = await si.networkInterfaces();
  return (Array.isArray(list) ? list : [list]).map((n) => ({
    name: n.iface,
    addresses: [n.ip4, n.ip6].filter((a) => a !== ''),
    up: n.operstate === 'up' || n.internal,
    internal: n.internal,
  }));
}

async function diskFact(role: DiskFact['role'], dir: string): Promise<DiskFact> {
  let measured = path.resolve(dir);
  while (!(await lstat(measured).catch(() => undefined)) && measured !== path.dirname(measured))
    measured = path.dirname(measured);
  try {
    const s = await statfs(measured);
    return { role, dir: path.resolve(dir), measured, freeBytes: s.bavail * s.bsize };
  } catch (error) {
    return { role, dir: path.resolve(dir), measured, error: (error as Error).message };
  }
}

async function resolveAdvertise(url: string): Promise<AdvertiseFact> {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  if (net.isIP(host)) return { url, host, addresses: [host] };
  try {
    const found = await withTimeout(lookup(host, { all: true }), TIMEOUTS_MS.resolve, 'name lookup');
    return { url, host, addresses: found.map((a) => a.address) };
  } catch (error) {
    return { url, host, addresses: [], error: (error as Error).message };
  }
}

/** Free when this process can listen on it on every address, as the service would. */
function portFact(port: number): Promise<PortFact> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', (error: NodeJS.ErrnoException) =>
      resolve({
        port,
        free: false,
        detail: error.code === 'EADDRINUSE' ? 'another program listens on it' : error.message,
      }),
    );
    server.listen({ port, exclusive: true }, () => server.close(() => resolve({ port, free: true })));
  });
}

async function findProgram(name: string): Promise<string | undefined> {
  const candidates = path.isAbsolute(name)
    ? [name]
    : [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin']
        .filter((d) => d !== '')
        .map((d) => path.join(d, name));
  for (const candidate of candidates) {
    if (
      await access(candidate, constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return candidate;
  }
  return undefined;
}

async function toolFact(tool: (typeof TOOLS)[number]): Promise<ToolFact> {
  const base = { name: tool.name, usedBy: tool.usedBy, package: tool.package };
  const program = await findProgram(tool.name);
  if (!program) return { ...base, found: false };
  if (!tool.versionArgs) return { ...base, found: true };
  const r = await execa(program, tool.versionArgs, {
    reject: false,
    all: true,
    stdin: 'ignore',
    timeout: TIMEOUTS_MS.tool,
    env: { LC_ALL: 'C' },
  });
  const line = (r.all ?? '').split('\n').find((l) => /\d+\.\d+/.test(l));
  return { ...base, found: true, version: line?.trim().slice(0, 100) };
}

async function clockFact(): Promise<ClockFact> {
  const run = (cmd: string, args: string[]) =>
    execa(cmd, args, { reject: false, stdin: 'ignore', timeout: TIMEOUTS_MS.tool, env: { LC_ALL: 'C' } });
  const timedatectl = await run('timedatectl', ['show', '-p', 'NTPSynchronized', '--value']);
  if (timedatectl.exitCode === 0 && /^(yes|no)$/.test(timedatectl.stdout.trim()))
    return { source: 'timedatectl', synchronized: timedatectl.stdout.trim() === 'yes' };
  const chrony = await run('chronyc', ['-n', 'tracking']);
  if (chrony.exitCode === 0) {
    const leap = /^Leap status\s*:\s*(.+)$/m.exec(chrony.stdout)?.[1]?.trim();
    if (leap) return { source: 'chronyc', synchronized: leap === 'Normal', detail: `leap status ${leap}` };
  }
  // systemd-timesyncd touches this file once it has synchronised (systemd-timesyncd.service(8)).
  if (await lstat('/run/systemd/timesync/synchronized').catch(() => undefined))
    return { source: 'systemd-timesyncd', synchronized: true };
  return {};
}

/** TCP to the address's host and port, then its Redfish service root (the address parsed as the service does). */
async function bmcFact(target: BmcTarget): Promise<BmcFact> {
  const fact: BmcFact = { host: target.host, address: target.address };
  const parsed = parseBmcAddress(target.address);
  if (!parsed.ok) return { ...fact, error: parsed.error };
  const a = parsed.value;
  fact.tcp = await tcpConnect(a.host, a.port ?? (a.transport === 'https' ? 443 : 80));
  if (!fact.tcp.ok) return fact;
  fact.redfish = await serviceRoot(new URL('/redfish/v1/', a.baseUrl));
  return fact;
}

function tcpConnect(host: string, port: number): Promise<NonNullable<BmcFact['tcp']>> {
  const started = performance.now();
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: TIMEOUTS_MS.tcp });
    const done = (ok: boolean, error?: string) => {
      socket.destroy();
      resolve({ ok, ms: Math.round(performance.now() - started), error });
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false, `no answer within ${TIMEOUTS_MS.tcp / 1000} s`));
    socket.once('error', (e: NodeJS.ErrnoException) => done(false, e.code ?? e.message));
  });
}

/** GET the Redfish service root, which needs no credentials (DSP0266); certificates are not judged here. */
function serviceRoot(url: URL): Promise<NonNullable<BmcFact['redfish']>> {
  return new Promise((resolve) => {
    const client = url.protocol === 'https:' ? https : http;
    const request = client.get(
      url,
      { timeout: TIMEOUTS_MS.redfish, rejectUnauthorized: false, headers: { accept: 'application/json' } },
      (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_ROOT_BYTES) request.destroy(new Error('service root larger than 1 MiB'));
          else chunks.push(c);
        });
        response.on('end', () => {
          const status = response.statusCode;
          if (status !== 200) return resolve({ ok: false, status });
          try {
            const root = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { RedfishVersion?: unknown };
            const version = typeof root.RedfishVersion === 'string' ? root.RedfishVersion : undefined;
            resolve({ ok: true, status, version });
          } catch {
            resolve({ ok: false, status, error: 'the service root is not JSON' });
          }
        });
        response.on('error', (e) => resolve({ ok: false, error: e.message }));
      },
    );
    request.on('timeout', () =>
      request.destroy(new Error(`no answer within ${TIMEOUTS_MS.redfish / 1000} s`)),
    );
    request.on('error', (e) => resolve({ ok: false, error: e.message }));
  });
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function inBatches<T, R>(items: T[], size: number, each: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size)
    out.push(...(await Promise.all(items.slice(i, i + size).map(each))));
  return out;
}
