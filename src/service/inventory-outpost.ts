import type { YamlCursor } from '../common/yaml-cursor.ts';
import {
  blockStart,
  checkNetworkData,
  readBmcAddress,
  readHostName,
  readInlineNetworkData,
  readLabels,
  readMac,
  readRootDeviceHints,
  rememberCursors,
} from './inventory-fields.ts';
import type { HostRole, InventoryHost } from './types.ts';

const HOST_KEYS = [
  'name',
  'bmc',
  'bootMACAddress',
  'role',
  'online',
  'labels',
  'rootDeviceHints',
  'networkData',
  'networkDataFile',
];
const BMC_KEYS = ['address', 'username', 'password', 'passwordFile', 'disableCertificateVerification'];

/**
 * outpost's inventory:
 * `hosts: [{name, bmc: {address, username, password|passwordFile, disableCertificateVerification},
 *   bootMACAddress, role, online, labels, rootDeviceHints, networkData|networkDataFile}]`.
 */
export function readOutpostInventory(root: YamlCursor, readFile: (file: string) => string): InventoryHost[] {
  root.keys(['hosts']);
  const hosts: InventoryHost[] = [];
  const list = root.get('hosts');
  if (!list.isList) list.error('must be a list of hosts');
  for (const item of list.items()) {
    if (!item.isMap) {
      item.error('must be a mapping with name, bmc, bootMACAddress, ...');
      continue;
    }
    item.keys(HOST_KEYS);
    const name = readHostName(item.get('name'));
    const bmc = item.get('bmc');
    if (!bmc.present) bmc.error('is required');
    bmc.keys(BMC_KEYS);
    const address = readBmcAddress(bmc.get('address'));
    const username = bmc.get('username').string({ required: true });
    const password = readPassword(bmc, readFile);
    const disableCertificateVerification = bmc.get('disableCertificateVerification').boolean() ?? false;
    const bootMACAddress = readMac(item.get('bootMACAddress'));
    const role = item.get('role').oneOf<HostRole>(['server', 'agent']) ?? 'server';
    const online = item.get('online').boolean() ?? true;
    const labels = readLabels(item.get('labels'));
    const rootDeviceHints = readRootDeviceHints(item.get('rootDeviceHints'));
    const networkData = readNetworkData(item, readFile);
    if (name === undefined || address === undefined || username === undefined || password === undefined)
      continue;
    const host: InventoryHost = {
      spec: {
        name,
        bmc: { address, disableCertificateVerification },
        role,
        online,
        labels,
        ...(bootMACAddress !== undefined && { bootMACAddress }),
        ...(rootDeviceHints !== undefined && { rootDeviceHints }),
        ...(networkData !== undefined && { networkData }),
      },
      credentials: { username, password },
    };
    rememberCursors(host, {
      name: item.get('name'),
      mac: item.get('bootMACAddress'),
      address: bmc.get('address'),
    });
    hosts.push(host);
  }
  return hosts;
}

function readPassword(bmc: YamlCursor, readFile: (file: string) => string): string | undefined {
  const inline = bmc.get('password');
  const file = bmc.get('passwordFile');
  if (inline.present && file.present) {
    file.error('give either password or passwordFile, not both');
    return undefined;
  }
  if (inline.present) {
    const password = inline.string();
    if (password === '') inline.error('must not be empty');
    return password || undefined;
  }
  if (!file.present) {
    bmc.get('password').error('is required (or passwordFile, or password: "$' + '{ENV_VAR}")');
    return undefined;
  }
  const name = file.string();
  if (name === undefined) return undefined;
  try {
    // A trailing newline is an artefact of `echo secret > file`, not part of the password.
    const password = readFile(name).replace(/\r?\n$/, '');
    if (!password) file.error(`password file '${name}' is empty`);
    return password || undefined;
  } catch (error) {
    file.error(`cannot read password file '${name}': ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
    return undefined;
  }
}

function readNetworkData(item: YamlCursor, readFile: (file: string) => string): string | undefined {
  const inline = item.get('networkData');
  const file = item.get('networkDataFile');
  if (inline.present && file.present) {
    file.error('give either networkData or networkDataFile, not both');
    return undefined;
  }
  if (inline.present) {
    // Accept nmstate as a nested mapping (natural in YAML) or as a block string.
    if (inline.isMap) return readInlineNetworkData(inline);
    const text = inline.string({ env: false });
    return text === undefined ? undefined : checkNetworkData(inline, text, 'networkData', blockStart(inline));
  }
  if (!file.present) return undefined;
  const name = file.string();
  if (name === undefined) return undefined;
  try {
    const text = readFile(name);
    return checkNetworkData(file, text, name, { file: name, line: 1, col: 1 });
  } catch (error) {
    file.error(
      `cannot read network data file '${name}': ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
    );
    return undefined;
  }
}
