import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { type OutputFormat, outputOption, printJson } from '../output.ts';

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

export function registerVersion(program: Command): void {
  program
    .command('version')
    .description('Print the outpost version')
    .addOption(outputOption())
    .action((opts: { output: OutputFormat }) => {
      const info = {
        version: packageVersion(),
        node: process.version,
        apiVersions: ['1.0', '1.1', '1.2', '1.3'],
      };
      if (opts.output === 'json') printJson(info);
      else
        process.stdout.write(
          `outpost ${info.version} (node ${info.node}; definition apiVersion ${info.apiVersions.join(', ')})\n`,
        );
    });
}
