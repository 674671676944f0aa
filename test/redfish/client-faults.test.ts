import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { FaultSpec, VendorProfileName } from '../../src/lab/index.ts';
import { parseBmcAddress } from '../../src/redfish/bmc-address.ts';
import { RedfishClient, RedfishError } from '../../src/redfish/client.ts';
import { connectClient, eventText, withLab } from '../fixtures/redfish-lab.ts';

const IMAGE = 'http://10.0.2.2:8080/media/host-1.iso';
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The provisioning sequence the service runs; returns the lab's view afterwards. */
async function provision(vendor: VendorProfileName, faults: FaultSpec[]) {
  // Task monitors polled at once: the matrix is about faults, not waiting.
  const lab = await withLab({ hosts: 1, backend: 'fake', vendor, faults, taskRetryAfterSeconds: 0 });
  cleanups.push(lab.stop);
  const host = lab.hosts[0]!;
  const { client, events } = await connectClient(host, { timeoutMs: 500 });
  try {
    await client.inspect();
    await client.power('off');
    await client.insertMedia(IMAGE);
    await client.insertMedia(IMAGE); // again: ejects first, so a retry by the service is safe
    await client.setBootOnce('Cd');
    await client.power('on');
    await client.power('off');
    await client.ejectMedia();
  } finally {
    await client.close();
  }
  return { status: lab.status(host.name), events, host };
}

describe('Redfish client with injected faults (recovers within its bounded retries)', () => {
  const recoverable: FaultSpec[] = [
    { operation: 'get', kind: 'timeout', count: 2 },
    { operation: 'get', kind: 'server-error', count: 3 },
    { operation: 'get', kind: 'unauthorized', count: 1 },
    { operation: 'get', kind: 'busy', count: 1 },
    { operation: 'login', kind: 'server-error', count: 1 },
    { operation: 'reset', kind: 'timeout', count: 1 },
    { operation: 'reset', kind: 'server-error', count: 2 },
    { operation: 'reset', kind: 'busy', count: 3 },
    { operation: 'reset', kind: 'unauthorized', count: 1 },
    { operation: 'insert-media', kind: 'timeout', count: 1 },
    { operation: 'insert-media', kind: 'server-error', count: 2 },
    { operation: 'insert-media', kind: 'busy', count: 2 },
    { operation: 'insert-media', kind: 'unauthorized', count: 1 },
    { operation: 'eject-media', kind: 'stale-inserted', count: 2 },
    { operation: 'eject-media', kind: 'server-error', count: 1 },
    { operation: 'eject-media', kind: 'busy', count: 2 },
    { operation: 'boot-override', kind: 'server-error', count: 2 },
    { operation: 'boot-override', kind: 'busy', count: 2 },
    { operation: 'boot-override', kind: 'timeout', count: 1 },
  ];
  for (const vendor of ['generic', 'dell', 'hpe', 'supermicro', 'lenovo'] as const) {
    for (const fault of recoverable) {
      it(`${vendor}: ${fault.operation} ${fault.kind} ×${fault.count}`, async () => {
        const { status, events, host } = await provision(vendor, [fault]);
        expect(status.power).toBe('Off');
        expect(status.media.every((m) => !m.inserted)).toBe(true);
        expect(status.boots).toEqual([expect.objectContaining({ device: 'cd', image: IMAGE })]);
        expect(status.sessions.active).toBe(0);
        expect(eventText(events)).not.toContain(host.password);
        if (
          fault.kind !== 'stale-inserted' &&
          !(fault.kind === 'unauthorized' && fault.operation !== 'get')
        ) {
          expect(
            events.some((e) => e.type === 'retry' || e.type === 'fallback' || e.type === 'session'),
          ).toBe(true);
        }
      });
    }
  }

  it('falls back to Basic authentication when sessions fail, and deletes no session it never made', async () => {
    const { status, events } = await provision('generic', [
      { operation: 'login', kind: 'server-error', count: 1 },
    ]);
    expect(status.sessions).toEqual({ active: 0, created: 0, deleted: 0 });
    expect(eventText(events)).toMatch(/using Basic authentication/);
  });

  it('gives up with a clear, retriable error when GETs keep failing', async () => {
    const lab = await withLab({
      hosts: 1,
      backend: 'fake',
      faults: [{ operation: 'get', kind: 'server-error', count: 100 }],
    });
    cleanups.push(lab.stop);
    const error = await connectClient(lab.hosts[0]!, { retry: { attempts: 3, delayMs: 10 } }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RedfishError);
    expect((error as RedfishError).status).toBe(500);
    expect((error as RedfishError).retriable).toBe(true);
    expect((error as Error).message).toMatch(/HTTP 500/);
    // The half-made session was deleted on the way out.
    expect(lab.status('host-1').sessions.active).toBe(0);
  });

  it('gives up after bounded retries when the BMC never answers', async () => {
    const lab = await withLab({
      hosts: 1,
      backend: 'fake',
      faults: [{ operation: 'reset', kind: 'timeout', count: 100 }],
    });
    cleanups.push(lab.stop);
    const { client } = await connectClient(lab.hosts[0]!, {
      timeoutMs: 200,
      retry: { attempts: 3, delayMs: 10 },
    });
    cleanups.push(() => client.close());
    const error = await client.power('on').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RedfishError);
    expect((error as Error).message).toMatch(/no answer within 200 ms \(gave up after 3 attempts\)/);
  });

  it('ends in a clear error when the BMC stays busy', async () => {
    const lab = await withLab({
      hosts: 1,
      backend: 'fake',
      faults: [{ operation: 'insert-media', kind: 'busy', count: 100 }],
    });
    cleanups.push(lab.stop);
    const { client } = await connectClient(lab.hosts[0]!, { retry: { attempts: 3, delayMs: 10 } });
    cleanups.push(() => client.close());
    const error = await client.insertMedia(IMAGE).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RedfishError);
    expect((error as Error).message).toMatch(/HTTP 409.*busy/);
    expect((error as RedfishError).retriable).toBe(true);
  });

  it('reports rejected credentials as a 401 without echoing the password', async () => {
    const lab = await withLab({ hosts: 1, backend: 'fake' });
    cleanups.push(lab.stop);
    const host = { ...lab.hosts[0]!, password: 'wrong-password-1234' };
    const error = await connectClient(host).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RedfishError);
    expect((error as RedfishError).status).toBe(401);
    expect((error as Error).message).toMatch(/rejected the credentials/);
    expect((error as Error).message).not.toContain('wrong-password-1234');
  });

  it('ends in a 401 when the BMC keeps dropping sessions', async () => {
    const lab = await withLab({
      hosts: 1,
      backend: 'fake',
      faults: [{ operation: 'reset', kind: 'unauthorized', count: 100 }],
    });
    cleanups.push(lab.stop);
    const { client } = await connectClient(lab.hosts[0]!);
    cleanups.push(() => client.close());
    const error = await client.power('on').catch((e: unknown) => e);
    expect((error as RedfishError).status).toBe(401);
  });

  it('checks AllowableValues before asking the BMC', async () => {
    const lab = await withLab({ hosts: 1, backend: 'fake', vendor: 'lenovo' });
    cleanups.push(lab.stop);
    const { client } = await connectClient(lab.hosts[0]!);
    cleanups.push(() => client.close());
    // Lenovo's profile has no UsbCd, but Cd/Hdd/Pxe are allowed.
    await client.setBootOnce('Pxe');
    expect(lab.status('host-1').bootOverride).toMatchObject({ target: 'Pxe', enabled: 'Once' });
  });
});

describe('per-BMC TLS settings', () => {
  it('refuses a self-signed certificate unless disableCertificateVerification is set', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'outpost-tls-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-subj',
        '/CN=bmc.test',
        '-days',
        '1',
        '-keyout',
        path.join(dir, 'key.pem'),
        '-out',
        path.join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    const lab = await withLab({ hosts: 1, backend: 'fake' });
    cleanups.push(lab.stop);
    const host = lab.hosts[0]!;
    const plain = new URL(host.bmcAddress.replace(/^[^:]+:/, 'http:'));
    // A TLS front for the emulated BMC, as a real BMC with its factory certificate.
    const proxy = https.createServer(
      { key: readFileSync(path.join(dir, 'key.pem')), cert: readFileSync(path.join(dir, 'cert.pem')) },
      (req, res) => {
        const upstream = http.request(
          { host: plain.hostname, port: plain.port, path: req.url, method: req.method, headers: req.headers },
          (up) => {
            res.writeHead(up.statusCode ?? 502, up.headers);
            up.pipe(res);
          },
        );
        req.pipe(upstream);
      },
    );
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', () => resolve()));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          proxy.closeAllConnections();
          proxy.close(() => resolve());
        }),
    );
    const port = (proxy.address() as AddressInfo).port;
    const address = parseBmcAddress(`redfish-virtualmedia+https://127.0.0.1:${port}${plain.pathname}`);
    if (!address.ok) throw new Error(address.error);

    const refused = await RedfishClient.connect({
      address: address.value,
      username: host.username,
      password: host.password,
      retry: { attempts: 5, delayMs: 10 },
    }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RedfishError);
    expect((refused as Error).message).toMatch(/certificate.*disableCertificateVerification/i);

    const client = await RedfishClient.connect({
      address: address.value,
      username: host.username,
      password: host.password,
      disableCertificateVerification: true,
    });
    expect(await client.powerState()).toBe('Off');
    await client.close();
    expect(lab.status(host.name).sessions).toEqual({ active: 0, created: 1, deleted: 1 });
  });
});
