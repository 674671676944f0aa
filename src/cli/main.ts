import { Command, CommanderError } from 'commander';
import {
  formatDiagnosticsGrouped,
  InputError,
  linesForTerminal,
  OperationError,
} from '../common/diagnostics.ts';
import { registerCommands } from './commands/index.ts';
import { packageVersion } from './commands/version.ts';

/** Runs the CLI and returns the process exit code: 0 ok, 1 operation failed, 2 bad input or usage. */
export async function main(argv: string[]): Promise<number> {
  const program = new Command('outpost')
    .description('Build site-ready edge images and roll them out to air-gapped sites')
    .version(`outpost ${packageVersion()}`, '-V, --version', 'print the outpost version')
    // `outpost --version` before any command only: subcommands have options of that name
    // (`lab rke2-release --version v1.32.4+rke2r1`), which must reach them.
    .enablePositionalOptions()
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  registerCommands(program);
  const image = process.env.OUTPOST_CONTAINER_IMAGE;
  if (image) program.addHelpText('after', containerUsage(image));
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    return reportError(error);
  }
}

function reportError(error: unknown): number {
  if (error instanceof CommanderError) {
    // --help and --version are CommanderErrors with exit code 0.
    return error.exitCode === 0 ? 0 : 2;
  }
  if (error instanceof InputError) {
    process.stderr.write(`${linesForTerminal(error.message)}\n`);
    if (error.diagnostics.length) process.stderr.write(`${formatDiagnosticsGrouped(error.diagnostics)}\n`);
    return 2;
  }
  // Messages carry paths, commands' output and the service's answers: no control character reaches the
  // terminal from them.
  if (error instanceof OperationError) {
    process.stderr.write(`error: ${linesForTerminal(error.message)}\n`);
    return 1;
  }
  process.stderr.write(
    `internal error: ${linesForTerminal(error instanceof Error ? (error.stack ?? error.message) : String(error))}\n`,
  );
  return 1;
}

/** The builder container's usage, shaped like Edge Image Builder's: the config dir is mounted at /eib. */
function containerUsage(image: string): string {
  return `
In this container, as with Edge Image Builder, mount the config directory (the definition, base-images/,
custom/, network/, os-files/ ...) at /eib:
  podman run --rm --privileged -v "$PWD":/eib ${image} build --definition-file site.yaml
  podman run --rm --privileged -v "$PWD":/eib ${image} validate --definition-file site.yaml
  podman run --rm --privileged -v "$PWD":/eib ${image} build --definition-file site.yaml --dry-run
--privileged is needed for loop devices and mounts.`;
}
