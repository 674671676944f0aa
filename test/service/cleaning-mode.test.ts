import { describe, expect, it } from 'vitest';
import { formatDiagnostic } from '../../src/common/diagnostics.ts';
import { parseInventory } from '../../src/service/inventory.ts';

// automatedCleaningMode, as Metal3's BareMetalHost spells it, in both inventory formats.
function parse(text: string) {
  const r = parseInventory([{ file: 'inv.yaml', text, readFile: () => '' }]);
  return { hosts: r.hosts, problems: r.diagnostics.map(formatDiagnostic) };
}

const outpost = (mode: string) => `hosts:
  - name: edge-1
    bmc: { address: "redfish-virtualmedia+http://10.0.0.5/redfish/v1/Systems/1", username: admin, password: pw }
    automatedCleaningMode: ${mode}
`;

const metal3 = (mode: string) => `apiVersion: metal3.io/v1alpha1
kind: BareMetalHost
metadata: { name: edge-2, namespace: site }
spec:
  automatedCleaningMode: ${mode}
  bmc: { address: "redfish-virtualmedia+http://10.0.0.6/redfish/v1/Systems/1", credentialsName: edge-2-bmc }
---
apiVersion: v1
kind: Secret
metadata: { name: edge-2-bmc, namespace: site }
stringData: { username: admin, password: pw }
`;

describe('automatedCleaningMode', () => {
  it('is read from outpost YAML and Metal3 manifests (metadata, disabled); absent means cleaning', () => {
    expect(parse(outpost('disabled')).hosts[0]!.spec.automatedCleaningMode).toBe('disabled');
    expect(parse(outpost('metadata')).hosts[0]!.spec.automatedCleaningMode).toBe('metadata');
    expect(parse(metal3('disabled')).hosts[0]!.spec.automatedCleaningMode).toBe('disabled');
    const absent = parse(outpost('metadata').replace(/ {4}automatedCleaningMode.*\n/, ''));
    expect(absent.problems).toEqual([]);
    expect(absent.hosts[0]!.spec.automatedCleaningMode).toBeUndefined();
  });

  it('refuses other values with file, line and field', () => {
    expect(parse(outpost('always')).problems.join('\n')).toMatch(
      /inv\.yaml:4.*automatedCleaningMode.*metadata.*disabled/,
    );
    expect(parse(metal3('wipe')).problems.join('\n')).toMatch(/inv\.yaml:5.*automatedCleaningMode/);
  });
});
