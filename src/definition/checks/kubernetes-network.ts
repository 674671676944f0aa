import type { Diagnostic } from '../../common/diagnostics.ts';
import type { YamlCursor } from '../../common/yaml-cursor.ts';
import type { ConfigDirCheckContext } from '../config-dir-checks.ts';
import { ipFamily, isGlobalUnicast, parseCidr } from '../ip.ts';
import { SECTIONS } from '../section-names.ts';
import { readYamlInside, SERVER_CONFIG } from './kubernetes-files.ts';

/**
 * Edge Image Builder's networking rules for `kubernetes/config/server.yaml` (validateNetworkingConfig):
 * dual stack (apiVIP and apiVIP6) needs cluster-cidr and service-cidr with both families, prioritising
 * the same family; every CIDR and node-ip parses and is global unicast, at most two of different
 * families; node-ip only with a single server node.
 */
export async function checkKubernetesNetwork(ctx: ConfigDirCheckContext): Promise<Diagnostic[]> {
  const kubernetes = ctx.definition.kubernetes;
  if (!kubernetes) return [];
  // A VIP that is not an address of its family has its own error already.
  const dualStack =
    ipFamily(kubernetes.network?.apiVIP ?? '') === 4 && ipFamily(kubernetes.network?.apiVIP6 ?? '') === 6;
  const { source, problems } = await readYamlInside(ctx, SERVER_CONFIG);
  if (!source) {
    if (problems[0]?.message === 'not found' || problems.length === 0) {
      return dualStack
        ? [
            ctx.atField(
              'kubernetes.network',
              `dual stack (apiVIP and apiVIP6) needs ${ctx.displayPath(SERVER_CONFIG)} with cluster-cidr and service-cidr`,
              SECTIONS.kubernetes,
            ),
          ]
        : [];
    }
    return []; // unreadable: reported by the kubernetes files check
  }
  if (!source.ok || !source.root.isMap) return []; // syntax and shape: reported by the kubernetes files check

  const cluster = addresses(source.root.get('cluster-cidr'), 'cidr');
  const service = addresses(source.root.get('service-cidr'), 'cidr');
  addresses(source.root.get('node-ip'), 'ip'); // reports its own problems
  if (dualStack) {
    for (const [key, list] of [
      ['cluster-cidr', cluster],
      ['service-cidr', service],
    ] as const) {
      const field = source.root.get(key);
      if (!field.present) source.root.error(`dual stack (apiVIP and apiVIP6 in the definition) needs ${key}`);
      else if (list && new Set(list).size !== 2) {
        field.error('dual stack needs one IPv4 and one IPv6 network here');
      }
    }
  }
  if (cluster?.length && service?.length && cluster[0] !== service[0]) {
    source.root
      .get('service-cidr')
      .error(`must list the same address family first as cluster-cidr (IPv${cluster[0]})`);
  }
  const servers = (kubernetes.nodes ?? []).filter((n) => n?.type === 'server').length;
  if (source.root.get('node-ip').present && servers > 1) {
    source.root.get('node-ip').error('cannot be set when the cluster has more than one server node');
  }
  return source.diagnostics.map((d) => ({ ...d, section: SECTIONS.kubernetes }));
}

/** A comma-separated string or a list of CIDRs or addresses: the families in order, or undefined. */
function addresses(field: YamlCursor, kind: 'cidr' | 'ip'): (4 | 6)[] | undefined {
  if (!field.present) return undefined;
  const values = field.isList
    ? field.strings({ env: false })
    : (field.string({ env: false })?.split(',') ?? []);
  const families: (4 | 6)[] = [];
  for (const raw of values) {
    const value = raw.trim();
    const parsed =
      kind === 'cidr' ? parseCidr(value) : ipFamily(value) && { address: value, family: ipFamily(value)! };
    if (!parsed) {
      field.error(
        `'${value}' is not ${kind === 'cidr' ? 'an IPv4 or IPv6 network (e.g. 10.42.0.0/16)' : 'an IP address'}`,
      );
      return undefined;
    }
    if (!isGlobalUnicast(parsed.address)) {
      field.error(`'${value}' is not a global unicast ${kind === 'cidr' ? 'network' : 'address'}`);
      return undefined;
    }
    families.push(parsed.family);
  }
  if (families.length > 2) {
    field.error('lists more than two entries (at most one per address family)');
    return undefined;
  }
  if (families.length === 2 && families[0] === families[1]) {
    field.error(`lists two IPv${families[0]} entries (at most one per address family)`);
    return undefined;
  }
  return families;
}
