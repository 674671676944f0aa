import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/common/diagnostics.ts';
import { scanKit } from '../../src/kit/scan.ts';
import { unpackKit } from '../../src/kit/unpack.ts';
import { tempDir } from '../service/helpers.ts';
import { cli, manifestFor, type RawEntry, rawTarZst, rawZip } from './fixtures.ts';

// Kits as a hostile sender could write them, byte by byte: every one is refused with a message naming
// the entry, exit code 2, and nothing left behind.
const tmp = tempDir('kit-hostile');
afterAll(() => tmp.cleanup());

const good = { path: 'config/site.yaml', data: 'apiVersion: 1.3\n' };
const manifest = (files = [good], extra: object = {}) => ({
  path: 'outpost-kit.json',
  data: manifestFor(files, extra),
});
let n = 0;

async function refused(bytes: Buffer, expected: RegExp) {
  const kit = path.join(tmp.dir, `hostile-${++n}.kit`);
  writeFileSync(kit, bytes);
  const into = path.join(tmp.dir, `into-${n}`);
  const error = await unpackKit(kit, into).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InputError);
  expect((error as Error).message).toMatch(expected);
  // Nothing of it stays: no folder, no partial folder, no temporary files.
  expect(readdirSync(tmp.dir).filter((f) => f.includes(`into-${n}`))).toEqual([]);
  // verify reports the same problem (it never writes).
  const scanned = await scanKit(kit);
  expect(scanned.problems.map((p) => `${p.path}: ${p.message}`).join('\n')).toMatch(expected);
  return kit;
}

const tar = (...entries: RawEntry[]) => rawTarZst(entries);

describe('a tar+zstd kit is refused when', () => {
  it('an entry leaves the folder with ../', async () => {
    const evil = { path: '../evil', data: 'x' };
    await refused(tar(manifest([good]), good, evil), /\.\.\/evil: leaves the kit/);
  });
  it('an entry has an absolute path', async () => {
    const evil = { path: '/tmp/evil', data: 'x' };
    await refused(tar(manifest([good]), good, evil), /\/tmp\/evil: is an absolute path/);
  });
  it('an entry is a symbolic link (out of the root)', async () => {
    await refused(
      tar(manifest(), good, { path: 'config/passwd', type: 'SymbolicLink', linkpath: '/etc/passwd' }),
      /config\/passwd: is a symbolic link/,
    );
  });
  it('an entry is a hard link', async () => {
    await refused(
      tar(manifest(), good, { path: 'config/shadow', type: 'Link', linkpath: '../../etc/shadow' }),
      /config\/shadow: is a hard link/,
    );
  });
  it('an entry is a device node or a FIFO', async () => {
    await refused(
      tar(manifest(), good, { path: 'config/null', type: 'CharacterDevice' }),
      /config\/null: is a device node/,
    );
    await refused(tar(manifest(), good, { path: 'config/pipe', type: 'FIFO' }), /config\/pipe: is a FIFO/);
  });
  it('a name appears twice', async () => {
    await refused(tar(manifest(), good, good), /config\/site\.yaml: appears twice/);
  });
  it('an entry is not in the manifest', async () => {
    await refused(
      tar(manifest(), good, { path: 'config/extra.sh', data: 'rm -rf /' }),
      /config\/extra\.sh: is not listed in the manifest/,
    );
  });
  it("an entry's digest does not match", async () => {
    await refused(
      tar(manifest(), { path: good.path, data: 'apiVersion: 1.4\n' }),
      /config\/site\.yaml: sha256 mismatch/,
    );
  });
  it("an entry's size does not match", async () => {
    await refused(
      tar(manifest(), { path: good.path, data: 'apiVersion: 1.3\n\n' }),
      /config\/site\.yaml: size mismatch/,
    );
  });
  it('a manifest file is missing', async () => {
    await refused(
      tar(manifest([good, { path: 'images/a.raw', data: 'a' }]), good),
      /images\/a\.raw: is listed in the manifest but missing/,
    );
  });
  it('the manifest is of an unknown format', async () => {
    const future = {
      path: 'outpost-kit.json',
      data: JSON.stringify({ format: 'outpost-kit', formatVersion: 2, files: [] }),
    };
    await refused(tar(future, good), /unknown kit format "outpost-kit" version 2/);
  });
  it('the manifest lists a path that leaves the folder', async () => {
    await refused(
      tar(manifest([{ path: 'config/../../x', data: 'x' }])),
      /files\[0\]\.path: 'config\/\.\.\/\.\.\/x' leaves the kit/,
    );
  });
  it('the manifest does not come first', async () => {
    await refused(tar(good, manifest()), /the first entry must be the manifest/);
  });
  it('the archive is truncated or not a kit at all', async () => {
    const whole = tar(manifest(), good);
    await refused(whole.subarray(0, whole.length - 20), /not a valid (zstd stream|tar archive)|missing/);
    await refused(Buffer.from('#!/bin/sh\necho not a kit\n'), /is not a site kit/);
  });
});

describe('a zip kit is refused when', () => {
  const zip = (...entries: { path: string; data?: string; unixMode?: number }[]) => rawZip(entries);
  it('a name appears twice', async () => {
    await refused(zip(manifest(), good, good), /duplicate entry names/);
  });
  it('an entry leaves the folder or is absolute', async () => {
    await refused(
      zip(manifest(), good, { path: '../../evil', data: 'x' }),
      /\.\.\/\.\.\/evil: leaves the kit/,
    );
    await refused(zip(manifest(), good, { path: '/evil', data: 'x' }), /\/evil: is an absolute path/);
  });
  it('an entry is a symbolic link', async () => {
    await refused(
      zip(manifest(), good, { path: 'config/passwd', data: '/etc/passwd', unixMode: 0o120777 }),
      /config\/passwd: is a symbolic link/,
    );
  });
  it("an entry's digest does not match", async () => {
    await refused(
      zip(manifest(), { path: good.path, data: 'apiVersion: 1.4\n' }),
      /config\/site\.yaml: sha256 mismatch/,
    );
  });
});

it('the CLI exits 2 with the reason and leaves no folder', async () => {
  const kit = path.join(tmp.dir, 'cli.kit');
  const evil = { path: '../evil', data: 'x' };
  writeFileSync(kit, tar(manifest([good]), good, evil));
  const into = path.join(tmp.dir, 'cli-into');
  const result = await cli(['kit', 'unpack', kit, '--into', into]);
  expect(result.code).toBe(2);
  expect(result.stderr).toContain('../evil: leaves the kit');
  expect(existsSync(into)).toBe(false);
  expect(existsSync(path.join(tmp.dir, 'evil'))).toBe(false);
  const verified = await cli(['kit', 'verify', kit, '-o', 'json']);
  expect(verified.code).toBe(1);
  expect(JSON.parse(verified.stdout).ok).toBe(false);
});

it('never resumes into a partial folder that is a link to elsewhere', async () => {
  const { mkdirSync, symlinkSync, readdirSync: list, lstatSync } = await import('node:fs');
  const kit = path.join(tmp.dir, 'linked-partial.kit');
  writeFileSync(kit, tar(manifest(), good));
  const elsewhere = path.join(tmp.dir, 'elsewhere');
  mkdirSync(elsewhere);
  // Someone placed the partial folder as a link, with this kit's manifest in it.
  writeFileSync(path.join(elsewhere, 'outpost-kit.json'), manifest().data);
  symlinkSync(elsewhere, path.join(tmp.dir, '.linked-into.kit-partial'));
  const result = await unpackKit(kit, path.join(tmp.dir, 'linked-into'));
  expect(result.files).toBe(1);
  expect(list(elsewhere)).toEqual(['outpost-kit.json']);
  expect(lstatSync(path.join(tmp.dir, 'linked-into')).isDirectory()).toBe(true);
});

it('import refuses an image whose name would land on the per-host ISO folder, before writing anything', async () => {
  const { mkdirSync, readdirSync: list } = await import('node:fs');
  const { importKit } = await import('../../src/kit/import.ts');
  const image = { path: 'images/hosts', data: 'x' };
  const checksum = { path: 'images/hosts.sha256', data: `${'0'.repeat(64)}  hosts\n` };
  const kit = path.join(tmp.dir, 'hosts-image.kit');
  writeFileSync(
    kit,
    tar(manifest([good, image, checksum], { images: ['images/hosts'] }), good, image, checksum),
  );
  const media = path.join(tmp.dir, 'media');
  mkdirSync(media);
  const error = await importKit({
    kit,
    stateDir: path.join(tmp.dir, 'state'),
    mediaDir: media,
    importHosts: () => Promise.reject(new Error('must not be called')),
  }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(InputError);
  expect((error as Error).message).toContain("image 'images/hosts' must be images/NAME");
  expect(list(media)).toEqual([]);
  expect(existsSync(path.join(tmp.dir, 'state'))).toBe(false);
});
