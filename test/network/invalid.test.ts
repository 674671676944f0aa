import { describe, expect, it } from 'vitest';
import { formatDiagnostic } from '../../src/common/diagnostics.ts';
import { generateNetwork } from '../../src/network/generate.ts';
import { INVALID_CASES } from './invalid-cases.ts';

describe('invalid host files are refused with file, line, column and field', () => {
  it('has at least 20 cases', () => {
    expect(INVALID_CASES.length).toBeGreaterThanOrEqual(20);
  });

  for (const c of INVALID_CASES) {
    it(c.name, () => {
      const result = generateNetwork([{ file: 'network/site-a.yaml', host: 'site-a', text: c.yaml }]);
      const printed = result.diagnostics.map(formatDiagnostic);
      expect(
        printed.some((p) => p.startsWith(`network/site-a.yaml:${c.expect}`) || p.includes(`:${c.expect}`)),
        printed.join('\n'),
      ).toBe(true);
      // Nothing is generated from a file with problems.
      expect(result.files).toEqual([]);
    });
  }

  it('MAC addresses must be unique across hosts', () => {
    const host = (mac: string) =>
      `interfaces:\n  - name: eth0\n    type: ethernet\n    mac-address: "${mac}"\n`;
    const result = generateNetwork([
      { file: 'network/a.yaml', host: 'a', text: host('52:54:00:00:00:01') },
      { file: 'network/b.yaml', host: 'b', text: host('52:54:00:00:00:01') },
    ]);
    expect(result.diagnostics.map(formatDiagnostic)).toEqual([
      "network/b.yaml:2:1: interfaces: MAC address 52:54:00:00:00:01 of 'eth0' is also used by host 'a' (network/a.yaml:2): first boot could not tell the hosts apart",
    ]);
  });

  it('a host file name must be a host name', () => {
    const result = generateNetwork([
      {
        file: 'network/bad_name.yaml',
        host: 'bad_name',
        text: 'interfaces:\n  - name: eth0\n    type: ethernet\n',
      },
    ]);
    expect(result.diagnostics.map(formatDiagnostic)).toEqual([
      "network/bad_name.yaml:1:1: file name 'bad_name' is not a valid host name",
    ]);
  });
});
