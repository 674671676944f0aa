import { describe, expect, it } from 'vitest';
import { formatBytes } from '../../src/common/units.ts';

describe('formatBytes', () => {
  it('uses binary units, as disks and memory are sized', () => {
    expect(formatBytes(512)).toBe('512 bytes');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(33_554_432)).toBe('32 MiB');
    expect(formatBytes(851_443_712)).toBe('812 MiB');
    expect(formatBytes(8 * 2 ** 30)).toBe('8 GiB');
    expect(formatBytes(3.25 * 2 ** 30)).toBe('3.3 GiB');
  });
});
