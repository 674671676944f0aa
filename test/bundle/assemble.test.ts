import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { assembleBundle } from '../../src/build/assemble-bundle.ts';
import { bundleFromContributions, CLEANUP_NAME } from '../../src/bundle/assemble.ts';
import { validateForBundle } from '../../src/bundle/validate.ts';
import { InputError } from '../../src/common/diagnostics.ts';
import { EXAMPLE_KEY, exampleBundle, exampleConfigDir, load, text } from './helpers.ts';

const envRef = (name: string) => `$\{${name}}`;

function runnerArray(script: string, name: string): string[] {
  const line = script.split('\n').find((l) => l.startsWith(`readonly ${name}=(`));
  if (!line) throw new Error(`no ${name} in the runner`);
  return [...line.matchAll(/'([^']*)'/g)].map((m) => m[1]!);
}

describe('bundle assembly', () => {
  it('orders the example steps lexically in EIB bands, ours before custom scripts, cleanup last', async () => {
    const bundle = await exampleBundle();
    const paths = bundle.files.map((f) => f.path);
    expect(paths).toContain('script');
    expect(paths).toContain('site-name'); // custom/files next to the scripts, as EIB does
    const steps = runnerArray(text(bundle, 'script'), 'STEPS');
    expect(steps).toEqual([
      '05-configure-network.sh',
      '10-growfs.sh',
      '14-time.sh',
      '16-groups.sh',
      '17-users.sh',
      '18-systemd.sh',
      '50-site-motd.sh',
    ]);
    expect(text(bundle, 'script')).toContain(`readonly LAST_STEP='${CLEANUP_NAME}'`);
    for (const f of bundle.files) {
      if (f.path.endsWith('.sh') || f.path === 'script') expect(f.mode, f.path).toBe(0o755);
    }
    const runner = text(bundle, 'script');
    expect(runner.startsWith('#!/bin/bash\n')).toBe(true);
    expect(runner).toContain('set -euo pipefail');
    expect(runner).toMatch(/^# combustion: prepare network$/m);
    expect(runnerArray(runner, 'NETWORK_STEPS')).toEqual(['05-configure-network.sh']);
    expect(runner).toContain(`readonly DIGEST='${bundle.digest}'`);
    // every generated script parses
    for (const f of bundle.files.filter((x) => x.mode === 0o755)) {
      await execa('bash', ['-n'], { input: text(bundle, f.path) });
    }
  });

  it('runs only the network band in the --prepare branch, with the prepare header', async () => {
    const cfg = await exampleConfigDir();
    try {
      const loaded = await load(cfg.dir);
      const network = {
        files: [{ path: 'network/edge-node-1.nmconnection', content: '[connection]\n', mode: 0o600 }],
        scripts: [{ name: '05-configure-network.sh', content: '#!/bin/bash\necho net\n' }],
        artefacts: [],
      };
      const bundle = bundleFromContributions(loaded, 'combustion', [network]);
      const runner = text(bundle, 'script');
      expect(runner).toMatch(/^# combustion: prepare network$/m);
      expect(runnerArray(runner, 'NETWORK_STEPS')).toEqual(['05-configure-network.sh']);
      expect(runner).toContain(`if [ "$\{1-}" = --prepare ]; then`);
      // Without a network step, combustion is only asked to bring the network up.
      const plain = text(bundleFromContributions(loaded, 'combustion', []), 'script');
      expect(plain).toMatch(/^# combustion: network$/m);
      expect(runnerArray(plain, 'NETWORK_STEPS')).toEqual([]);
    } finally {
      await cfg.remove();
    }
  });

  it('has a digest that is stable and changes with any file', async () => {
    const a = await exampleBundle();
    const b = await exampleBundle();
    expect(a.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(b.digest).toBe(a.digest);
    const cfg = await exampleConfigDir(undefined, { 'custom/files/extra.txt': 'x\n' });
    try {
      const c = await assembleBundle(await load(cfg.dir), { engine: 'systemd' });
      expect(c.digest).not.toBe(a.digest);
    } finally {
      await cfg.remove();
    }
  });

  it('flags the users step (password hash) and files holding environment values as secret', async () => {
    const cfg = await exampleConfigDir((def) => {
      // EIB-style references, resolved from the environment by the loader
      def.operatingSystem.users[0].encryptedPassword = envRef('EDGE_HASH');
      def.operatingSystem.proxy = { httpProxy: envRef('PROXY_URL') };
    });
    try {
      const hash =
        '$6$saltsalt$ZvEXDgY9mY8pC5v9qfEhf3lbQ0.6r2zV9zF9Fn6l3JbNRDk4d8l6ryhA3Zz7YdJm5nV9q2Qy1C2R3Z6tO8zq/0';
      const loaded = await load(cfg.dir, {
        EDGE_HASH: hash,
        PROXY_URL: 'http://user:token@proxy.example:3128',
      });
      const bundle = await assembleBundle(loaded, { engine: 'systemd' });
      const secret = bundle.files.filter((f) => f.secret).map((f) => f.path);
      expect(secret).toEqual(['13-proxy.sh', '17-users.sh']);
      expect(text(bundle, '17-users.sh')).toContain(hash);
      expect(text(bundle, 'script')).not.toContain(hash);
    } finally {
      await cfg.remove();
    }
  });

  it('rejects hostile user names instead of putting them in a script', async () => {
    const cfg = await exampleConfigDir((def) => {
      def.operatingSystem.users.push({ username: "a'b; rm -rf /" });
    });
    try {
      const r = await import('../../src/build/load-definition.ts').then((m) =>
        m.loadDefinition({ configDir: cfg.dir, definitionFile: 'example.yaml', env: {} }),
      );
      if (r.loaded) {
        // The loader let it through: the bundle must refuse it.
        await expect(assembleBundle(r.loaded, { engine: 'systemd' })).rejects.toThrow(InputError);
        await expect(assembleBundle(r.loaded, { engine: 'systemd' })).rejects.toThrow(/users\[1\]\.username/);
      } else {
        expect(JSON.stringify(r.diagnostics)).toMatch(/users\[1\]\.username/);
      }
    } finally {
      await cfg.remove();
    }
  });

  it('quotes hostile values that are legal (an SSH key comment with shell syntax) so bash reads them back verbatim', async () => {
    const hostileKey = `${EXAMPLE_KEY.split(' ').slice(0, 2).join(' ')} x'; touch /tmp/pwned; echo '$(id)\``;
    const cfg = await exampleConfigDir((def) => {
      def.operatingSystem.users[0].sshKeys = [hostileKey];
    });
    try {
      const bundle = await assembleBundle(await load(cfg.dir), { engine: 'systemd' });
      const line = text(bundle, '17-users.sh')
        .split('\n')
        .find((l) => l.startsWith('add_keys '))!;
      // Let bash parse the generated line with add_keys replaced by a printer.
      const { stdout } = await execa('bash', ['-c', `add_keys() { printf '%s\\n' "$@"; }\n${line}`]);
      expect(stdout.split('\n')).toEqual(['edge', hostileKey]);
    } finally {
      await cfg.remove();
    }
  });

  it('refuses a custom script that would replace one of ours', async () => {
    const cfg = await exampleConfigDir(undefined, { [`custom/scripts/${CLEANUP_NAME}`]: '#!/bin/sh\n' });
    try {
      await expect(assembleBundle(await load(cfg.dir), { engine: 'systemd' })).rejects.toThrow(
        /two first-boot bundle files/,
      );
    } finally {
      await cfg.remove();
    }
  });

  it('renders a run-once unit that cannot drop the host into emergency mode', async () => {
    const unit = (await exampleBundle()).firstbootUnit;
    expect(unit.name).toBe('outpost-firstboot.service');
    expect(unit.content).toContain('Type=oneshot');
    expect(unit.content).toContain('RemainAfterExit=yes');
    expect(unit.content).toContain('ConditionPathExists=!/var/lib/outpost/firstboot.done');
    expect(unit.content).toContain('StandardOutput=journal+console');
    expect(unit.content).toContain('Before=network-pre.target');
    expect(unit.content).not.toMatch(/^(OnFailure|FailureAction|RequiredBy)=/m);
  });

  it('growfs finds the disk of sd, vd, xvd, nvme and mmcblk partitions', async () => {
    const growfs = text(await exampleBundle(), '10-growfs.sh');
    const split = async (dev: string) =>
      (await execa('bash', ['-s', '--', '--split', dev], { input: growfs, reject: false })).stdout;
    expect(await split('/dev/sda3')).toBe('sda 3');
    expect(await split('/dev/vda2')).toBe('vda 2');
    expect(await split('/dev/xvdb1')).toBe('xvdb 1');
    expect(await split('/dev/nvme0n1p12')).toBe('nvme0n1 12');
    expect(await split('/dev/mmcblk0p2')).toBe('mmcblk0 2');
    expect(await split('/dev/mapper/root')).toBe('');
  });
});

describe('bundle validation', () => {
  it('names the field of every value a script could misread', async () => {
    const cfg = await exampleConfigDir();
    try {
      const def = structuredClone((await load(cfg.dir)).definition);
      def.operatingSystem.users[0]!.username = "a'b; rm -rf /";
      def.operatingSystem.users[0]!.sshKeys = ['ssh-ed25519 AAAA\nssh-rsa BBBB'];
      def.operatingSystem.groups[0]!.name = 'ops:wheel';
      def.operatingSystem.systemd.disable = ['apt-daily.timer; reboot'];
      def.operatingSystem.time = { timezone: '../../etc/shadow' };
      def.operatingSystem.proxy = { httpProxy: 'http://"$(id)"', noProxy: [] };
      def.operatingSystem.keymap = 'de us';
      expect(validateForBundle(def).map((p) => p.path)).toEqual([
        'operatingSystem.groups[0].name',
        'operatingSystem.users[0].username',
        'operatingSystem.users[0].sshKeys[0]',
        'operatingSystem.systemd.disable[0]',
        'operatingSystem.time.timezone',
        'operatingSystem.keymap',
        'operatingSystem.proxy.httpProxy',
      ]);
    } finally {
      await cfg.remove();
    }
  });
});
