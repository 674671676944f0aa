import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Resolves kernel module names to the ordered list of .ko files to load, reading each module's
 * `depends=` from its ELF `.modinfo` section: no depmod or modules.dep is needed on the build host.
 */
export interface ModuleTree {
  root: string;
  /** Normalised module name (dashes as underscores) -> path relative to root. */
  files: Map<string, string>;
  builtin: Set<string>;
}

const normalise = (name: string) => name.replaceAll('-', '_');

export async function readModuleTree(modulesDir: string): Promise<ModuleTree> {
  const files = new Map<string, string>();
  for (const entry of await readdir(modulesDir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile() && entry.name.endsWith('.ko')) {
      const rel = path.relative(modulesDir, path.join(entry.parentPath, entry.name));
      files.set(normalise(entry.name.slice(0, -3)), rel);
    }
  }
  const builtin = new Set<string>();
  const builtinList = await readFile(path.join(modulesDir, 'modules.builtin'), 'utf8').catch(() => '');
  for (const line of builtinList.split('\n')) {
    const base = path.basename(line.trim());
    if (base.endsWith('.ko')) builtin.add(normalise(base.slice(0, -3)));
  }
  return { root: modulesDir, files, builtin };
}

/** The `.modinfo` key/value pairs of an ELF64 little-endian kernel module. */
export function readModinfo(elf: Buffer): Map<string, string[]> {
  if (elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1) {
    throw new Error('not an ELF64 little-endian object');
  }
  const shoff = Number(elf.readBigUInt64LE(0x28));
  const shentsize = elf.readUInt16LE(0x3a);
  const shnum = elf.readUInt16LE(0x3c);
  const shstrndx = elf.readUInt16LE(0x3e);
  const section = (i: number) => {
    const base = shoff + i * shentsize;
    return {
      name: elf.readUInt32LE(base),
      offset: Number(elf.readBigUInt64LE(base + 0x18)),
      size: Number(elf.readBigUInt64LE(base + 0x20)),
    };
  };
  const names = section(shstrndx);
  const info = new Map<string, string[]>();
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    const nameEnd = elf.indexOf(0, names.offset + s.name);
    if (elf.toString('latin1', names.offset + s.name, nameEnd) !== '.modinfo') continue;
    for (const pair of elf.toString('latin1', s.offset, s.offset + s.size).split('\0')) {
      const eq = pair.indexOf('=');
      if (eq > 0) info.set(pair.slice(0, eq), [...(info.get(pair.slice(0, eq)) ?? []), pair.slice(eq + 1)]);
    }
  }
  return info;
}

/**
 * The .ko files (relative to the tree root) for `wanted`, dependencies first. Names that are built
 * into the kernel are skipped; names the kernel does not have are returned in `missing`.
 */
export async function resolveModules(
  tree: ModuleTree,
  wanted: readonly string[],
): Promise<{ ordered: string[]; missing: string[] }> {
  const ordered: string[] = [];
  const missing: string[] = [];
  const done = new Set<string>();
  const visit = async (raw: string, stack: string[]): Promise<void> => {
    const name = normalise(raw);
    if (done.has(name) || tree.builtin.has(name)) return;
    const rel = tree.files.get(name);
    if (!rel) {
      missing.push(raw);
      return;
    }
    if (stack.includes(name)) return;
    const info = readModinfo(await readFile(path.join(tree.root, rel)));
    for (const dep of (info.get('depends')?.[0] ?? '').split(',').filter(Boolean)) {
      await visit(dep, [...stack, name]);
    }
    if (!done.has(name)) {
      done.add(name);
      ordered.push(rel);
    }
  };
  for (const name of wanted) await visit(name, []);
  return { ordered, missing };
}
