import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILD_STEPS } from '../../src/build/steps.ts';
import { copyExampleConfigDir } from '../e2e/support/example-image.ts';
import {
  commandLines,
  describeBlock,
  docBlocks,
  newcomerEnv,
  REPO,
  runBlock,
  TESTED_DOCS,
} from '../support/doc-blocks.ts';

/*
 * The docs' shell blocks run as a newcomer would run them: README.md's and docs/user-guide.md's blocks
 * without a CI marker run here, in order, in a copy of the example config dir with `outpost` on PATH
 * through scripts/install-cli.sh's wrapper; walkthrough blocks run in test/e2e/docs-walkthrough.test.ts
 * (they boot a QEMU guest); covered-by blocks are checked to be run by the file they name.
 */
const blocks = TESTED_DOCS.flatMap(docBlocks);
let work = '';
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'outpost-docs-'));
  await copyExampleConfigDir(work);
  env = newcomerEnv(path.join(work, '.bin'));
}, 900_000);
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the docs as a newcomer reads them', () => {
  it('every shell block is run here, by the walkthrough test, or by the file its marker names', () => {
    expect(blocks.length).toBeGreaterThan(5);
    for (const block of blocks.filter((b) => b.marker.kind === 'covered-by')) {
      const file = (block.marker as { file: string }).file;
      const text = readFileSync(path.join(REPO, file), 'utf8');
      expect(text, `${describeBlock(block)}: ${file} must say what it covers`).toContain(
        `Covers ${block.doc}`,
      );
      for (const command of commandLines(block))
        expect(text, `${describeBlock(block)}: ${file} must run '${command}'`).toContain(command);
    }
    // The walkthrough is a guest test (scripts/run-tests.js runs test/e2e/ one file at a time).
    if (blocks.some((b) => b.marker.kind === 'walkthrough'))
      expect(existsSync(path.join(REPO, 'test/e2e/docs-walkthrough.test.ts'))).toBe(true);
  });

  for (const block of blocks.filter((b) => b.marker.kind === 'run')) {
    it(`runs ${describeBlock(block)}`, async () => {
      const r = await runBlock(block, { cwd: work, env, timeoutMs: 600_000 });
      expect(r.code, `${describeBlock(block)}\n${r.output.slice(-4000)}`).toBe(0);
    }, 660_000);
  }

  it("uses one way to run outpost and one builder image name, and no registry's npx", () => {
    const docs = [...TESTED_DOCS, ...readdirSync(path.join(REPO, 'docs')).map((f) => `docs/${f}`)];
    for (const doc of new Set(docs)) {
      const text = readFileSync(path.join(REPO, doc), 'utf8');
      expect(text, doc).not.toMatch(/npx outpost|node bin\/outpost\.js|npm run outpost/);
      for (const podman of text.match(/podman (?:run|build)[^\n`]*/g) ?? [])
        if (/outpost/.test(podman)) expect(podman, doc).not.toMatch(/\s(outpost|outpost-builder)(\s|$)/);
      for (const image of text.match(/\S*outpost-builder\S*/g) ?? [])
        expect(image.replace(/[`:)(]+$/, ''), doc).toMatch(/localhost\/outpost-builder/);
    }
  });

  it("lists the build's steps as the builder runs them (the count comes from the code)", () => {
    const guide = readFileSync(path.join(REPO, 'docs/user-guide.md'), 'utf8');
    const section = guide.slice(guide.indexOf('### What a build does'), guide.indexOf('### Safety'));
    const titles = [...section.matchAll(/^(\d+)\. \*\*([^*]+)\*\*/gm)].map((m) => [Number(m[1]), m[2]]);
    expect(titles).toEqual(BUILD_STEPS.map((step, i) => [i + 1, step.title]));
    for (const [, k, n, title] of guide.matchAll(/\[(\d+)\/(\d+)\] ([A-Z][a-z]+(?: [a-z]+)*)/g)) {
      expect(Number(n)).toBe(BUILD_STEPS.length);
      expect(title).toBe(BUILD_STEPS[Number(k) - 1]!.title);
    }
  });
});
