import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { type Command, Option } from 'commander';
import { stringify } from 'yaml';
import { InputError } from '../../common/diagnostics.ts';
import { formatBytes } from '../../common/units.ts';
import { configDirOptions, resolveConfigDir } from '../config-dir.ts';
import { type OutputFormat, outputOption, printJson } from '../output.ts';
import { toWire } from './hosts.ts';

interface ApplianceCommandOptions {
  configDir?: string;
  definitionFile: string;
  inventory: string[];
  kit?: string;
  kitSecrets?: string;
  listen: string;
  advertiseUrl?: string;
  iso?: boolean;
  engine: 'auto' | 'combustion' | 'systemd';
  output: OutputFormat;
}

export function registerAppliance(program: Command): void {
  const cmd = program
    .command('appliance')
    .description(
      "Build the management node of a site as an appliance: the definition's image with outpost (its Node runtime " +
        'and production dependencies) under /opt/outpost, outpost.service, the site imported at first start and the ' +
        'API token shown on the console; a raw image, and with --iso the self-installing ISO too',
    );
  for (const option of configDirOptions()) cmd.addOption(option);
  cmd
    .addOption(
      new Option(
        '--inventory <file>',
        'hosts to import at first start (outpost inventory YAML or Metal3 manifests); repeat for more files',
      )
        .argParser((value: string, previous: string[]) => [...previous, value])
        .default([]),
    )
    .addOption(new Option('--kit <file>', 'a site kit to import at first start with `outpost kit import`'))
    .addOption(
      new Option(
        '--kit-secrets <file>',
        'the BMC credentials the kit needs (kit import --secrets; passwords written in the file, not passwordFile)',
      ),
    )
    .addOption(
      new Option('--listen <host:port>', 'where outpost.service listens: the site-facing address').default(
        '0.0.0.0:8080',
      ),
    )
    .addOption(new Option('--advertise-url <url>', 'URL BMCs reach the service at (serve --advertise-url)'))
    .addOption(new Option('--iso', 'also build the self-installing ISO (as imageType: iso does)'))
    .addOption(
      new Option('--engine <engine>', 'first-boot engine (auto: from the base image /etc/os-release)')
        .choices(['auto', 'combustion', 'systemd'])
        .default('auto'),
    )
    .addOption(outputOption())
    .addHelpText(
      'after',
      `
Files given with --inventory and --kit are read relative to the current directory. The inventory is
checked now (errors name file, line and field); it holds BMC passwords, so the image keeps it 0600 and
removes it once the service has imported it.`,
    )
    .action(async (opts: ApplianceCommandOptions) => run(program, opts));
}

async function run(program: Command, opts: ApplianceCommandOptions): Promise<void> {
  const configDir = resolveConfigDir(opts.configDir);
  const inventory = await readInventory(opts.inventory);
  if (opts.kitSecrets && !opts.kit) throw new InputError('--kit-secrets needs --kit');
  const kitSecrets = opts.kit ? await checkKit(program, opts.kit, opts.kitSecrets) : undefined;
  const { buildAppliance } = await import('../../appliance/build.ts');
  const { buildProgress, reportBuildFailure } = await import('./build-run.ts');
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
  const progress = buildProgress(opts.output);
  try {
    const report = await buildAppliance({
      configDir,
      definitionFile: opts.definitionFile,
      engine: opts.engine,
      iso: opts.iso === true,
      settings: {
        listen: opts.listen,
        ...(opts.advertiseUrl && { advertiseUrl: opts.advertiseUrl.replace(/\/$/, '') }),
        ...(inventory !== undefined && { inventory }),
        ...(opts.kit && { kit: path.resolve(opts.kit) }),
        ...(kitSecrets !== undefined && { kitSecrets }),
      },
      ...progress.callbacks,
    });
    progress.stop();
    if (opts.output === 'json') return printJson(report);
    const rel = (p: string) => path.relative(process.cwd(), p) || p;
    process.stdout.write(
      `outpost payload: ${formatBytes(report.payload.bytes)} (${report.payload.packages} production packages, Node ${report.payload.runtime.version})\n`,
    );
    for (const build of [report.raw, report.iso]) {
      const image = build?.outputs.find((o) => o.role === 'image');
      if (image)
        process.stdout.write(`${rel(image.path)}: ${formatBytes(image.bytes)}, sha256 ${image.sha256}\n`);
    }
  } catch (error) {
    progress.stop();
    reportBuildFailure(error);
  }
}

/**
 * Checked now, so a bad inventory fails the build (exit 2) rather than the appliance's first start; and
 * resolved now (`${ENV}`, passwordFile), so the image carries one self-contained outpost inventory.
 */
async function readInventory(files: string[]): Promise<string | undefined> {
  if (!files.length) return undefined;
  const { loadCheckedInventoryFiles } = await import('../../service/inventory.ts');
  const inventory = loadCheckedInventoryFiles(files);
  return stringify({ hosts: inventory.hosts.map(toWire) });
}

/**
 * The kit is verified now (every entry against its manifest) and so are the credentials it needs, so
 * a kit the appliance could not import fails the build (exit 2), not the first start. Returns the
 * secrets file's text, carried as it is (0600) for `kit import --secrets`.
 */
async function checkKit(
  program: Command,
  file: string,
  secretsFile: string | undefined,
): Promise<string | undefined> {
  const kit = program.commands.find((c) => c.name() === 'kit');
  if (!kit?.commands.some((c) => c.name() === 'import')) {
    throw new InputError(
      "--kit: this outpost has no `outpost kit import` to import a site kit at first start; give the kit's inventory with --inventory",
    );
  }
  let regular = false;
  try {
    regular = statSync(file).isFile();
  } catch {
    // reported below
  }
  if (!regular) throw new InputError(`--kit ${file}: not a file`);
  const { scanKit, describeNeeded } = await import('../../kit/index.ts');
  const scanned = await scanKit(file);
  if (scanned.problems.length || !scanned.manifest) {
    throw new InputError(
      `--kit ${file}: not a sound site kit:\n${scanned.problems.map((p) => `  ${p.path ? `${p.path}: ` : ''}${p.message}`).join('\n')}`,
    );
  }
  const needed = scanned.manifest.secretsNeeded;
  if (!secretsFile) {
    if (needed.length)
      throw new InputError(
        `--kit ${file} needs BMC credentials at import; give them with --kit-secrets FILE:\n${needed.map((n) => `  ${describeNeeded(n)}`).join('\n')}`,
      );
    return undefined;
  }
  const text = readOperatorText('--kit-secrets', secretsFile);
  const { readSecretsFile } = await import('../../kit/inventory-secrets.ts');
  // The image carries this text alone: a password kept in another file would not be found there.
  let passwordFile: string | undefined;
  const secrets = readSecretsFile(secretsFile, text, (f) => {
    passwordFile ??= f;
    return '';
  });
  if (passwordFile)
    throw new InputError(
      `--kit-secrets ${secretsFile}: passwordFile '${passwordFile}' cannot be carried into the appliance; write the password in the file`,
    );
  if (secrets.diagnostics.length)
    throw new InputError(
      `--kit-secrets ${secretsFile} has ${secrets.diagnostics.length} problem(s):`,
      secrets.diagnostics,
    );
  return text;
}

function readOperatorText(option: string, file: string): string {
  try {
    if (!statSync(file).isFile()) throw new Error('not a file');
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new InputError(
      `${option} ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
}
