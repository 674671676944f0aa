import { stat } from 'node:fs/promises';
import path from 'node:path';
import { type Command, Option } from 'commander';
import { InputError } from '../../common/diagnostics.ts';
import { formatBytes } from '../../common/units.ts';
import { discoveredMediaDir } from '../../service/client.ts';
import { DEFAULT_STATE_DIR } from '../../service/state-paths.ts';
import { configDirOptions, resolveConfigDir } from '../config-dir.ts';
import { type OutputFormat, outputOption, printJson } from '../output.ts';
import { progressBars } from '../progress.ts';
import { type ClientOptions, call, clientOf, command, toWire } from './hosts.ts';
import { packageVersion } from './version.ts';

/** `outpost kit ...`: site kits, made on a connected machine and carried into an air-gapped site. */
export function registerKit(program: Command): void {
  const kit = program
    .command('kit')
    .description('Site kits: one archive with the definition, config dir, images and inventory of a site')
    .addHelpText(
      'after',
      `
A kit is made where the site is prepared (kit create), carried in, checked (kit verify), and imported on
the management node (kit import), or unpacked anywhere (kit unpack). Secrets never travel in a kit: the
BMC credentials are supplied at import. See docs/kit.md.`,
    );

  const create = kit
    .command('create')
    .description('Make a site kit (tar with zstd, or zip) and its KIT.sha256')
    .requiredOption('--output <kit>', 'the kit file to write (KIT.sha256 is written beside it)');
  for (const option of configDirOptions()) create.addOption(option);
  create
    .option('--image <file...>', 'a built image to carry (its FILE.sha256 must be beside it); repeatable', [])
    .option(
      '--inventory <file...>',
      'inventory files (outpost YAML or Metal3 manifests); BMC credentials are taken out; repeatable',
      [],
    )
    .addOption(
      new Option('--format <format>', 'archive format').choices(['tar.zst', 'zip']).default('tar.zst'),
    )
    .option('--no-base-images', "leave out the config dir's base-images/ (the site then cannot rebuild)")
    .option('--json', 'print the result as JSON on standard output')
    .addHelpText(
      'after',
      `
The kit holds the definition and the config dir's input folders (base-images, custom, network, os-files,
certificates, kubernetes with its install/ artefacts and helm/ charts, ...; never _build/), the images,
and the inventory without credentials. Its manifest outpost-kit.json lists every file's path, size,
sha256 and mode, and which credentials the site must supply. Exit codes: 0 made, 1 failed, 2 bad input.`,
    )
    .action(
      async (opts: {
        output: string;
        configDir?: string;
        definitionFile: string;
        image: string[];
        inventory: string[];
        format: 'tar.zst' | 'zip';
        baseImages: boolean;
        json?: boolean;
      }) => {
        const { createKit } = await import('../../kit/index.ts');
        const bars = process.stdout.isTTY && !opts.json ? progressBars() : undefined;
        try {
          const made = await createKit({
            configDir: resolveConfigDir(opts.configDir),
            definitionFile: opts.definitionFile,
            images: opts.image,
            inventories: opts.inventory,
            format: opts.format,
            output: opts.output,
            baseImages: opts.baseImages,
            outpostVersion: packageVersion(),
            onStep: (line) => {
              bars?.stop();
              process.stderr.write(`${line}\n`);
            },
            ...(bars && { onProgress: bars.update }),
          });
          bars?.stop();
          if (opts.json) return printJson(made);
          process.stdout.write(
            `${rel(made.output)}: ${formatBytes(made.size)} (${made.format}, ${made.files} files, ${formatBytes(made.bytes)} unpacked), sha256 ${made.sha256}\n`,
          );
          if (made.secretsNeeded.length) {
            const { describeNeeded } = await import('../../kit/index.ts');
            process.stdout.write(
              `the site must supply at import (--secrets FILE):\n${made.secretsNeeded.map((n) => `  ${describeNeeded(n)}\n`).join('')}`,
            );
          }
        } finally {
          bars?.stop();
        }
      },
    );

  kit
    .command('verify')
    .description('Check every entry of a kit (or an unpacked kit folder) against its manifest, streaming')
    .argument('<kit>', 'a kit file, or a folder a kit was unpacked into')
    .addOption(outputOption())
    .addHelpText(
      'after',
      `
Exit codes: 0 the kit is sound; 1 it is not (each problem is printed with the file it is about); 2 bad usage.`,
    )
    .action(async (kitPath: string, opts: { output: OutputFormat }) => {
      const { scanKit, scanTree } = await import('../../kit/index.ts');
      const info = await stat(kitPath).catch(() => undefined);
      if (!info) throw new InputError(`${kitPath} does not exist`);
      const bars = process.stdout.isTTY && opts.output === 'text' ? progressBars() : undefined;
      const onProgress = bars && ((d: number, t: number) => bars.update('verify', d, t));
      const result = info.isDirectory()
        ? await scanTree(kitPath, { ...(onProgress && { onProgress }) })
        : await scanKit(kitPath, { ...(onProgress && { onProgress }) });
      bars?.stop();
      const ok = result.problems.length === 0;
      if (opts.output === 'json') {
        printJson({
          kit: kitPath,
          format: info.isDirectory() ? 'directory' : (result.format ?? null),
          ok,
          files: result.files,
          bytes: result.bytes,
          ...(result.manifest && {
            outpostVersion: result.manifest.outpostVersion,
            created: result.manifest.created,
            secretsNeeded: result.manifest.secretsNeeded,
          }),
          problems: result.problems,
        });
      } else if (ok) {
        process.stdout.write(
          `${kitPath}: sound: ${result.files} files, ${formatBytes(result.bytes)}, each matching the manifest (made by outpost ${result.manifest!.outpostVersion} on ${result.manifest!.created})\n`,
        );
      } else {
        process.stdout.write(`${kitPath}: NOT sound: ${result.problems.length} problem(s):\n`);
        for (const p of result.problems)
          process.stdout.write(`  ${p.path ? `${p.path}: ` : ''}${p.message}\n`);
      }
      if (!ok) process.exitCode = 1;
    });

  kit
    .command('unpack')
    .description('Unpack a kit into a new folder: atomic, resumable, verified entry by entry')
    .argument('<kit>', 'the kit file')
    .requiredOption('--into <dir>', 'the folder to create (it appears complete or not at all)')
    .addOption(outputOption())
    .addHelpText(
      'after',
      `
Files are written under .DIR.kit-partial beside DIR and moved into place once their sha256 matched; DIR
appears at the end by a rename. Run it again after an interruption: verified files are kept. Refused with
exit code 2, leaving nothing behind: paths leaving the folder (../, absolute), links, devices and FIFOs,
duplicate names, entries the manifest does not list, size or sha256 mismatches, unknown manifest formats.`,
    )
    .action(async (kitPath: string, opts: { into: string; output: OutputFormat }) => {
      const { unpackKit } = await import('../../kit/index.ts');
      if (!(await stat(kitPath).catch(() => undefined))?.isFile())
        throw new InputError(`${kitPath} is not a kit file`);
      const bars = process.stdout.isTTY && opts.output === 'text' ? progressBars() : undefined;
      try {
        const result = await unpackKit(kitPath, opts.into, {
          ...(bars && { onProgress: (d: number, t: number) => bars.update('unpack', d, t) }),
        });
        bars?.stop();
        if (opts.output === 'json') {
          const { manifest, ...rest } = result;
          return printJson({ ...rest, secretsNeeded: manifest.secretsNeeded });
        }
        process.stdout.write(
          result.alreadyUnpacked
            ? `${rel(result.into)}: already holds this kit, complete\n`
            : `${rel(result.into)}: ${result.files} files, ${formatBytes(result.bytes)}${result.kept ? ` (${result.kept} kept from an interrupted run)` : ''}\n`,
        );
      } finally {
        bars?.stop();
      }
    });

  command(
    kit,
    'import',
    'Verify a kit and import it into the running service: images to its media dir, hosts to its inventory',
  )
    .argument('<kit>', 'a kit file, or a folder a kit was unpacked into')
    .option(
      '--secrets <file>',
      'BMC credentials the kit needs: Metal3 Secrets, or `credentials: [{host, username, password|passwordFile}]`',
    )
    .option(
      '--media-dir <dir>',
      "the service's media dir (default: the one the running service announces, else <state-dir>/media)",
    )
    .addHelpText(
      'after',
      `
The kit is unpacked under <state-dir>/kits/<id> (resumable; a folder is verified in place), its images and
their .sha256 are placed in the media dir (hosts provision --image NAME finds them), and its hosts are
imported with the credentials from --secrets. When credentials are missing, they are listed and nothing is
imported. Running it again with the same kit is harmless.
Exit codes: 0 imported; 1 the service or the disk failed; 2 the kit, the secrets or the inventory were refused.`,
    )
    .action(async (kitPath: string, opts: ClientOptions & { secrets?: string; mediaDir?: string }) => {
      const { importKit } = await import('../../kit/index.ts');
      if (!(await stat(kitPath).catch(() => undefined))) throw new InputError(`${kitPath} does not exist`);
      const client = clientOf(opts);
      const stateDir = path.resolve(opts.stateDir ?? process.env.OUTPOST_STATE_DIR ?? DEFAULT_STATE_DIR);
      const mediaDir = path.resolve(
        opts.mediaDir ?? discoveredMediaDir(stateDir) ?? path.join(stateDir, 'media'),
      );
      const bars = process.stdout.isTTY && opts.output === 'text' ? progressBars() : undefined;
      try {
        const result = await importKit({
          kit: kitPath,
          ...(opts.secrets && { secretsFile: opts.secrets }),
          stateDir,
          mediaDir,
          importHosts: (hosts) =>
            call(client, (c) =>
              c.request<{ created: string[]; updated: string[]; unchanged: string[] }>('POST', '/hosts', {
                hosts: hosts.map(toWire),
              }),
            ),
          onStep: (line) => {
            bars?.stop();
            process.stderr.write(`${line}\n`);
          },
          ...(bars && { onProgress: bars.update }),
        });
        bars?.stop();
        if (opts.output === 'json') return printJson(result);
        for (const image of result.images)
          process.stdout.write(`image/${image.name} ${image.placed ? 'placed' : 'already in place'}\n`);
        for (const [what, names] of Object.entries(result.hosts))
          for (const n of names) process.stdout.write(`host/${n} ${what}\n`);
      } finally {
        bars?.stop();
      }
    });
}

function rel(p: string): string {
  return path.relative(process.cwd(), p) || p;
}
