import { rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type Command, Option } from 'commander';
import { stringify } from 'yaml';
import { InputError } from '../../common/diagnostics.ts';
import { type FaultSpec, parseFaultSpec } from '../../lab/faults.ts';
import type { LabHost } from '../../lab/index.ts';
import { isVendorProfileName, VENDOR_PROFILE_NAMES } from '../../lab/profiles.ts';
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
  output: OutputFormat;
}

export function registerLab(program: Command): void {
  const lab = program
    .command('lab')
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
      new Option('--vendor <profile>', 'BMC vendor profile and its quirks')
        .choices([...VENDOR_PROFILE_NAMES])
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
    .option('--inventory <file>', 'also write the inventory (with BMC passwords, mode 0600) to this file')
    .addOption(outputOption())
    .addHelpText(
      'after',
      `
The inventory goes to stdout (YAML, or JSON with --output json) in the format \`outpost hosts import\`
reads. The lab runs until interrupted (Ctrl-C / SIGTERM), then powers off its VMs.

Fault operations: any, get, login, reset, insert-media, eject-media, boot-override.
Fault kinds: timeout, server-error, unauthorized, stale-inserted, busy.`,
    )
    .action(async (opts: LabCommandOptions) => {
      const hosts = integer('--hosts', opts.hosts, 1, 65_535);
      if (!isVendorProfileName(opts.vendor)) throw new InputError(`--vendor: unknown profile ${opts.vendor}`);
      const faults: FaultSpec[] = [];
      for (const text of opts.fault) {
        const parsed = parseFaultSpec(text);
        if (!parsed.ok) throw new InputError(`--fault: ${parsed.error}`);
        faults.push(parsed.value);
      }
      // Loaded here: the emulator is heavy and other commands should start fast.
      const { startLab } = await import('../../lab/index.ts');
      const lab = await startLab({
        hosts,
        backend: opts.backend,
        vendor: opts.vendor,
        faults,
        host: opts.listen,
        stateDir: path.resolve(opts.stateDir),
        qemu: {
          memoryMiB: integer('--memory', opts.memory, 128, 65_536),
          diskGiB: integer('--disk', opts.disk, 1, 4096),
          ovmf: opts.ovmf,
        },
        ...(opts.port !== undefined && { port: integer('--port', opts.port, 1, 65_535 - hosts) }),
      });
      const inventory = { hosts: lab.hosts.map(inventoryEntry) };
      if (opts.inventory) {
        const file = path.resolve(opts.inventory);
        await writeFile(`${file}.tmp`, stringify(inventory), { mode: 0o600 });
        await rename(`${file}.tmp`, file);
      }
      process.stdout.write(
        opts.output === 'json' ? `${JSON.stringify(inventory, null, 2)}\n` : stringify(inventory),
      );
      process.stderr.write(
        `outpost lab: ${hosts} ${opts.backend} host(s), ${opts.vendor} BMCs; state at ${lab.url} (Ctrl-C to stop)\n`,
      );
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await lab.close();
    });
  registerRke2Release(lab);
}

/** One host in outpost's inventory format (see docs/service.md). */
function inventoryEntry(host: LabHost): Record<string, unknown> {
  return {
    name: host.name,
    bmc: { address: host.bmcAddress, username: host.username, password: host.password },
    bootMACAddress: host.bootMac,
  };
}

function integer(flag: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max)
    throw new InputError(`${flag} must be an integer from ${min} to ${max}, not '${text}'`);
  return value;
}
