#!/usr/bin/env node
// Times `outpost validate` on the example definition, CLI start-up included, against a baseline
// measured in the same run: bare `node -e 0` start-up. Target: under 0.5 s. The machine's load average and
// the runs' CPU time (user + system, from /proc: it varies less than wall time on a shared machine) are
// printed next to the wall times.
// Then times the network generator on large nmstate host files (0.5 and 1 MB, in process) against the
// YAML library parsing the same text: the ratio shows what checking and rendering add, and the two
// sizes show the generator is linear (a hostile file with many interfaces must not take minutes).
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { LineCounter, parse, parseDocument } from 'yaml';
import { generateNetwork } from '../src/network/generate.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const node = process.execPath;

/** CPU time (ms) of this process's waited-for children so far: cutime + cstime of /proc/self/stat. */
function childrenCpuMs() {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) * 10; // clock ticks of 10 ms (USER_HZ = 100)
}

function run(args, cwd) {
  const cpuBefore = childrenCpuMs();
  const start = process.hrtime.bigint();
  const result = spawnSync(node, args, { cwd, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.status !== 0) {
    throw new Error(`${args.join(' ')} exited ${result.status}:\n${result.stdout}${result.stderr}`);
  }
  return { ms, cpu: childrenCpuMs() - cpuBefore };
}

const medianOf = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

function measure(args, cwd) {
  run(args, cwd); // warm the file cache
  const runs = Array.from({ length: RUNS }, () => run(args, cwd));
  const times = runs.map((r) => r.ms);
  return { median: medianOf(times), min: Math.min(...times), cpu: medianOf(runs.map((r) => r.cpu)) };
}

/** A copy of the example config dir with a tiny real GPT disk (sgdisk) as the base image. */
function exampleConfigDir() {
  const dir = mkdtempSync(path.join(tmpdir(), 'outpost-bench-'));
  copyFileSync(path.join(repo, 'example.yaml'), path.join(dir, 'example.yaml'));
  for (const sub of ['custom', 'network'])
    cpSync(path.join(repo, sub), path.join(dir, sub), { recursive: true });
  const baseImage = parse(readFileSync(path.join(repo, 'example.yaml'), 'utf8')).image.baseImage;
  const image = path.join(dir, 'base-images', baseImage);
  mkdirSync(path.dirname(image), { recursive: true });
  writeFileSync(image, '');
  truncateSync(image, 4 * 2 ** 20);
  const sgdisk = spawnSync('sgdisk', ['-n', '1:2048:0', '-t', '1:8300', image], { encoding: 'utf8' });
  if (sgdisk.status !== 0) throw new Error(`sgdisk failed: ${sgdisk.stderr}`);
  return dir;
}

const dir = exampleConfigDir();
try {
  const validate = measure(
    [path.join(repo, 'bin/outpost.js'), 'validate', '--config-dir', dir, '--definition-file', 'example.yaml'],
    dir,
  );
  const baseline = measure(['-e', '0'], dir);
  const fmt = (ms) => `${ms.toFixed(1).padStart(7)} ms`;
  console.log(
    `outpost validate example.yaml (${RUNS} runs, CLI start-up included; load average ${loadavg()[0].toFixed(1)} on ${availableParallelism()} CPUs)`,
  );
  console.log(
    `  validate        median ${fmt(validate.median)}   min ${fmt(validate.min)}   CPU median ${fmt(validate.cpu)}`,
  );
  console.log(
    `  node -e 0       median ${fmt(baseline.median)}   min ${fmt(baseline.min)}   CPU median ${fmt(baseline.cpu)}`,
  );
  console.log(`  ratio (median)  ${(validate.median / baseline.median).toFixed(2)}x node start-up`);
  console.log(`  target          < 500 ms: ${validate.median < 500 ? 'met' : 'NOT met'}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

/** A host file of `count` dummy interfaces: about 33 bytes each. */
function hostFile(count) {
  const lines = ['interfaces:'];
  for (let i = 0; i < count; i++) lines.push(`  - name: d${i}`, '    type: dummy');
  return `${lines.join('\n')}\n`;
}

function timeIt(fn) {
  fn(); // warm up
  const times = Array.from({ length: 3 }, () => {
    const start = process.hrtime.bigint();
    fn();
    return Number(process.hrtime.bigint() - start) / 1e6;
  }).sort((a, b) => a - b);
  return times[1];
}

console.log('network generator on large host files (in process, median of 3)');
const sizes = [];
for (const count of [16_000, 32_000]) {
  const text = hostFile(count);
  const generate = timeIt(() => {
    const result = generateNetwork([{ file: 'big.yaml', host: 'big', text }]);
    if (result.diagnostics.length) throw new Error('the large host file should be valid');
  });
  const yamlOnly = timeIt(() => parseDocument(text, { lineCounter: new LineCounter(), uniqueKeys: true }));
  sizes.push({ bytes: text.length, generate });
  const mb = (text.length / 2 ** 20).toFixed(2);
  console.log(
    `  ${String(count).padStart(6)} interfaces, ${mb} MiB: generate ${generate.toFixed(0).padStart(5)} ms, ` +
      `yaml parse alone ${yamlOnly.toFixed(0).padStart(5)} ms, ratio ${(generate / yamlOnly).toFixed(2)}x`,
  );
}
const [half, full] = sizes;
const growth = full.generate / half.generate / (full.bytes / half.bytes);
console.log(`  growth per byte doubling: ${growth.toFixed(2)} (1.00 = linear; quadratic would be 2.00)`);
console.log(`  target          1 MB host file < 1000 ms: ${full.generate < 1000 ? 'met' : 'NOT met'}`);
