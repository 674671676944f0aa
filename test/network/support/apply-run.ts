import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { addVethPair } from './nm-netns.ts';

let counter = 0;

export interface ApplyRun {
  exitCode: number;
  output: string;
  /** The UTS host name inside the namespace after the script ran. */
  hostname: string;
}

/**
 * Runs the first-boot network step as it runs on a host, but confined: in a fresh network namespace
 * whose only links are veths with the given names and MACs (peers in a second namespace), in a private
 * mount and UTS namespace where the real /etc is read-only, writing under `root` instead of `/`.
 */
export async function runApplyScript(opts: {
  script: string;
  bundleDir: string;
  root: string;
  links: { ifname: string; mac: string }[];
  configDriveDir?: string;
  /** Extra environment, e.g. a PATH without NetworkManager. */
  env?: Record<string, string>;
}): Promise<ApplyRun> {
  const tag = `${process.pid % 100000}a${counter++}`;
  const ns = `oap${tag}`;
  const peer = `oaq${tag}`;
  for (const d of ['etc/NetworkManager', 'run/NetworkManager/system-connections', 'var/lib/outpost']) {
    await mkdir(path.join(opts.root, d), { recursive: true });
  }
  await execa('ip', ['netns', 'add', ns]);
  try {
    await execa('ip', ['netns', 'add', peer]);
    for (const [i, link] of opts.links.entries()) {
      await addVethPair(ns, link.ifname, link.mac, peer, `q${i}`);
    }
    const inner = path.join(opts.root, 'run-step.sh');
    await writeFile(
      inner,
      `set -e
mount --bind /etc /etc && mount -o remount,bind,ro /etc
rc=0
bash "$1" || rc=$?
echo "@@hostname=$(hostname)"
exit $rc
`,
    );
    const env: Record<string, string> = {
      OUTPOST_FILES: opts.bundleDir,
      OUTPOST_NM_DIR: path.join(opts.root, 'etc/NetworkManager'),
      OUTPOST_NM_RUN_DIR: path.join(opts.root, 'run/NetworkManager'),
      OUTPOST_STATE_DIR: path.join(opts.root, 'var/lib/outpost'),
      OUTPOST_HOSTNAME_FILE: path.join(opts.root, 'etc/hostname'),
    };
    // Never probe the machine's real block devices from a test: a missing folder means "no drive".
    env.OUTPOST_CONFIG_DRIVE_DIR = opts.configDriveDir ?? path.join(opts.root, 'no-config-drive');
    Object.assign(env, opts.env);
    const r = await execa(
      'ip',
      [
        'netns',
        'exec',
        ns,
        'unshare',
        '--mount',
        '--uts',
        '--propagation',
        'private',
        'bash',
        inner,
        opts.script,
      ],
      { env, reject: false, all: true, timeout: 60_000 },
    );
    const all = String(r.all ?? '');
    const hostname = /@@hostname=(.*)/.exec(all)?.[1] ?? '';
    return { exitCode: r.exitCode ?? -1, output: all.replace(/@@hostname=.*\n?/, ''), hostname };
  } finally {
    await execa('ip', ['netns', 'del', ns], { reject: false });
    await execa('ip', ['netns', 'del', peer], { reject: false });
  }
}
