import { renderTemplate } from '../common/templates.ts';
import type { OperatingSystem, User } from '../definition/types.ts';
import type { BundleContext } from './context.ts';
import type { BundleContribution, BundleScript } from './types.ts';

/** Band 10-19 step names; the order is the run order (os-files before systemd so they can ship units). */
export const OS_STEP_NAMES = {
  growfs: '10-growfs.sh',
  osFiles: '11-os-files.sh',
  certificates: '12-ca-certificates.sh',
  proxy: '13-proxy.sh',
  time: '14-time.sh',
  keymap: '15-keymap.sh',
  groups: '16-groups.sh',
  users: '17-users.sh',
  systemd: '18-systemd.sh',
} as const;

/** The steps that come straight from `operatingSystem`: groups, users, systemd, time, proxy, keymap. */
export function osSettingsContribution(ctx: BundleContext): BundleContribution {
  const os = ctx.definition.operatingSystem;
  const scripts: BundleScript[] = [];
  const add = (name: string, template: string, view: object) => {
    scripts.push({ name, content: renderTemplate(`firstboot/${template}`, view) });
  };
  if (os.groups.length > 0) {
    add(OS_STEP_NAMES.groups, 'groups.sh.hbs', {
      // gid 0 is a real id: the template tests hasGid, never the number (Handlebars' #if treats 0 as false).
      groups: os.groups.map((g) => ({ name: g.name, hasGid: g.gid !== undefined, gid: String(g.gid ?? '') })),
    });
  }
  if (os.users.length > 0) {
    add(OS_STEP_NAMES.users, 'users.sh.hbs', { users: os.users.map(userView) });
  }
  if (os.systemd.enable.length + os.systemd.disable.length > 0) {
    add(OS_STEP_NAMES.systemd, 'systemd.sh.hbs', os.systemd);
  }
  const time = timeView(os);
  if (time) add(OS_STEP_NAMES.time, 'time.sh.hbs', time);
  if (os.proxy && (os.proxy.httpProxy || os.proxy.httpsProxy || os.proxy.noProxy.length > 0)) {
    add(OS_STEP_NAMES.proxy, 'proxy.sh.hbs', {
      httpProxy: os.proxy.httpProxy ?? '',
      httpsProxy: os.proxy.httpsProxy ?? '',
      noProxy: os.proxy.noProxy.join(','),
    });
  }
  if (os.keymap) add(OS_STEP_NAMES.keymap, 'keymap.sh.hbs', { keymap: os.keymap });
  return { files: [], scripts, artefacts: [] };
}

/** The users step holds password hashes: the assembler marks it secret. */
export function holdsSecrets(scriptName: string, os: OperatingSystem): boolean {
  return scriptName === OS_STEP_NAMES.users && os.users.some((u) => u.encryptedPassword !== undefined);
}

function userView(u: User) {
  return {
    username: u.username,
    isRoot: u.username === 'root',
    hasUid: u.uid !== undefined,
    uid: String(u.uid ?? ''),
    primaryGroup: u.primaryGroup ?? null,
    secondaryGroups: u.secondaryGroups,
    secondaryGroupList: u.secondaryGroups.join(','),
    // As in EIB: a home directory only when asked (users with SSH keys must ask).
    createHome: u.createHomeDir === true,
    modifies: u.uid !== undefined || u.primaryGroup !== undefined || u.secondaryGroups.length > 0,
    hasPassword: u.encryptedPassword !== undefined,
    encryptedPassword: u.encryptedPassword ?? '',
    sshKeys: u.sshKeys,
  };
}

function timeView(os: OperatingSystem) {
  const timezone = os.time?.timezone ?? '';
  const pools = os.time?.ntp?.pools ?? [];
  const servers = os.time?.ntp?.servers ?? [];
  if (!timezone && pools.length + servers.length === 0) return undefined;
  return { timezone, pools, servers };
}
