/** Running the external tools disk surgery needs (losetup, mount, sgdisk, mtools...), logged to the build log. */
import { execa } from 'execa';
import { OperationError } from '../common/diagnostics.ts';

export type Log = (line: string) => void;

export const silentLog: Log = () => {};

export interface RunOptions {
  log?: Log;
  input?: string;
  env?: Record<string, string>;
  /** Return stdout byte for byte (file contents), instead of trimming the final newline. */
  keepFinalNewline?: boolean;
}

/** Runs a tool and returns its stdout; a non-zero exit becomes an OperationError quoting its stderr. */
export async function run(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<string> {
  const log = options.log ?? silentLog;
  log(`$ ${[command, ...args].join(' ')}`);
  const result = await execa(command, args, {
    reject: false,
    // Own process group: a Ctrl-C in the terminal reaches only outpost, which lets a running mount or
    // losetup finish and then undoes it, instead of the tool dying half-way with unknown state.
    detached: true,
    input: options.input,
    env: options.env,
    stripFinalNewline: !options.keepFinalNewline,
  });
  if (result.stderr) log(result.stderr);
  if (result.failed) {
    const why = result.code === 'ENOENT' ? 'not installed' : result.stderr || result.shortMessage;
    throw new OperationError(`${command} ${args.join(' ')}: ${why}`);
  }
  return result.stdout;
}
