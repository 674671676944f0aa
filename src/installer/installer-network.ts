import { parseHostFile } from '../network/parse.ts';
import type { InstallerSettings } from './iso.ts';

/**
 * How the installer reaches the management service, derived from the host's nmstate data: the static IPv4
 * address of the interface with the boot MAC (or the only static Ethernet interface), its default route
 * and DNS servers. Anything else — no data, DHCP, IPv6 only, bonds or VLANs underneath — means DHCP on the
 * boot NIC, which is what the installer's small network stack does well.
 */
export function installerNetwork(
  networkData: string | undefined,
  bootMac: string | undefined,
): NonNullable<InstallerSettings['network']> {
  const dhcp = { mode: 'dhcp' as const, ...(bootMac && { mac: bootMac.toLowerCase() }) };
  if (!networkData) return dhcp;
  const { state } = parseHostFile('networkData', networkData);
  if (!state) return dhcp;
  const mac = bootMac?.toUpperCase();
  const candidates = state.interfaces.filter(
    (i) =>
      i.type === 'ethernet' &&
      i.state === 'up' &&
      i.ipv4.enabled &&
      !i.ipv4.dhcp &&
      i.ipv4.addresses.length > 0,
  );
  const nic =
    (mac && candidates.find((i) => i.macAddress === mac)) ??
    (candidates.length === 1 ? candidates[0] : undefined);
  if (!nic) return dhcp;
  const address = nic.ipv4.addresses[0]!;
  const gateway = state.routes.find(
    (r) =>
      r.family === 4 && r.destination === '0.0.0.0/0' && r.nextHopInterface === nic.name && r.nextHopAddress,
  )?.nextHopAddress;
  return {
    mode: 'static',
    mac: (nic.macAddress ?? bootMac ?? '').toLowerCase() || undefined,
    address: `${address.ip}/${address.prefixLength}`,
    ...(gateway && { gateway }),
    dns: state.dns.servers.filter((s) => !s.includes(':')),
  };
}
