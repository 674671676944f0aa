import path from 'node:path';
import type { Command } from 'commander';
import { InputError } from '../../common/diagnostics.ts';
import type { BmcTarget } from '../../preflight/index.ts';
import { DEFAULT_STATE_DIR } from '../../service/state-paths.ts';
import { formatTable, type OutputFormat, outputOption, printJson } from '../output.ts';

interface PreflightOptions {
  stateDir?: string;
  mediaDir?: string;
  advertiseUrl?: string;
  port?: string[];
  inventory?: string[];
  output: OutputFormat;
}

/** `outpost preflight`: is this machine ready to be a site's management node? */
export function registerPreflight(program: Command): void {
  program
    .command('preflight')
    .description(
      'Check the management node before a rollout: CPU, memory, disk, network, ports, tools, clock and every BMC of the inventory',
    )
    .option(
      '--state-dir <dir>',
      'the service state dir to measure (default: $OUTPOST_STATE_DIR or /var/lib/outpost)',
    )
    .option('--media-dir <dir>', 'the media dir to measure (default: <state-dir>/media)')
    .option('--advertise-url <url>', 'the URL BMCs will reach the service at: its host must be this node')
    .option(
      '--port <port...>',
      "ports the service will listen on, which must be free (default: --advertise-url's port, else 8080)",
    )
    .option(
      '--inventory <file...>',
      'inventory files (outpost YAML or Metal3 manifests): every BMC must answer',
    )
    .addOption(outputOption())
    .addHelpText(
      'after',
      `
Prints one line per check (pass, warn or fail) and exits 1 when any check fails, 0 otherwise.
Thresholds and what each check does: docs/air-gap.md.`,
    )
    .action(async (opts: PreflightOptions) => {
      const stateDir = path.resolve(opts.stateDir ?? process.env.OUTPOST_STATE_DIR ?? DEFAULT_STATE_DIR);
      const mediaDir = path.resolve(opts.mediaDir ?? path.join(stateDir, 'media'));
      if (opts.advertiseUrl && !/^https?:\/\/[^/?#]+\/?$/.test(opts.advertiseUrl))
        throw new InputError(`--advertise-url must be http(s)://host[:port], not '${opts.advertiseUrl}'`);
      const advertisedPort = opts.advertiseUrl ? new URL(opts.advertiseUrl).port : '';
      const ports = (opts.port ?? [advertisedPort || '8080']).map((p) => {
        const n = Number(p);
        if (!/^\d+$/.test(p) || n < 1 || n > 65535)
          throw new InputError(`--port: '${p}' is not a port (1-65535)`);
        return n;
      });
      let bmcs: BmcTarget[] = [];
      if (opts.inventory) {
        const { loadCheckedInventoryFiles } = await import('../../service/inventory.ts');
        const inventory = loadCheckedInventoryFiles(opts.inventory);
        bmcs = inventory.hosts.map((h) => ({ host: h.spec.name, address: h.spec.bmc.address }));
      }
      const { evaluate, exitCode, gatherFacts, THRESHOLDS } = await import('../../preflight/index.ts');
      const facts = await gatherFacts({ stateDir, mediaDir, advertiseUrl: opts.advertiseUrl, ports, bmcs });
      const results = evaluate(facts);
      process.exitCode = exitCode(results);
      if (opts.output === 'json') {
        printJson({ ok: process.exitCode === 0, results, thresholds: THRESHOLDS });
        return;
      }
      const count = (s: string) => results.filter((r) => r.status === s).length;
      process.stdout.write(
        `${formatTable(
          ['NAME', 'STATUS', 'DETAIL'],
          results.map((r) => [r.name, r.status, r.detail]),
        )}\n${count('pass')} pass, ${count('warn')} warn, ${count('fail')} fail\n`,
      );
    });
}
