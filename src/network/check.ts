import type { Diagnostic } from '../common/diagnostics.ts';
import type { ConfigDirCheckContext } from '../definition/config-dir-checks.ts';
import { readNetworkDirectory } from './config-dir.ts';
import { ALL_HOSTS, generateNetwork } from './generate.ts';

/**
 * `outpost validate`: every host file in `network/` parses and renders, MAC addresses are unique across
 * hosts, and every Kubernetes node has a host file (its host name, set at first boot from the matched
 * host file, decides the node's role).
 */
export async function checkNetworkFiles(ctx: ConfigDirCheckContext): Promise<Diagnostic[]> {
  const dir = await readNetworkDirectory(ctx.configDir, ctx.displayPath);
  const diagnostics = [...dir.problems];
  if (dir.customScript) return diagnostics;
  diagnostics.push(...generateNetwork(dir.hostFiles).diagnostics);
  const hosts = new Set(dir.hostFiles.map((f) => f.host).filter((h) => h !== ALL_HOSTS));
  if (hosts.size === 0) return diagnostics;
  (ctx.definition.kubernetes?.nodes ?? []).forEach((node, i) => {
    if (node?.hostname && !hosts.has(node.hostname)) {
      diagnostics.push(
        ctx.atField(
          `kubernetes.nodes[${i}].hostname`,
          `no network/${node.hostname}.yaml: first boot names hosts after their matched host file (found: ${[...hosts].join(', ')})`,
          'Network',
        ),
      );
    }
  });
  return diagnostics;
}
