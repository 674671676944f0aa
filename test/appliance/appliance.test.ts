import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outputNames } from '../../src/appliance/build.ts';
import {
  APPLIANCE_STEP,
  type ApplianceSettings,
  applianceContribution,
  settingsProblems,
} from '../../src/appliance/contribution.ts';
import { productionPackages } from '../../src/appliance/payload.ts';
import { buildImage } from '../../src/build/build-image.ts';
import type { BundleContribution } from '../../src/bundle/types.ts';
import { ensureDebianBaseImage } from '../fixtures/base-images.ts';

const repoRoot = path.resolve(import.meta.dirname, '../..');
let work = '';
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'outpost-appliance-'));
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const text = (c: BundleContribution, name: string) => {
  const f = c.files.find((x) => x.path === `appliance/${name}`);
  if (!f) throw new Error(`no ${name} in ${c.files.map((x) => x.path).join(', ')}`);
  return String(f.content);
};
const settings = (s: Partial<ApplianceSettings> = {}): ApplianceSettings => ({
  listen: '0.0.0.0:8080',
  ...s,
});

describe('production packages', () => {
  it('are the installed packages npm did not mark dev (nested ones too), never links or absent ones', async () => {
    const root = path.join(work, 'lock');
    for (const dir of ['node_modules/yaml', 'node_modules/vitest', 'node_modules/a/node_modules/b'])
      await mkdir(path.join(root, dir), { recursive: true }).then(() =>
        writeFile(path.join(root, dir, 'package.json'), '{}'),
      );
    const lock = JSON.stringify({
      packages: {
        '': { name: 'outpost' },
        'node_modules/yaml': {},
        'node_modules/vitest': { dev: true },
        'node_modules/a/node_modules/b': {},
        'node_modules/optional-for-another-platform': { optional: true },
        'node_modules/linked': { link: true },
      },
    });
    expect(productionPackages(root, lock)).toEqual(['node_modules/a/node_modules/b', 'node_modules/yaml']);
  });

  it('of this checkout include what outpost imports and none of its dev tools', async () => {
    const { readFile } = await import('node:fs/promises');
    const lock = await readFile(path.join(repoRoot, 'node_modules/.package-lock.json'), 'utf8');
    const found = productionPackages(repoRoot, lock);
    for (const p of ['yaml', 'commander', 'handlebars', 'execa', 'tar', 'preact'])
      expect(found).toContain(`node_modules/${p}`);
    for (const p of ['vitest', 'typescript', '@biomejs/biome', 'node', 'playwright-core'])
      expect(found).not.toContain(`node_modules/${p}`);
  });
});

describe('the appliance content', () => {
  it('installs from the payload artefact, enables and starts the units, imports the inventory once', async () => {
    const c = applianceContribution(settings({ inventory: 'hosts: []\n' }), '/build/outpost.tar');
    expect(c.artefacts).toEqual([{ path: 'appliance/outpost.tar', source: '/build/outpost.tar' }]);
    expect(c.scripts.map((s) => s.name)).toEqual([APPLIANCE_STEP]);
    const install = c.scripts[0]!.content;
    expect(install).toContain('payload="$ARTEFACTS_DIR/appliance/outpost.tar"');
    expect(install).toContain('tar -xf "$payload" -C /opt/outpost.new --no-same-owner');
    expect(install).toContain('install -m 0600 "$here/import/"\'inventory.yaml\' /var/lib/outpost/import/');
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a bash array in the script, not a template
    expect(install).toContain('systemctl start --no-block "${UNITS[@]}"');
    const inventory = c.files.find((f) => f.path === 'appliance/import/inventory.yaml')!;
    expect(inventory).toMatchObject({ mode: 0o600, secret: true });
    const importer = text(c, 'import-site.sh');
    expect(importer).toContain("import_when_up /usr/local/bin/outpost 'hosts' 'import' 'inventory.yaml'");
    expect(importer).toContain("rm -f 'inventory.yaml'");
    expect(importer).not.toContain("'kit'");
    expect(text(c, 'outpost.env')).toContain('OUTPOST_LISTEN=0.0.0.0:8080\n');
    for (const script of [install, importer, text(c, 'console-token.sh'), text(c, 'outpost')]) {
      const file = path.join(work, 'syntax.sh');
      await writeFile(file, script);
      await execa('bash', ['-n', file]);
    }
  });

  it('imports a kit with its secrets through `outpost kit import`', () => {
    const c = applianceContribution(
      settings({
        kit: '/site/kit.tar.zst',
        kitSecrets: 'credentials: []\n',
        advertiseUrl: 'http://10.0.0.2:8080',
      }),
      '/b/outpost.tar',
    );
    expect(c.artefacts).toContainEqual({ path: 'appliance/site-kit.tar.zst', source: '/site/kit.tar.zst' });
    expect(text(c, 'import-site.sh')).toContain(
      "import_when_up /usr/local/bin/outpost 'kit' 'import' 'site-kit.tar.zst' '--secrets' 'kit-secrets.yaml'",
    );
    expect(c.scripts[0]!.content).toContain(
      'install -m 0600 "$ARTEFACTS_DIR/appliance/"\'site-kit.tar.zst\'',
    );
    expect(text(c, 'outpost.env')).toContain('OUTPOST_SERVE_OPTIONS=--advertise-url http://10.0.0.2:8080\n');
  });

  it('has units systemd-analyze accepts', async () => {
    const c = applianceContribution(settings(), '/b/outpost.tar');
    const root = path.join(work, 'root');
    const put = async (p: string, content: string, mode = 0o644) => {
      await mkdir(path.dirname(path.join(root, p)), { recursive: true });
      await writeFile(path.join(root, p), content);
      await chmod(path.join(root, p), mode);
    };
    await put('/usr/local/bin/outpost', text(c, 'outpost'), 0o755);
    await put('/usr/local/libexec/outpost/import-site', text(c, 'import-site.sh'), 0o755);
    await put('/usr/local/libexec/outpost/console-token', text(c, 'console-token.sh'), 0o755);
    await put('/etc/default/outpost', text(c, 'outpost.env'));
    // The units they name (sysinit.target, network-online.target...) from this machine's systemd.
    await mkdir(path.join(root, 'usr/lib/systemd'), { recursive: true });
    await execa('cp', ['-a', '/usr/lib/systemd/system', path.join(root, 'usr/lib/systemd/')]);
    const units = ['outpost.service', 'outpost-kit-import.service', 'outpost-console-token.service'];
    for (const u of units) await put(`/etc/systemd/system/${u}`, text(c, u));
    const r = await execa(
      'systemd-analyze',
      ['verify', `--root=${root}`, ...units.map((u) => `/etc/systemd/system/${u}`)],
      { reject: false },
    );
    expect(`${r.stdout}${r.stderr}`.split('\n').filter((l) => /outpost/.test(l))).toEqual([]);
    expect(text(c, 'outpost.service')).toMatch(/^Restart=on-failure$/m);
    expect(text(c, 'outpost.service')).toContain(
      '--state-dir /var/lib/outpost --media-dir /var/lib/outpost/media',
    );
  });

  it('refuses a listen address or advertise URL a unit or the shell could misread', () => {
    expect(settingsProblems(settings({ listen: '10.0.0.2:8080' }))).toEqual([]);
    expect(
      settingsProblems(settings({ listen: '[fd00::2]:8080', advertiseUrl: 'https://mgmt.site:8443' })),
    ).toEqual([]);
    for (const listen of [
      '8080',
      '0.0.0.0:0',
      '0.0.0.0:70000',
      'a b:1',
      '$(reboot):1',
      '1.2.3.4:80\nExecStartPre=x',
    ])
      expect(settingsProblems(settings({ listen })), listen).toHaveLength(1);
    for (const advertiseUrl of ['ftp://x', 'http://x/path', 'http://x y', 'http://x;reboot'])
      expect(settingsProblems(settings({ advertiseUrl })), advertiseUrl).toHaveLength(1);
  });

  it('is built by the one builder: a dry run plans the ISO under its own name with the appliance step', async () => {
    const dir = path.join(work, 'dry-run');
    await mkdir(path.join(dir, 'base-images'), { recursive: true });
    await execa('ln', ['-s', await ensureDebianBaseImage(), path.join(dir, 'base-images', 'd.raw')]);
    await writeFile(
      path.join(dir, 'mgmt.yaml'),
      'apiVersion: 1.3\nimage:\n  imageType: raw\n  arch: x86_64\n  baseImage: d.raw\n  outputImageName: mgmt.raw\n',
    );
    const options = {
      configDir: dir,
      definitionFile: 'mgmt.yaml',
      env: {},
      dryRun: true,
      contributions: [applianceContribution(settings(), '/nonexistent/outpost.tar')],
    };
    // The payload is not read in a dry run: its size is unknown, so the contribution here has none.
    options.contributions[0]!.artefacts = [];
    const report = await buildImage({
      ...options,
      imageTypeOverride: { imageType: 'iso', outputImageName: 'mgmt.iso' },
    });
    const iso = report.plan.find((s) => s.id === 'installer-iso')!;
    expect(iso.applies).toBe(true);
    expect(report.plan.find((s) => s.id === 'publish')!.detail).toContain(path.join(dir, 'mgmt.iso'));
    expect(report.bundle.files.map((f) => f.path)).toContain(APPLIANCE_STEP);
    await expect(
      buildImage({ ...options, imageTypeOverride: { imageType: 'iso', outputImageName: '../mgmt.iso' } }),
    ).rejects.toThrow(/output image name/);
    expect((await readdir(dir)).sort()).toEqual(['base-images', 'mgmt.yaml']);
  }, 120_000);

  it('names the ISO after the raw image', () => {
    expect(outputNames('mgmt.raw')).toEqual({ raw: 'mgmt.raw', iso: 'mgmt.iso' });
    expect(outputNames('out/mgmt.iso')).toEqual({ raw: 'out/mgmt.raw', iso: 'out/mgmt.iso' });
    expect(outputNames('mgmt.img')).toEqual({ raw: 'mgmt.img', iso: 'mgmt.img.iso' });
  });
});

describe('outpost appliance refuses bad input with exit 2, writing nothing', () => {
  const outpost = (args: string[], env: Record<string, string> = {}, cwd = work) =>
    execa(process.execPath, [path.join(repoRoot, 'bin/outpost.js'), 'appliance', ...args], {
      reject: false,
      env,
      cwd,
    });

  it.each([
    ['a listen address a unit could misread', ['--listen', '0.0.0.0:8080 --x'], /--listen must be host:port/],
    ['an inventory with a problem', ['--inventory', 'bad.yaml'], /bad\.yaml:\d+:\d+/],
    ['a missing inventory', ['--inventory', 'nope.yaml'], /nope\.yaml/],
    ['kit secrets without a kit', ['--kit-secrets', 'bad.yaml'], /--kit-secrets needs --kit/],
  ])('%s', async (_what, args, message) => {
    const dir = path.join(work, `refusal-${Math.random().toString(36).slice(2)}`);
    await mkdir(dir);
    await writeFile(path.join(dir, 'mgmt.yaml'), 'apiVersion: 1.3\n');
    await writeFile(
      path.join(dir, 'bad.yaml'),
      'hosts:\n  - name: Not_A_Name\n    bmc: { address: "redfish://10.0.0.1", username: a, password: b }\n',
    );
    const r = await execa(
      process.execPath,
      [
        path.join(repoRoot, 'bin/outpost.js'),
        'appliance',
        '--config-dir',
        dir,
        '--definition-file',
        'mgmt.yaml',
        ...args,
      ],
      { reject: false, cwd: dir },
    );
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toMatch(message);
    expect((await readdir(dir)).sort()).toEqual(['bad.yaml', 'mgmt.yaml']);
  });

  it('refuses a kit it could not import: not a kit, credentials missing, a passwordFile it cannot carry', async () => {
    const dir = path.join(work, 'kit-refusals');
    await mkdir(path.join(dir, 'site'), { recursive: true });
    await writeFile(path.join(dir, 'mgmt.yaml'), 'apiVersion: 1.3\n');
    await writeFile(
      path.join(dir, 'site', 'site.yaml'),
      'apiVersion: 1.3\nimage:\n  imageType: raw\n  arch: x86_64\n  baseImage: b.raw\n  outputImageName: s.raw\n',
    );
    await writeFile(
      path.join(dir, 'hosts.yaml'),
      'hosts:\n  - name: node-1\n    bmc: { address: "redfish://10.0.0.1/redfish/v1/Systems/1", username: a, password: b }\n',
    );
    await writeFile(path.join(dir, 'not-a-kit.tar.zst'), 'hello');
    await writeFile(
      path.join(dir, 'secrets.yaml'),
      'credentials:\n  - host: node-1\n    username: a\n    passwordFile: pw\n',
    );
    await writeFile(path.join(dir, 'pw'), 'b\n');
    const kit = path.join(dir, 'site.kit.tar.zst');
    const made = await execa(
      process.execPath,
      [
        path.join(repoRoot, 'bin/outpost.js'),
        'kit',
        'create',
        '--output',
        kit,
        '--config-dir',
        'site',
      ].concat(['--definition-file', 'site.yaml', '--inventory', 'hosts.yaml', '--no-base-images']),
      { cwd: dir, reject: false },
    );
    expect(made.exitCode, made.stderr).toBe(0);
    const before = (await readdir(dir)).sort();
    const cases: [string[], RegExp][] = [
      [['--kit', 'not-a-kit.tar.zst'], /not a sound site kit/],
      [['--kit', kit], /needs BMC credentials at import; give them with --kit-secrets[\s\S]*host node-1/],
      [
        ['--kit', kit, '--kit-secrets', 'secrets.yaml'],
        /passwordFile 'pw' cannot be carried into the appliance/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = await outpost(['--config-dir', dir, '--definition-file', 'mgmt.yaml', ...args], {}, dir);
      expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(message);
    }
    expect((await readdir(dir)).sort()).toEqual(before);
  });

  it('--help says what it builds', async () => {
    const r = await outpost(['--help']);
    expect(r.stdout).toContain('--inventory <file>');
    expect(r.stdout).toContain('--iso');
  });
});
