import { type Command, Option } from 'commander';
import { InputError } from '../../common/diagnostics.ts';
import { configDirOptions } from '../config-dir.ts';
import { outputOption } from '../output.ts';
import type { BuildCommandOptions } from './build-run.ts';

export function registerBuild(program: Command): void {
  const cmd = program
    .command('build')
    .description(
      'Build a site-ready raw image from an image definition: copy the base image, write the first-boot bundle, ' +
        'set kernel arguments; the output and its .sha256 appear next to the definition, together. ' +
        'Each build first reclaims what builds that died left; --cleanup does only that',
    );
  // --cleanup needs no definition: the check that one is given is in the action.
  for (const option of configDirOptions()) cmd.addOption(option.makeOptionMandatory(false));
  cmd
    .addOption(outputOption())
    .addOption(new Option('--dry-run', 'inspect the inputs and print the plan without writing anything'))
    .addOption(
      new Option(
        '--cleanup',
        'build nothing: reclaim what builds that died left (loop devices, mounts, processes, temporary files) and say what',
      ).conflicts(['dryRun', 'definitionFile']),
    )
    .addOption(
      new Option('--engine <engine>', 'first-boot engine (auto: from the base image /etc/os-release)')
        .choices(['auto', 'combustion', 'systemd'])
        .default('auto'),
    )
    .action(async (opts: BuildCommandOptions) => {
      const run = await import('./build-run.ts');
      if (opts.cleanup) return run.runCleanup(opts);
      if (!opts.definitionFile)
        throw new InputError("required option '--definition-file <file>' not specified (or give --cleanup)");
      return run.runBuild({ ...opts, definitionFile: opts.definitionFile });
    });
}
