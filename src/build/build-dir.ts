/**
 * The build directory `_build/build-<timestamp>/`: the build log, the rendered bundle as written into the
 * image (secret files redacted) and report.json. Nothing that leaves the process here may hold a secret.
 */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Bundle } from '../bundle/bundle.ts';
import type { Log } from '../image/exec.ts';

export const REDACTED = '<redacted>';

/**
 * Runs a write and, when it fails without saying where (a write(2) that hits a full disk reports only
 * `ENOSPC ... write`), records the path on the error so the message names it.
 */
export function naming<T>(file: string, write: () => T): T {
  try {
    return write();
  } catch (error) {
    if (error instanceof Error && (error as NodeJS.ErrnoException).path === undefined)
      (error as NodeJS.ErrnoException).path = file;
    throw error;
  }
}

/** Replaces every secret value (longest first, so one secret inside another is fully covered). */
export function redactor(secrets: Iterable<string>): (text: string) => string {
  const values = [...secrets].filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
  return (text) => values.reduce((t, v) => t.replaceAll(v, REDACTED), text);
}

/** Ignition carries password hashes in `passwordHash`; mask them whatever their origin. */
export function redactIgnition(json: string): string {
  return json.replace(/("passwordHash"\s*:\s*)"(?:[^"\\]|\\.)*"/g, `$1"${REDACTED}"`);
}

/** Ignition embeds every bundle file (base64, out of a redactor's sight): blank the secret ones in the copy. */
function redactSecretFiles(bundle: Bundle): string {
  const secret = new Set(bundle.files.filter((f) => f.secret).map((f) => `/combustion/${f.path}`));
  if (secret.size === 0) return bundle.ignitionConfig;
  const config = JSON.parse(bundle.ignitionConfig) as {
    storage?: { files?: { path: string; contents?: { source?: string } }[] };
  };
  for (const file of config.storage?.files ?? []) {
    if (secret.has(file.path)) file.contents = { source: `data:,${encodeURIComponent(REDACTED)}` };
  }
  return `${JSON.stringify(config, null, 2)}\n`;
}

export function buildDirName(now: Date): string {
  return `build-${now
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replaceAll(':', '-')}`;
}

export function createBuildDir(root: string, now: Date): string {
  mkdirSync(root, { recursive: true });
  let dir = path.join(root, buildDirName(now));
  for (let n = 2; ; n++) {
    try {
      mkdirSync(dir);
      return dir;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      dir = path.join(root, `${buildDirName(now)}-${n}`);
    }
  }
}

export function buildLog(dir: string, redact: (t: string) => string): Log {
  const file = path.join(dir, 'build.log');
  return (line) => naming(file, () => appendFileSync(file, `${new Date().toISOString()} ${redact(line)}\n`));
}

/** The bundle as written into the image, for review; secret files are replaced by a note. */
export function writeRenderedBundle(dir: string, bundle: Bundle, redact: (t: string) => string): void {
  const write = (relative: string, content: string | Uint8Array, mode = 0o644) => {
    const file = path.join(dir, relative);
    naming(file, () => {
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, content, { mode });
    });
  };
  for (const f of bundle.files) {
    const content =
      f.secret === true
        ? `${REDACTED}: this file holds secrets and is only written into the image\n`
        : typeof f.content === 'string'
          ? redact(f.content)
          : f.content;
    write(path.join('combustion', f.path), content, f.mode & 0o755);
  }
  write('ignition/config.ign', redact(redactIgnition(redactSecretFiles(bundle))));
  write(path.join('systemd', bundle.firstbootUnit.name), bundle.firstbootUnit.content);
  if (bundle.artefacts.length) {
    write('artefacts.txt', bundle.artefacts.map((a) => `${a.path}\t${a.source}`).join('\n') + '\n');
  }
}
