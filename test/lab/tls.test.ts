import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import type { LabHost } from '../../src/lab/index.ts';
import { redfishDriver } from '../../src/service/driver.ts';
import { startService } from '../../src/service/service.ts';
import { connectClient, withLab } from '../fixtures/redfish-lab.ts';
import { clientFor, tempDir, waitFor } from '../service/helpers.ts';

// The lab's BMCs over HTTPS, with a lab CA and self-signed: certificate verification is exercised for
// real by our client, by Debian's python3-sushy (what Ironic uses) and by redfishtool.
const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./sushy_tls.py', import.meta.url));

let stop: (() => Promise<void>) | undefined;
afterEach(async () => {
  await stop?.();
  stop = undefined;
});

/** The environment without any CA-bundle override, which would change what verify means to requests. */
function cleanEnv(host: LabHost): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    BMC_USERNAME: host.username,
    BMC_PASSWORD: host.password,
  };
}

describe.each(['ca', 'self-signed'] as const)('lab BMCs over HTTPS (%s)', (mode) => {
  it('our client: refused without the CA (not retried), accepted with the CA file or with verification off', async () => {
    const lab = await withLab({ hosts: 1, backend: 'fake', tls: mode });
    stop = lab.stop;
    const host = lab.hosts[0]!;
    expect(host.bmcAddress).toMatch(/^redfish-virtualmedia\+https:\/\/127\.0\.0\.1:\d+\//);
    expect(lab.caFile).toBeTruthy();
    const started = Date.now();
    await expect(connectClient(host)).rejects.toThrow(
      mode === 'ca'
        ? /TLS certificate not accepted: UNABLE_TO_VERIFY_LEAF_SIGNATURE .*give the CA that signed/
        : /TLS certificate not accepted: .*(SELF_SIGNED|self-signed)/,
    );
    expect(Date.now() - started).toBeLessThan(2000);

    const withCa = await connectClient(host, { caCertificates: readFileSync(lab.caFile!, 'utf8') });
    expect(await withCa.client.powerState()).toBe('Off');
    await withCa.client.close();
    const unverified = await connectClient(host, { disableCertificateVerification: true });
    expect(await unverified.client.powerState()).toBe('Off');
    await unverified.client.close();
  });

  it('python3-sushy: the system CAs refuse the BMC, the CA file and verify=False accept it', async () => {
    const lab = await withLab({ hosts: 1, backend: 'fake', tls: mode });
    stop = lab.stop;
    const host = lab.hosts[0]!;
    const url = new URL(host.bmcAddress.replace(/^[^:]+:/, 'https:'));
    const result = await execa(PYTHON, [SCRIPT, `https://${url.host}`, url.pathname, lab.caFile!], {
      env: cleanEnv(host),
      extendEnv: false,
      reject: false,
      timeout: 60_000,
    });
    if (result.exitCode !== 0) throw new Error(`sushy failed (${result.exitCode}):\n${result.stderr}`);
    const seen = JSON.parse(result.stdout) as Record<string, string>;
    expect(seen.system).toMatch(/SSLError|CERTIFICATE_VERIFY_FAILED|certificate verify failed/);
    expect(seen.ca_file).toBe('PowerState.OFF');
    expect(seen.off).toBe('PowerState.OFF');
  });

  it('redfishtool over HTTPS (it never verifies certificates: verify=False in its transport)', async () => {
    const lab = await withLab({ hosts: 1, backend: 'fake', tls: mode });
    stop = lab.stop;
    const host = lab.hosts[0]!;
    const url = new URL(host.bmcAddress.replace(/^[^:]+:/, 'https:'));
    const power = await execa(
      'redfishtool',
      [
        '-r',
        url.host,
        '-u',
        host.username,
        '-p',
        host.password,
        '-S',
        'Always',
        '-A',
        'Session',
        'Systems',
        '-1',
        '-P',
        'PowerState',
        'get',
      ],
      { reject: false, timeout: 60_000 },
    );
    expect(power.exitCode, power.stderr).toBe(0);
    expect(JSON.parse(power.stdout)).toEqual({ PowerState: 'Off' });
    expect(lab.status(host.name).sessions.created).toBeGreaterThanOrEqual(1);
  });
});

describe('service with a BMC CA file', () => {
  it('registers an HTTPS BMC signed by the lab CA; without it the host fails registration naming the certificate', async () => {
    const lab = await withLab({ hosts: 2, backend: 'fake', tls: 'ca' });
    const tmp = tempDir('tls-service');
    const media = path.join(tmp.dir, 'media');
    mkdirSync(media);
    const services = [] as { close(): Promise<void> }[];
    stop = async () => {
      for (const s of services) await s.close();
      await lab.stop();
      tmp.cleanup();
    };
    const start = async (name: string, caCertificates?: string) => {
      const stateDir = path.join(tmp.dir, name);
      const service = await startService({
        stateDir,
        mediaDir: media,
        host: '127.0.0.1',
        port: 0,
        driver: redfishDriver({
          retry: { attempts: 2, delayMs: 50 },
          timeoutMs: 5000,
          ...(caCertificates !== undefined && { caCertificates }),
        }),
        timing: { backoffBaseMs: 200, backoffMaxMs: 1000 },
        log: () => {},
      });
      services.push(service);
      return clientFor(service.url, stateDir);
    };
    const entry = (h: LabHost) => ({
      name: h.name,
      bmc: { address: h.bmcAddress, username: h.username, password: h.password },
    });
    const trusted = await start('trusted', readFileSync(lab.caFile!, 'utf8'));
    const untrusted = await start('untrusted');
    await trusted.request('POST', '/hosts', { hosts: [entry(lab.hosts[0]!)] });
    await untrusted.request('POST', '/hosts', { hosts: [entry(lab.hosts[1]!)] });
    type View = { state: string; step?: string; error?: { type: string; message: string } };
    await waitFor('host-1 to be available over HTTPS', async () => {
      const h = await trusted.request<View>('GET', '/hosts/host-1');
      return h.state === 'available' && !h.step ? h : undefined;
    });
    const failed = await waitFor('host-2 to fail registration', async () => {
      const h = await untrusted.request<View>('GET', '/hosts/host-2');
      return h.error ? h : undefined;
    });
    expect(failed.error).toMatchObject({ type: 'registration error' });
    expect(failed.error!.message).toMatch(/TLS certificate not accepted/);
  });
});
