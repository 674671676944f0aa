import { type Command, Option } from 'commander';
import type { PullSummary } from '../../artefacts/pull.ts';
import { InputError } from '../../common/diagnostics.ts';
import { formatBytes } from '../../common/units.ts';
import type { Arch } from '../../definition/types.ts';
import { configDirOptions, resolveConfigDir } from '../config-dir.ts';
import { type OutputFormat, outputOption, printJson } from '../output.ts';

interface PullCommandOptions {
  configDir?: string;
  definitionFile: string;
  source?: string;
  installScript: string | boolean;
  arch?: string[];
  output: OutputFormat;
}

const ARCHES: Record<string, Arch> = {
  x86_64: 'x86_64',
  amd64: 'x86_64',
  aarch64: 'aarch64',
  arm64: 'aarch64',
};

/** `outpost artefacts ...`: what an air-gapped site needs, fetched on a connected machine. */
export function registerArtefacts(program: Command): void {
  const artefacts = program
    .command('artefacts')
    .description('Fetch what a definition needs for the air gap (RKE2 release, install.sh, Helm charts)');
  const pull = artefacts
    .command('pull')
    .description(
      'Fetch the RKE2 release files, install.sh and the Helm charts a definition needs into its config dir, each checked against its checksum or digest',
    );
  for (const option of configDirOptions()) pull.addOption(option);
  pull
    .option(
      '--source <url>',
      'a mirror with the RKE2 release layout: <url>/<version>/<file> (default: https://github.com/rancher/rke2/releases/download)',
    )
    .addOption(
      new Option(
        '--install-script <url>',
        "install.sh's URL (default: <source>/<version>/install.sh with --source, else https://get.rke2.io)",
      ),
    )
    .option('--no-install-script', 'do not fetch install.sh')
    .option('--arch <arch...>', "architectures (x86_64/amd64, aarch64/arm64); default: the definition's")
    .addOption(outputOption())
    .addHelpText(
      'after',
      `
Writes kubernetes/install/ (rke2.linux-<arch>.tar.gz, the rke2-images archives of the core, of the CNI
named in kubernetes/config/server.yaml (default cilium) and of an ingress controller that has its own,
sha256sum-<arch>.txt, install.sh) and kubernetes/helm/charts/<name>-<version>.tgz for every chart
(and the API VIP charts). Each file is downloaded to .<name>.partial, resumed with an HTTP Range request
after an interruption, checked (release files against sha256sum-<arch>.txt, charts against their
index.yaml digest) and only then renamed. Files already there and correct are not fetched again.
Exit codes: 0 done, 1 a fetch failed or a file was refused, 2 bad input.`,
    )
    .action(async (opts: PullCommandOptions) => {
      const configDir = resolveConfigDir(opts.configDir);
      const arches = opts.arch?.map((a) => {
        const arch = ARCHES[a];
        if (!arch) throw new InputError(`--arch: unsupported '${a}' (x86_64, amd64, aarch64, arm64)`);
        return arch;
      });
      const { loadDefinitionBeforePull } = await import('../../build/load-definition.ts');
      const result = await loadDefinitionBeforePull({
        configDir,
        definitionFile: opts.definitionFile,
        env: process.env,
      });
      if (!result.loaded) throw new InputError('the definition has problems:', result.diagnostics);
      const { pullArtefacts } = await import('../../artefacts/pull.ts');
      const progress =
        process.stdout.isTTY === true && opts.output === 'text' ? await progressBars() : undefined;
      let summary: PullSummary;
      try {
        summary = await pullArtefacts({
          configDir,
          definition: result.loaded.definition,
          source: opts.source,
          installScript: opts.installScript === true ? undefined : opts.installScript,
          arches: arches ? [...new Set(arches)] : undefined,
          onProgress: progress?.update,
        });
      } finally {
        progress?.stop();
      }
      if (opts.output === 'json') {
        printJson(summary);
        return;
      }
      const lines = summary.files.map((f) => `${f.status.padEnd(8)} ${f.file}  (${formatBytes(f.bytes)})`);
      process.stdout.write(
        `${lines.join('\n')}\nRKE2 ${summary.version}: ${summary.fetched} file(s) fetched (${formatBytes(summary.bytesFetched)}), ${summary.present} already in place\n`,
      );
    });
}

/** One bar per file fetched, on a terminal (the summary after them lists every file). */
async function progressBars() {
  const { MultiBar, Presets } = await import('cli-progress');
  const multi = new MultiBar(
    {
      format: ' {file} [{bar}] {percentage}% {done}/{size}',
      hideCursor: true,
      clearOnComplete: false,
    },
    Presets.shades_classic,
  );
  const bars = new Map<string, ReturnType<typeof multi.create>>();
  const sizes = (received: number, total: number | undefined) => ({
    done: formatBytes(received),
    size: total === undefined ? '?' : formatBytes(total),
  });
  return {
    update(file: string, received: number, total: number | undefined) {
      let bar = bars.get(file);
      if (!bar) {
        bar = multi.create(total ?? 0, received, { file, ...sizes(received, total) });
        bars.set(file, bar);
      }
      if (total !== undefined) bar.setTotal(total);
      bar.update(received, sizes(received, total));
    },
    stop() {
      multi.stop();
    },
  };
}
