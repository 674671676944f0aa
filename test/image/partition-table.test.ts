import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readImagePartitions } from '../../src/image/disk.ts';
import { GPT_TYPE, lastPartition } from '../../src/image/partition-table.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'outpost-ptable-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sh = (cmd: string, args: string[], input?: string) =>
  execFileSync(cmd, args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });

function image(name: string, mib: number): string {
  const file = path.join(dir, name);
  writeFileSync(file, '');
  truncateSync(file, mib * 2 ** 20);
  return file;
}

/** Writes a table through a loop device with the given logical sector size: sfdisk on a plain file assumes 512. */
function withSectorSize(file: string, sectorSize: number, body: (device: string) => void): void {
  const device = sh('losetup', ['--find', '--show', '--sector-size', String(sectorSize), file]).trim();
  try {
    body(device);
  } finally {
    sh('losetup', ['--detach', device]);
  }
}

interface SfdiskPartition {
  node: string;
  start: number;
  size: number;
  type: string;
  uuid?: string;
  name?: string;
}

/** The reference: util-linux's own reading of the same table. */
function sfdiskView(target: string): { sectorsize: number; partitions: SfdiskPartition[] } {
  return JSON.parse(sh('sfdisk', ['--json', target])).partitiontable;
}

function expectSameAsSfdisk(file: string, target: string, mbrSectorSize?: number) {
  const ours = readImagePartitions(file, mbrSectorSize);
  const ref = sfdiskView(target);
  const refPartitions = ref.partitions.filter((p) => !['5', 'f', '85'].includes(p.type));
  expect(ours.sectorSize).toBe(ref.sectorsize);
  expect(
    ours.partitions.map((p) => ({
      number: p.number,
      start: p.start,
      size: p.size,
      uuid: p.uuid,
      name: p.name,
    })),
  ).toEqual(
    refPartitions.map((p) => ({
      number: Number(p.node.match(/(\d+)$/)![1]),
      start: p.start * ref.sectorsize,
      size: p.size * ref.sectorsize,
      uuid: p.uuid,
      name: p.uuid ? (p.name ?? '') : undefined,
    })),
  );
  return ours;
}

describe('partition tables', () => {
  it('reads a GPT made by sgdisk (512-byte sectors), names, GUIDs and types included', () => {
    const file = image('gpt512.raw', 64);
    sh('sgdisk', [
      '-n',
      '1:1M:+8M',
      '-t',
      '1:ef00',
      '-c',
      '1:ESP',
      '-n',
      '2:0:+20M',
      '-t',
      '2:8304',
      '-c',
      '2:root',
      '-n',
      '3:0:0',
      '-t',
      '3:8200',
      file,
    ]);
    const table = expectSameAsSfdisk(file, file);
    expect(table.scheme).toBe('gpt');
    expect(table.partitions.map((p) => p.type)).toEqual([
      GPT_TYPE.esp,
      GPT_TYPE.linuxRootX86_64,
      GPT_TYPE.linuxSwap,
    ]);
    expect(lastPartition(table)?.number).toBe(3);
  });

  it('reads a GPT with 4096-byte sectors', () => {
    const file = image('gpt4k.raw', 64);
    withSectorSize(file, 4096, (device) => {
      sh('sfdisk', ['-q', device], 'label: gpt\nsize=4M, type=U\nsize=16M, type=L, name=data\ntype=L\n');
      const table = expectSameAsSfdisk(file, device);
      expect(table.sectorSize).toBe(4096);
      expect(table.partitions).toHaveLength(3);
    });
  });

  it('reads an MBR with primary and logical partitions', () => {
    const file = image('mbr.raw', 64);
    sh('sfdisk', ['-q', file], 'label: dos\n,4M,83\n,8M,c\n,,5\n,4M,83\n,,82\n');
    const table = expectSameAsSfdisk(file, file);
    expect(table.scheme).toBe('mbr');
    expect(table.partitions.map((p) => `${p.number}:${p.type}`)).toEqual([
      '1:0x83',
      '2:0x0c',
      '5:0x83',
      '6:0x82',
    ]);
    expect(lastPartition(table)?.number).toBe(6);
  });

  it('reads an MBR with 4096-byte sectors when told the sector size', () => {
    const file = image('mbr4k.raw', 64);
    withSectorSize(file, 4096, (device) => {
      sh('sfdisk', ['-q', device], 'label: dos\n,8M,83\n,,5\n,8M,83\n');
      expectSameAsSfdisk(file, device, 4096);
    });
  });

  it('rejects a disk without a table, and a GPT whose header checksum is wrong', () => {
    const blank = image('blank.raw', 4);
    expect(() => readImagePartitions(blank)).toThrow(/no partition table/);
    const file = image('corrupt.raw', 16);
    sh('sgdisk', ['-n', '1:1M:0', file]);
    sh('dd', ['if=/dev/urandom', `of=${file}`, 'bs=1', 'seek=600', 'count=8', 'conv=notrunc', 'status=none']);
    expect(() => readImagePartitions(file)).toThrow(/GPT header checksum mismatch/);
  });
});
