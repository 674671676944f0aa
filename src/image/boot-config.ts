/**
 * Where an image keeps its kernel command line, and adding arguments there: GRUB (defaults + generated
 * grub.cfg), BLS entries in the root filesystem, or systemd-boot entries on the ESP (edited with mtools).
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { listEspDir, readEspFile, writeEspFile } from './esp.ts';
import type { Log } from './exec.ts';
import { editBlsEntry, editGrubCfg, editGrubDefaults } from './kernel-args.ts';
import { isEsp, type Partition, type PartitionTable } from './partition-table.ts';
import { resolveInRoot } from './root-path.ts';

export type BootConfigKind = 'grub' | 'bls' | 'systemd-boot';

export interface BootConfig {
  kind: BootConfigKind;
  /** Files as the image sees them: `/boot/grub2/grub.cfg`, or `esp:/loader/entries/x.conf` on the ESP. */
  files: string[];
}

const GRUB_CFGS = ['/boot/grub2/grub.cfg', '/boot/grub/grub.cfg'];
const GRUB_DEFAULTS = '/etc/default/grub';
const ENTRIES = '/boot/loader/entries';

export interface BootLocations {
  /** Mount point of the root filesystem. */
  root: string;
  image: string;
  table: PartitionTable;
}

function rootFile(root: string, file: string): string {
  return resolveInRoot(root, file);
}

function confFiles(names: string[]): string[] {
  return names.filter((n) => n.endsWith('.conf')).sort();
}

/** Every boot configuration found; empty when there is none. */
export async function findBootConfigs(where: BootLocations, log?: Log): Promise<BootConfig[]> {
  const found: BootConfig[] = [];
  const grubCfgs = GRUB_CFGS.filter((f) => {
    const host = rootFile(where.root, f);
    return existsSync(host) && editGrubCfg(readFileSync(host, 'utf8')).count > 0;
  });
  if (grubCfgs.length) {
    const defaults = existsSync(rootFile(where.root, GRUB_DEFAULTS)) ? [GRUB_DEFAULTS] : [];
    found.push({ kind: 'grub', files: [...defaults, ...grubCfgs] });
  }
  const entriesDir = rootFile(where.root, ENTRIES);
  if (existsSync(entriesDir)) {
    const files = confFiles(readdirSync(entriesDir)).map((n) => `${ENTRIES}/${n}`);
    if (files.length) found.push({ kind: 'bls', files });
  }
  for (const esp of where.table.partitions.filter(isEsp)) {
    const names = confFiles(await listEspDir(where.image, esp, '/loader/entries', log));
    if (names.length) {
      found.push({ kind: 'systemd-boot', files: names.map((n) => `esp${esp.number}:/loader/entries/${n}`) });
    }
  }
  return found;
}

export function describeBootConfigs(configs: BootConfig[]): string {
  return configs.length ? configs.map((c) => `${c.kind} (${c.files.join(', ')})`).join('; ') : 'none';
}

export const BOOT_CONFIG_SEARCHED = `${GRUB_CFGS.join(', ')}, ${ENTRIES}/*.conf, and /loader/entries/*.conf on the ESP`;

/** Adds the arguments to every configuration found; returns the files changed. */
export async function addKernelArgs(
  where: BootLocations,
  configs: BootConfig[],
  args: readonly string[],
  log?: Log,
): Promise<string[]> {
  const changed: string[] = [];
  const editRootFile = (file: string, edit: (text: string) => string) => {
    const host = rootFile(where.root, file);
    const before = readFileSync(host, 'utf8');
    const after = edit(before);
    if (after !== before) {
      writeFileSync(host, after);
      changed.push(file);
    }
  };
  for (const config of configs) {
    for (const file of config.files) {
      const onEsp = file.match(/^esp(\d+):(.*)$/);
      if (onEsp) {
        const esp = where.table.partitions.find((p) => p.number === Number(onEsp[1])) as Partition;
        const before = await readEspFile(where.image, esp, onEsp[2]!, log);
        const after = editBlsEntry(before, args);
        if (after !== before) {
          await writeEspFile(where.image, esp, onEsp[2]!, after, log);
          changed.push(file);
        }
      } else if (file === GRUB_DEFAULTS) {
        editRootFile(file, (t) => editGrubDefaults(t, args));
      } else if (config.kind === 'grub') {
        editRootFile(file, (t) => editGrubCfg(t).apply(args));
      } else {
        editRootFile(file, (t) => editBlsEntry(t, args));
      }
    }
  }
  return changed;
}
