import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatDiagnostic } from '../../src/common/diagnostics.ts';
import type { ConfigDirCheckContext } from '../../src/definition/config-dir-checks.ts';
import type { DefinitionDraft } from '../../src/definition/types.ts';
import { checkNetworkFiles } from '../../src/network/check.ts';

const work = mkdtempSync(path.join(tmpdir(), 'outpost-netcheck-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function context(
  name: string,
  files: Record<string, string>,
  definition: DefinitionDraft,
): ConfigDirCheckContext {
  const configDir = path.join(work, name);
  mkdirSync(path.join(configDir, 'network'), { recursive: true });
  for (const [f, text] of Object.entries(files)) writeFileSync(path.join(configDir, 'network', f), text);
  const at = (file: string, fieldPath: string, message: string, section: string) => ({
    file,
    line: 1,
    col: 1,
    path: fieldPath,
    message,
    section,
  });
  return {
    configDir,
    definitionFile: path.join(configDir, 'site.yaml'),
    definition,
    displayPath: (r) => r,
    atField: (fieldPath, message, section) => at('site.yaml', fieldPath, message, section),
    atFile: (r, message, section) => at(r, '', message, section),
  };
}

const host = (mac: string) =>
  `interfaces:\n  - name: eth0\n    type: ethernet\n    mac-address: "${mac}"\n    ipv4:\n      enabled: true\n      dhcp: true\n`;

describe('outpost validate: network/', () => {
  it('passes for valid host files that cover every Kubernetes node', async () => {
    const ctx = context(
      'ok',
      { 'node-a.yaml': host('52:54:00:00:00:0a'), 'node-b.yml': host('52:54:00:00:00:0b') },
      {
        kubernetes: { nodes: [{ hostname: 'node-a' }, { hostname: 'node-b' }] },
      },
    );
    expect(await checkNetworkFiles(ctx)).toEqual([]);
  });

  it('reports parse errors, shared MACs, stray files and nodes without a host file, all at once', async () => {
    const ctx = context(
      'bad',
      {
        'node-a.yaml': host('52:54:00:00:00:0a'),
        'node-b.yaml': host('52:54:00:00:00:0A'),
        'node-c.yaml': 'interfaces:\n  - name: eth0\n    type: ethernett\n',
        'notes.txt': 'hello',
      },
      { kubernetes: { nodes: [{ hostname: 'node-a' }, { hostname: 'node-d' }] } },
    );
    const printed = (await checkNetworkFiles(ctx)).map(formatDiagnostic);
    expect(printed).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^network\/notes\.txt:1:1: unexpected file in network\//),
        expect.stringMatching(
          /^network\/node-b\.yaml:2:1: interfaces: MAC address 52:54:00:00:00:0A of 'eth0' is also used by host 'node-a'/,
        ),
        expect.stringMatching(
          /^network\/node-c\.yaml:3:11: interfaces\[0\]\.type: must be one of .* not 'ethernett'/,
        ),
        expect.stringMatching(/^site\.yaml:1:1: kubernetes\.nodes\[1\]\.hostname: no network\/node-d\.yaml/),
      ]),
    );
    expect(printed).toHaveLength(4);
  });

  it('a custom configure-network.sh takes over: host files are not required to match nodes', async () => {
    const ctx = context(
      'custom',
      { 'configure-network.sh': '#!/bin/sh\n' },
      { kubernetes: { nodes: [{ hostname: 'x' }] } },
    );
    expect(await checkNetworkFiles(ctx)).toEqual([]);
  });
});
