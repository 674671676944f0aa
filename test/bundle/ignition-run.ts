import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';

/** Debian's Ignition 2.14 engine, as shipped for dracut. */
export const IGNITION = '/usr/lib/dracut/modules.d/30ignition/ignition';

/** `ignition-validate` on a config; any `warning at` line counts as a failure (unknown keys only warn). */
export async function ignitionValidate(configText: string): Promise<{ ok: boolean; output: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'outpost-ign-validate-'));
  try {
    const file = path.join(dir, 'config.ign');
    await writeFile(file, configText);
    const r = await execa('ignition-validate', [file], { reject: false, all: true });
    const output = r.all ?? '';
    return { ok: r.exitCode === 0 && !/warning at/i.test(output), output };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Runs the real Ignition `fetch-offline` and `files` stages with the config into `root`, a temporary
 * directory standing in for the new system's root. Ignition edits users through useradd/usermod with
 * `--root`, so the root needs a user database and shadow-utils configuration first. Debian's build
 * always relabels for SELinux: a no-op `setfiles` on PATH stands in.
 */
export async function ignitionFilesStage(configText: string, root: string): Promise<string> {
  const work = await mkdtemp(path.join(tmpdir(), 'outpost-ign-run-'));
  try {
    await seedRoot(root);
    await mkdir(path.join(work, 'bin'));
    await writeFile(path.join(work, 'bin', 'setfiles'), '#!/bin/sh\ncat >/dev/null\n');
    await chmod(path.join(work, 'bin', 'setfiles'), 0o755);
    const config = path.join(work, 'config.ign');
    await writeFile(config, configText);
    const common = [
      '-platform',
      'file',
      '-root',
      path.resolve(root),
      '-config-cache',
      path.join(work, 'ignition.json'),
      '-state-file',
      path.join(work, 'state'),
      '-log-to-stdout',
    ];
    const fetch = await execa(
      IGNITION,
      [...common, '-stage', 'fetch-offline', '-neednet', path.join(work, 'neednet')],
      {
        env: { IGNITION_CONFIG_FILE: config },
        reject: false,
        all: true,
      },
    );
    if (fetch.exitCode !== 0) throw new Error(`ignition fetch-offline failed:\n${fetch.all}`);
    const files = await execa(IGNITION, [...common, '-stage', 'files'], {
      env: { PATH: `${path.join(work, 'bin')}:${process.env.PATH}` },
      reject: false,
      all: true,
    });
    const log = files.all ?? '';
    if (files.exitCode !== 0 || !log.includes('Ignition finished successfully')) {
      throw new Error(`ignition files stage failed:\n${log.split('\n').slice(-15).join('\n')}`);
    }
    return log;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The minimum a root needs for Ignition's user handling: passwd/group/shadow, login.defs, skel. */
async function seedRoot(root: string): Promise<void> {
  // Ignition writes a user's SSH keys as that user: the root (often a 0700 mkdtemp) must be traversable.
  await chmod(root, 0o755);
  for (const dir of ['etc/default', 'etc/selinux', 'root', 'home'])
    await mkdir(path.join(root, dir), { recursive: true });
  await chmod(path.join(root, 'root'), 0o700);
  const seed = async (rel: string, content: string, mode = 0o644) => {
    const file = path.join(root, rel);
    if (existsSync(file)) return;
    await writeFile(file, content);
    await chmod(file, mode);
  };
  await seed('etc/passwd', 'root:x:0:0:root:/root:/bin/bash\n');
  await seed('etc/group', 'root:x:0:\nusers:x:100:\n');
  await seed('etc/shadow', 'root:*:19000:0:99999:7:::\n', 0o640);
  await seed('etc/gshadow', 'root:*::\nusers:*::\n', 0o640);
  await seed('etc/selinux/config', 'SELINUX=disabled\nSELINUXTYPE=targeted\n');
  await seed('etc/login.defs', await readFile('/etc/login.defs', 'utf8'));
  await seed('etc/default/useradd', await readFile('/etc/default/useradd', 'utf8'));
  if (!existsSync(path.join(root, 'etc/skel'))) {
    await mkdir(path.join(root, 'etc/skel'));
    for (const f of ['.bashrc', '.profile', '.bash_logout']) {
      if (existsSync(`/etc/skel/${f}`)) await copyFile(`/etc/skel/${f}`, path.join(root, 'etc/skel', f));
    }
  }
}
