import { execFile, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { zstdCompressSync } from 'node:zlib';
import { Header } from 'tar';
import { OUTPOST } from '../service/helpers.ts';

export const BMC_PASSWORD = 'kit-test-bmc-password-7f3a';
export const METAL3_PASSWORD = 'kit-test-metal3-password-91c2';

/**
 * A site as a user prepares it: a config dir with a definition, network and custom folders, RKE2 air-gap
 * artefacts and Helm values (stand-in bytes in the release's file names), a link that stays inside, a
 * built image with its .sha256, and inventories in both formats holding credentials.
 */
export function makeSite(root: string) {
  const config = path.join(root, 'site');
  const write = (relative: string, content: string | Buffer, mode = 0o644) => {
    const file = path.join(config, relative);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, content);
    chmodSync(file, mode);
  };
  write('site.yaml', readFileSync(path.resolve(import.meta.dirname, '../../example.yaml')));
  write('network/node-1.yaml', 'interfaces:\n  - name: eth0\n    type: ethernet\n    state: up\n');
  write('custom/scripts/10-hello.sh', '#!/bin/bash\necho hello\n', 0o755);
  write('custom/files/motd', 'welcome\n', 0o600);
  write('kubernetes/install/rke2-images-core.linux-amd64.tar.zst', randomBytes(256 * 1024));
  write('kubernetes/install/rke2.linux-amd64.tar.gz', randomBytes(128 * 1024));
  write('kubernetes/install/sha256sum-amd64.txt', 'stand-in\n');
  write('kubernetes/helm/values/metallb.yaml', 'speaker:\n  enabled: true\n');
  // The definition's base image: a real GPT disk (sgdisk), so the definition validates.
  const baseImage = path.join(config, 'base-images/debian-12-outpost-base.raw');
  write('base-images/debian-12-outpost-base.raw', Buffer.alloc(0));
  truncateSync(baseImage, 4 * 2 ** 20);
  execFileSync('sgdisk', ['-o', '-n', '1:2048:0', baseImage], { stdio: 'ignore' });
  // A link inside the config dir is carried as the file it leads to.
  symlinkSync('../../network/node-1.yaml', path.join(config, 'custom/files/node-1-network.yaml'));
  write('_build/build-1/build.log', 'not carried\n');

  const image = path.join(root, 'site.raw');
  writeFileSync(image, randomBytes(1024 * 1024));
  writeFileSync(`${image}.sha256`, `${sha256(readFileSync(image))}  site.raw\n`);

  const passwordFile = path.join(root, 'node-2.password');
  writeFileSync(passwordFile, `${BMC_PASSWORD}\n`);
  const outpostInventory = path.join(root, 'hosts.yaml');
  writeFileSync(
    outpostInventory,
    [
      'hosts:',
      '  - name: node-1',
      '    bmc:',
      '      address: redfish-virtualmedia+http://127.0.0.1:9/redfish/v1/Systems/1',
      '      username: admin',
      `      password: ${BMC_PASSWORD}`,
      '    bootMACAddress: "52:54:00:00:00:01"',
      '    networkDataFile: site/network/node-1.yaml',
      '  - name: node-2',
      '    bmc:',
      '      address: redfish-virtualmedia+http://127.0.0.1:10/redfish/v1/Systems/1',
      '      username: admin',
      '      passwordFile: node-2.password',
      '    role: agent',
      '',
    ].join('\n'),
  );
  return { root, config, image, outpostInventory };
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Every regular file below `dir`: relative path -> [sha256, mode]. */
export function treeOf(dir: string, prefix = ''): Record<string, [string, string]> {
  const out: Record<string, [string, string]> = {};
  for (const name of readdirSync(dir).sort()) {
    const file = path.join(dir, name);
    const info = statSync(file);
    if (info.isDirectory()) Object.assign(out, treeOf(file, `${prefix}${name}/`));
    else out[`${prefix}${name}`] = [sha256(readFileSync(file)), (info.mode & 0o777).toString(8)];
  }
  return out;
}

export async function cli(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000) {
  const clean = { ...process.env };
  for (const key of Object.keys(clean)) if (key.startsWith('OUTPOST_')) delete clean[key];
  try {
    const r = await promisify(execFile)(process.execPath, [OUTPOST, ...args], {
      env: { ...clean, ...env },
      timeout: timeoutMs,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

export interface RawEntry {
  path: string;
  type?: 'File' | 'SymbolicLink' | 'Link' | 'CharacterDevice' | 'FIFO' | 'Directory';
  data?: Buffer | string;
  /** Declared size, when it should differ from the data's. */
  size?: number;
  linkpath?: string;
  mode?: number;
}

/** A tar+zstd archive byte by byte, with tar's own header encoder: whatever a hostile sender could write. */
export function rawTarZst(entries: RawEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const data = Buffer.from(e.data ?? '');
    const header = Buffer.alloc(512);
    new Header({
      path: e.path,
      type: e.type ?? 'File',
      size: e.size ?? (e.type && e.type !== 'File' ? 0 : data.length),
      mode: e.mode ?? 0o644,
      mtime: new Date(0),
      uid: 0,
      gid: 0,
      ...(e.linkpath && { linkpath: e.linkpath }),
    }).encode(header, 0);
    blocks.push(header);
    if (data.length) blocks.push(data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return zstdCompressSync(Buffer.concat(blocks));
}

/** A zip archive (stored entries) byte by byte: duplicate names, links and `../` are ours to write. */
export function rawZip(entries: { path: string; data?: Buffer | string; unixMode?: number }[]): Buffer {
  const { crc32 } = process.getBuiltinModule('node:zlib') as typeof import('node:zlib');
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.path);
    const data = Buffer.from(e.data ?? '');
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(name.length, 26);
    locals.push(local, name, data);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4); // made by Unix
    central.writeUInt16LE(20, 6);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(((e.unixMode ?? 0o100644) << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);
    offset += 30 + name.length + data.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

/** A manifest that lists `files` as they are. */
export function manifestFor(files: { path: string; data: Buffer | string }[], extra: object = {}): string {
  return JSON.stringify({
    format: 'outpost-kit',
    formatVersion: 1,
    outpostVersion: '0.1.0',
    created: new Date(0).toISOString(),
    definition: files[0]?.path ?? 'config/site.yaml',
    images: [],
    inventory: [],
    secretsNeeded: [],
    files: files.map((f) => ({
      path: f.path,
      size: Buffer.byteLength(f.data),
      sha256: sha256(f.data),
      mode: '0644',
    })),
    ...extra,
  });
}
