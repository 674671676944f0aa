import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TOOLS } from '../../src/preflight/tools.ts';

/* The preflight tool list stays the list of programs the code runs: every call site's program is in it. */

const src = path.resolve(import.meta.dirname, '../../src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? sources(path.join(dir, e.name))
      : e.name.endsWith('.ts')
        ? [path.join(dir, e.name)]
        : [],
  );
}

describe('the tools outpost runs', () => {
  it('lists every program the code calls', () => {
    const called = new Map<string, string>();
    for (const file of sources(src)) {
      const text = readFileSync(file, 'utf8');
      // run('x', ...) from src/image/exec.ts, execa('x', ...), spawn('x', ...) (not methods such as a
      // statement's .run()), and host tools read by path.
      for (const m of text.matchAll(/(?<![.\w])(?:run|execa|execaSync|spawn)\('([A-Za-z0-9._/-]+)',/g))
        called.set(m[1]!, path.relative(src, file));
      for (const m of text.matchAll(/HOST_TOOLS = \[([^\]]*)\]/g))
        for (const t of m[1]!.matchAll(/'([^']+)'/g)) called.set(t[1]!, path.relative(src, file));
      for (const m of text.matchAll(/const BUSYBOX = '([^']+)'/g))
        called.set(m[1]!, path.relative(src, file));
    }
    // Programs preflight runs to learn the clock state are probes, not dependencies.
    for (const probe of ['timedatectl', 'chronyc']) called.delete(probe);
    const listed = new Set(TOOLS.map((t) => t.name));
    const missing = [...called].filter(([name]) => !listed.has(name)).map(([n, f]) => `${n} (${f})`);
    expect(missing).toEqual([]);
    expect(called.size).toBeGreaterThan(15);
  });
});
