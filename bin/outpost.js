#!/usr/bin/env node
// The sources are TypeScript run directly by Node's type stripping (Node >= 24), so there is no build step.
// Started by an older Node (a system's `node`), outpost runs itself again with the checkout's own Node 24
// (the npm `node` package in node_modules) rather than failing.
const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  const { spawnSync } = await import('node:child_process');
  const { existsSync } = await import('node:fs');
  const { fileURLToPath } = await import('node:url');
  const ownNode = fileURLToPath(new URL('../node_modules/.bin/node', import.meta.url));
  if (!existsSync(ownNode) || process.env.OUTPOST_REEXEC) {
    process.stderr.write(
      `outpost needs Node.js >= 24 (this is ${process.version}); run \`npm install\` in ${fileURLToPath(new URL('..', import.meta.url))} to get it\n`,
    );
    process.exit(2);
  }
  const run = spawnSync(ownNode, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, OUTPOST_REEXEC: '1' },
  });
  if (run.signal) process.kill(process.pid, run.signal);
  process.exit(run.status ?? 1);
}
// `outpost hosts list | head`: a reader that closes early is not an error.
process.stdout.on('error', (error) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
