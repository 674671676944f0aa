import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { terminalSafe } from '../../src/common/diagnostics.ts';
import type { Lab } from '../../src/lab/index.ts';
import {
  clientFor,
  fakeSite,
  inventoryOf,
  listHosts,
  OUTPOST,
  ServiceProcess,
  waitFor,
} from '../service/helpers.ts';

// Finding: a callback message with a newline and terminal escapes forged a line in the service's log. A
// host being installed holds a valid callback token, so its messages are accepted: they must still never
// start a line of their own or drive the operator's terminal.
const site = fakeSite('sec-log', { hosts: 1, media: { 'site.iso': 'installer' } });
const { stateDir, mediaDir } = site;
let lab: Lab;
let service: ServiceProcess;

const FORGED = 'FORGED-LINE';
const HOSTILE = `disk ok\n2026-01-01T00:00:00.000Z info host-1 Provisioned: ${FORGED}\r\u001b[2J\u001b]0;title\u0007\u009b31m\u202eevil\u2028x`;

beforeAll(async () => {
  ({ lab, service } = await site.start());
});
afterAll(() => site.close());

async function callback(body: object): Promise<number> {
  const config = JSON.parse(readFileSync(path.join(stateDir, 'host-config', 'host-1.json'), 'utf8'));
  const r = await fetch(config.callbackUrl, {
    method: 'POST',
    headers: { Authorization: `Bearer ${config.callbackToken}` },
    body: JSON.stringify(body),
  });
  return r.status;
}

const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e]/;

describe('log and terminal injection', { timeout: 120_000 }, () => {
  it('strips control characters from a callback message: no forged line in the log, events or CLI', async () => {
    await service.start();
    const api = clientFor(service.url, stateDir);
    await api.request('POST', '/hosts', inventoryOf(lab));
    await waitFor('host-1 available', async () => (await listHosts(api))[0]?.state === 'available');
    await api.request('POST', '/hosts/host-1/provision', { image: 'site.iso', callbacks: true });
    await waitFor('the installer CD boot', () => lab.status('host-1').boots.some((b) => b.device === 'cd'));
    expect(await callback({ phase: 'disk', status: 'running', message: HOSTILE })).toBe(200);
    expect(await callback({ phase: 'installer', status: 'running', progress: 10, message: HOSTILE })).toBe(
      200,
    );
    await waitFor('the callback in the log', () => service.output.includes('disk running'));

    const lines = service.output.split('\n');
    expect(lines.filter((l) => l.startsWith('2026-01-01T00:00:00.000Z'))).toEqual([]);
    expect(lines.filter((l) => CONTROL.test(l))).toEqual([]);
    // The message is kept, on the line of the event that carries it.
    const logged = lines.filter((l) => l.includes(FORGED));
    expect(logged.length).toBe(2);
    for (const l of logged)
      expect(l).toMatch(/ host-1 (Callback|Installer): (disk|installer) running.*disk ok 2026-01-01/);

    const events = await api.request<{ events: { message: string }[] }>('GET', '/hosts/host-1/events');
    const stored = events.events.filter((e) => e.message.includes(FORGED));
    expect(stored.length).toBe(2);
    for (const e of stored) expect(e.message).not.toMatch(CONTROL);

    const token = readFileSync(path.join(stateDir, 'api-token'), 'utf8').trim();
    const described = await promisify(execFile)(process.execPath, [OUTPOST, 'hosts', 'describe', 'host-1'], {
      env: { ...process.env, OUTPOST_SERVER: service.url, OUTPOST_TOKEN: token },
      timeout: 30_000,
    });
    expect(described.stdout).toContain(FORGED);
    expect(described.stdout.split('\n').filter((l) => CONTROL.test(l))).toEqual([]);
  });

  it('--log-format json: one JSON object per line, the hostile message inside a string', async () => {
    await service.kill('SIGTERM');
    service.output = '';
    const json = new ServiceProcess({
      stateDir,
      mediaDir,
      port: service.port,
      extraArgs: ['--log-format', 'json'],
    });
    service = json;
    await json.start();
    expect(await callback({ phase: '17-users.sh', status: 'failed', message: HOSTILE })).toBe(200);
    await waitFor('the callback in the log', () => json.output.includes('17-users.sh failed'));
    await json.kill('SIGTERM');
    const lines = json.output.trimEnd().split('\n');
    const records = lines.map((l) => JSON.parse(l) as Record<string, string>);
    expect(records[0]).toMatchObject({
      level: 'info',
      message: expect.stringMatching(/^outpost service listening on/),
    });
    const event = records.find((r) => r.reason === 'Callback');
    expect(event).toMatchObject({
      level: 'warn',
      host: 'host-1',
      reason: 'Callback',
      message: `17-users.sh failed: ${terminalSafe(HOSTILE)}`,
    });
    expect(event!.time).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(records.at(-1)).toMatchObject({ message: 'stopped' });
  });
});
