/**
 * The ```sh blocks of the docs a newcomer copies from, with the CI marker each carries on the line before
 * it. No marker: test/docs/doc-blocks.test.ts runs the block. `<!-- ci: walkthrough -->` (optionally
 * `background until "TEXT"`): test/e2e/docs-walkthrough.test.ts runs it, in order with the others.
 * `<!-- ci: covered-by FILE -->`: too long for this suite's fast part, FILE runs the same command (it says
 * `Covers <doc>` and holds each command line). Any other marker is an error, so no block is skipped silently.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export const REPO = path.resolve(import.meta.dirname, '../..');
export const TESTED_DOCS = ['README.md', 'docs/user-guide.md'];

export type Marker =
  | { kind: 'run' }
  | { kind: 'walkthrough'; backgroundUntil?: string }
  | { kind: 'covered-by'; file: string };

export interface DocBlock {
  doc: string;
  /** 1-based line of the opening fence. */
  line: number;
  text: string;
  marker: Marker;
}

export function docBlocks(doc: string): DocBlock[] {
  const lines = readFileSync(path.join(REPO, doc), 'utf8').split('\n');
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== '```sh') continue;
    const end = lines.findIndex((l, j) => j > i && l.trim() === '```');
    if (end < 0) throw new Error(`${doc}:${i + 1}: unterminated sh block`);
    let before = i - 1;
    while (before >= 0 && lines[before]!.trim() === '') before--;
    blocks.push({
      doc,
      line: i + 1,
      text: lines.slice(i + 1, end).join('\n'),
      marker: parseMarker(doc, before + 1, lines[before] ?? ''),
    });
    i = end;
  }
  return blocks;
}

function parseMarker(doc: string, line: number, text: string): Marker {
  const m = /^<!--\s*ci:\s*(.*?)\s*-->$/.exec(text.trim());
  if (!m) return { kind: 'run' };
  const body = m[1]!;
  const covered = /^covered-by (\S+)$/.exec(body);
  if (covered) return { kind: 'covered-by', file: covered[1]! };
  if (body === 'walkthrough') return { kind: 'walkthrough' };
  const background = /^walkthrough background until "([^"]+)"$/.exec(body);
  if (background) return { kind: 'walkthrough', backgroundUntil: background[1]! };
  throw new Error(`${doc}:${line}: unknown CI marker '${body}'`);
}

/** The commands of a block: its lines without comments and blank lines. */
export function commandLines(block: DocBlock): string[] {
  return block.text
    .split('\n')
    .map((l) => l.replace(/\s+#.*$/, '').trim())
    .filter((l) => l && !l.startsWith('#'));
}

/**
 * The shell environment of a newcomer after the README's set-up: `outpost` is the wrapper that
 * scripts/install-cli.sh installs (here into `binDir`), the checkout's node_modules/.bin is not on PATH,
 * and no OUTPOST_* settings are exported.
 */
export function newcomerEnv(binDir: string): NodeJS.ProcessEnv {
  mkdirSync(binDir, { recursive: true });
  const install = spawnSync(
    'bash',
    [path.join(REPO, 'scripts/install-cli.sh'), path.join(binDir, 'outpost')],
    {
      encoding: 'utf8',
    },
  );
  if (install.status !== 0) throw new Error(`install-cli.sh failed: ${install.stderr}`);
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('OUTPOST_')) env[key] = value;
  const pathDirs = (process.env.PATH ?? '').split(':').filter((d) => d && !d.includes('node_modules'));
  env.PATH = [binDir, ...pathDirs].join(':');
  return env;
}

/** Runs a block with bash -e -o pipefail in `cwd`; resolves with its exit code and output. */
export function runBlock(
  block: DocBlock,
  o: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number; wrap?: string[] },
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const [cmd, ...args] = [...(o.wrap ?? []), 'bash', '-e', '-o', 'pipefail', '-c', block.text];
    const child = spawn(cmd!, args, {
      cwd: o.cwd,
      env: o.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString();
    });
    const timer = setTimeout(() => {
      output += `\n[timed out after ${o.timeoutMs} ms]`;
      process.kill(-child.pid!, 'SIGKILL');
    }, o.timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

export function describeBlock(block: DocBlock): string {
  return `${block.doc}:${block.line}: ${block.text.split('\n')[0]}`;
}
