import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PROBE_BYTES, probeFilesystem } from '../../src/image/filesystem-probe.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'outpost-fsprobe-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function head(file: string): Buffer {
  const fd = openSync(file, 'r');
  const buf = Buffer.alloc(PROBE_BYTES);
  readSync(fd, buf, 0, buf.length, 0);
  closeSync(fd);
  return buf;
}

/** blkid is the reference reading of the same superblock. */
function blkid(file: string, tag: string): string {
  return execFileSync('blkid', ['-p', '-o', 'value', '-s', tag, file], { encoding: 'utf8' }).trim();
}

const cases: { type: string; mkfs: string[]; mib: number; blkidType: string }[] = [
  { type: 'ext4', mkfs: ['mkfs.ext4', '-q', '-L', 'root'], mib: 64, blkidType: 'ext4' },
  { type: 'xfs', mkfs: ['mkfs.xfs', '-q', '-L', 'root'], mib: 320, blkidType: 'xfs' },
  { type: 'btrfs', mkfs: ['mkfs.btrfs', '-q', '-L', 'root'], mib: 128, blkidType: 'btrfs' },
  { type: 'vfat', mkfs: ['mkfs.vfat', '-F', '32', '-n', 'ROOT'], mib: 64, blkidType: 'vfat' },
];

describe('filesystem probe', () => {
  for (const c of cases) {
    it(`recognises ${c.type} with its label, UUID and size like blkid does`, () => {
      const file = path.join(dir, `${c.type}.img`);
      writeFileSync(file, '');
      truncateSync(file, c.mib * 2 ** 20);
      execFileSync(c.mkfs[0]!, [...c.mkfs.slice(1), file], { stdio: 'ignore' });
      const info = probeFilesystem(head(file));
      expect(info?.type).toBe(c.blkidType);
      expect(info?.label).toBe(blkid(file, 'LABEL'));
      expect(info?.uuid.toLowerCase()).toBe(blkid(file, 'UUID').toLowerCase());
      expect(info!.sizeBytes).toBeGreaterThan(c.mib * 2 ** 20 * 0.85);
      expect(info!.sizeBytes).toBeLessThanOrEqual(c.mib * 2 ** 20);
      if (c.type !== 'vfat') {
        expect(info!.freeBytes).toBeGreaterThan(0);
        expect(info!.freeBytes).toBeLessThan(info!.sizeBytes);
      }
    });
  }

  it('returns nothing for an unformatted partition', () => {
    expect(probeFilesystem(Buffer.alloc(PROBE_BYTES))).toBeUndefined();
  });
});
