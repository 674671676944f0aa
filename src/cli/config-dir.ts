import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { Option } from 'commander';
import { InputError } from '../common/diagnostics.ts';

/** EIB's flags: the definition file is relative to the config dir, which defaults to /eib inside the container. */
export function configDirOptions(): Option[] {
  return [
    new Option(
      '--config-dir <dir>',
      'configuration directory (default: /eib when it exists, else the current directory)',
    ),
    new Option(
      '--definition-file <file>',
      'image definition, relative to the config dir',
    ).makeOptionMandatory(),
  ];
}

export function resolveConfigDir(option: string | undefined): string {
  const dir = path.resolve(option ?? (existsSync('/eib') ? '/eib' : '.'));
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new InputError(`config directory ${dir} does not exist or is not a directory`);
  }
  return dir;
}
