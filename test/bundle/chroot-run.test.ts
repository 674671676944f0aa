import { execFileSync } from 'node:child_process';
import { lstat, mkdtemp, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleContributors } from '../../src/build/assemble-bundle.ts';
import { bundleFromContributions } from '../../src/bundle/assemble.ts';
import type { Bundle, FirstBootEngine } from '../../src/bundle/bundle.ts';
import { growfsContribution } from '../../src/bundle/config-dir-steps.ts';
import type { BundleContext } from '../../src/bundle/context.ts';
import { networkContribution } from '../../src/network/contributor.ts';
import { ensureDebianRootfsTar } from '../fixtures/base-images.ts';
import { EXAMPLE_KEY, exampleConfigDir, load, writeBundle } from './helpers.ts';

/*
 * The generated first-boot scripts run for real, in a chroot of the Debian fixture's root filesystem:
 * users, keys, units, time, proxy, keymap, CA certificates, os-files, custom scripts, markers, cleanup.
 * growfs and the network step are left out: inside a chroot they would act on the build host itself
 * (its disk; its interfaces and hostname). Both are proven by the QEMU boot test.
 */

const ROOT_KEY =
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHkXkEbSZS1Sv4yS4u2Yy6o3cX6ZkY2q8vJ5vFq3xY0b root@example';
const HOSTILE_KEY = `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHkXkEbSZS1Sv4yS4u2Yy6o3cX6ZkY2q8vJ5vFq3xY0c x'; touch /pwned; echo '$(id)`;
let root = '';
let procMounted = false;
let certPem = '';

async function bundleFor(engine: FirstBootEngine, extraFiles: Record<string, string> = {}): Promise<Bundle> {
  const cfg = await exampleConfigDir(
    (def) => {
      def.operatingSystem.users[0].sshKeys.push(HOSTILE_KEY);
      def.operatingSystem.users.push({ username: 'root', sshKeys: [ROOT_KEY] });
      def.operatingSystem.users.push({
        username: 'ops',
        secondaryGroups: ['edgeops'],
        encryptedPassword: '!',
      });
      def.operatingSystem.time.ntp = { servers: ['ntp1.example'], pools: ['pool.example'] };
      def.operatingSystem.proxy = {
        httpProxy: 'http://proxy.example:3128',
        noProxy: ['localhost', '10.0.0.0/8'],
      };
      def.operatingSystem.keymap = 'de';
    },
    {
      'os-files/etc/outpost/site.conf': 'site=example\n',
      'certificates/site-ca.pem': certPem,
      ...extraFiles,
    },
  );
  try {
    const loaded = await load(cfg.dir);
    const ctx: BundleContext = { loaded, definition: loaded.definition, configDir: cfg.dir, engine };
    const contributors = bundleContributors.filter(
      (c) => c !== growfsContribution && c !== networkContribution,
    );
    const contributions = [];
    for (const c of contributors) contributions.push(await c(ctx));
    return bundleFromContributions(loaded, engine, contributions);
  } finally {
    await cfg.remove();
  }
}

async function runFirstBoot(bundle: Bundle) {
  await rm(path.join(root, 'combustion'), { recursive: true, force: true });
  await rm(path.join(root, 'var/lib/outpost'), { recursive: true, force: true });
  await writeBundle(bundle, path.join(root, 'combustion'));
  return execa('chroot', [root, '/bin/bash', '/combustion/script'], {
    env: { OUTPOST_CONSOLE: 'none', PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
    extendEnv: false,
    reject: false,
    all: true,
    timeout: 120_000,
  });
}

const inRoot = (rel: string) => path.join(root, rel);
const read = (rel: string) => readFile(inRoot(rel), 'utf8');
const chroot = async (...args: string[]) =>
  (await execa('chroot', [root, ...args], { reject: false })).stdout.trim();

beforeAll(async () => {
  const tar = await ensureDebianRootfsTar();
  root = await mkdtemp('/var/tmp/outpost-chroot-');
  await execa('tar', ['-C', root, '--zstd', '-xf', tar]);
  await execa('mount', ['-t', 'proc', 'proc', inRoot('proc')]);
  procMounted = true;
  const keyDir = await mkdtemp('/var/tmp/outpost-ca-');
  try {
    await execa('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=outpost test CA',
      '-keyout',
      path.join(keyDir, 'key.pem'),
      '-out',
      path.join(keyDir, 'ca.pem'),
    ]);
    certPem = await readFile(path.join(keyDir, 'ca.pem'), 'utf8');
  } finally {
    await rm(keyDir, { recursive: true, force: true });
  }
}, 600_000);

afterAll(async () => {
  if (procMounted) execFileSync('umount', ['-l', inRoot('proc')]);
  if (root) await rm(root, { recursive: true, force: true });
});

describe('first-boot bundle in a chroot of the Debian fixture', () => {
  it(
    'applies users, keys, units, time, proxy, keymap, certificates, os-files and custom scripts',
    { timeout: 180_000 },
    async () => {
      const bundle = await bundleFor('systemd');
      const run = await runFirstBoot(bundle);
      expect(run.exitCode, run.all).toBe(0);

      expect(await read('var/lib/outpost/firstboot.done')).toBe(`${bundle.digest}\n`);
      await expect(stat(inRoot('var/lib/outpost/firstboot.failed'))).rejects.toThrow();
      await expect(stat(inRoot('combustion'))).rejects.toThrow(); // RAW cleanup after success

      expect(await chroot('getent', 'passwd', 'edge')).toBe('edge:x:2001:2001::/home/edge:/bin/bash');
      expect(await chroot('id', '-nG', 'ops')).toBe('ops edgeops');
      await expect(stat(inRoot('home/ops'))).rejects.toThrow(); // no createHomeDir
      expect(await read('etc/shadow')).toMatch(/^edge:\$6\$kb\/\/OHCwzA02CK5D\$8o6du/m);
      const keys = await read('home/edge/.ssh/authorized_keys');
      expect(keys).toBe(`${EXAMPLE_KEY}\n${HOSTILE_KEY}\n`);
      await expect(stat(inRoot('pwned'))).rejects.toThrow();
      const sshDir = await stat(inRoot('home/edge/.ssh'));
      const keyFile = await stat(inRoot('home/edge/.ssh/authorized_keys'));
      expect([sshDir.mode & 0o777, sshDir.uid, keyFile.mode & 0o777, keyFile.uid, keyFile.gid]).toEqual([
        0o700, 2001, 0o600, 2001, 2001,
      ]);
      expect(await read('root/.ssh/authorized_keys')).toBe(`${ROOT_KEY}\n`);

      expect(await chroot('systemctl', 'is-enabled', 'fstrim.timer')).toBe('enabled');
      expect(await chroot('systemctl', 'is-enabled', 'serial-getty@ttyS0.service')).toBe('enabled');
      expect(await chroot('systemctl', 'is-enabled', 'apt-daily.timer')).toBe('masked');
      expect(await chroot('systemctl', 'is-enabled', 'apt-daily-upgrade.timer')).toBe('masked');

      expect(await readlink(inRoot('etc/localtime'))).toBe('../usr/share/zoneinfo/Europe/Berlin');
      expect(await read('etc/timezone')).toBe('Europe/Berlin\n');
      expect(await read('etc/systemd/timesyncd.conf.d/outpost.conf')).toBe(
        '[Time]\nNTP=ntp1.example pool.example\n',
      );
      expect(await read('etc/environment')).toContain('http_proxy="http://proxy.example:3128"');
      expect(await read('etc/environment')).toContain('NO_PROXY="localhost,10.0.0.0/8"');
      expect(await read('etc/apt/apt.conf.d/80outpost-proxy')).toBe(
        'Acquire::http::Proxy "http://proxy.example:3128";\n',
      );
      expect(await read('etc/vconsole.conf')).toContain('KEYMAP=de\n');
      expect(await read('usr/local/share/ca-certificates/outpost-site-ca.crt')).toBe(certPem);
      expect(await read('etc/ssl/certs/ca-certificates.crt')).toContain(certPem.trim().split('\n')[1]!);
      expect(await read('etc/outpost/site.conf')).toBe('site=example\n');
      expect(await read('etc/motd')).toMatch(/^Welcome to outpost site example-site/);

      const log = await read('var/log/outpost/firstboot.log');
      expect(log).toContain('step 17-users.sh: start');
      expect(log).toContain('[50-site-motd.sh] site-motd: wrote /etc/motd for site example-site');
      expect(log).toContain('first boot complete');
      expect(log).not.toContain('$6$');
    },
  );

  it(
    'runs again on a configured system without failing (steps are idempotent)',
    { timeout: 120_000 },
    async () => {
      const bundle = await bundleFor('systemd');
      const run = await runFirstBoot(bundle);
      expect(run.exitCode, run.all).toBe(0);
      expect(await read('home/edge/.ssh/authorized_keys')).toBe(`${EXAMPLE_KEY}\n${HOSTILE_KEY}\n`);
    },
  );

  it(
    'records the failing step, keeps the bundle and stops (systemd: unit fails; combustion: exits 0)',
    { timeout: 120_000 },
    async () => {
      const failing = {
        'custom/scripts/60-broken.sh': '#!/bin/bash\necho about to fail\nexit 3\n',
        'custom/scripts/70-after.sh': '#!/bin/bash\ntouch /after-ran\n',
      };
      for (const [engine, code] of [
        ['systemd', 3],
        ['combustion', 0],
      ] as const) {
        const bundle = await bundleFor(engine, failing);
        const run = await runFirstBoot(bundle);
        expect(run.exitCode, run.all).toBe(code);
        const failed = await read('var/lib/outpost/firstboot.failed');
        expect(failed).toContain('step=60-broken.sh\nexit_code=3\n');
        expect(failed).toContain(`digest=${bundle.digest}`);
        await expect(stat(inRoot('var/lib/outpost/firstboot.done'))).rejects.toThrow();
        await expect(stat(inRoot('after-ran'))).rejects.toThrow();
        expect((await lstat(inRoot('combustion/script'))).isFile()).toBe(true);
        expect(await read('var/log/outpost/firstboot.log')).toContain('[60-broken.sh] about to fail');
      }
      await writeFile(inRoot('tmp/.keep'), '');
    },
  );

  it(
    'reports each step to the callback named on the kernel command line (plain bash, no curl)',
    { timeout: 120_000 },
    async () => {
      const bodies: string[] = [];
      const paths = new Set<string>();
      const server = createServer((req, res) => {
        let body = '';
        req.on('data', (chunk) => {
          body += chunk;
        });
        req.on('end', () => {
          bodies.push(body);
          paths.add(`${req.method} ${req.url} ${req.headers['content-type']}`);
          res.writeHead(204).end();
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as AddressInfo).port;
      const cmdline = inRoot('tmp/outpost-cmdline');
      const token = 'tok3n-not-for-logs';
      await writeFile(
        cmdline,
        `root=LABEL=root ro outpost.callback=http://127.0.0.1:${port}/firstboot/${token} quiet\n`,
      );
      await execa('mount', ['--bind', cmdline, inRoot('proc/cmdline')]);
      try {
        expect(await chroot('sh', '-c', 'command -v curl wget || echo none')).toBe('none');
        const run = await runFirstBoot(await bundleFor('systemd'));
        expect(run.exitCode, run.all).toBe(0);
      } finally {
        await execa('umount', [inRoot('proc/cmdline')]);
        server.close();
      }
      expect([...paths]).toEqual([`POST /firstboot/${token} application/json`]);
      const events = bodies.map((b) => JSON.parse(b) as { step: string; status: string });
      expect(events[0]).toEqual({ step: 'firstboot', status: 'started' });
      expect(events).toContainEqual({ step: '17-users.sh', status: 'started' });
      expect(events).toContainEqual({ step: '17-users.sh', status: 'ok' });
      expect(events.at(-1)).toEqual({ step: 'firstboot', status: 'done' });
      expect(await read('var/log/outpost/firstboot.log')).not.toContain(token);
    },
  );
});
