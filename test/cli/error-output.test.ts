// Finding: values from others (the service's error answers, commands' output, paths) reached the
// operator's terminal with their control characters when the CLI printed an operation's failure, so an
// answer could forge an `error:` line or rewrite the screen with escape sequences.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.ts';

/** An escape sequence clearing the screen, a forged line, a C1 CSI, a carriage return and a bidi override. */
const HOSTILE = 'disk gone\n\u001b[2Jerror: forged line\u009b31m\rcovered\u202eevil';

describe('CLI failure messages', () => {
  let server: Server;
  let url: string;
  let status = 500;
  let dir: string;
  let tokenFile: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'outpost-cli-errors-'));
    tokenFile = path.join(dir, 'api-token');
    writeFileSync(tokenFile, 'token\n', { mode: 0o600 });
    server = createServer((req, res) => {
      if (req.url === '/api/v1/cluster') {
        // What the service shows of the cluster holds what its nodes report.
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ name: 'site', describe: `Cluster/site\n└─ node-1 ${HOSTILE}` }));
        return;
      }
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: HOSTILE, problems: [{ text: HOSTILE }] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });
  afterEach(() => vi.restoreAllMocks());

  async function outputOf(
    argv: string[],
    stream: NodeJS.WriteStream = process.stderr,
  ): Promise<{ code: number; text: string }> {
    const written: string[] = [];
    vi.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    const code = await main(argv);
    vi.restoreAllMocks();
    return { code, text: written.join('') };
  }

  for (const [answer, exitCode] of [
    [500, 1],
    [409, 2],
  ] as const) {
    it(`prints a ${answer} answer's message without control characters (exit ${exitCode})`, async () => {
      status = answer;
      const { code, text } = await outputOf(['hosts', 'list', '--server', url, '--token-file', tokenFile]);
      expect(code).toBe(exitCode);
      // The answer's characters are shown as escapes: its line break too, so it cannot start a line.
      expect(text).toContain('disk gone\\x0a\\x1b[2Jerror: forged line\\x9b31m\\x0dcovered\\u{202e}evil');
      expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/);
      expect(text.split('\n').filter((line) => line.startsWith('error: forged'))).toEqual([]);
    });
  }

  it('prints the cluster tree without control characters', async () => {
    // The service makes each row one line (test/cluster/describe.test.ts); the CLI keeps any escape out.
    const argv = ['cluster', 'describe', '--server', url, '--token-file', tokenFile];
    const { code, text } = await outputOf(argv, process.stdout);
    expect(code).toBe(0);
    expect(text).toContain('└─ node-1 disk gone');
    expect(text).toContain('[2Jerror: forged line31m coveredevil');
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/);
  });

  it("prints an operation's failure without the control characters of the values in it", async () => {
    // Nothing listens on port 1: the failure names the address as given, escape sequence included.
    const server = 'http://127.0.0.1:1/\u001b]0;title\u0007x\u009b2J';
    const { code, text } = await outputOf(['hosts', 'list', '--server', server, '--token-file', tokenFile]);
    expect(code).toBe(1);
    expect(text).toMatch(
      /^error: cannot reach the outpost service at http:\/\/127\.0\.0\.1:1\/\\x1b\]0;title\\x07x/,
    );
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
  });
});
