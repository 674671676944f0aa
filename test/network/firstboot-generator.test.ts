import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { INVALID_CASES } from './invalid-cases.ts';
import {
  awkImplementations,
  generateFromFiles,
  readTree,
  runAwkGenerator,
  validHostFiles,
} from './support/fixtures.ts';

/**
 * The image has no Node.js: nmstate from a config drive is rendered at first boot by the awk twin of
 * the TypeScript generator. Both must produce the same files, byte for byte, on every awk the target
 * OSes ship, so every golden and NetworkManager test of the TypeScript output covers the awk one too.
 */
const work = mkdtempSync(path.join(tmpdir(), 'outpost-awk-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const implementations = await awkImplementations();

describe.each(implementations)('first-boot generator on $name', ({ name, cmd }) => {
  for (const input of validHostFiles()) {
    it(`${input.host}: same keyfiles and host map as the TypeScript generator`, async () => {
      const expected = generateFromFiles([input]);
      expect(expected.diagnostics).toEqual([]);
      const out = path.join(work, name.replace(/\W/g, '_'), input.host);
      const r = await runAwkGenerator(cmd, input.host, input.file, out);
      expect(r.stderr).toBe('');
      expect(r.exitCode).toBe(0);
      expect(readTree(out)).toEqual(Object.fromEntries(expected.files.map((f) => [f.path, f.content])));
    });
  }

  // The host name comes from the config drive's meta_data.json: it becomes a folder name.
  for (const host of ['../../etc', 'a/b', '.hidden', '-rf', 'x\ny']) {
    it(`refuses the config-drive host name ${JSON.stringify(host)} and writes nothing`, async () => {
      const dir = path.join(work, name.replace(/\W/g, '_'), 'host', Buffer.from(host).toString('hex'));
      const file = path.join(dir, 'input.yaml');
      const out = path.join(dir, 'out');
      mkdirSync(dir, { recursive: true });
      writeFileSync(file, 'interfaces:\n  - name: eth0\n    type: ethernet\n');
      const r = await runAwkGenerator(cmd, host, file, out);
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toContain('is not valid');
      expect(readTree(out)).toEqual({});
      expect(readTree(dir)).toEqual({ 'input.yaml': 'interfaces:\n  - name: eth0\n    type: ethernet\n' });
    });
  }

  for (const c of INVALID_CASES.filter((x) => x.awk)) {
    it(`refuses: ${c.name}`, async () => {
      const dir = path.join(work, name.replace(/\W/g, '_'), 'invalid', c.name.replace(/\W/g, '_'));
      const file = path.join(dir, 'input.yaml');
      const out = path.join(dir, 'out');
      mkdirSync(dir, { recursive: true });
      writeFileSync(file, c.yaml);
      const r = await runAwkGenerator(cmd, 'site-a', file, out);
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toContain(`${file}${c.awk}`);
      expect(readTree(out)).toEqual({});
    });
  }
});
