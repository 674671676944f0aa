import { describe, expect, it } from 'vitest';
import { parseBmcAddress } from '../../src/redfish/bmc-address.ts';

function ok(address: string) {
  const result = parseBmcAddress(address);
  if (!result.ok) throw new Error(`expected ${address} to parse: ${result.error}`);
  return result.value;
}

function refused(address: string): string {
  const result = parseBmcAddress(address);
  if (result.ok) throw new Error(`expected ${address} to be refused`);
  return result.error;
}

describe('parseBmcAddress (Metal3 BMC URLs)', () => {
  it('maps every Redfish scheme to its driver and boot style', () => {
    const cases: [string, string, boolean][] = [
      ['redfish', 'redfish', false],
      ['redfish-virtualmedia', 'redfish', true],
      ['idrac-virtualmedia', 'idrac', true],
      ['idrac-redfish', 'idrac', false],
      ['ilo5-virtualmedia', 'ilo5', true],
      ['ilo5-redfish', 'ilo5', false],
    ];
    for (const [scheme, driver, virtualMedia] of cases) {
      const value = ok(`${scheme}://10.0.0.5/redfish/v1/Systems/1`);
      expect(value).toMatchObject({ scheme, driver, virtualMedia, transport: 'https', host: '10.0.0.5' });
      expect(value.systemPath).toBe('/redfish/v1/Systems/1');
    }
  });

  it('takes the transport from +http/+https and never adds a default port', () => {
    expect(ok('redfish-virtualmedia+http://bmc.example:8000/redfish/v1/Systems/abc')).toEqual({
      scheme: 'redfish-virtualmedia',
      driver: 'redfish',
      virtualMedia: true,
      transport: 'http',
      host: 'bmc.example',
      port: 8000,
      systemPath: '/redfish/v1/Systems/abc',
      baseUrl: 'http://bmc.example:8000',
    });
    const https = ok('idrac-virtualmedia+https://10.1.1.1/redfish/v1/Systems/System.Embedded.1');
    expect(https.baseUrl).toBe('https://10.1.1.1');
    expect(https.port).toBeUndefined();
    expect(ok('redfish://10.1.1.1:443').port).toBe(443);
  });

  it('leaves the System to discovery when the path is empty or /redfish/v1', () => {
    expect(ok('redfish://10.0.0.5').systemPath).toBeUndefined();
    expect(ok('redfish://10.0.0.5/').systemPath).toBeUndefined();
    expect(ok('redfish://10.0.0.5/redfish/v1/').systemPath).toBeUndefined();
  });

  it('handles IPv6 hosts', () => {
    const value = ok('redfish-virtualmedia+https://[fd00::5]:8443/redfish/v1/Systems/1');
    expect(value.host).toBe('fd00::5');
    expect(value.baseUrl).toBe('https://[fd00::5]:8443');
  });

  it('refuses IPMI and the removed non-Redfish schemes with a clear message', () => {
    expect(refused('ipmi://10.0.0.5:623')).toMatch(/IPMI is not supported.*Redfish/);
    expect(refused('10.0.0.5')).toMatch(/no scheme.*IPMI/);
    expect(refused('libvirt://10.0.0.5')).toMatch(/not supported/);
    expect(refused('idrac://10.0.0.5')).toMatch(/removed/);
    expect(refused('ilo4://10.0.0.5')).toMatch(/iLO 4/);
  });

  it('refuses a Managers path, credentials in the URL and unknown schemes', () => {
    expect(refused('redfish://10.0.0.5/redfish/v1/Managers/1')).toMatch(/names a Manager/);
    expect(refused('redfish://admin:secret@10.0.0.5/')).toMatch(/must not contain credentials/);
    expect(refused('redfish://admin:secret@10.0.0.5/')).not.toContain('secret');
    expect(refused('redfish+ftp://10.0.0.5/')).toMatch(/\+http or \+https/);
    expect(refused('ironic://10.0.0.5/')).toMatch(/unknown scheme/);
    expect(refused('redfish://10.0.0.5/some/other/path')).toMatch(/Systems/);
    expect(refused('')).toMatch(/empty/);
  });
});
