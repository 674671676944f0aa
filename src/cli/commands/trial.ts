import path from 'node:path';
import type { Command } from 'commander';
import { InputError } from '../../common/diagnostics.ts';
import { isRke2Version } from '../../lab/rke2/index.ts';
import { resolveConfigDir } from '../config-dir.ts';
import { type OutputFormat, outputOption, printJson } from '../output.ts';
import { quietSqliteWarning } from '../sqlite-warning.ts';

interface TrialCliOptions {
  configDir?: string;
  definitionFile: string;
  provisionOnly?: boolean;
  hosts?: string;
  staticHosts?: string;
  rke2Version: string;
  memory: string;
  workDir: string;
  timeout: string;
  output: OutputFormat;
}

export function registerTrial(program: Command): void {
  program
    .command('trial')
    .description(
      'Run a whole virtual site on this machine: three QEMU servers behind emulated BMCs on a lab site network, one image with RKE2, the service provisioning them until every node of the cluster is Ready; prints the timeline, the cluster tree and kubectl get nodes',
    )
    .option(
      '--config-dir <dir>',
      'configuration directory (default: /eib when it exists, else the current directory)',
    )
    .requiredOption('--definition-file <file>', 'image definition, relative to the config dir')
    .option(
      '--rke2-version <version>',
      'RKE2 release of the lab stand-in the image carries',
      'v1.32.4+rke2r1',
    )
    .option('--memory <MiB>', 'memory of each QEMU server', '1024')
    .option(
      '--provision-only',
      'no cluster: provision --hosts servers with the definition as it is (no site network, no RKE2)',
    )
    .option('--hosts <n>', 'with --provision-only: servers in the lab (default 2)')
    .option(
      '--static-hosts <n>',
      'with --provision-only: servers (from the first) given a static address by their config drive (default 1)',
    )
    .option('--work-dir <dir>', 'where the image, lab disks, service state and logs go', '_trial')
    .option('--timeout <minutes>', 'bound on provisioning the site (until every node is Ready)', '30')
    .addOption(outputOption())
    .addHelpText(
      'after',
      `
Servers are QEMU virtual machines (software emulation: each boot takes about a minute). The service
listens on loopback; the servers reach it as 10.0.2.2 through QEMU user networking on their first NIC.
Their second NIC is on the site network, a bridge inside a network namespace the trial creates (needs
root): there the nodes have static addresses and the API VIP lives, and the service reaches the cluster
through a veth pair. The image is the definition plus a kubernetes section for the site (the lab's RKE2
stand-in; see docs/lab.md); everything goes into --work-dir.`,
    )
    .action(async (opts: TrialCliOptions) => {
      const minutes = count('--timeout', opts.timeout, 1, 24 * 60);
      const configDir = resolveConfigDir(opts.configDir);
      const workDir = path.resolve(opts.workDir);
      const json = opts.output === 'json';
      const log = (line: string) => process.stderr.write(`${line}\n`);
      quietSqliteWarning();
      if (opts.provisionOnly) {
        const hosts = count('--hosts', opts.hosts ?? '2', 1, 8);
        const staticHosts = count('--static-hosts', opts.staticHosts ?? '1', 0, hosts);
        const { runTrial, formatTrial } = await import('../../trial/index.ts');
        const result = await runTrial({
          configDir,
          definitionFile: opts.definitionFile,
          hosts,
          staticHosts,
          workDir,
          timeoutMs: minutes * 60_000,
          log,
        });
        if (json) printJson(result);
        else process.stdout.write(`${formatTrial(result)}\n`);
        if (!result.ok) process.exitCode = 1;
        return;
      }
      if (opts.hosts !== undefined || opts.staticHosts !== undefined)
        throw new InputError(
          '--hosts and --static-hosts go with --provision-only (the cluster site has 3 servers)',
        );
      if (!isRke2Version(opts.rke2Version))
        throw new InputError(
          `--rke2-version: '${opts.rke2Version}' is not an RKE2 version like v1.32.4+rke2r1`,
        );
      const { runClusterTrial, formatClusterTrial } = await import('../../trial/index.ts');
      const result = await runClusterTrial({
        configDir,
        definitionFile: opts.definitionFile,
        workDir,
        timeoutMs: minutes * 60_000,
        rke2Version: opts.rke2Version,
        memoryMiB: count('--memory', opts.memory, 512, 16_384),
        log,
      });
      if (json) printJson(result);
      else process.stdout.write(`${formatClusterTrial(result)}\n`);
      if (!result.ok) process.exitCode = 1;
    });
}

function count(flag: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max)
    throw new InputError(`${flag} must be an integer from ${min} to ${max}, not '${text}'`);
  return n;
}
