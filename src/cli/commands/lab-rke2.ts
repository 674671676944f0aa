import path from 'node:path';
import type { Command } from 'commander';
import { InputError } from '../../common/diagnostics.ts';
import { isRke2Version, rke2Arch, writeRke2Release } from '../../lab/rke2/index.ts';
import { type OutputFormat, outputOption } from '../output.ts';

interface Rke2ReleaseOptions {
  version: string;
  arch: string;
  out: string;
  installScript: boolean;
  output: OutputFormat;
}

/** `outpost lab rke2-release`: writes the lab's stand-in RKE2 release into a folder. */
export function registerRke2Release(lab: Command): void {
  lab
    .command('rke2-release')
    .description(
      "Write the lab's stand-in for an RKE2 release (real file names, layout, checksums and image archives; bin/rke2 serves RKE2's supervisor and a small Kubernetes API, runs no containers)",
    )
    .option('--version <version>', 'RKE2 version', 'v1.32.4+rke2r1')
    .option('--arch <arch>', 'x86_64, amd64, aarch64 or arm64', 'x86_64')
    .requiredOption('--out <dir>', 'folder to write the release into (created if missing)')
    .option('--no-install-script', 'do not write install.sh')
    .addOption(outputOption())
    .addHelpText(
      'after',
      `
Writes rke2.linux-<arch>.tar.gz (bin/rke2, bin/rke2-killall.sh, bin/rke2-uninstall.sh,
lib/systemd/system/rke2-{server,agent}.{service,env}, share/rke2/...), rke2.linux-<arch>,
rke2-images[-<component>].linux-<arch>.{tar.zst,tar.gz,txt}, rke2-images-all.linux-<arch>.txt,
sha256sum-<arch>.txt and install.sh (air gap: INSTALL_RKE2_ARTIFACT_PATH). The output is the same bytes
for the same version and architecture. bin/rke2 needs python3, python3-yaml, openssl and zstd on the node.
See docs/lab.md for what the stand-in serves and what it does not.`,
    )
    .action(async (opts: Rke2ReleaseOptions) => {
      // The program parses options positionally, so this command's --output is its own, not `lab`'s.
      const output = opts.output;
      if (!isRke2Version(opts.version))
        throw new InputError(`--version: '${opts.version}' is not an RKE2 version like v1.32.4+rke2r1`);
      if (!rke2Arch(opts.arch))
        throw new InputError(`--arch: unsupported '${opts.arch}' (x86_64, amd64, aarch64, arm64)`);
      const release = await writeRke2Release({
        version: opts.version,
        arch: opts.arch,
        outDir: path.resolve(opts.out),
        installScript: opts.installScript,
      });
      if (output === 'json') {
        process.stdout.write(`${JSON.stringify(release, null, 2)}\n`);
        return;
      }
      const lines = release.files.map((f) => `${f.sha256}  ${f.name}  (${f.bytes} bytes)`);
      process.stdout.write(
        `RKE2 ${release.version} stand-in release for ${release.arch} in ${release.dir}\n${lines.join('\n')}\n` +
          `runtime image: ${release.runtimeImage}\n`,
      );
    });
}
