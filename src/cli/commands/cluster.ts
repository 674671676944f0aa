import { type Command, Option } from 'commander';
import { formatDiagnosticsGrouped, InputError } from '../../common/diagnostics.ts';
import { printJson } from '../output.ts';
import { type ClientOptions, call, clientOf, command, safeLines } from './hosts.ts';

interface UpOptions extends ClientOptions {
  definitionFile?: string;
  configDir?: string;
  name: string;
  rke2Version?: string;
  apiVip?: string[];
  apiHost?: string;
  initializer?: string;
  apiEndpoint?: string;
  image?: string;
  dryRun?: boolean;
}

interface ClusterView {
  name: string;
  phase: string;
  describe: string;
  kubeconfigReported?: boolean;
}

/** `outpost cluster ...`: the site's one RKE2 cluster, like `clusterctl` for a Cluster API cluster. */
export function registerCluster(program: Command): void {
  const cluster = program
    .command('cluster')
    .description("Bring the site's RKE2 cluster up and follow it until every node is Ready");

  command(cluster, 'up', 'Define the cluster and provision its hosts: the initializer first, then the rest')
    .addOption(
      new Option(
        '--definition-file <file>',
        'the EIB definition the image was built from (version, VIPs, apiHost, nodes)',
      ),
    )
    .addOption(
      new Option('--config-dir <dir>', 'its configuration directory (default: /eib when it exists, else .)'),
    )
    .option('--name <name>', 'the cluster name (kubeconfig names)', 'site')
    // Not --version: that is outpost's own, anywhere on the command line.
    .option('--rke2-version <version>', "RKE2 release, e.g. v1.32.4+rke2r1 (default: the definition's)")
    .option('--api-vip <address...>', "API VIPs (default: the definition's apiVIP/apiVIP6)")
    .option('--api-host <name>', "API host name for tls-san (default: the definition's apiHost)")
    .option(
      '--initializer <host>',
      "the server that starts the cluster (default: the definition's, else the first server)",
    )
    .option(
      '--api-endpoint <address:port>',
      'where this service reaches the API when not at the VIP (a lab port forward)',
    )
    .option('--image <image>', 'the image to provision every host with (a file in the media dir)')
    .option('--dry-run', 'print the plan and change nothing')
    .action(async (opts: UpOptions) => {
      const spec = await clusterSpec(opts);
      const client = clientOf(opts);
      if (opts.dryRun) {
        const planned = await call(client, (c) => c.request<Planned>('POST', '/cluster/plan', spec));
        return printPlan(opts, planned);
      }
      if (!opts.image) throw new InputError('--image is required (or --dry-run to see the plan)');
      const planned = await call(client, (c) => c.request<Planned>('PUT', '/cluster', spec));
      const started = await call(client, (c) =>
        c.request<{ started: string[]; waiting: string[] }>('POST', '/cluster/up', { image: opts.image }),
      );
      if (opts.output === 'json') return printJson({ ...planned, ...started });
      printPlan(opts, planned);
      process.stdout.write(
        `provisioning: ${started.started.join(', ') || 'none'}${started.waiting.length ? `; waiting: ${started.waiting.join(', ')}` : ''}\n` +
          'follow it with: outpost cluster describe\n',
      );
    });

  command(
    cluster,
    'describe',
    'The cluster as a tree: control plane, workers, each host and its node',
  ).action(async (opts: ClientOptions) => {
    const view = await call(clientOf(opts), (c) => c.request<ClusterView>('GET', '/cluster'));
    if (opts.output === 'json') {
      const { describe: _text, ...rest } = view;
      return printJson(rest);
    }
    process.stdout.write(safeLines(`${view.describe}\n`));
  });

  command(cluster, 'plan', 'Who starts the cluster, who joins where, in which order').action(
    async (opts: ClientOptions) => {
      printPlan(opts, await call(clientOf(opts), (c) => c.request<Planned>('GET', '/cluster/plan')));
    },
  );

  command(cluster, 'kubeconfig', "Print the cluster's admin kubeconfig (a secret) for kubectl").action(
    async (opts: ClientOptions) => {
      const text = await call(clientOf(opts), (c) => c.text('GET', '/cluster/kubeconfig'));
      process.stdout.write(text);
    },
  );

  command(
    cluster,
    'delete',
    'Forget the cluster (its token, kubeconfig and node records); the hosts stay',
  ).action(async (opts: ClientOptions) => {
    const result = await call(clientOf(opts), (c) => c.request('DELETE', '/cluster'));
    if (opts.output === 'json') return printJson(result);
    process.stdout.write('cluster deleted\n');
  });
}

interface Planned {
  plan: string;
  warnings: string[];
}

function printPlan(opts: ClientOptions, planned: Planned): void {
  if (opts.output === 'json') {
    printJson(planned);
    return;
  }
  process.stdout.write(safeLines(`${planned.plan}\n`));
  for (const warning of planned.warnings) process.stdout.write(safeLines(`warning: ${warning}\n`));
}

/** The cluster as the API takes it: from the definition's kubernetes section, then the flags over it. */
async function clusterSpec(opts: UpOptions): Promise<Record<string, unknown>> {
  let fromDefinition: Record<string, unknown> = {};
  if (opts.definitionFile) {
    const { resolveConfigDir } = await import('../config-dir.ts');
    const { loadDefinition } = await import('../../build/load-definition.ts');
    const { clusterFromDefinition } = await import('../../cluster/from-definition.ts');
    const result = await loadDefinition({
      configDir: resolveConfigDir(opts.configDir),
      definitionFile: opts.definitionFile,
      env: process.env,
    });
    if (!result.loaded) {
      throw new InputError(`the definition has problems:\n${formatDiagnosticsGrouped(result.diagnostics)}`);
    }
    const kubernetes = result.loaded.definition.kubernetes;
    if (!kubernetes) throw new InputError(`${opts.definitionFile}: has no kubernetes section`);
    fromDefinition = { ...clusterFromDefinition(kubernetes, opts.name) };
  }
  const endpoint = opts.apiEndpoint ? /^(.+):(\d{1,5})$/.exec(opts.apiEndpoint) : undefined;
  if (opts.apiEndpoint && !endpoint) throw new InputError('--api-endpoint must be ADDRESS:PORT');
  return {
    apiVIPs: [],
    ...fromDefinition,
    name: opts.name,
    ...(opts.rke2Version ? { version: opts.rke2Version } : {}),
    ...(opts.apiVip ? { apiVIPs: opts.apiVip } : {}),
    ...(opts.apiHost ? { apiHost: opts.apiHost } : {}),
    ...(opts.initializer ? { initializer: opts.initializer } : {}),
    ...(endpoint
      ? { apiEndpoint: { address: endpoint[1]!.replace(/^\[|\]$/g, ''), port: Number(endpoint[2]) } }
      : {}),
  };
}
