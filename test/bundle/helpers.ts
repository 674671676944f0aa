import { chmod, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { parse, stringify } from 'yaml';
import { assembleBundle } from '../../src/build/assemble-bundle.ts';
import { loadDefinition } from '../../src/build/load-definition.ts';
import type { Bundle, FirstBootEngine } from '../../src/bundle/bundle.ts';
import type { LoadedDefinition } from '../../src/definition/types.ts';

export const repoRoot = path.resolve(import.meta.dirname, '../..');
export const EXAMPLE_KEY =
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBLAnPUuyoMpYB6Z9VwgeXm+5shckBxwMez5xP6sXlO3 edge@example';

/**
 * A config dir holding a copy of the example definition (optionally changed by `edit`), its custom/
 * folder, extra files, and a tiny real GPT base image so the real loader accepts it.
 */
export async function exampleConfigDir(
  // biome-ignore lint/suspicious/noExplicitAny: tests edit the parsed YAML freely
  edit: (def: any) => void = () => {},
  extraFiles: Record<string, string> = {},
): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'outpost-bundle-cfg-'));
  const def = parse(await readFile(path.join(repoRoot, 'example.yaml'), 'utf8'));
  edit(def);
  await writeFile(path.join(dir, 'example.yaml'), stringify(def));
  await cp(path.join(repoRoot, 'custom'), path.join(dir, 'custom'), { recursive: true });
  await mkdir(path.join(dir, 'base-images'));
  const base = path.join(dir, 'base-images', def.image.baseImage);
  await writeFile(base, '');
  await execa('truncate', ['-s', '4M', base]);
  await execa('sgdisk', ['-n', '1:2048:+1M', '-t', '1:ef00', '-n', '2:0:0', '-t', '2:8300', base]);
  for (const [rel, content] of Object.entries(extraFiles)) {
    await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await writeFile(path.join(dir, rel), content);
  }
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

export async function load(dir: string, env: Record<string, string> = {}): Promise<LoadedDefinition> {
  const r = await loadDefinition({ configDir: dir, definitionFile: 'example.yaml', env });
  if (!r.loaded) throw new Error(`definition did not load: ${JSON.stringify(r.diagnostics)}`);
  return r.loaded;
}

export async function exampleBundle(engine: FirstBootEngine = 'systemd'): Promise<Bundle> {
  const cfg = await exampleConfigDir();
  try {
    return await assembleBundle(await load(cfg.dir), { engine });
  } finally {
    await cfg.remove();
  }
}

/** Writes the bundle's files under `dir` with their modes (what the image writer does into /combustion). */
export async function writeBundle(bundle: Bundle, dir: string): Promise<void> {
  for (const f of bundle.files) {
    const target = path.join(dir, f.path);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, f.content);
    await chmod(target, f.mode);
  }
}

export function text(bundle: Bundle, file: string): string {
  const f = bundle.files.find((x) => x.path === file);
  if (!f) throw new Error(`no ${file} in the bundle: ${bundle.files.map((x) => x.path).join(', ')}`);
  return typeof f.content === 'string' ? f.content : Buffer.from(f.content).toString('utf8');
}
