/** Config dirs for the hostile-input tests: a real GPT base image made once, linked into each dir. */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadDefinition } from '../../../src/build/load-definition.ts';
import { formatDiagnostic } from '../../../src/common/diagnostics.ts';
import { writeFixtureRelease, writeFixtureVipCharts } from '../../fixtures/rke2-release.ts';
import { makeGptImage, writeTree } from '../fixtures.ts';

export const BASE_DEFINITION = `apiVersion: 1.3
image:
  imageType: raw
  arch: x86_64
  baseImage: base.raw
  outputImageName: out.raw
operatingSystem:
  users:
    - username: root
      encryptedPassword: $6$salt$hash
`;

/** Every printed problem has this shape: FILE:LINE:COL: [field: ]message, on one line. */
export const POSITIONED = /^[^\n\r\x1b]+:[1-9]\d*:[1-9]\d*: [^\n\r\x1b]+$/;

export class HostileDirs {
  private root = '';
  private image = '';
  private count = 0;

  async setUp(): Promise<void> {
    this.root = await mkdtemp(path.join(tmpdir(), 'outpost-hostile-'));
    this.image = path.join(this.root, 'gpt.raw');
    await makeGptImage(this.image);
  }

  async tearDown(): Promise<void> {
    if (this.root) await rm(this.root, { recursive: true, force: true });
  }

  /** Outside every config dir: where links that escape point to. */
  get outside(): string {
    return path.join(this.root, 'outside');
  }

  /** A new config dir with the base image linked in, `site.yaml` and `files`. */
  async configDir(files: Record<string, string> = {}, definition = BASE_DEFINITION): Promise<string> {
    const dir = path.join(this.root, `c${++this.count}`);
    await mkdir(path.join(dir, 'base-images'), { recursive: true });
    await symlink(this.image, path.join(dir, 'base-images/base.raw'));
    await writeTree(dir, { 'site.yaml': definition, ...files });
    // An RKE2 definition needs its release in kubernetes/install (checked by validate).
    if (
      /version:\s*\S*rke2/.test(definition) &&
      !Object.keys(files).some((f) => f.startsWith('kubernetes/install'))
    ) {
      await writeFixtureRelease(path.join(dir, 'kubernetes/install'));
    }
    // An API VIP needs EIB's VIP charts (checked by validate).
    if (
      /apiVIP6?:/.test(definition) &&
      !Object.keys(files).some((f) => f.startsWith('kubernetes/helm/charts'))
    ) {
      await writeFixtureVipCharts(dir);
    }
    await mkdir(this.outside, { recursive: true });
    await writeFile(path.join(this.outside, 'id_ed25519'), 'PRIVATE KEY\n');
    return dir;
  }
}

export async function problems(dir: string, env: Record<string, string> = {}): Promise<string[]> {
  const result = await loadDefinition({ configDir: dir, definitionFile: 'site.yaml', env, cwd: dir });
  return result.diagnostics.map(formatDiagnostic);
}

export function mkfifo(file: string): void {
  execFileSync('mkfifo', [file]);
}
