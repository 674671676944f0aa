import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { type GeneratedNetwork, generateNetwork } from '../../../src/network/generate.ts';

export const FIXTURES = path.join(import.meta.dirname, '..', 'fixtures');
export const VALID_DIR = path.join(FIXTURES, 'valid');
/** Keyfiles real nmstate generated (nm-configurator's test data), kept with the tests. */
export const GOLDEN = path.join(FIXTURES, 'nmstate-golden');
export const REPO = path.join(import.meta.dirname, '..', '..', '..');
export const AWK_GENERATOR = path.join(REPO, 'templates', 'network', 'nmstate-keyfiles.awk');

/** Every valid host file the generators are checked on: our fixtures, the example, nmstate's golden input. */
export function validHostFiles(): { host: string; file: string }[] {
  const ours = readdirSync(VALID_DIR)
    .filter((n) => n.endsWith('.yaml'))
    .sort()
    .map((n) => ({ host: n.replace(/\.yaml$/, ''), file: path.join(VALID_DIR, n) }));
  return [
    ...ours,
    { host: 'edge-node-1', file: path.join(REPO, 'network', 'edge-node-1.yaml') },
    { host: 'node1', file: path.join(GOLDEN, 'generate', 'node1.yaml') },
  ];
}

export function generateFromFiles(files: { host: string; file: string }[]): GeneratedNetwork {
  return generateNetwork(files.map((f) => ({ ...f, text: readFileSync(f.file, 'utf8') })));
}

export function writeFiles(dir: string, files: { path: string; content: string }[]): void {
  for (const f of files) {
    mkdirSync(path.dirname(path.join(dir, f.path)), { recursive: true });
    writeFileSync(path.join(dir, f.path), f.content);
  }
}

/** Reads every file under `dir` as relative path -> content. */
export function readTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[path.relative(dir, p)] = readFileSync(p, 'utf8');
    }
  };
  walk(dir);
  return out;
}

/** Awk implementations the first-boot generator must run on: Debian's mawk and busybox (gawk when present). */
export async function awkImplementations(): Promise<{ name: string; cmd: string[] }[]> {
  const found = [
    { name: 'mawk', cmd: ['mawk'] },
    { name: 'busybox awk', cmd: ['busybox', 'awk'] },
  ];
  const gawk = await execa('sh', ['-c', 'command -v gawk'], { reject: false });
  if (gawk.exitCode === 0) found.push({ name: 'gawk', cmd: ['gawk', '--posix'] });
  return found;
}

export async function runAwkGenerator(
  awk: string[],
  host: string,
  file: string,
  outdir: string,
): Promise<{ exitCode: number; stderr: string }> {
  mkdirSync(outdir, { recursive: true });
  const r = await execa(
    awk[0]!,
    [...awk.slice(1), '-v', `host=${host}`, '-v', `outdir=${outdir}`, '-f', AWK_GENERATOR, file],
    {
      reject: false,
    },
  );
  return { exitCode: r.exitCode ?? -1, stderr: r.stderr };
}
