/**
 * A host's node addresses from its nmstate network data: the first static address of each family on an
 * interface that is up, IPv4 first (RKE2's node-ip takes at most one per family, and its primary family
 * first). Reads through the same parser as `network/` host files, so both agree on what an address is.
 */
import { isIPv4 } from 'node:net';
import { parseHostFile } from '../network/parse.ts';

export function nodeAddresses(networkData: string | undefined, origin = 'networkData'): string[] {
  if (!networkData) return [];
  const { state } = parseHostFile(origin, networkData);
  if (!state) return [];
  let v4: string | undefined;
  let v6: string | undefined;
  for (const iface of state.interfaces) {
    if (iface.state !== 'up' || iface.type === 'loopback') continue;
    for (const a of [...iface.ipv4.addresses, ...iface.ipv6.addresses]) {
      if (isIPv4(a.ip)) v4 ??= a.ip;
      else v6 ??= a.ip;
    }
  }
  return [v4, v6].filter((a): a is string => a !== undefined);
}
