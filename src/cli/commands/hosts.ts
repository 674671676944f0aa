import { Argument, type Command } from 'commander';
import { InputError, OperationError } from '../../common/diagnostics.ts';
import { ApiError, ServiceClient } from '../../service/client.ts';
import { terminalSafe } from '../../service/log.ts';
import type { InventoryHost } from '../../service/types.ts';
import type { HostView } from '../../service/views.ts';
import { formatTable, type OutputFormat, outputOption, printJson } from '../output.ts';

interface ClientOptions {
  server?: string;
  tokenFile?: string;
  stateDir?: string;
  output: OutputFormat;
}

/** `outpost hosts ...`: the service's hosts, like `kubectl get bmh`. */
export function registerHosts(program: Command): void {
  const hosts = program
    .command('hosts')
    .description('Manage the servers of a site through the management service (outpost serve)');

  command(hosts, 'list', 'List hosts: NAME STATE CONSUMER ONLINE ERROR AGE').action(
    async (opts: ClientOptions) => {
      const { hosts: list } = await call(opts, (c) => c.request<{ hosts: HostView[] }>('GET', '/hosts'));
      if (opts.output === 'json') return printJson(list);
      const rows = list.map((h) => [
        h.name,
        h.state,
        h.consumer ?? '',
        String(h.online),
        h.error?.type ?? '',
        age(h.createdAt),
      ]);
      process.stdout.write(
        safeLines(`${formatTable(['NAME', 'STATE', 'CONSUMER', 'ONLINE', 'ERROR', 'AGE'], rows)}\n`),
      );
    },
  );

  command(hosts, 'describe', 'Show a host: BMC, hardware, timeline with durations, events')
    .argument('<name>')
    .action(async (name: string, opts: ClientOptions) => {
      const path = `/hosts/${encodeURIComponent(name)}`;
      const [host, { timeline }, { events }] = await call(opts, (c) =>
        Promise.all([
          c.request<HostView>('GET', path),
          c.request<{ timeline: Timeline }>('GET', `${path}/timeline`),
          c.request<{ events: EventRow[] }>('GET', `${path}/events?limit=50`),
        ]),
      );
      if (opts.output === 'json') return printJson({ ...host, timeline, events });
      process.stdout.write(safeLines(describe(host, timeline, events)));
    });

  command(
    hosts,
    'import',
    'Add or update hosts from outpost inventory YAML or Metal3 BareMetalHost + Secret manifests',
  )
    .argument('<files...>', 'inventory files (a BareMetalHost may name a Secret in another file)')
    .action(async (files: string[], opts: ClientOptions) => {
      const { loadInventoryFiles } = await import('../../service/inventory.ts');
      const inventory = loadInventoryFiles(files);
      if (inventory.diagnostics.length) {
        throw new InputError(
          `the inventory has ${inventory.diagnostics.length} problem(s):`,
          inventory.diagnostics,
        );
      }
      const result = await call(opts, (c) =>
        c.request<{ created: string[]; updated: string[]; unchanged: string[] }>('POST', '/hosts', {
          hosts: inventory.hosts.map(toWire),
        }),
      );
      if (opts.output === 'json') return printJson(result);
      for (const [what, names] of Object.entries(result)) {
        for (const n of names) process.stdout.write(`host/${n} ${what}\n`);
      }
    });

  command(
    hosts,
    'provision',
    'Install an image on a host: insert it as virtual CD, boot once from it, wait for callbacks',
  )
    .argument('<name>')
    .requiredOption('--image <image>', 'a file in the media dir (e.g. site.iso) or an http(s) URL')
    .option('--consumer <name>', 'who uses the host (shown in the CONSUMER column)')
    .action(async (name: string, opts: ClientOptions & { image: string; consumer?: string }) => {
      const body = { image: opts.image, ...(opts.consumer && { consumer: opts.consumer }) };
      await act(opts, name, 'provision', body);
    });

  command(hosts, 'deprovision', 'Power a host off and eject its media; it becomes available again')
    .argument('<name>')
    .action((name: string, opts: ClientOptions) => act(opts, name, 'deprovision'));

  command(hosts, 'power', 'Power a host on or off, or reboot it')
    .argument('<name>')
    .addArgument(new Argument('<action>').choices(['on', 'off', 'reboot']))
    .action((name: string, action: string, opts: ClientOptions) => act(opts, name, 'power', { action }));

  command(hosts, 'inspect', 'Read the hardware inventory of an available host again')
    .argument('<name>')
    .action((name: string, opts: ClientOptions) => act(opts, name, 'inspect'));

  command(hosts, 'delete', 'Remove a host that is not provisioned, and its credentials')
    .argument('<name>')
    .action(async (name: string, opts: ClientOptions) => {
      const result = await call(opts, (c) => c.request('DELETE', `/hosts/${encodeURIComponent(name)}`));
      if (opts.output === 'json') return printJson(result);
      process.stdout.write(`host/${name} deleted\n`);
    });
}

function command(parent: Command, name: string, description: string): Command {
  return parent
    .command(name)
    .description(description)
    .option('--server <url>', 'service URL (default: $OUTPOST_SERVER)')
    .option(
      '--token-file <file>',
      'file holding the API token (default: $OUTPOST_TOKEN, or <state-dir>/api-token)',
    )
    .option('--state-dir <dir>', "the service's state dir, to read its API token when on the same machine")
    .addOption(outputOption());
}

async function call<T>(opts: ClientOptions, fn: (client: ServiceClient) => Promise<T>): Promise<T> {
  const client = ServiceClient.fromOptions(opts);
  try {
    return await fn(client);
  } catch (error) {
    if (error instanceof ApiError) {
      const problems = error.body.problems?.map((p) => `\n  ${p.text}`).join('') ?? '';
      if (error.status >= 400 && error.status < 500) throw new InputError(`${error.message}${problems}`);
      throw new OperationError(`the service failed: ${error.message}`);
    }
    throw error;
  }
}

async function act(opts: ClientOptions, name: string, action: string, body: object = {}): Promise<void> {
  const host = await call(opts, (c) =>
    c.request<HostView>('POST', `/hosts/${encodeURIComponent(name)}/${action}`, body),
  );
  if (opts.output === 'json') return printJson(host);
  const detail = action === 'power' ? `power ${(body as { action: string }).action} requested` : host.state;
  process.stdout.write(`host/${name} ${detail}\n`);
}

/** The outpost inventory format with everything resolved, as the API takes it. */
function toWire(host: InventoryHost) {
  const { spec, credentials } = host;
  return {
    name: spec.name,
    bmc: { ...spec.bmc, username: credentials.username, password: credentials.password },
    role: spec.role,
    online: spec.online,
    labels: spec.labels,
    ...(spec.bootMACAddress !== undefined && { bootMACAddress: spec.bootMACAddress }),
    ...(spec.rootDeviceHints !== undefined && { rootDeviceHints: spec.rootDeviceHints }),
    ...(spec.networkData !== undefined && { networkData: spec.networkData }),
  };
}

type Timeline = {
  state: string;
  step?: string;
  startedAt: string;
  durationMs: number;
  result: string;
  message?: string;
  steps: { step: string; durationMs: number; result: string; message?: string }[];
}[];
type EventRow = { time: number; level: string; reason: string; message: string };

function describe(h: HostView, timeline: Timeline, events: EventRow[]): string {
  const lines: string[] = [];
  const field = (label: string, value: unknown) => {
    if (value !== undefined && value !== '') lines.push(`${`${label}:`.padEnd(18)}${String(value)}`);
  };
  field('Name', h.name);
  field('State', h.step ? `${h.state} (${h.step})` : h.state);
  field('Consumer', h.consumer);
  field('Image', h.image);
  field('Online', h.online);
  field('Role', h.role);
  field('Power', h.powerState);
  field('Install progress', h.installProgress !== undefined ? `${h.installProgress}%` : undefined);
  field('Boot MAC', h.bootMACAddress);
  field('BMC', h.bmc.address);
  field('Credentials', h.bmc.credentials);
  if (h.error) {
    field('Error', `${h.error.type} (${h.error.count}x): ${h.error.message}`);
    field('Next attempt', h.error.nextAttemptAt);
  }
  const hw = h.hardware;
  if (hw) {
    lines.push('Hardware:');
    const v = hw.systemVendor;
    if (v)
      lines.push(
        `  System:   ${[v.manufacturer, v.productName, v.serialNumber && `s/n ${v.serialNumber}`].filter(Boolean).join(' ')}`,
      );
    if (hw.firmware?.bios?.version) lines.push(`  BIOS:     ${hw.firmware.bios.version}`);
    if (hw.cpu)
      lines.push(
        `  CPU:      ${hw.cpu.count} x ${hw.cpu.model ?? '?'} ${hw.cpu.clockMegahertz ?? '?'} MHz ${hw.cpu.arch ?? ''}`.trimEnd(),
      );
    if (hw.ramMebibytes !== undefined) lines.push(`  Memory:   ${hw.ramMebibytes} MiB`);
    for (const nic of hw.nics ?? [])
      lines.push(`  NIC:      ${nic.name ?? '?'} ${nic.mac ?? ''} ${nic.speedGbps ?? '?'} Gbps`);
    for (const disk of (hw.storage ?? []) as {
      name?: string;
      sizeBytes?: number;
      model?: string;
      type?: string;
    }[]) {
      const gb = disk.sizeBytes !== undefined ? `${Math.round(disk.sizeBytes / 1e9)} GB` : '';
      lines.push(`  Disk:     ${[disk.name, gb, disk.type, disk.model].filter(Boolean).join(' ')}`);
    }
    if (hw.bootMode) lines.push(`  Boot:     ${hw.bootMode}`);
  }
  if (timeline.length) {
    lines.push('Timeline:');
    for (const phase of timeline) {
      const title = phase.step ? `${phase.state} ${phase.step}` : phase.state;
      lines.push(
        `  ${phase.startedAt}  ${title.padEnd(22)} ${duration(phase.durationMs).padStart(7)}  ${phase.result}`,
      );
      for (const s of phase.steps) {
        lines.push(
          `    ${s.step.padEnd(42)} ${duration(s.durationMs).padStart(7)}  ${s.result}${s.message ? `  ${s.message}` : ''}`,
        );
      }
    }
  }
  if (events.length) {
    lines.push('Events:');
    const rows = events.map((e) => [new Date(e.time).toISOString(), e.level, e.reason, e.message]);
    lines.push(
      ...formatTable(['TIME', 'TYPE', 'REASON', 'MESSAGE'], rows)
        .split('\n')
        .map((l) => `  ${l}`),
    );
  }
  return `${lines.join('\n')}\n`;
}

function duration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const m = Math.floor(ms / 60_000);
  return `${m}m${Math.round((ms % 60_000) / 1000)}s`;
}

/** Like kubectl's AGE column. */
function age(iso: string): string {
  const s = Math.max(0, Math.floor((Date.now() - Date.parse(iso)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172_800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/**
 * Text for the terminal: hardware strings and error messages come from BMCs and hosts, so every line is
 * printed without control characters (no escape sequence reaches the operator's terminal).
 */
function safeLines(text: string): string {
  return text.split('\n').map(terminalSafe).join('\n');
}
