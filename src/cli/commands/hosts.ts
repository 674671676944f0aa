import { Argument, type Command, Option } from 'commander';
import { forTerminal, InputError, OperationError, terminalSafe } from '../../common/diagnostics.ts';
import { formatBytes } from '../../common/units.ts';
import { ApiError, ServiceClient } from '../../service/client.ts';
import type { InventoryHost } from '../../service/types.ts';
import type { HostView } from '../../service/views.ts';
import { formatTable, type OutputFormat, outputOption, printJson } from '../output.ts';

export interface ClientOptions {
  server?: string;
  tokenFile?: string;
  stateDir?: string;
  output: OutputFormat | 'wide';
}

/** The host states `hosts wait --for` accepts: a state, or `ready` (provisioned and powered on). */
const WAIT_TARGETS = ['available', 'provisioned', 'ready'] as const;
type WaitTarget = (typeof WAIT_TARGETS)[number];

/** Exit codes of `hosts wait`, for scripts (124 as timeout(1) uses it). */
export const WAIT_EXIT = { reached: 0, error: 1, usage: 2, timeout: 124 } as const;

/** `outpost hosts ...`: the service's hosts, like `kubectl get bmh`. */
export function registerHosts(program: Command): void {
  const hosts = program
    .command('hosts')
    .description('Manage the servers of a site through the management service (outpost serve)')
    .addHelpText(
      'after',
      `
The service is found without settings when it runs on this machine (its state dir, default
/var/lib/outpost, or --state-dir DIR); elsewhere set OUTPOST_SERVER and OUTPOST_TOKEN.`,
    );

  command(
    hosts,
    'list',
    'List hosts: NAME STATE CONSUMER ONLINE ERROR AGE (-o wide: STEP, PROGRESS, POWER)',
    {
      wide: true,
    },
  )
    .option('-w, --watch', 'after the list, print a host again whenever it changes (Ctrl-C to stop)')
    .option('--interval <seconds>', 'how often --watch asks the service', '2')
    .action(async (opts: ClientOptions & { watch?: boolean; interval: string }) => {
      const client = clientOf(opts);
      const fetchHosts = async () =>
        (await call(client, (c) => c.request<{ hosts: HostView[] }>('GET', '/hosts'))).hosts;
      const list = await fetchHosts();
      if (!opts.watch) {
        if (opts.output === 'json') return printJson(list);
        process.stdout.write(safeLines(`${hostTable(list, opts.output === 'wide')}\n`));
        return;
      }
      await watchHosts(list, fetchHosts, opts.output, seconds('--interval', opts.interval) * 1000);
    });

  command(hosts, 'wait', 'Wait until a host is available, provisioned or ready (for scripts)')
    .argument('<name>')
    .addOption(
      new Option('--for <state>', 'available, provisioned, or ready (provisioned and powered on)')
        .choices([...WAIT_TARGETS])
        .makeOptionMandatory(),
    )
    .option('--timeout <duration>', 'give up after this long: 90s, 20m, 1h', '20m')
    .option('--interval <seconds>', 'how often to ask the service', '2')
    .addHelpText(
      'after',
      `
Exit codes: ${WAIT_EXIT.reached} reached; ${WAIT_EXIT.error} the host has an error that is not retried (it needs you; the
message says what to do) or is gone; ${WAIT_EXIT.usage} bad usage or no such host; ${WAIT_EXIT.timeout} timed out. Errors that are
retried are printed as they come and the wait goes on.`,
    )
    .action(
      async (name: string, opts: ClientOptions & { for: WaitTarget; timeout: string; interval: string }) => {
        process.exitCode = await waitForHost(
          clientOf(opts),
          name,
          opts.for,
          parseDuration('--timeout', opts.timeout),
          seconds('--interval', opts.interval) * 1000,
          opts.output,
        );
      },
    );

  command(hosts, 'describe', 'Show a host: BMC, hardware, timeline with durations and attempts, events')
    .argument('<name>')
    .option('--events <n>', 'how many of the latest events to show', '20')
    .action(async (name: string, opts: ClientOptions & { events: string }) => {
      const limit = integer('--events', opts.events, 0, 1000);
      const path = `/hosts/${encodeURIComponent(name)}`;
      // Progress reports are many: fetch more than shown, then keep the latest line of each step.
      const [host, { timeline }, { events }] = await call(clientOf(opts), (c) =>
        Promise.all([
          c.request<HostView>('GET', path),
          c.request<{ timeline: Timeline }>('GET', `${path}/timeline`),
          c.request<{ events: EventRow[] }>('GET', `${path}/events?limit=${Math.min(1000, limit * 10)}`),
        ]),
      );
      const latest = (list: EventRow[]) => (limit === 0 ? [] : list.slice(-limit));
      if (opts.output === 'json') return printJson({ ...host, timeline, events: latest(events) });
      process.stdout.write(safeLines(describe(host, timeline, latest(latestProgress(events)))));
    });

  command(
    hosts,
    'import',
    'Add or update hosts from outpost inventory YAML or Metal3 BareMetalHost + Secret manifests',
  )
    .argument('<files...>', 'inventory files (a BareMetalHost may name a Secret in another file)')
    .action(async (files: string[], opts: ClientOptions) => {
      const { loadCheckedInventoryFiles } = await import('../../service/inventory.ts');
      const inventory = loadCheckedInventoryFiles(files);
      const result = await call(clientOf(opts), (c) =>
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
    'Install an image on a host: insert it as virtual CD, boot once from it, follow the install',
  )
    .argument('<name>')
    .requiredOption(
      '--image <image>',
      'a raw image in the media dir (site.raw, with the site.raw.sha256 its build wrote), or an ISO (file or http(s) URL)',
    )
    .option('--consumer <name>', 'who uses the host (shown in the CONSUMER column)')
    .option(
      '--no-callbacks',
      'the image cannot report to the service (an ISO inserted as it is): the host counts as provisioned when its BMC reports a boot from disk',
    )
    .option('--no-checksum', 'install a raw image that has no .sha256 file, unverified')
    .addHelpText(
      'after',
      `
A raw image is written by an installer the service builds for this host; it reports each step (progress
in describe), and first boot reports too. An ISO is inserted as it is and cannot report, so it needs
--no-callbacks.`,
    )
    .action(
      async (
        name: string,
        opts: ClientOptions & { image: string; consumer?: string; callbacks: boolean; checksum: boolean },
      ) => {
        const body = {
          image: opts.image,
          ...(opts.consumer && { consumer: opts.consumer }),
          ...(!opts.callbacks && { callbacks: false }),
          ...(!opts.checksum && { checksum: false }),
        };
        await act(opts, name, 'provision', body);
      },
    );

  command(
    hosts,
    'deprovision',
    'Power a host off, eject its media and clean its disks (unless automatedCleaningMode: disabled); it becomes available again (consumer and image cleared)',
  )
    .argument('<name>')
    .action((name: string, opts: ClientOptions) => act(opts, name, 'deprovision'));

  command(hosts, 'power', 'Power a stable (available or provisioned) host on or off, or reboot it')
    .argument('<name>')
    .addArgument(
      new Argument('<action>', 'on, off, or reboot (a host that is off is powered on)').choices([
        'on',
        'off',
        'reboot',
      ]),
    )
    .addHelpText(
      'after',
      `
Actions:
  on       power on; ONLINE (the desired power state) becomes true
  off      power off (forced); ONLINE becomes false
  reboot   restart (forced); powers on a host that is off; ONLINE becomes true
POWER in \`hosts list -o wide\` shows what the BMC last reported.`,
    )
    .action((name: string, action: string, opts: ClientOptions) => act(opts, name, 'power', { action }));

  command(hosts, 'inspect', 'Read the hardware inventory of an available host again')
    .argument('<name>')
    .action((name: string, opts: ClientOptions) => act(opts, name, 'inspect'));

  command(
    hosts,
    'delete',
    'Remove a host that is not provisioning, provisioned or deprovisioning (any state with --force), and its credentials',
  )
    .argument('<name>')
    .option(
      '--force',
      'remove it in any state, without touching its BMC (prints what is left there: power, media, boot override)',
    )
    .action(async (name: string, opts: ClientOptions & { force?: boolean }) => {
      const query = opts.force ? '?force=true' : '';
      const result = await call(clientOf(opts), (c) =>
        c.request<{ deleted: string; leftOnBmc?: string[] }>(
          'DELETE',
          `/hosts/${encodeURIComponent(name)}${query}`,
        ),
      );
      if (opts.output === 'json') return printJson(result);
      process.stdout.write(`host/${name} deleted\n`);
      const left = result.leftOnBmc ?? [];
      if (left.length > 0)
        process.stdout.write(`left on its BMC and server:\n${left.map((l) => `  - ${l}\n`).join('')}`);
    });
}

export function command(
  parent: Command,
  name: string,
  description: string,
  o: { wide?: boolean } = {},
): Command {
  return parent
    .command(name)
    .description(description)
    .option(
      '--server <url>',
      'service URL (default: $OUTPOST_SERVER, else the service running on this machine)',
    )
    .option(
      '--token-file <file>',
      'file holding the API token (default: $OUTPOST_TOKEN, or <state-dir>/api-token)',
    )
    .option(
      '--state-dir <dir>',
      'state dir of a service on this machine, to find its address and token (default: $OUTPOST_STATE_DIR or /var/lib/outpost)',
    )
    .addOption(o.wide ? outputOption(['wide']) : outputOption());
}

export function clientOf(opts: ClientOptions): ServiceClient {
  return ServiceClient.fromOptions(opts);
}

export async function call<T>(client: ServiceClient, fn: (client: ServiceClient) => Promise<T>): Promise<T> {
  try {
    return await fn(client);
  } catch (error) {
    if (error instanceof ApiError) {
      // The answer's text is one line each: a line break in it is shown, never printed as a line of ours.
      const problems = error.body.problems?.map((p) => `\n  ${forTerminal(p.text)}`).join('') ?? '';
      const message = forTerminal(error.message);
      if (error.status >= 400 && error.status < 500) throw new InputError(`${message}${problems}`);
      throw new OperationError(`the service failed: ${message}`);
    }
    throw error;
  }
}

async function act(opts: ClientOptions, name: string, action: string, body: object = {}): Promise<void> {
  const host = await call(clientOf(opts), (c) =>
    c.request<HostView>('POST', `/hosts/${encodeURIComponent(name)}/${action}`, body),
  );
  if (opts.output === 'json') return printJson(host);
  const detail = action === 'power' ? `power ${(body as { action: string }).action} requested` : host.state;
  process.stdout.write(`host/${name} ${detail}\n`);
}

/**
 * Like kubectl get: NAME STATE CONSUMER ONLINE ERROR AGE; wide adds STEP, PROGRESS and POWER. Once the
 * site's cluster has nodes, NODE and READY (the node's Ready condition) come before AGE.
 */
function hostTable(list: HostView[], wide: boolean, header = true): string {
  const nodes = list.some((h) => h.node?.node);
  const headers = [
    ...(wide
      ? ['NAME', 'STATE', 'STEP', 'PROGRESS', 'CONSUMER', 'ONLINE', 'POWER', 'ERROR']
      : ['NAME', 'STATE', 'CONSUMER', 'ONLINE', 'ERROR']),
    ...(nodes ? ['NODE', 'READY'] : []),
    'AGE',
  ];
  const rows = list.map((h) => {
    const base = { consumer: h.consumer ?? '', online: String(h.online), error: h.error?.type ?? '' };
    const cells = wide
      ? [
          h.name,
          h.state,
          h.step ?? '',
          h.installProgress !== undefined && h.state === 'provisioning' ? `${h.installProgress}%` : '',
          base.consumer,
          base.online,
          h.powerState ?? '',
          base.error,
        ]
      : [h.name, h.state, base.consumer, base.online, base.error];
    return [...cells, ...(nodes ? [h.node?.node ?? '', h.node?.ready ?? ''] : []), age(h.createdAt)];
  });
  const table = formatTable(headers, rows);
  return header ? table : table.split('\n').slice(1).join('\n');
}

/** What a watcher compares to tell a change (not AGE, which changes by itself). */
function watchKey(h: HostView): string {
  return JSON.stringify([
    h.state,
    h.step,
    h.installProgress,
    h.consumer,
    h.online,
    h.powerState,
    h.error,
    h.node,
  ]);
}

/** `hosts list -w`: the table, then a row per change like `kubectl get -w` (JSON: one host per line). */
async function watchHosts(
  first: HostView[],
  fetchHosts: () => Promise<HostView[]>,
  output: string,
  intervalMs: number,
): Promise<void> {
  const wide = output === 'wide';
  const emit = (changed: HostView[], header: boolean) => {
    if (!changed.length) return;
    if (output === 'json') for (const h of changed) process.stdout.write(`${JSON.stringify(h)}\n`);
    else process.stdout.write(safeLines(`${hostTable(changed, wide, header)}\n`));
  };
  const seen = new Map(first.map((h) => [h.name, watchKey(h)]));
  emit(first, true);
  let stopped = false;
  const stop = () => {
    stopped = true;
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  while (!stopped) {
    await new Promise((r) => setTimeout(r, intervalMs));
    if (stopped) break;
    const list = await fetchHosts();
    emit(
      list.filter((h) => seen.get(h.name) !== watchKey(h)),
      false,
    );
    seen.clear();
    for (const h of list) seen.set(h.name, watchKey(h));
  }
}

/** `hosts wait`: polls until the host reaches `target`; returns the exit code (see WAIT_EXIT). */
async function waitForHost(
  client: ServiceClient,
  name: string,
  target: WaitTarget,
  timeoutMs: number,
  intervalMs: number,
  output: string,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  const path = `/hosts/${encodeURIComponent(name)}`;
  let lastError = '';
  let host: HostView | undefined;
  for (;;) {
    try {
      host = await client.request<HostView>('GET', path);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        process.stderr.write(`host/${name}: ${error.message}\n`);
        return host ? WAIT_EXIT.error : WAIT_EXIT.usage;
      }
      throw error;
    }
    const reached =
      target === 'ready'
        ? host.state === 'provisioned' && host.powerState === 'On' && !host.error
        : host.state === target && !host.error;
    if (reached) {
      if (output === 'json') printJson(host);
      else process.stdout.write(`host/${name} ${target}\n`);
      return WAIT_EXIT.reached;
    }
    if (host.error) {
      const text = `${host.error.type}: ${host.error.message}`;
      if ('permanent' in host.error) {
        process.stderr.write(safeLines(`host/${name} ${host.state}: ${text}\n`));
        return WAIT_EXIT.error;
      }
      if (text !== lastError)
        process.stderr.write(safeLines(`host/${name} ${host.state} (retrying): ${text}\n`));
      lastError = text;
    }
    if (Date.now() >= deadline) {
      const where = host.step ? `${host.state} (${host.step})` : host.state;
      process.stderr.write(`host/${name}: not ${target} after ${duration(timeoutMs)}; it is ${where}\n`);
      return WAIT_EXIT.timeout;
    }
    await new Promise((r) => setTimeout(r, Math.min(intervalMs, Math.max(0, deadline - Date.now()))));
  }
}

/** `90s`, `20m`, `1h`, or plain seconds. */
export function parseDuration(flag: string, text: string): number {
  const match = /^(\d+(?:\.\d+)?)(s|m|h)?$/.exec(text.trim());
  if (!match) throw new InputError(`${flag} must be a duration like 90s, 20m or 1h, not '${text}'`);
  return Number(match[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? 's') as 's' | 'm' | 'h'];
}

function seconds(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0)
    throw new InputError(`${flag} must be a positive number of seconds, not '${text}'`);
  return n;
}

function integer(flag: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max)
    throw new InputError(`${flag} must be an integer from ${min} to ${max}, not '${text}'`);
  return n;
}

/**
 * Progress reports come every few percent; a reader wants the latest of each: an event that only updates
 * a step's progress (`write running 40%`) is dropped when a later one of the same step follows.
 */
export function latestProgress(events: EventRow[]): EventRow[] {
  const progressOf = (e: EventRow) => /^(\S+) running\b/.exec(e.message)?.[1];
  return events.filter((e, i) => {
    const step = progressOf(e);
    if (step === undefined || e.level !== 'Normal') return true;
    return !events
      .slice(i + 1)
      .some((later) => later.reason === e.reason && later.message.startsWith(`${step} `));
  });
}

/** The outpost inventory format with everything resolved, as the API takes it. */
export function toWire(host: InventoryHost) {
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
    field(
      'Next attempt',
      'nextAttemptAt' in h.error
        ? `${relative(h.error.nextAttemptAt)} (${h.error.nextAttemptAt})`
        : 'none: not retried; do what the error says',
    );
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
    // A field the BMC did not tell is "unknown", never a zero.
    const cpu = hw.cpu;
    lines.push(
      cpu?.count
        ? `  CPU:      ${[`${cpu.count} x`, cpu.model || 'unknown model', cpu.clockMegahertz ? `${cpu.clockMegahertz} MHz` : '', cpu.arch].filter(Boolean).join(' ')}`
        : '  CPU:      unknown',
    );
    lines.push(`  Memory:   ${hw.ramMebibytes ? formatBytes(hw.ramMebibytes * 2 ** 20) : 'unknown'}`);
    if (!Array.isArray(hw.storage)) lines.push('  Disks:    unknown');
    for (const nic of hw.nics ?? [])
      lines.push(`  NIC:      ${nic.name ?? '?'} ${nic.mac ?? ''} ${nic.speedGbps ?? '?'} Gbps`);
    for (const disk of (hw.storage ?? []) as {
      name?: string;
      sizeBytes?: number;
      model?: string;
      type?: string;
    }[]) {
      const size = disk.sizeBytes !== undefined ? formatBytes(disk.sizeBytes) : '';
      lines.push(`  Disk:     ${[disk.name, size, disk.type, disk.model].filter(Boolean).join(' ')}`);
    }
    if (hw.bootMode) lines.push(`  Boot:     ${hw.bootMode}`);
  }
  if (timeline.length) {
    lines.push('Timeline:');
    for (const phase of timeline) {
      const title = phase.step ? `${phase.state} ${phase.step}` : phase.state;
      lines.push(
        `  ${relative(phase.startedAt).padEnd(12)} ${title.padEnd(30)} ${duration(phase.durationMs).padStart(7)}  ${phase.result}${phase.state === 'power' && phase.message ? `  ${phase.message}` : ''}`,
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
    const rows = events.map((e) => [relative(new Date(e.time).toISOString()), e.level, e.reason, e.message]);
    lines.push(
      ...formatTable(['AGE', 'TYPE', 'REASON', 'MESSAGE'], rows)
        .split('\n')
        .map((l) => `  ${l}`),
    );
  }
  return `${lines.join('\n')}\n`;
}

function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const m = Math.floor(ms / 60_000);
  return `${m}m${Math.round((ms % 60_000) / 1000)}s`;
}

/** `3m12s ago`, `in 20s`: a time relative to now, as people read a timeline. */
function relative(iso: string): string {
  const ms = Date.parse(iso) - Date.now();
  return ms > 0 ? `in ${duration(ms)}` : `${duration(-ms)} ago`;
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
 * Text for the terminal: hardware strings and error messages come from BMCs, hosts and the cluster's
 * nodes, so every line is printed without control characters (no escape sequence reaches the operator's
 * terminal).
 */
export function safeLines(text: string): string {
  return text.split('\n').map(terminalSafe).join('\n');
}
