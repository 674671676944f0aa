import path from 'node:path';
import type { Command } from 'commander';
import { formatDiagnosticsGrouped } from '../../common/diagnostics.ts';
import { configDirOptions, resolveConfigDir } from '../config-dir.ts';
import { type OutputFormat, outputOption, printJson } from '../output.ts';

interface ValidateOptions {
  configDir?: string;
  definitionFile: string;
  output: OutputFormat;
}

export function registerValidate(program: Command): void {
  const cmd = program
    .command('validate')
    .description('Check an image definition and its config directory, reporting every problem at once');
  for (const option of configDirOptions()) cmd.addOption(option);
  cmd.addOption(outputOption()).action(async (opts: ValidateOptions) => {
    const configDir = resolveConfigDir(opts.configDir);
    const { loadDefinition } = await import('../../build/load-definition.ts');
    const result = await loadDefinition({ configDir, definitionFile: opts.definitionFile, env: process.env });
    const file =
      path.relative(process.cwd(), path.resolve(configDir, opts.definitionFile)) || opts.definitionFile;
    if (opts.output === 'json') {
      printJson({ valid: result.diagnostics.length === 0, file, problems: result.diagnostics });
    } else if (result.diagnostics.length === 0) {
      process.stdout.write(`${file}: valid (apiVersion ${result.loaded?.definition.apiVersion})\n`);
    } else {
      process.stderr.write(`Image definition validation found ${result.diagnostics.length} problem(s):\n`);
      process.stderr.write(`${formatDiagnosticsGrouped(result.diagnostics)}\n`);
    }
    if (result.diagnostics.length) process.exitCode = 2;
  });
}
