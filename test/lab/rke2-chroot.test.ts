/**
 * The stand-in release in the lab guest's own userland (the Debian 12 root filesystem the QEMU images are
 * built from), without booting it: install.sh installs it in a chroot under both prefixes, and bin/rke2
 * runs there with the guest's python3, python3-yaml, openssl and zstd, while real kubectl on the host
 * reaches its API over loopback.
 */
import { access, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeRke2Release } from '../../src/lab/rke2/index.ts';
import { ensureDebianRootfsTar } from '../fixtures/base-images.ts';
import { freePort, kubectl, supervisorGet, VERSION } from './rke2-helpers.ts';

let dir: string;
let root: string;
const ARTIFACTS = '/opt/rke2-artifacts';

beforeAll(async () => {
  const rootfs = await ensureDebianRootfsTar();
  dir = await mkdtemp(path.join(tmpdir(), 'rke2-chroot-'));
  root = path.join(dir, 'root');
  await execa('mkdir', ['-p', root]);
  await execa('tar', ['--zstd', '-xf', rootfs, '-C', root]);
  await writeRke2Release({ version: VERSION, arch: 'x86_64', outDir: path.join(root, ARTIFACTS) });
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** install.sh in the chroot, inside a private mount namespace so nothing stays mounted afterwards. */
function install(prepare = '') {
  const env = `INSTALL_RKE2_ARTIFACT_PATH=${ARTIFACTS} INSTALL_RKE2_SKIP_RELOAD=1`;
  return execa(
    'unshare',
    ['-m', 'sh', '-c', `${prepare} chroot "$1" env ${env} sh ${ARTIFACTS}/install.sh`, '_', root],
    {
      reject: false,
      timeout: 60_000,
    },
  );
}

describe('the stand-in release in the Debian guest userland', () => {
  it('install.sh with INSTALL_RKE2_ARTIFACT_PATH: /opt/rke2 when /usr/local is read-only', async () => {
    const run = await install(
      'mount --bind "$1/usr/local" "$1/usr/local" && mount -o remount,bind,ro "$1/usr/local" &&',
    );
    expect(run.exitCode, run.stderr).toBe(0);
    await access(path.join(root, 'opt/rke2/bin/rke2'));
    const unit = await readFile(path.join(root, 'etc/systemd/system/rke2-server.service'), 'utf8');
    expect(unit).toContain('ExecStart=/opt/rke2/bin/rke2 server');
    expect(unit).toContain('EnvironmentFile=-/opt/rke2/lib/systemd/system/%N.env');
    await access(path.join(root, 'opt/rke2/lib/systemd/system/rke2-server.env'));
    await rm(path.join(root, 'opt/rke2'), { recursive: true });
    await rm(path.join(root, 'etc/systemd/system/rke2-server.service'));
    await rm(path.join(root, 'etc/systemd/system/rke2-agent.service'));
  });

  it('install.sh: /usr/local prefix, every rke2-images file in agent/images, a bad checksum refused', async () => {
    const run = await install();
    expect(run.exitCode, run.stderr).toBe(0);
    await access(path.join(root, 'usr/local/bin/rke2'));
    await access(path.join(root, 'usr/local/lib/systemd/system/rke2-agent.service'));
    // systemd's own checker finds nothing to say about the unit files (it only warns, on stderr).
    const units = ['rke2-server', 'rke2-agent'].map((u) => `/usr/local/lib/systemd/system/${u}.service`);
    const verify = await execa('chroot', [root, 'systemd-analyze', 'verify', ...units], { reject: false });
    expect(verify.stderr).toBe('');
    expect(verify.exitCode).toBe(0);
    const images = await readdir(path.join(root, 'var/lib/rancher/rke2/agent/images'));
    expect(images).toContain('rke2-images.linux-amd64.tar.zst');
    expect(images).toContain('rke2-images-core.linux-amd64.tar.zst');
    expect(images).toContain('rke2-images-cilium.linux-amd64.tar.gz');
    const sums = path.join(root, ARTIFACTS, 'sha256sum-amd64.txt');
    const good = await readFile(sums, 'utf8');
    await execa('sed', ['-i', 's/^[0-9a-f]\\{8\\}\\(.*  rke2.linux-amd64.tar.gz\\)$/00000000\\1/', sums]);
    const refused = await install();
    await execa('sh', ['-c', 'cat > "$1"', '_', sums], { input: good });
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain('download sha256 does not match');
  });

  it("bin/rke2 server runs on the guest's python3 and turns Ready from the installed images", async () => {
    const api = await freePort();
    const supervisor = await freePort();
    const args = ['--bind-address', '127.0.0.1', '--https-listen-port', String(api)];
    args.push('--supervisor-port', String(supervisor), '--node-name', 'guest', '--node-ip', '127.0.0.1');
    const server = execa('chroot', [root, '/usr/local/bin/rke2', 'server', ...args], {
      reject: false,
      all: true,
    });
    try {
      const deadline = Date.now() + 30_000;
      let pong = '';
      while (Date.now() < deadline && pong !== 'pong') {
        pong = (await supervisorGet(supervisor, '/ping').catch(() => ({ body: '' }))).body;
        if (pong !== 'pong') await new Promise((r) => setTimeout(r, 200));
      }
      expect(pong, 'no /ping answer within 30 s').toBe('pong');
      const kubeconfig = path.join(root, 'etc/rancher/rke2/rke2.yaml');
      const ready = await kubectl(kubeconfig, [
        'wait',
        '--for=condition=Ready',
        'node/guest',
        '--timeout=20s',
      ]);
      expect(ready.stdout, ready.stderr).toBe('node/guest condition met');
      const version = await execa('chroot', [root, '/usr/local/bin/rke2', '--version']);
      expect(version.stdout.split('\n')[0]).toBe(`rke2 version ${VERSION} (outpost lab stand-in)`);
    } finally {
      server.kill('SIGTERM');
      const result = await server;
      expect(result.exitCode, result.all).toBe(0);
    }
  });

  it("the VIP speaker's interface lookup and gratuitous ARP work with the guest's python3 and iproute2", async () => {
    const namespace = `outpost-test-garp-${process.pid}`;
    await execa('ip', ['netns', 'add', namespace]);
    try {
      const ns = (args: string[]) => execa('ip', ['-n', namespace, ...args]);
      await ns(['link', 'add', 'name', 'node0', 'type', 'veth', 'peer', 'name', 'peer0']);
      await ns(['addr', 'add', '10.231.0.10/24', 'dev', 'node0']);
      await ns(['link', 'set', 'node0', 'up']);
      await ns(['link', 'set', 'peer0', 'up']);
      // The other end of the link listens for ARP (host python3, a raw socket), then the guest's announces.
      const listen = [
        'import socket',
        's = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))',
        "s.bind(('peer0', 0)); s.settimeout(10); print('listening', flush=True)",
        'for _ in range(2):',
        '    f = s.recv(128)',
        "    print(f[20:22].hex(), f[22:28].hex(':'), socket.inet_ntoa(f[28:32]), socket.inet_ntoa(f[38:42]), flush=True)",
      ].join('\n');
      const listener = execa('ip', ['netns', 'exec', namespace, 'python3', '-c', listen], { reject: false });
      await new Promise<void>((resolve) => listener.stdout?.once('data', () => resolve()));
      const announce = [
        'import runpy',
        `m = runpy.run_path('${ARTIFACTS}/rke2.linux-amd64', run_name='standin')`,
        "name, mac = m['interface_with']('10.231.0.10')",
        "m['gratuitous_arp'](name, mac, '10.231.0.100')",
        'print(name, mac)',
      ].join('\n');
      const sent = await execa('ip', ['netns', 'exec', namespace, 'chroot', root, 'python3', '-c', announce]);
      const [name, mac] = sent.stdout.trim().split(' ');
      expect(name).toBe('node0');
      const heard = await listener;
      expect(heard.exitCode, heard.stderr).toBe(0);
      // An ARP request and an ARP reply, each from node0's MAC with the VIP as sender and target address.
      expect(heard.stdout.trim().split('\n').slice(1)).toEqual([
        `0001 ${mac} 10.231.0.100 10.231.0.100`,
        `0002 ${mac} 10.231.0.100 10.231.0.100`,
      ]);
    } finally {
      await execa('ip', ['netns', 'delete', namespace], { reject: false });
    }
  });
});
