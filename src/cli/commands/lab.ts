import { existsSync, readFileSync, statSync } from 'node:fs';
import { open, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type Command, Option } from 'commander';
import { parse, stringify } from 'yaml';
import { InputError } from '../../common/diagnostics.ts';
import { type FaultSpec, parseFaultSpec } from '../../lab/faults.ts';
import type { LabHost, SiteNetwork } from '../../lab/index.ts';
import { isProfileName, PROFILE_NAMES } from '../../lab/profiles.ts';
import { guestAddress, siteHostNetworkData } from '../../lab/site-network.ts';
import { LAB_TLS_MODES, type LabTlsMode } from '../../lab/tls.ts';
import { type OutputFormat, outputOption } from '../output.ts';
import { registerRke2Release } from './lab-rke2.ts';

interface LabCommandOptions {
  hosts: string;
  backend: 'fake' | 'qemu';
  vendor: string;
  listen: string;
  port?: string;
  stateDir: string;
  fault: string[];
  memory: string;
  disk: string;
  ovmf: boolean;
  inventory?: string;
  tls: LabTlsMode;
  siteNetwork?: string | true;
  output: OutputFormat;
}

export function registerLab(program: Command): void {
  const lab = program.command('lab');
  registerConsole(lab);
  registerSsh(lab);
  lab
    .description(
      'Run a Redfish BMC emulator for N hosts on loopback (QEMU virtual machines or fakes) and print them as an inventory',
    )
    .option('--hosts <n>', 'number of emulated servers', '1')
    .addOption(
      new Option('--backend <backend>', 'what powers on: a QEMU VM or nothing')
        .choices(['qemu', 'fake'])
        .default('fake'),
    )
    .addOption(
      new Option('--vendor <profile>', 'BMC vendor profile and its quirks, or a behaviour profile')
        .choices([...PROFILE_NAMES])
        .default('generic'),
    )
    .option('--listen <address>', 'address the BMCs listen on', '127.0.0.1')
    .option('--port <port>', 'lab index on PORT, BMC n on PORT+n (default: free ports)')
    .option(
      '--state-dir <dir>',
      'disks, UEFI variables, serial logs, media and BMC passwords',
      '.outpost/lab',
    )
    .option(
      '--fault <spec>',
      'inject a fault: [HOST:]OPERATION:KIND[:COUNT], e.g. host-1:insert-media:server-error:2 (repeatable)',
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option('--memory <MiB>', 'QEMU guest memory', '1024')
    .option('--disk <GiB>', 'QEMU guest disk size (qcow2, allocated on write)', '8')
    .option('--no-ovmf', 'QEMU: boot with SeaBIOS instead of UEFI (OVMF)')
    .addOption(
      new Option(
        '--tls <mode>',
        "BMCs serve HTTPS: 'ca' (certificate from a lab CA, whose file is printed) or 'self-signed'",
      )
        .choices([...LAB_TLS_MODES])
        .default('off'),
    )
    .option(
      '--site-network [subnet]',
      "put the servers' second NIC on a site network (a bridge in a network namespace the lab creates; default subnet: a free 10.231.X.0/24)",
    )
    .option('--inventory <file>', 'also write the inventory (with BMC passwords, mode 0600) to this file')
    .addOption(outputOption())
    .addHelpText(
      'after',
      `
The inventory goes to stdout (YAML, or JSON with --output json) in the format \`outpost hosts import\`
reads. The lab runs until interrupted (Ctrl-C / SIGTERM), then powers off its VMs.

Into a guest (QEMU): \`outpost lab console host-1\` follows its serial console, \`outpost lab ssh host-1\`
reaches its SSH port through a forward on 127.0.0.1 (the port is in <state-dir>/host-1/ssh-port).

With --site-network, each host's second NIC is on a layer-2 segment inside a network namespace, reached from
this machine through the gateway address; the inventory gives each host network data with its static site
address (.10, .11, ...), and the VIP (.100) is free for the cluster's API.

Fault operations: any, get, login, reset, insert-media, eject-media, boot-override.
Fault kinds: timeout, server-error, unauthorized, stale-inserted, busy.`,
    )
    .action(async (opts: LabCommandOptions) => {
      const hosts = integer('--hosts', opts.hosts, 1, 65_535);
      if (!isProfileName(opts.vendor)) throw new InputError(`--vendor: unknown profile ${opts.vendor}`);
      const faults: FaultSpec[] = [];
      for (const text of opts.fault) {
        const parsed = parseFaultSpec(text);
        if (!parsed.ok) throw new InputError(`--fault: ${parsed.error}`);
        faults.push(parsed.value);
      }
      // Loaded here: the emulator is heavy and other commands should start fast.
      const { startLab, createSiteNetwork } = await import('../../lab/index.ts');
      const siteNetwork = opts.siteNetwork
        ? await createSiteNetwork(
            typeof opts.siteNetwork === 'string' ? { subnet: opts.siteNetwork } : {},
          ).catch((error: unknown) => {
            throw new InputError(`--site-network: ${error instanceof Error ? error.message : String(error)}`);
          })
        : undefined;
      const lab = await startLab({
        hosts,
        backend: opts.backend,
        vendor: opts.vendor,
        faults,
        tls: opts.tls,
        host: opts.listen,
        stateDir: path.resolve(opts.stateDir),
        qemu: {
          memoryMiB: integer('--memory', opts.memory, 128, 65_536),
          diskGiB: integer('--disk', opts.disk, 1, 4096),
          ovmf: opts.ovmf,
        },
        ...(opts.port !== undefined && { port: integer('--port', opts.port, 1, 65_535 - hosts) }),
        ...(siteNetwork && { siteNetwork }),
      }).catch(async (error: unknown) => {
        await siteNetwork?.close();
        throw error;
      });
      const inventory = { hosts: lab.hosts.map((host, index) => inventoryEntry(host, index, siteNetwork)) };
      if (opts.inventory) {
        const file = path.resolve(opts.inventory);
        await writeFile(`${file}.tmp`, stringify(inventory), { mode: 0o600 });
        await rename(`${file}.tmp`, file);
      }
      process.stdout.write(
        opts.output === 'json' ? `${JSON.stringify(inventory, null, 2)}\n` : stringify(inventory),
      );
      process.stderr.write(
        `outpost lab: ${hosts} ${opts.backend} host(s), ${opts.vendor} BMCs; state at ${lab.url} (Ctrl-C to stop)\n` +
          nextSteps(opts, lab.hosts[0]?.name ?? 'host-1'),
      );
      if (lab.caFile) process.stderr.write(`outpost lab: BMC certificates verify with ${lab.caFile}\n`);
      if (siteNetwork)
        process.stderr.write(
          `outpost lab: site network ${siteNetwork.subnet} in namespace ${siteNetwork.namespace}; this machine is ${siteNetwork.gateway} on it; servers from ${siteNetwork.serverAddress(0)}; free for the API VIP: ${siteNetwork.vip}\n`,
        );
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await lab.close();
      await siteNetwork?.close();
    });
  registerRke2Release(lab);
}

/**
 * The exact commands that go with this lab: the service the BMCs and the guests can reach (BMCs fetch
 * media from the advertise URL on loopback; QEMU guests reach the machine's loopback as 10.0.2.2, so
 * that is their --host-url), the import, and the ways into a guest.
 */
function nextSteps(opts: LabCommandOptions, first: string): string {
  const serve =
    opts.backend === 'qemu'
      ? 'outpost serve --listen 127.0.0.1:8080 --host-url http://10.0.2.2:8080'
      : 'outpost serve --listen 127.0.0.1:8080';
  const inventory =
    opts.inventory ?? 'FILE   # FILE: the inventory above, saved (or run the lab with --inventory FILE)';
  const stateDir = opts.stateDir === '.outpost/lab' ? '' : ` --state-dir ${opts.stateDir}`;
  const guests =
    opts.backend === 'qemu'
      ? `\ninto a guest:\n  outpost lab console ${first}${stateDir}    # its serial console, live\n  outpost lab ssh ${first}${stateDir}        # its SSH port, forwarded on loopback\n`
      : '';
  return `next, in another terminal, the management service (state in /var/lib/outpost, or $OUTPOST_STATE_DIR):
  ${serve}
then, in a third one (no exports needed: outpost hosts finds the service through its state dir):
  outpost hosts import ${inventory}
  outpost hosts list -w
${guests}`;
}

/** The per-host folder of a lab host, from a name that must be one of the lab's (host-N). */
function hostDir(stateDir: string, name: string): string {
  if (!/^host-[1-9]\d{0,4}$/.test(name))
    throw new InputError(`lab host names are host-1, host-2, ...; not '${name}'`);
  return path.join(path.resolve(stateDir), name);
}

/** `outpost lab console NAME`: the guest's serial console as it is written (the lab keeps it in serial.log). */
function registerConsole(lab: Command): void {
  lab
    .command('console')
    .description("Follow a lab guest's serial console live (QEMU backend; Ctrl-C to stop)")
    .argument('<name>', 'the lab host, e.g. host-1')
    .option('--state-dir <dir>', 'the lab state dir', '.outpost/lab')
    .option('--no-follow', 'print what the console has shown so far and exit')
    .action(async (name: string, opts: { stateDir: string; follow: boolean }) => {
      const file = path.join(hostDir(opts.stateDir, name), 'serial.log');
      if (!existsSync(file))
        throw new InputError(
          `no serial console for ${name} in ${opts.stateDir} (is a QEMU lab running there?)`,
        );
      await followFile(file, opts.follow);
    });
}

async function followFile(file: string, follow: boolean): Promise<void> {
  let offset = 0;
  let stopped = !follow;
  const stop = () => {
    stopped = true;
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  for (;;) {
    const size = statSync(file, { throwIfNoEntry: false })?.size ?? 0;
    // A new lab run starts the log again: follow from its start.
    if (size < offset) offset = 0;
    if (size > offset) {
      const fd = await open(file, 'r');
      try {
        const chunk = Buffer.alloc(size - offset);
        await fd.read(chunk, 0, chunk.length, offset);
        process.stdout.write(chunk);
        offset = size;
      } finally {
        await fd.close();
      }
    }
    if (stopped) return;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** `outpost lab ssh NAME`: ssh to the guest through the lab's loopback forward of its port 22. */
function registerSsh(lab: Command): void {
  lab
    .command('ssh')
    .description("Open an SSH session to a lab guest through the lab's loopback forward (QEMU backend)")
    .argument('<name>', 'the lab host, e.g. host-1')
    .argument('[command...]', 'a command to run instead of a shell')
    .option('--state-dir <dir>', 'the lab state dir', '.outpost/lab')
    .option('-l, --user <user>', 'the user to log in as (one from the image definition)', 'root')
    .option('-i, --identity <file>', 'private key file (ssh -i)')
    .action(
      async (
        name: string,
        command: string[],
        opts: { stateDir: string; user: string; identity?: string },
      ) => {
        const portFile = path.join(hostDir(opts.stateDir, name), 'ssh-port');
        if (!existsSync(portFile))
          throw new InputError(
            `no SSH forward for ${name} in ${opts.stateDir} (is a QEMU lab running there?)`,
          );
        const port = Number(readFileSync(portFile, { encoding: 'utf8', flag: 'r' }).trim());
        if (!Number.isInteger(port) || port <= 0)
          throw new InputError(`${portFile} does not hold a port (is a QEMU lab running there?)`);
        if (!/^[a-z_][a-z0-9_-]*$/i.test(opts.user))
          throw new InputError(`--user: not a user name: '${opts.user}'`);
        const { spawnSync } = await import('node:child_process');
        // The guest's host key changes with every install: do not pin it in the user's known_hosts.
        const args = [
          ...['-p', String(port), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null'],
          ...['-o', 'LogLevel=ERROR'],
          ...(opts.identity ? ['-i', opts.identity] : []),
          `${opts.user}@127.0.0.1`,
          ...command,
        ];
        const run = spawnSync('ssh', args, { stdio: 'inherit' });
        if (run.error) throw new InputError(`cannot run ssh: ${run.error.message}`);
        process.exitCode = run.status ?? 1;
      },
    );
}

/** One host in outpost's inventory format (see docs/service.md). */
function inventoryEntry(
  host: LabHost,
  index: number,
  site: SiteNetwork | undefined,
): Record<string, unknown> {
  return {
    name: host.name,
    bmc: { address: host.bmcAddress, username: host.username, password: host.password },
    bootMACAddress: host.bootMac,
    ...(site &&
      host.siteMac &&
      host.siteAddress && {
        networkData: parse(
          siteHostNetworkData(host.bootMac, host.siteMac, {
            siteAddress: host.siteAddress,
            prefixLength: site.prefixLength,
            guestAddress: guestAddress(index),
          }),
        ) as unknown,
      }),
  };
}

function integer(flag: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max)
    throw new InputError(`${flag} must be an integer from ${min} to ${max}, not '${text}'`);
  return value;
}
