import { appendFileSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cachedSha256, rememberSha256 } from '../../src/build/hash-cache.ts';

describe('remembered base image hashes', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'outpost-hash-cache-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const cache = path.join(dir, 'cache/sha256.json');

  it('are used only while the file is unchanged, even when its mtime is put back', () => {
    const file = path.join(dir, 'base.raw');
    writeFileSync(file, 'one');
    expect(cachedSha256(cache, file)).toBeUndefined();
    rememberSha256(cache, file, 'a'.repeat(64));
    expect(cachedSha256(cache, file)).toBe('a'.repeat(64));
    appendFileSync(file, 'two');
    utimesSync(file, new Date(0), new Date(0));
    expect(cachedSha256(cache, file)).toBeUndefined();
  });
});
