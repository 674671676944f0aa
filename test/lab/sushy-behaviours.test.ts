import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import type { BehaviourProfileName } from '../../src/lab/index.ts';
import { withLab } from '../fixtures/redfish-lab.ts';

// The behaviour profiles cross-checked with Debian's python3-sushy (Ironic's library): it meets the
// same 404s, absent socket and FPGA, and Continuous read-back that our client copes with.
const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./sushy_behaviours.py', import.meta.url));

let stop: (() => Promise<void>) | undefined;
afterEach(async () => {
  await stop?.();
  stop = undefined;
});

async function sushyRead(vendor: BehaviourProfileName): Promise<Record<string, unknown>> {
  const lab = await withLab({ hosts: 1, backend: 'fake', vendor });
  stop = lab.stop;
  const host = lab.hosts[0]!;
  const url = new URL(host.bmcAddress.replace(/^[^:]+:/, 'http:'));
  const result = await execa(PYTHON, [SCRIPT, `http://${url.host}`, url.pathname], {
    env: { BMC_USERNAME: host.username, BMC_PASSWORD: host.password },
    reject: false,
    timeout: 60_000,
  });
  if (result.exitCode !== 0) throw new Error(`sushy failed (${result.exitCode}):\n${result.stderr}`);
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

describe('python3-sushy against the lab behaviour profiles', () => {
  it('sparse-inventory: the linked Processors and SimpleStorage answer 404, no memory summary', async () => {
    const seen = await sushyRead('sparse-inventory');
    expect(seen.processors).toBe('ResourceNotFoundError');
    expect(seen.simple_storage).toBe('ResourceNotFoundError');
    expect(seen.memory_summary).toBeNull();
  });

  it('failing-inventory: the Storage collection answers 404, SimpleStorage has the disk, no memory summary', async () => {
    const seen = await sushyRead('failing-inventory');
    expect(seen.storage).toBe('ResourceNotFoundError');
    expect(seen.simple_storage).toEqual([expect.any(Number)]);
    // sushy 4.3.3 reads only the memory summary, not the Memory collection that answers 500.
    expect(seen.memory_summary).toBeNull();
  });

  it('multi-socket: sushy lists the empty socket and the FPGA that our count leaves out', async () => {
    const seen = await sushyRead('multi-socket');
    expect(seen.processors).toEqual([
      {
        id: 'CPU1',
        type: 'ProcessorType.CPU',
        state: 'Health.OK'.length ? expect.any(String) : null,
        threads: 16,
      },
      { id: 'CPU2', type: 'ProcessorType.CPU', state: expect.stringMatching(/ABSENT/i), threads: null },
      { id: 'FPGA1', type: 'ProcessorType.FPGA', state: expect.any(String), threads: null },
    ]);
  });

  it('boot-continuous: sushy asks for Once and reads back Continuous', async () => {
    const seen = await sushyRead('boot-continuous');
    expect(seen.boot).toEqual({ target: 'BootSource.CD', enabled: 'BootSourceOverrideEnabled.CONTINUOUS' });
  });

  it('boot-once-refused: the Once PATCH is refused with 400', async () => {
    await expect(sushyRead('boot-once-refused')).rejects.toThrow(/BadRequestError|400/);
  });
});
