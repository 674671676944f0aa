import { isIPv4, isIPv6 } from 'node:net';

/**
 * Go's net.IP.IsGlobalUnicast, which Edge Image Builder applies to VIPs, node IPs and cluster CIDRs:
 * not unspecified, loopback, multicast, link-local or the IPv4 broadcast address (private ranges pass).
 */
export function isGlobalUnicast(address: string): boolean {
  if (isIPv4(address)) {
    const [a, b] = address.split('.').map(Number) as [number, number];
    if (address === '255.255.255.255' || a === 0 || a === 127 || a >= 224) return false;
    return !(a === 169 && b === 254);
  }
  if (!isIPv6(address)) return false;
  const words = ipv6Words(address);
  if (!words) return false;
  if (words.every((w) => w === 0)) return false; // ::
  if (words.slice(0, 7).every((w) => w === 0) && words[7] === 1) return false; // ::1
  if ((words[0]! & 0xff00) === 0xff00) return false; // ff00::/8 multicast
  if ((words[0]! & 0xffc0) === 0xfe80) return false; // fe80::/10 link-local
  // An IPv4-mapped address (::ffff:a.b.c.d) follows the IPv4 rules, as in Go.
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) {
    return isGlobalUnicast(`${words[6]! >> 8}.${words[6]! & 0xff}.${words[7]! >> 8}.${words[7]! & 0xff}`);
  }
  return true;
}

function ipv6Words(address: string): number[] | undefined {
  let text = address.split('%')[0]!;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const parts = v4[1]!.split('.').map(Number);
    text = `${text.slice(0, -v4[1]!.length)}${((parts[0]! << 8) | parts[1]!).toString(16)}:${((parts[2]! << 8) | parts[3]!).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const missing = 8 - left.length - right.length;
  if (missing < 0 || (tail === undefined && missing !== 0)) return undefined;
  return [...left, ...Array(missing).fill('0'), ...right].map((w) => Number.parseInt(w, 16));
}

/** The family of an address, or undefined when it is none. */
export function ipFamily(address: string): 4 | 6 | undefined {
  return isIPv4(address) ? 4 : isIPv6(address) ? 6 : undefined;
}

/** `address/prefix` with a valid prefix for its family: the address and family, else undefined. */
export function parseCidr(cidr: string): { address: string; family: 4 | 6 } | undefined {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(cidr.trim());
  if (!m) return undefined;
  const family = ipFamily(m[1]!);
  if (!family || Number(m[2]) > (family === 4 ? 32 : 128)) return undefined;
  return { address: m[1]!, family };
}
