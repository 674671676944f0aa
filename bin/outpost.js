#!/usr/bin/env node
// The sources are TypeScript run directly by Node's type stripping (Node >= 24), so there is no build step.
const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  process.stderr.write(`outpost needs Node.js >= 24 (this is ${process.version})\n`);
  process.exit(2);
}
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
