import { execFileSync } from 'node:child_process';
import { mkdir, readdir, readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDefinition } from '../../src/build/load-definition.ts';
import { type Diagnostic, formatDiagnostic } from '../../src/common/diagnostics.ts';
import { generateNetwork } from '../../src/network/generate.ts';
import { readTree, runAwkGenerator } from '../network/support/fixtures.ts';
import { CORPUS_ENV, makeCorpusConfigDir, tempDir } from './fixtures.ts';
import { HostileDirs, mkfifo, POSITIONED } from './support/hostile.ts';
import { mutateAll, pick, random, TRAVERSAL_NAMES } from './support/mutate.ts';

/*
 * The robustness corpus: seeded mutations of the valid corpus (definitions, network host files) and
 * hostile config-dir layouts. Every input must give exit 2 with positioned one-line problems, or exit 0;
 * never an exception, never a hang (each case is bounded by the test timeout; timings are in
 * `npm run bench`, not asserted). The counts are printed at the end.
 */

const SEED = 9;
/** The bound on one case (parse, check, report): generous for a loaded shared machine; a hang fails it. */
const CASE_TIMEOUT = 30_000;
const here = path.dirname(new URL(import.meta.url).pathname);
const repo = path.resolve(here, '../..');
const readSources = async (dir: string) =>
  Promise.all(
    (await readdir(dir))
      .filter((f) => f.endsWith('.yaml'))
      .sort()
      .map(async (name) => ({ name, text: await readFile(path.join(dir, name), 'utf8') })),
  );
const definitionSources = await readSources(path.join(here, 'valid'));
const networkSources = await readSources(path.join(repo, 'test/network/fixtures/valid'));

const DEFINITIONS = mutateAll(definitionSources, 180, SEED);
const NETWORK_FILES = mutateAll(networkSources, 120, SEED + 1);

const tally = { inputs: 0, cleanErrors: 0, accepted: 0 };
function record(diagnostics: readonly Diagnostic[]): void {
  tally.inputs++;
  if (diagnostics.length) tally.cleanErrors++;
  else tally.accepted++;
  for (const d of diagnostics) {
    const line = formatDiagnostic(d);
    expect(line).toMatch(POSITIONED);
    expect(line).not.toMatch(/\n\s+at |internal error|RangeError|TypeError/);
  }
}

let corpusDir: string;
let removeCorpusDir: () => Promise<void>;
const dirs = new HostileDirs();
beforeAll(async () => {
  const temp = await tempDir('outpost-robust-');
  corpusDir = temp.dir;
  removeCorpusDir = temp.remove;
  await makeCorpusConfigDir(corpusDir);
  await dirs.setUp();
});
afterAll(async () => {
  await removeCorpusDir?.();
  await dirs.tearDown();
  console.log(
    `robustness corpus: ${tally.inputs} inputs, ${tally.cleanErrors} clean errors (exit 2), ${tally.accepted} accepted (exit 0)`,
  );
});

describe('mutated definitions', () => {
  it.each(DEFINITIONS.map((d, i) => [d.name, i] as const))(
    '%s',
    async (_, i) => {
      const file = `m${i}.yaml`;
      await writeFile(path.join(corpusDir, file), DEFINITIONS[i]!.bytes);
      const result = await loadDefinition({
        configDir: corpusDir,
        definitionFile: file,
        env: CORPUS_ENV,
        cwd: corpusDir,
      });
      await rm(path.join(corpusDir, file));
      record(result.diagnostics);
      expect(result.loaded === undefined).toBe(result.diagnostics.length > 0);
      for (const secret of Object.values(CORPUS_ENV))
        expect(JSON.stringify(result.diagnostics)).not.toContain(secret);
    },
    CASE_TIMEOUT,
  );
});

describe('mutated network host files', () => {
  it.each(NETWORK_FILES.map((d, i) => [d.name, i] as const))(
    '%s',
    (_, i) => {
      const text = new TextDecoder().decode(NETWORK_FILES[i]!.bytes);
      const result = generateNetwork([{ file: 'network/node1.yaml', host: 'node1', text }]);
      record(result.diagnostics);
      for (const f of result.files) {
        // Every generated path is `<host>/<plain name>.nmconnection` or the host map.
        expect(f.path).toMatch(/^(node1\/[A-Za-z0-9_][A-Za-z0-9_.+@-]*\.nmconnection|host_config\.yaml)$/);
      }
    },
    CASE_TIMEOUT,
  );
});

describe('mutated network host files through the first-boot awk twin (mawk)', () => {
  // A config drive's network data reaches the awk generator unchecked: it must refuse or render,
  // and never write outside its output folder.
  it.each(NETWORK_FILES.map((d, i) => [d.name, i] as const))(
    '%s',
    async (_, i) => {
      const sandbox = path.join(dirs.outside, `awk-${i}`);
      const input = path.join(sandbox, 'network_data.yaml');
      await mkdir(path.join(sandbox, 'out'), { recursive: true });
      await writeFile(input, NETWORK_FILES[i]!.bytes);
      const r = await runAwkGenerator(['mawk'], 'node1', input, path.join(sandbox, 'out'));
      expect([0, 2], r.stderr).toContain(r.exitCode);
      const files = Object.keys(readTree(sandbox)).filter((f) => f !== 'network_data.yaml');
      for (const f of files) {
        expect(f).toMatch(/^out\/(node1\/[A-Za-z0-9_][A-Za-z0-9_.+@-]*\.nmconnection|host_config\.yaml)$/);
      }
      if (r.exitCode === 2) expect(files).toEqual([]);
      tally.inputs++;
      if (r.exitCode === 2) tally.cleanErrors++;
      else tally.accepted++;
      await rm(sandbox, { recursive: true, force: true });
    },
    CASE_TIMEOUT,
  );
});

/** Places in a config dir that are read, and what they normally are. */
const PLACES: readonly { at: string; kind: 'file' | 'dir' }[] = [
  { at: 'network', kind: 'dir' },
  { at: 'network/node1.yaml', kind: 'file' },
  { at: 'os-files', kind: 'dir' },
  { at: 'os-files/etc/motd', kind: 'file' },
  { at: 'custom/scripts', kind: 'dir' },
  { at: 'custom/scripts/50-setup.sh', kind: 'file' },
  { at: 'custom/files', kind: 'dir' },
  { at: 'certificates', kind: 'dir' },
  { at: 'kubernetes/manifests', kind: 'dir' },
  { at: 'kubernetes/manifests/app.yaml', kind: 'file' },
  { at: 'kubernetes/config/server.yaml', kind: 'file' },
  { at: 'kubernetes/helm/values/values.yaml', kind: 'file' },
  { at: 'base-images/base.raw', kind: 'file' },
  { at: 'site.yaml', kind: 'file' },
  { at: 'out', kind: 'dir' },
  { at: 'elemental', kind: 'dir' },
];
const HAZARDS = [
  'fifo',
  'socket',
  'device',
  'loop',
  'dangling',
  'link-outside',
  'file-for-dir',
  'dir-for-file',
  'huge',
  'traversal-name',
  'control-name',
  'empty',
  'deep-tree',
] as const;

const K8S_DEFINITION = `apiVersion: 1.3
image:
  imageType: raw
  arch: x86_64
  baseImage: base.raw
  outputImageName: out/site.raw
operatingSystem:
  users:
    - username: root
      encryptedPassword: $6$salt$hash
kubernetes:
  version: v1.32.4+rke2r1
  helm:
    charts:
      - name: app
        repositoryName: repo
        version: 1.0.0
        valuesFile: values.yaml
    repositories:
      - name: repo
        url: https://charts.example
`;

async function plant(
  dir: string,
  at: string,
  hazard: (typeof HAZARDS)[number],
  outside: string,
  rng: () => number,
) {
  const target = path.join(dir, at);
  try {
    await rm(target, { recursive: true, force: true });
    await mkdir(path.dirname(target), { recursive: true });
  } catch {
    return; // an earlier hazard made a parent folder a file, a link or a FIFO: nothing to plant here
  }
  switch (hazard) {
    case 'fifo':
      return mkfifo(target);
    case 'device': // a character device that never ends (/dev/zero's numbers)
      return void execFileSync('mknod', [target, 'c', '1', '5']);
    case 'socket': {
      const server = createServer();
      await new Promise<void>((resolve) => server.listen(target, resolve));
      return new Promise<void>((resolve) => server.close(() => resolve()));
    }
    case 'loop':
      return symlink(path.basename(target), target);
    case 'dangling':
      return symlink('nowhere', target);
    case 'link-outside':
      return symlink(rng() < 0.5 ? outside : path.join(outside, 'id_ed25519'), target);
    case 'file-for-dir':
      return writeFile(target, 'a file\n');
    case 'dir-for-file':
      return mkdir(path.join(target, 'inner'), { recursive: true });
    case 'huge':
      await writeFile(target, '');
      return truncate(target, 17 * 2 ** 20);
    case 'traversal-name':
      return writeFile(
        path.join(path.dirname(target), pick(rng, TRAVERSAL_NAMES).replace(/\//g, '_')),
        'x\n',
      );
    case 'control-name':
      return writeFile(path.join(path.dirname(target), `x\x1b[31m\n${pick(rng, ['a', 'b'])}.yaml`), 'a: 1\n');
    case 'empty':
      return mkdir(target, { recursive: true });
    case 'deep-tree': {
      let deep = target;
      for (let i = 0; i < 40; i++) deep = path.join(deep, 'd');
      await mkdir(deep, { recursive: true });
      return writeFile(path.join(deep, 'f'), 'x\n');
    }
  }
}

const LAYOUTS = (() => {
  const rng = random(SEED + 2);
  return Array.from({ length: 60 }, (_, n) => {
    const hazards = Array.from({ length: 1 + Math.floor(rng() * 3) }, () => ({
      place: pick(rng, PLACES),
      hazard: pick(rng, HAZARDS),
    }));
    return {
      name: `${n}: ${hazards.map((h) => `${h.hazard} at ${h.place.at}`).join(', ')}`,
      hazards,
      seed: n,
    };
  });
})();

describe('hostile config-dir layouts', () => {
  it.each(LAYOUTS.map((l, i) => [l.name, i] as const))(
    '%s',
    async (_, i) => {
      const layout = LAYOUTS[i]!;
      const dir = await dirs.configDir(
        {
          'network/node1.yaml': 'interfaces:\n  - name: eth0\n    type: ethernet\n',
          'os-files/etc/motd': 'hello\n',
          'custom/scripts/50-setup.sh': 'true\n',
          'kubernetes/manifests/app.yaml': 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n',
          'kubernetes/helm/values/values.yaml': 'a: 1\n',
          'out/.keep': '',
        },
        K8S_DEFINITION,
      );
      const rng = random(layout.seed);
      for (const { place, hazard } of layout.hazards) await plant(dir, place.at, hazard, dirs.outside, rng);
      const result = await loadDefinition({ configDir: dir, definitionFile: 'site.yaml', env: {}, cwd: dir });
      record(result.diagnostics);
      const text = result.diagnostics.map(formatDiagnostic).join('\n');
      expect(text).not.toContain('PRIVATE KEY');
    },
    CASE_TIMEOUT,
  );
});

describe('through the CLI', () => {
  const outpost = (dir: string, file = 'site.yaml') =>
    execa(
      process.execPath,
      [path.join(repo, 'bin/outpost.js'), 'validate', '--config-dir', dir, '--definition-file', file],
      {
        cwd: dir,
        reject: false,
        timeout: 30_000,
        extendEnv: false,
        env: {},
      },
    );

  it.each([
    ['a FIFO as the definition', async (dir: string) => mkfifo(path.join(dir, 'site.yaml'))],
    [
      '10,000 nested lists',
      (dir: string) => writeFile(path.join(dir, 'site.yaml'), `${'['.repeat(10_000)}${']'.repeat(10_000)}`),
    ],
    ['a symlink loop for network/', (dir: string) => symlink('network', path.join(dir, 'network'))],
    [
      'a bond port that climbs out',
      (dir: string) =>
        writeTreeFile(
          dir,
          'network/node1.yaml',
          'interfaces:\n  - name: bond0\n    type: bond\n    link-aggregation:\n      mode: active-backup\n      port: [../../x]\n',
        ),
    ],
    [
      'terminal escapes in a value',
      (dir: string) =>
        writeFile(path.join(dir, 'site.yaml'), 'apiVersion: 1.3\nimage:\n  imageType: "\\e[2J\\e]0;x\\a"\n'),
    ],
  ])(
    '%s: exit 2, positioned, no stack trace',
    async (_, setUp) => {
      const dir = await dirs.configDir();
      await rm(path.join(dir, 'site.yaml'));
      await writeFile(path.join(dir, 'site.yaml'), 'apiVersion: 1.3\n');
      if (_ === 'a FIFO as the definition') await rm(path.join(dir, 'site.yaml'));
      await setUp(dir);
      const r = await outpost(dir);
      expect(r.exitCode, r.stderr).toBe(2);
      expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
      expect(r.stderr).not.toMatch(/\x1b/);
      const problems = r.stderr.split('\n').filter((l) => l.startsWith('  '));
      expect(problems.length).toBeGreaterThan(0);
      for (const line of problems) expect(line.trim()).toMatch(POSITIONED);
      tally.inputs++;
      tally.cleanErrors++;
    },
    CASE_TIMEOUT,
  );
});

async function writeTreeFile(dir: string, relative: string, content: string): Promise<void> {
  await mkdir(path.dirname(path.join(dir, relative)), { recursive: true });
  await writeFile(path.join(dir, relative), content);
}
