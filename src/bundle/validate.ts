import {
  CRYPT_HASH,
  NTP_HOST as HOST,
  isSshPublicKey,
  KERNEL_ARG,
  KEYMAP,
  MAX_ID,
  POSIX_NAME,
  TIMEZONE,
  UNIT_NAME,
  URL_LIKE,
} from '../common/names.ts';
import type { ImageDefinition } from '../definition/types.ts';

/**
 * Second line of defence before values reach first-boot scripts: the definition loader reports problems
 * with positions; this rejects anything a script could misread even though every value is shell-quoted
 * (a name with a colon breaks /etc/passwd, a key with a newline becomes two lines, ...).
 */
export interface BundleProblem {
  path: string;
  message: string;
}

/** Step names are checked where custom/scripts is read; re-exported for the bundle's own steps. */
export { STEP_NAME } from '../common/names.ts';

export function validateForBundle(def: ImageDefinition): BundleProblem[] {
  const problems: BundleProblem[] = [];
  const check = (ok: boolean, path: string, message: string) => {
    if (!ok) problems.push({ path, message });
  };
  const os = def.operatingSystem;
  os.groups.forEach((g, i) => {
    check(POSIX_NAME.test(g.name), `operatingSystem.groups[${i}].name`, nameMessage(g.name));
    if (g.gid !== undefined)
      check(idInRange(g.gid), `operatingSystem.groups[${i}].gid`, `must be 0 to ${MAX_ID}`);
  });
  os.users.forEach((u, i) => {
    const at = `operatingSystem.users[${i}]`;
    check(POSIX_NAME.test(u.username), `${at}.username`, nameMessage(u.username));
    if (u.uid !== undefined) check(idInRange(u.uid), `${at}.uid`, `must be 0 to ${MAX_ID}`);
    if (u.encryptedPassword !== undefined) {
      check(
        CRYPT_HASH.test(u.encryptedPassword),
        `${at}.encryptedPassword`,
        'must be a crypt(3) hash without spaces or colons',
      );
    }
    u.sshKeys.forEach((k, j) => {
      check(isSshPublicKey(k), `${at}.sshKeys[${j}]`, 'must be one OpenSSH public key line');
    });
    if (u.primaryGroup !== undefined) {
      check(POSIX_NAME.test(u.primaryGroup), `${at}.primaryGroup`, nameMessage(u.primaryGroup));
    }
    u.secondaryGroups.forEach((g, j) => {
      check(POSIX_NAME.test(g), `${at}.secondaryGroups[${j}]`, nameMessage(g));
    });
  });
  for (const list of ['enable', 'disable'] as const) {
    os.systemd[list].forEach((unit, i) => {
      check(
        UNIT_NAME.test(unit),
        `operatingSystem.systemd.${list}[${i}]`,
        `${JSON.stringify(unit)} is not a systemd unit name`,
      );
    });
  }
  os.kernelArgs.forEach((arg, i) => {
    check(
      KERNEL_ARG.test(arg),
      `operatingSystem.kernelArgs[${i}]`,
      'contains characters a boot loader would interpret',
    );
  });
  const tz = os.time?.timezone;
  if (tz !== undefined) {
    check(TIMEZONE.test(tz), 'operatingSystem.time.timezone', `${JSON.stringify(tz)} is not a timezone name`);
  }
  for (const kind of ['pools', 'servers'] as const) {
    (os.time?.ntp?.[kind] ?? []).forEach((h, i) => {
      check(
        HOST.test(h),
        `operatingSystem.time.ntp.${kind}[${i}]`,
        `${JSON.stringify(h)} is not a host name`,
      );
    });
  }
  if (os.keymap !== undefined) {
    check(
      KEYMAP.test(os.keymap),
      'operatingSystem.keymap',
      `${JSON.stringify(os.keymap)} is not a keymap name`,
    );
  }
  const proxy = os.proxy;
  if (proxy) {
    for (const key of ['httpProxy', 'httpsProxy'] as const) {
      const v = proxy[key];
      if (v !== undefined) {
        check(URL_LIKE.test(v), `operatingSystem.proxy.${key}`, 'must be a URL without spaces or quotes');
      }
    }
    proxy.noProxy.forEach((v, i) => {
      check(URL_LIKE.test(v), `operatingSystem.proxy.noProxy[${i}]`, 'must not contain spaces or quotes');
    });
  }
  return problems;
}

function idInRange(id: number): boolean {
  return Number.isSafeInteger(id) && id >= 0 && id <= MAX_ID;
}

function nameMessage(name: string): string {
  return `${JSON.stringify(name)} is not a valid user or group name (lower-case letters, digits, "_", "-", ".", at most 32)`;
}
