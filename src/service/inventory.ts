import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type Diagnostic, InputError } from '../common/diagnostics.ts';
import { type Environment, type YamlCursor, YamlSource } from '../common/yaml-cursor.ts';
import { bmcIdentity, hostCursors } from './inventory-fields.ts';
import { readMetal3Inventory } from './inventory-metal3.ts';
import { readOutpostInventory } from './inventory-outpost.ts';
import type { HostSpec, InventoryHost } from './types.ts';

/**
 * Reads an inventory file: either outpost's own YAML (a `hosts:` list) or Metal3 manifests
 * (`BareMetalHost` + `Secret` documents, as they are). Every problem is reported at once, with positions.
 */
export interface InventoryResult {
  hosts: InventoryHost[];
  diagnostics: Diagnostic[];
  /** Values that must never be printed (passwords, resolved ${ENV} values). */
  secrets: Set<string>;
}

/** Reads one or more inventory files together (a BareMetalHost may name a Secret kept in another file). */
export function loadInventoryFiles(files: string[], env: Environment = process.env): InventoryResult {
  const inputs: InventoryInput[] = [];
  const diagnostics: Diagnostic[] = [];
  for (const file of files) {
    try {
      const dir = path.dirname(path.resolve(file));
      inputs.push({
        file,
        text: readFileSync(file, 'utf8'),
        readFile: (f) => readFileSync(path.resolve(dir, f), 'utf8'),
      });
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      diagnostics.push({ file, line: 1, col: 1, path: '', message: `cannot read inventory: ${reason}` });
    }
  }
  const result = parseInventory(inputs, { env });
  return {
    ...result,
    diagnostics: [...diagnostics, ...result.diagnostics],
    hosts: diagnostics.length ? [] : result.hosts,
  };
}

/**
 * The same, for commands that go on only with a clean inventory: any problem is an InputError listing them
 * all (exit 2), so `hosts import`, `kit create`, `appliance` and `preflight` refuse it in the same words.
 */
export function loadCheckedInventoryFiles(files: string[], env: Environment = process.env): InventoryResult {
  const inventory = loadInventoryFiles(files, env);
  if (inventory.diagnostics.length)
    throw new InputError(
      `the inventory has ${inventory.diagnostics.length} problem(s):`,
      inventory.diagnostics,
    );
  return inventory;
}

export interface InventoryInput {
  file: string;
  text: string;
  /** Reads files named in the inventory (passwordFile, networkDataFile), relative to the inventory's folder. */
  readFile?: (file: string) => string;
}

export function parseInventory(inputs: InventoryInput[], opts: { env?: Environment } = {}): InventoryResult {
  const sources = inputs.map(
    (i) => new YamlSource(i.file, i.text, opts.env ?? {}, 'Inventory', { multiDocument: true }),
  );
  const ok = () => sources.every((s) => s.ok);
  let hosts: InventoryHost[] = [];
  const metal3Docs: YamlCursor[] = [];
  sources.forEach((source, n) => {
    const docs = source.documents.filter((d) => d.present);
    if (!source.ok) return;
    if (docs.length === 0)
      source.root.error('the inventory is empty: expected a `hosts:` list or Metal3 manifests');
    else if (docs.length === 1 && docs[0]!.isMap && docs[0]!.get('hosts').present) {
      const readFile = inputs[n]!.readFile ?? ((f: string) => readFileSync(f, 'utf8'));
      hosts.push(...readOutpostInventory(docs[0]!, readFile));
    } else metal3Docs.push(...docs);
  });
  if (metal3Docs.length) hosts.push(...readMetal3Inventory(metal3Docs));
  if (sources[0]) checkUnique(hosts, sources[0]);
  const secrets = new Set<string>();
  for (const source of sources) for (const s of source.secrets) secrets.add(s);
  for (const h of hosts) secrets.add(h.credentials.password);
  if (!ok()) hosts = [];
  return { hosts, diagnostics: sources.flatMap((s) => s.diagnostics), secrets };
}

const UNIQUE_FIELDS = { name: 'host name', mac: 'boot MAC address', address: 'BMC address' } as const;

/**
 * Hosts of an import whose BMC (normalised, see bmcIdentity) or boot MAC is already another host's in the
 * service: two records driving one machine would provision it twice. A host of the same name is the
 * same host (an update), not a conflict. Returns one message per conflict.
 */
export function conflictsWithExisting(incoming: HostSpec[], existing: HostSpec[]): string[] {
  const names = new Set(incoming.map((h) => h.name));
  const owners = { mac: new Map<string, string>(), address: new Map<string, string>() };
  for (const h of existing) {
    if (names.has(h.name)) continue;
    owners.address.set(bmcIdentity(h.bmc.address), h.name);
    if (h.bootMACAddress) owners.mac.set(h.bootMACAddress, h.name);
  }
  const problems: string[] = [];
  for (const h of incoming) {
    const address = owners.address.get(bmcIdentity(h.bmc.address));
    if (address !== undefined) {
      problems.push(
        `host '${h.name}': ${UNIQUE_FIELDS.address} '${h.bmc.address}' is already used by host '${address}'`,
      );
    }
    const mac = h.bootMACAddress ? owners.mac.get(h.bootMACAddress) : undefined;
    if (mac !== undefined) {
      problems.push(
        `host '${h.name}': ${UNIQUE_FIELDS.mac} '${h.bootMACAddress}' is already used by host '${mac}'`,
      );
    }
  }
  return problems;
}

function checkUnique(hosts: InventoryHost[], source: YamlSource): void {
  const seen = {
    name: new Map<string, string>(),
    mac: new Map<string, string>(),
    address: new Map<string, string>(),
  };
  for (const host of hosts) {
    const cursors = hostCursors.get(host);
    const values = {
      name: host.spec.name,
      mac: host.spec.bootMACAddress,
      address: bmcIdentity(host.spec.bmc.address),
    };
    for (const key of ['name', 'mac', 'address'] as const) {
      const value = values[key];
      if (value === undefined) continue;
      const first = seen[key].get(value);
      if (first !== undefined) {
        const shown = key === 'address' ? host.spec.bmc.address : value;
        const message = `duplicate ${UNIQUE_FIELDS[key]} '${shown}' (also used by host '${first}')`;
        if (cursors) cursors[key].error(message);
        else source.root.error(message);
      } else seen[key].set(value, host.spec.name);
    }
  }
}
