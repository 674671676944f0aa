import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { connectionUuid, uuidV5 } from '../../src/network/keyfile.ts';
import { GOLDEN, generateFromFiles, VALID_DIR, validHostFiles } from './support/fixtures.ts';
import { droppedKeys, NM_DEFAULTS, normaliseKeyfile, parseKeyfile, withoutUuid } from './support/nmcli.ts';

const golden = generateFromFiles([{ host: 'node1', file: path.join(GOLDEN, 'generate', 'node1.yaml') }]);
const goldenDir = path.join(GOLDEN, 'generate', 'expected');

function profileOf(generated: ReturnType<typeof generateFromFiles>, filePath: string): string {
  const f = generated.files.find((x) => x.path === filePath);
  if (!f)
    throw new Error(`${filePath} was not generated; got ${generated.files.map((x) => x.path).join(', ')}`);
  return f.content;
}

describe('nmstate golden files (keyfiles real nmstate produced)', () => {
  const expectedNames = readdirSync(goldenDir).filter((n) => n.endsWith('.nmconnection'));

  it('generates exactly the profiles nmstate generated', () => {
    expect(golden.diagnostics).toEqual([]);
    const ours = golden.files
      .filter((f) => f.path.endsWith('.nmconnection'))
      .map((f) => path.basename(f.path));
    expect(ours.sort()).toEqual([...expectedNames].sort());
  });

  for (const name of expectedNames) {
    it(`${name} matches after NetworkManager normalisation, and no key of ours is dropped`, async () => {
      const ours = profileOf(golden, `node1/${name}`);
      const theirs = readFileSync(path.join(goldenDir, name), 'utf8');
      const [normOurs, normTheirs] = await Promise.all([normaliseKeyfile(ours), normaliseKeyfile(theirs)]);
      expect(withoutUuid(normOurs)).toEqual(withoutUuid(normTheirs));
      expect(droppedKeys(ours, normOurs)).toEqual([]);
    });
  }

  it('host_config.yaml lists the same interfaces, MACs, connection ids and types', () => {
    const canon = (text: string) =>
      (
        parseYaml(text) as {
          hostname: string;
          interfaces: { logical_name: string; connection_ids: string[] }[];
        }[]
      ).map((h) => ({
        hostname: h.hostname,
        interfaces: h.interfaces
          .map((i) => ({ ...i, connection_ids: [...i.connection_ids].sort() }))
          .sort((a, b) => String(a.logical_name).localeCompare(String(b.logical_name))),
      }));
    const ours = profileOf(golden, 'host_config.yaml');
    expect(canon(ours)).toEqual(canon(readFileSync(path.join(goldenDir, 'host_config.yaml'), 'utf8')));
  });
});

describe('every valid fixture renders to profiles NetworkManager accepts whole', () => {
  const generated = generateFromFiles(validHostFiles());

  it('has no diagnostics', () => {
    expect(generated.diagnostics).toEqual([]);
  });

  for (const f of generated.files.filter((x) => x.path.endsWith('.nmconnection'))) {
    it(`${f.path}: accepted by nmcli --offline with no key dropped`, async () => {
      const normalised = await normaliseKeyfile(f.content);
      expect(droppedKeys(f.content, normalised)).toEqual([]);
    });
  }

  it('the default-valued keys the normaliser leaves out are real keys (a different value is kept)', async () => {
    for (const d of NM_DEFAULTS) {
      const type = d.section === 'bridge' ? 'bridge' : d.section === 'ovs-bridge' ? 'ovs-bridge' : 'ethernet';
      const text = `[connection]\nid=probe\ntype=${type}\ninterface-name=probe0\n[${d.section === 'connection' ? 'user' : d.section}]\n${d.section === 'connection' ? '' : `${d.key}=${d.other}`}\n[ipv4]\nmethod=${d.section === 'ipv4' ? 'auto' : 'disabled'}\n[ipv6]\nmethod=${d.section === 'ipv6' ? 'auto' : 'disabled'}\n`;
      const withKey = d.section === 'connection' ? text.replace('type=', `${d.key}=${d.other}\ntype=`) : text;
      const normalised = parseKeyfile(await normaliseKeyfile(withKey));
      expect(normalised.get(d.section)?.get(d.key), `${d.section}.${d.key}=${d.other}`).toBe(d.other);
    }
  });
});

describe('offline checks for what this kernel cannot create (bond, vlan, dummy, OVS)', () => {
  const generated = generateFromFiles([
    { host: 'bond-vlan', file: path.join(VALID_DIR, 'bond-vlan.yaml') },
    { host: 'ip-modes', file: path.join(VALID_DIR, 'ip-modes.yaml') },
  ]);
  const normalised = async (p: string) => parseKeyfile(await normaliseKeyfile(profileOf(generated, p)));

  it('bond: mode, options and MTU survive normalisation; ports are enslaved to it', async () => {
    const bond = await normalised('bond-vlan/bond0.nmconnection');
    expect(Object.fromEntries(bond.get('bond') ?? [])).toEqual({
      mode: '802.3ad',
      miimon: '100',
      lacp_rate: 'fast',
      xmit_hash_policy: 'layer3+4',
    });
    expect(bond.get('ethernet')?.get('mtu')).toBe('9000');
    expect(bond.get('ipv4')?.get('address1')).toBe('10.20.0.10/24');
    expect(bond.get('ipv4')?.get('route2')).toBe('172.16.0.0/12,10.20.0.254,50');
    expect(bond.get('ipv4')?.get('route2_options')).toBe('table=200');
    for (const port of ['eth0', 'eth1']) {
      const p = await normalised(`bond-vlan/${port}.nmconnection`);
      expect(p.get('connection')?.get('master')).toBe('bond0');
      expect(p.get('connection')?.get('slave-type')).toBe('bond');
      expect(p.has('ipv4')).toBe(false);
    }
    const backup = await normalised('bond-vlan/bond1.nmconnection');
    expect(backup.get('bond')?.get('arp_ip_target')).toBe('10.20.0.1,10.20.0.2');
    expect(backup.get('ipv4')?.get('method')).toBe('disabled');
  });

  it('vlan: id and parent, DHCP with its own route table and no DHCP DNS', async () => {
    const vlan = await normalised('bond-vlan/bond0.100.nmconnection');
    expect(vlan.get('vlan')?.get('id')).toBe('100');
    expect(vlan.get('vlan')?.get('parent')).toBe('bond0');
    expect(vlan.get('ipv4')?.get('method')).toBe('auto');
    expect(vlan.get('ipv4')?.get('ignore-auto-dns')).toBe('true');
    expect(vlan.get('ipv4')?.get('route-table')).toBe('100');
  });

  it('an absent route and an absent interface produce nothing', () => {
    expect(profileOf(generated, 'bond-vlan/bond0.nmconnection')).not.toContain('192.168.0.0/16');
    expect(generated.files.some((f) => f.path === 'ip-modes/eth4.nmconnection')).toBe(false);
  });

  it('IPv6 modes: dhcp+autoconf -> auto, dhcp only -> dhcp, enabled alone -> link-local; state down -> no autoconnect', async () => {
    expect((await normalised('ip-modes/eth0.nmconnection')).get('ipv6')?.get('method')).toBe('auto');
    expect((await normalised('ip-modes/eth1.nmconnection')).get('ipv6')?.get('method')).toBe('dhcp');
    expect((await normalised('ip-modes/eth1.nmconnection')).get('ipv6')?.get('ignore-auto-dns')).toBe('true');
    expect((await normalised('ip-modes/eth1.nmconnection')).get('ipv4')?.get('never-default')).toBe('true');
    expect((await normalised('ip-modes/eth2.nmconnection')).get('ipv6')?.get('method')).toBe('link-local');
    expect((await normalised('ip-modes/eth3.nmconnection')).get('connection')?.get('autoconnect')).toBe(
      'false',
    );
    const dummy = await normalised('ip-modes/dummy0.nmconnection');
    expect(dummy.get('connection')?.get('type')).toBe('dummy');
    expect(dummy.get('ipv4')?.get('address2')).toBe('192.0.2.2/32');
  });
});

describe('connection UUIDs', () => {
  it('are RFC 4122 version 5 (checked against a known vector)', () => {
    // Python: uuid.uuid5(uuid.NAMESPACE_URL, 'https://outpost.invalid/nmconnection')
    expect(uuidV5('https://outpost.invalid/nmconnection', '6ba7b811-9dad-11d1-80b4-00c04fd430c8')).toBe(
      '1371b53c-1922-5bc6-b445-844f68d89373',
    );
  });

  it('are stable per host and connection, and differ between hosts', () => {
    const again = generateFromFiles([{ host: 'node1', file: path.join(GOLDEN, 'generate', 'node1.yaml') }]);
    expect(again.files).toEqual(golden.files);
    expect(profileOf(golden, 'node1/eth0.nmconnection')).toContain(`uuid=${connectionUuid('node1', 'eth0')}`);
    expect(connectionUuid('node1', 'eth0')).not.toBe(connectionUuid('node2', 'eth0'));
  });
});
