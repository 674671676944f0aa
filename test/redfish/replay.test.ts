import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseBmcAddress } from '../../src/redfish/bmc-address.ts';
import { RedfishClient, type RedfishEvent } from '../../src/redfish/client.ts';
import { describeRequest, type LoadedCase, loadCases, ReplayBmc } from './replay/replay-bmc.ts';

/**
 * Vendor/firmware × operation -> the requests our client sends and the outcome, against BMC answers
 * written from the vendors' published documentation and examples (test/redfish/replay/<vendor>/<firmware>/).
 */
const CASES = loadCases(path.join(import.meta.dirname, 'replay'));
const PASSWORD = 'replay-password-never-logged';
let bmc: ReplayBmc | undefined;
afterEach(async () => {
  await bmc?.close();
  bmc = undefined;
});

async function run(c: LoadedCase, client: RedfishClient): Promise<unknown> {
  switch (c.replay.operation) {
    case 'inspect':
      return client.inspect();
    case 'insert-media':
      return client.insertMedia(c.replay.image ?? 'http://10.0.0.2:8080/media/host-1.iso');
    case 'eject-media':
      return client.ejectMedia();
    case 'boot-once':
      return client.setBootOnce('Cd');
    case 'boot-disk':
      return client.setBootDisk();
    case 'power-on':
      return client.power('on');
    case 'power-off':
      return client.power('off');
  }
}

describe('Redfish client replayed against recorded vendor answers', () => {
  it('has cases for every vendor folder', () => {
    const vendors = new Set(CASES.map((c) => c.name.split('/')[0]));
    expect([...vendors].sort()).toEqual([
      'dell',
      'dmtf',
      'hpe',
      'lenovo',
      'openbmc',
      'supermicro',
      'sushy-tools',
    ]);
    for (const c of CASES) {
      expect(c.replay.models, `${c.name}: says what it models`).toBeTruthy();
      expect(c.replay.source, `${c.name}: says where it comes from`).toBeTruthy();
    }
  });

  for (const c of CASES) {
    it(`${c.name}: ${c.replay.models.trim().split('\n')[0]}`, async () => {
      bmc = new ReplayBmc(c);
      const hostPort = await bmc.listen();
      const address = parseBmcAddress(c.replay.address.replace('BMC', hostPort));
      if (!address.ok) throw new Error(address.error);
      const events: RedfishEvent[] = [];
      let outcome: { ok: true; value: unknown } | { ok: false; error: string };
      let client: RedfishClient | undefined;
      try {
        client = await RedfishClient.connect({
          address: address.value,
          username: 'root',
          password: PASSWORD,
          retry: { attempts: 2, delayMs: 1 },
          timeoutMs: 2000,
          powerTimeoutMs: 2000,
          onEvent: (e) => events.push(e),
        });
        outcome = { ok: true, value: await run(c, client) };
      } catch (error) {
        outcome = { ok: false, error: error instanceof Error ? error.message : String(error) };
      } finally {
        await client?.close();
      }
      const root = bmc.resources.get('/redfish/v1/') as { Links?: { Sessions?: { '@odata.id'?: string } } };
      const sessions = root?.Links?.Sessions?.['@odata.id'] ?? '/redfish/v1/SessionService/Sessions';
      const sent = bmc.requests.filter((r) => r.method !== 'GET').map((r) => describeRequest(r, sessions));
      const expected = c.replay.expect;
      // The session is always made first and deleted last; the table lists what lies between.
      expect(sent[0]).toBe(`POST ${sessions}`);
      expect(sent.at(-1)).toBe(`DELETE ${sessions}/1`);
      expect(sent.slice(1, -1)).toEqual(expected.requests);
      if (expected.error !== undefined) {
        expect(outcome.ok, `expected a failure, got ${JSON.stringify(outcome)}`).toBe(false);
        if (!outcome.ok) expect(outcome.error).toMatch(new RegExp(expected.error));
      } else {
        expect(outcome, JSON.stringify(outcome)).toMatchObject({ ok: true });
        if (expected.result !== undefined && outcome.ok) expect(outcome.value).toEqual(expected.result);
      }
      const warnings = events.filter((e) => e.type === 'warning').map((e) => e.message);
      for (const pattern of expected.warnings ?? [])
        expect(
          warnings.some((w) => new RegExp(pattern).test(w)),
          `warning /${pattern}/ in ${JSON.stringify(warnings)}`,
        ).toBe(true);
      if (!expected.warnings) expect(warnings).toEqual([]);
      for (const [p, props] of Object.entries(expected.state ?? {}))
        expect(bmc.resources.get(p), p).toMatchObject(props);
      expect(JSON.stringify(events)).not.toContain(PASSWORD);
    });
  }
});
