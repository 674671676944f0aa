import type { Command } from 'commander';
import { registerValidate } from './validate.ts';
import { registerVersion } from './version.ts';

/** Every top-level command; each module adds its own subcommand with its own --help. */
export function registerCommands(program: Command): void {
  registerValidate(program);
  registerVersion(program);
}
