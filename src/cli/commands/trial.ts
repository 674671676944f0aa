import path from 'node:path';
import type { Command } from 'commander';
import { InputError } from '../../common/diagnostics.ts';
import { resolveConfigDir } from '../config-dir.ts';
import { type OutputFormat, outputOption, printJson } from '../output.ts';
import { quietSqliteWarning } from '../sqlite-warning.ts';

interface TrialCliOptions {
  configDir?: string;
  definitionFile: string;
  hosts: string;
  staticHosts: string;
  workDir: string;
  timeout: string;
  output: OutputFormat;
}

export function registerTrial(program: Command): void {
  program
    .command('trial')
    .description(
      'Run a whole virtual site on this machine: build the image, start the service and a lab of QEMU servers, provision every server over Redfish, print the timeline',
    )
    .option(
      '--config-dir <dir>',
      'configuration directory (default: /eib when it exists, else the current directory)',
    )
    .requiredOption('--definition-file <file>', 'image definition, relative to the config dir')
    .option('--hosts <n>', 'servers in the lab', '2')
    .option(
      '--static-hosts <n>',
      'servers (from the first) given a static address by their config drive',
      '1',
    )
    .option('--work-dir <dir>', 'where the image, lab disks, service state and logs go', '_trial')
    .option('--timeout <minutes>', 'bound on provisioning all servers', '30')
    .addOption(outputOption())
    .addHelpText(
      'after',
      '\nServers are QEMU virtual machines (software emulation: each boot takes about a minute). The service\nlistens on loopback; the servers reach it as 10.0.2.2 through QEMU user networking.',
    )
    .action(async (opts: TrialCliOptions) => {
      const hosts = count('--hosts', opts.hosts, 1, 8);
      const staticHosts = count('--static-hosts', opts.staticHosts, 0, hosts);
      const minutes = count('--timeout', opts.timeout, 1, 24 * 60);
      const configDir = resolveConfigDir(opts.configDir);
      quietSqliteWarning();
      const { runTrial, formatTrial } = await import('../../trial/index.ts');
      const json = opts.output === 'json';
      const result = await runTrial({
        configDir,
        definitionFile: opts.definitionFile,
        hosts,
        staticHosts,
        workDir: path.resolve(opts.workDir),
        timeoutMs: minutes * 60_000,
        log: (line) => process.stderr.write(`${line}\n`),
      });
      if (json) printJson(result);
      else process.stdout.write(`${formatTrial(result)}\n`);
      if (!result.ok) process.exitCode = 1;
    });
}

function count(flag: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max)
    throw new InputError(`${flag} must be an integer from ${min} to ${max}, not '${text}'`);
  return n;
}
