/**
 * Metal3 BMC addresses (`redfish-virtualmedia+https://host:port/redfish/v1/Systems/1`), parsed the way
 * baremetal-operator maps them to Ironic: the scheme picks the driver, `+http`/`+https` the transport
 * (https when absent), the path names the System (empty or `/redfish/v1` = "the only System").
 */
export interface BmcAddress {
  /** The scheme as written, without the `+http`/`+https` suffix, e.g. `idrac-virtualmedia`. */
  scheme: string;
  driver: 'redfish' | 'idrac' | 'ilo5';
  /** True for the `*-virtualmedia` schemes: boot from an ISO attached as a virtual CD, no PXE network. */
  virtualMedia: boolean;
  transport: 'http' | 'https';
  /** Host name or IP address; IPv6 without brackets. */
  host: string;
  /** Only when written in the address: 443/80 are implied, never added. */
  port?: number;
  /** Path of the System resource when the address names one, e.g. `/redfish/v1/Systems/System.Embedded.1`. */
  systemPath?: string;
  /** `transport://host[:port]`, where the Redfish service root `/redfish/v1/` lives. */
  baseUrl: string;
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: string };

const REDFISH_SCHEMES: Record<string, { driver: BmcAddress['driver']; virtualMedia: boolean }> = {
  redfish: { driver: 'redfish', virtualMedia: false },
  'redfish-virtualmedia': { driver: 'redfish', virtualMedia: true },
  'redfish-uefihttp': { driver: 'redfish', virtualMedia: false },
  'idrac-redfish': { driver: 'idrac', virtualMedia: false },
  'idrac-virtualmedia': { driver: 'idrac', virtualMedia: true },
  'ilo5-redfish': { driver: 'ilo5', virtualMedia: false },
  'ilo5-virtualmedia': { driver: 'ilo5', virtualMedia: true },
};

/** Schemes Metal3 knows (or knew) that do not speak Redfish: refused with the reason. */
const REFUSED_SCHEMES: Record<string, string> = {
  ipmi: 'IPMI is not supported: outpost drives BMCs over Redfish only',
  libvirt:
    'libvirt:// is IPMI (virtualbmc) in Metal3 and is not supported: outpost drives BMCs over Redfish only',
  idrac: 'idrac:// (WSMAN) was removed from Metal3; use idrac-virtualmedia:// or redfish-virtualmedia://',
  ilo4: 'ilo4:// is not Redfish and was removed from Metal3; iLO 4 is not supported',
  ilo5: 'ilo5:// (proliantutils) was removed from Metal3; use ilo5-virtualmedia://',
  irmc: 'irmc:// was removed from Metal3; use redfish-virtualmedia://',
  ibmc: 'ibmc:// was removed from Metal3; use redfish-virtualmedia://',
};

const EXAMPLE = 'e.g. redfish-virtualmedia+https://10.0.0.5/redfish/v1/Systems/1';

export function parseBmcAddress(address: string): ParseResult<BmcAddress> {
  const text = address.trim();
  if (!text) return { ok: false, error: `BMC address is empty (${EXAMPLE})` };
  const schemeMatch = /^([a-z0-9][a-z0-9.+-]*):\/\//i.exec(text);
  if (!schemeMatch) {
    return {
      ok: false,
      error: `BMC address "${text}" has no scheme; a bare host means IPMI, which is not supported (${EXAMPLE})`,
    };
  }
  const fullScheme = schemeMatch[1]!.toLowerCase();
  const [scheme, suffix, ...extra] = fullScheme.split('+') as [string, string | undefined, ...string[]];
  const refused = REFUSED_SCHEMES[scheme];
  if (refused) return { ok: false, error: `BMC address "${text}": ${refused} (${EXAMPLE})` };
  const known = REDFISH_SCHEMES[scheme];
  if (!known) {
    const names = Object.keys(REDFISH_SCHEMES).join(', ');
    return {
      ok: false,
      error: `BMC address "${text}": unknown scheme "${scheme}" (expected one of ${names})`,
    };
  }
  if (extra.length > 0 || (suffix !== undefined && suffix !== 'http' && suffix !== 'https')) {
    return { ok: false, error: `BMC address "${text}": scheme suffix must be +http or +https` };
  }
  const transport: BmcAddress['transport'] = suffix === 'http' ? 'http' : 'https';

  let url: URL;
  try {
    // Swap in a special scheme so the WHATWG parser validates host and port the same way browsers do.
    url = new URL(`${transport}://${text.slice(schemeMatch[0].length)}`);
  } catch {
    return { ok: false, error: `BMC address "${text}" is not a valid URL` };
  }
  if (!url.hostname) return { ok: false, error: `BMC address "${text}" has no host` };
  if (url.username || url.password) {
    return {
      ok: false,
      error: `BMC address must not contain credentials; put them in the host's credentials`,
    };
  }
  if (url.search || url.hash) {
    return { ok: false, error: `BMC address "${text}" must not have a query string or fragment` };
  }
  // The URL parser drops default ports (443 for https); keep whatever the user wrote.
  const writtenPort = /^[^/]*:(\d+)$/.exec(text.slice(schemeMatch[0].length).split('/')[0] ?? '')?.[1];
  const port = writtenPort !== undefined ? Number(writtenPort) : undefined;
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const hostInUrl = host.includes(':') ? `[${host}]` : host;
  const baseUrl = `${transport}://${hostInUrl}${port !== undefined ? `:${port}` : ''}`;

  const path = decodeURIComponent(url.pathname).replace(/\/+$/, '');
  const trimmed = path.replace(/^\/+/, '');
  let systemPath: string | undefined;
  if (trimmed !== '' && trimmed !== 'redfish/v1') {
    if (/\/Managers(\/|$)/.test(path)) {
      return {
        ok: false,
        error: `BMC address "${text}" names a Manager; it must name a System (${EXAMPLE})`,
      };
    }
    if (!/^\/redfish\/v1\/Systems\/[^/]+$/.test(path)) {
      return {
        ok: false,
        error: `BMC address "${text}": the path must be /redfish/v1/Systems/<id> or empty (${EXAMPLE})`,
      };
    }
    systemPath = path;
  }
  const value: BmcAddress = {
    scheme,
    driver: known.driver,
    virtualMedia: known.virtualMedia,
    transport,
    host,
    baseUrl,
  };
  if (port !== undefined) value.port = port;
  if (systemPath !== undefined) value.systemPath = systemPath;
  return { ok: true, value };
}
