/** Writing the first-boot bundle and the systemd engine's unit into a mounted root filesystem. */
import { chmodSync, copyFileSync, mkdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Bundle } from '../bundle/bundle.ts';
import { resolveInRoot } from './root-path.ts';

export const BUNDLE_DIR = '/combustion';
export const ARTEFACTS_DIR = '/artefacts';
const UNIT_DIR = '/etc/systemd/system';

/** Bytes the bundle will occupy in the image (files plus artefacts), for sizing before anything is written. */
export function bundlePayloadBytes(bundle: Bundle): number {
  const files = bundle.files.reduce((n, f) => n + Buffer.byteLength(f.content), 0);
  return files + bundle.artefacts.reduce((n, a) => n + statSync(a.source).size, 0);
}

function writeInRoot(root: string, inner: string, content: string | Uint8Array, mode: number): void {
  const host = resolveInRoot(root, inner);
  mkdirSync(path.dirname(host), { recursive: true, mode: 0o755 });
  writeFileSync(host, content, { mode });
  chmodSync(host, mode); // the umask must not weaken or widen what the bundle asked for
}

/** Replaces any earlier bundle: `/combustion` (mode 0700, it may hold password hashes) and `/artefacts`. */
export function writeBundle(root: string, bundle: Bundle): void {
  for (const dir of [BUNDLE_DIR, ARTEFACTS_DIR])
    rmSync(resolveInRoot(root, dir), { recursive: true, force: true });
  mkdirSync(resolveInRoot(root, BUNDLE_DIR), { mode: 0o700 });
  for (const file of bundle.files) {
    writeInRoot(root, path.posix.join(BUNDLE_DIR, file.path), file.content, file.mode);
  }
  if (bundle.artefacts.length) mkdirSync(resolveInRoot(root, ARTEFACTS_DIR), { mode: 0o755 });
  for (const artefact of bundle.artefacts) {
    const host = resolveInRoot(root, path.posix.join(ARTEFACTS_DIR, artefact.path));
    mkdirSync(path.dirname(host), { recursive: true });
    copyFileSync(artefact.source, host);
  }
}

/** Targets named by `WantedBy=`/`RequiredBy=` in a unit's [Install] section. */
export function installTargets(unit: string): { wants: string[]; requires: string[] } {
  const wants: string[] = [];
  const requires: string[] = [];
  let inInstall = false;
  for (const raw of unit.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('[')) inInstall = line === '[Install]';
    const m = inInstall && line.match(/^(WantedBy|RequiredBy)\s*=\s*(.*)$/);
    if (m) (m[1] === 'WantedBy' ? wants : requires).push(...m[2]!.split(/\s+/).filter(Boolean));
  }
  return { wants, requires };
}

/** Installs a unit under /etc/systemd/system and enables it the way `systemctl enable` does (symlinks in .wants/.requires). */
export function installAndEnableUnit(root: string, unit: { name: string; content: string }): string[] {
  const unitPath = `${UNIT_DIR}/${unit.name}`;
  writeInRoot(root, unitPath, unit.content, 0o644);
  const { wants, requires } = installTargets(unit.content);
  const links = [
    ...wants.map((t) => `${UNIT_DIR}/${t}.wants/${unit.name}`),
    ...requires.map((t) => `${UNIT_DIR}/${t}.requires/${unit.name}`),
  ];
  for (const link of links) {
    const host = resolveInRoot(root, link);
    mkdirSync(path.dirname(host), { recursive: true });
    rmSync(host, { force: true });
    symlinkSync(unitPath, host);
  }
  return links;
}
