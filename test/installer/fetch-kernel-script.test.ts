import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO } from '../service/helpers.ts';

// scripts/fetch-installer-kernel.sh (run by install-deps.sh at every set-up) against stand-in apt tools: a
// complete unpack is kept, an incomplete one is fetched again. The stand-ins name a kernel version and
// refuse every download, so nothing here reaches Debian's archive.
const work = mkdtempSync(path.join(tmpdir(), 'outpost-fetch-kernel-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const VERSION = '6.1.0-99-amd64';

function stubTools(): string {
  const bin = path.join(work, 'bin');
  mkdirSync(bin, { recursive: true });
  const write = (name: string, body: string) => {
    writeFileSync(path.join(bin, name), `#!/bin/sh\n${body}\n`);
    chmodSync(path.join(bin, name), 0o755);
  };
  write('apt-cache', `echo linux-image-amd64; echo "  Depends: linux-image-${VERSION}"`);
  write('apt-get', 'echo "apt-get $* (refused by the test)" >&2; exit 100');
  return bin;
}

function fetch(dest: string) {
  return spawnSync('bash', [path.join(REPO, 'scripts/fetch-installer-kernel.sh'), dest], {
    encoding: 'utf8',
    env: { ...process.env, PATH: `${stubTools()}:${process.env.PATH}` },
    timeout: 30_000,
  });
}

/** An unpacked kernel tree as the script leaves it; `complete: false` lacks the package's modules.order. */
function unpacked(dest: string, complete: boolean): void {
  const modules = path.join(dest, VERSION, 'lib/modules', VERSION);
  mkdirSync(modules, { recursive: true });
  writeFileSync(path.join(dest, VERSION, 'vmlinuz'), 'kernel');
  if (complete) writeFileSync(path.join(modules, 'modules.order'), 'kernel/drivers/block/virtio_blk.ko\n');
}

describe('fetch-installer-kernel.sh', () => {
  it('keeps a complete unpack of the current kernel: no download on the next set-up', () => {
    const dest = path.join(work, 'complete');
    unpacked(dest, true);
    const r = fetch(dest);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(`installer kernel ${VERSION} already in ${dest}\n`);
    expect(readlinkSync(path.join(dest, 'current'))).toBe(VERSION);
  });

  it('fetches again when the unpack is incomplete', () => {
    const dest = path.join(work, 'incomplete');
    unpacked(dest, false);
    const r = fetch(dest);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`apt-get download -qq linux-image-${VERSION} (refused by the test)`);
  });
});
