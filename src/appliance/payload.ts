/**
 * The appliance's payload: outpost as it runs here (its sources, templates, the Node runtime running
 * this process) with only its production dependencies, as one tar the first boot unpacks into
 * /opt/outpost. The dependency list comes from npm's record of what is installed
 * (node_modules/.package-lock.json): the packages not marked `dev`, as `npm ci --omit=dev` would install.
 */
import { cpSync, existsSync, linkSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import * as tar from 'tar';
import { OperationError } from '../common/diagnostics.ts';

/** The checkout or installation this process runs from (holds package.json, bin/, src/, templates/). */
export const OUTPOST_ROOT = path.resolve(import.meta.dirname, '../..');

/** Paths in /opt/outpost, the one place the wrapper and the units name them. */
export const INSTALL_DIR = '/opt/outpost';
export const RUNTIME_PATH = 'runtime/node';
const APP_PARTS = ['package.json', 'bin', 'src', 'templates'];

interface LockEntry {
  dev?: boolean;
  link?: boolean;
}

/**
 * The production packages (folders below `root`, e.g. `node_modules/yaml`) from npm's lock of what is
 * installed: every entry not marked `dev` that is there (optional ones for other platforms are not).
 */
export function productionPackages(root: string, lockText: string): string[] {
  const lock = JSON.parse(lockText) as { packages?: Record<string, LockEntry> };
  return Object.entries(lock.packages ?? {})
    .filter(([dir, entry]) => dir.startsWith('node_modules/') && !entry.dev && !entry.link)
    .map(([dir]) => dir)
    .filter((dir) => existsSync(path.join(root, dir, 'package.json')))
    .sort();
}

export interface Payload {
  file: string;
  bytes: number;
  files: number;
  packages: number;
  runtime: { path: string; version: string };
}

/**
 * Writes the payload tar to `file` (through `stage`, a scratch folder the caller removes): the app's parts,
 * the production packages, and the Node runtime as runtime/node.
 */
export async function writePayload(file: string, stage: string, root = OUTPOST_ROOT): Promise<Payload> {
  const lockFile = path.join(root, 'node_modules', '.package-lock.json');
  if (!existsSync(lockFile)) {
    throw new OperationError(
      `${lockFile} is missing: outpost's dependencies were not installed by npm, so their production subset is unknown`,
    );
  }
  const packages = productionPackages(root, readFileSync(lockFile, 'utf8'));
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  const skip = (src: string) => !src.split(path.sep).includes('.bin');
  for (const part of [...APP_PARTS, ...packages]) {
    cpSync(path.join(root, part), path.join(stage, part), { recursive: true, filter: skip });
  }
  mkdirSync(path.join(stage, path.dirname(RUNTIME_PATH)), { recursive: true });
  const runtime = path.join(stage, RUNTIME_PATH);
  try {
    linkSync(process.execPath, runtime); // same filesystem: no copy of 100+ MB
  } catch {
    cpSync(process.execPath, runtime);
  }
  const entries: string[] = [];
  await tar.create({ file, cwd: stage, portable: true, onWriteEntry: () => entries.push('') }, [
    ...APP_PARTS,
    'node_modules',
    'runtime',
  ]);
  return {
    file,
    bytes: statSync(file).size,
    files: entries.length,
    packages: packages.length,
    runtime: { path: process.execPath, version: process.version },
  };
}
