import { type Command, Option } from 'commander';
import { configDirOptions } from '../config-dir.ts';
import { type OutputFormat, outputOption } from '../output.ts';

export interface BuildCommandOptions {
  configDir?: string;
  definitionFile: string;
  output: OutputFormat;
  dryRun?: boolean;
  engine: 'auto' | 'combustion' | 'systemd';
}

export function registerBuild(program: Command): void {
  const cmd = program
    .command('build')
    .description(
      'Build a site-ready raw image from an image definition: copy the base image, write the first-boot bundle, ' +
        'set kernel arguments; the output and its .sha256 appear next to the definition',
    );
  for (const option of configDirOptions()) cmd.addOption(option);
  cmd
    .addOption(outputOption())
    .addOption(new Option('--dry-run', 'inspect the inputs and print the plan without writing anything'))
    .addOption(
      new Option('--engine <engine>', 'first-boot engine (auto: from the base image /etc/os-release)')
        .choices(['auto', 'combustion', 'systemd'])
        .default('auto'),
    )
    .action(async (opts: BuildCommandOptions) => (await import('./build-run.ts')).runBuild(opts));
}
