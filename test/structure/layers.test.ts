import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/*
 * The shape of src/: one folder per domain, in layers. A domain imports only domains in lower layers (never
 * one in its own layer or above), and no file imports itself back through other files. The graph is what
 * TypeScript's own pre-processor reads from each file: static imports, `import type`, re-exports and
 * dynamic `import()`; a type-only import is a dependency too. docs/architecture.md explains the layers.
 */

/**
 * Top to bottom. Each domain (a folder directly under src/) is in exactly one layer; a layer may name a
 * domain before its folder exists (kit, appliance, artefacts, preflight: see docs/architecture.md).
 */
const LAYERS: readonly (readonly string[])[] = [
  ['cli'],
  ['trial', 'kit'],
  ['service', 'lab', 'appliance'],
  ['cluster', 'build', 'artefacts', 'preflight'],
  ['installer', 'image'],
  ['kubernetes', 'network'],
  ['bundle'],
  ['definition', 'redfish'],
  ['common'],
];

const REPO = path.resolve(import.meta.dirname, '../..');
const SRC = path.join(REPO, 'src');

/** One import: both ends relative to the repository, e.g. `src/cli/main.ts`. */
interface ImportEdge {
  from: string;
  to: string;
}

/** Every TypeScript file under `srcDir`, relative to it. */
function sourceFiles(srcDir: string): string[] {
  return readdirSync(srcDir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
}

/** Every relative import of every TypeScript file under `srcDir`, resolved to a path. */
function readImports(srcDir: string): ImportEdge[] {
  const files = sourceFiles(srcDir);
  const edges: ImportEdge[] = [];
  for (const file of files) {
    const absolute = path.join(srcDir, file);
    const { importedFiles } = ts.preProcessFile(readFileSync(absolute, 'utf8'), true, true);
    for (const { fileName } of importedFiles) {
      if (!fileName.startsWith('.')) continue; // a package or a node: built-in
      edges.push({
        from: path.relative(REPO, absolute),
        to: path.relative(REPO, path.resolve(path.dirname(absolute), fileName)),
      });
    }
  }
  return edges.sort((a, b) => a.from.localeCompare(b.from) || a.to.localeCompare(b.to));
}

/** `src/cli/main.ts` -> `cli`; a file outside src/ has none. */
function domainOf(file: string): string | undefined {
  const [top, domain, ...rest] = file.split('/');
  return top === 'src' && rest.length > 0 ? domain : undefined;
}

/** Every import that breaks the layer rules, as a line naming both files and why. */
function layerViolations(edges: readonly ImportEdge[], layers: readonly (readonly string[])[]): string[] {
  const layerOf = new Map(layers.flatMap((domains, i) => domains.map((d) => [d, i] as const)));
  const label = (domain: string) =>
    `${domain} (layer ${layerOf.get(domain)! + 1}: ${layers[layerOf.get(domain)!]!.join(', ')})`;
  const problems = new Set<string>();
  for (const { from, to } of edges) {
    const [a, b] = [domainOf(from), domainOf(to)];
    for (const [file, domain] of [
      [from, a],
      [to, b],
    ] as const) {
      if (domain === undefined) problems.add(`${from} → ${to}: ${file} is not in a domain folder of src/`);
      else if (!layerOf.has(domain))
        problems.add(`${file}: domain '${domain}' is in no layer (add it to LAYERS)`);
    }
    if (a === undefined || b === undefined || a === b || !layerOf.has(a) || !layerOf.has(b)) continue;
    if (layerOf.get(b)! <= layerOf.get(a)!) {
      const why = layerOf.get(b) === layerOf.get(a) ? 'a domain of the same layer' : 'a higher layer';
      problems.add(`${from} → ${to}: ${label(a)} imports ${why}, ${label(b)}`);
    }
  }
  return [...problems];
}

/** Every import cycle between files, each as the files in order, the first repeated at the end. */
function importCycles(edges: readonly ImportEdge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const { from, to } of edges) next.set(from, [...(next.get(from) ?? []), to]);
  // Tarjan's strongly connected components: each component of more than one file (or a file importing
  // itself) holds at least one cycle; one is reported per component.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (file: string) => {
    index.set(file, index.size);
    low.set(file, index.get(file)!);
    stack.push(file);
    onStack.add(file);
    for (const to of next.get(file) ?? []) {
      if (!index.has(to)) {
        visit(to);
        low.set(file, Math.min(low.get(file)!, low.get(to)!));
      } else if (onStack.has(to)) low.set(file, Math.min(low.get(file)!, index.get(to)!));
    }
    if (low.get(file) !== index.get(file)) return;
    const component = new Set<string>();
    for (let member = stack.pop()!; ; member = stack.pop()!) {
      onStack.delete(member);
      component.add(member);
      if (member === file) break;
    }
    if (component.size > 1 || next.get(file)?.includes(file))
      cycles.push(cycleThrough(file, component, next));
  };
  for (const file of [...next.keys()].sort()) if (!index.has(file)) visit(file);
  return cycles;
}

/** The shortest path from `start` back to itself inside its component (breadth first). */
function cycleThrough(
  start: string,
  component: ReadonlySet<string>,
  next: ReadonlyMap<string, string[]>,
): string[] {
  const cameFrom = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const file = queue.shift()!;
    for (const to of next.get(file) ?? []) {
      if (!component.has(to)) continue;
      if (to === start) {
        const cycle = [start];
        for (let at = file; at !== start; at = cameFrom.get(at)!) cycle.splice(1, 0, at);
        return [...cycle, start];
      }
      if (!cameFrom.has(to)) {
        cameFrom.set(to, file);
        queue.push(to);
      }
    }
  }
  return [start, start];
}

describe('the layers of src/', () => {
  const edges = readImports(SRC);

  it('reads the whole import graph, dynamic and type-only imports included', () => {
    expect(edges.length).toBeGreaterThan(500);
    const has = (from: string, to: string) => edges.some((e) => e.from === from && e.to === to);
    expect(has('src/cli/commands/trial.ts', 'src/trial/index.ts')).toBe(true); // import()
    expect(has('src/network/check.ts', 'src/definition/config-dir-checks.ts')).toBe(true); // import type
    expect(has('src/trial/index.ts', 'src/trial/run.ts')).toBe(true); // export ... from
  });

  it('puts every domain folder in exactly one layer', () => {
    const domains = readdirSync(SRC, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
    const listed = LAYERS.flat();
    expect(domains.filter((d) => !listed.includes(d))).toEqual([]);
    expect(new Set(listed).size).toBe(listed.length);
  });

  it('has every import go to a lower layer (the lab never imports the service; nothing imports cli or trial)', () => {
    const problems = layerViolations(edges, LAYERS);
    expect(problems, `imports that break the layers:\n${problems.join('\n')}`).toEqual([]);
  });

  it('has no import cycle between files', () => {
    const cycles = importCycles(edges).map((c) => c.join(' → '));
    expect(cycles, `import cycles:\n${cycles.join('\n')}`).toEqual([]);
  });

  it('resolves every relative import to a file that exists', () => {
    const files = new Set(sourceFiles(SRC).map((f) => path.relative(REPO, path.join(SRC, f))));
    const missing = edges.filter((e) => !files.has(e.to)).map((e) => `${e.from} → ${e.to}`);
    expect(missing).toEqual([]);
  });
});

describe('the layer checker', () => {
  const layers = [['cli'], ['service', 'lab'], ['common']];

  it('names the file that imports upwards or sideways, and the file it imports', () => {
    const problems = layerViolations(
      [
        { from: 'src/lab/index.ts', to: 'src/service/client.ts' },
        { from: 'src/common/units.ts', to: 'src/cli/main.ts' },
        { from: 'src/cli/main.ts', to: 'src/common/units.ts' },
        { from: 'src/service/api.ts', to: 'src/service/store.ts' },
      ],
      layers,
    );
    expect(problems).toEqual([
      'src/lab/index.ts → src/service/client.ts: lab (layer 2: service, lab) imports a domain of the same layer, service (layer 2: service, lab)',
      'src/common/units.ts → src/cli/main.ts: common (layer 3: common) imports a higher layer, cli (layer 1: cli)',
    ]);
  });

  it('names a domain missing from the layers', () => {
    expect(layerViolations([{ from: 'src/kit/pull.ts', to: 'src/common/units.ts' }], layers)).toEqual([
      "src/kit/pull.ts: domain 'kit' is in no layer (add it to LAYERS)",
    ]);
  });

  it('reports each cycle once, as a path of files', () => {
    expect(
      importCycles([
        { from: 'src/a/x.ts', to: 'src/a/y.ts' },
        { from: 'src/a/y.ts', to: 'src/b/z.ts' },
        { from: 'src/b/z.ts', to: 'src/a/x.ts' },
        { from: 'src/b/z.ts', to: 'src/common/units.ts' },
        { from: 'src/c/self.ts', to: 'src/c/self.ts' },
      ]),
    ).toEqual([
      ['src/a/x.ts', 'src/a/y.ts', 'src/b/z.ts', 'src/a/x.ts'],
      ['src/c/self.ts', 'src/c/self.ts'],
    ]);
  });
});
