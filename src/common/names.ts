/**
 * The strict rules for names that come from input and end up in paths, scripts, boot loader lines or
 * system files. One source of truth: the definition checks report them with positions, the bundle and
 * the network generator refuse them again as a second line of defence.
 */

/** Linux interface names: at most 15 bytes, no `/`, `:` or blanks; never `.` or `..`. */
const INTERFACE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.+@-]{0,14}$/;
export function isInterfaceName(name: string): boolean {
  return INTERFACE_NAME.test(name);
}

/**
 * A name that becomes one path component (a connection id, a script, a chart or manifest file):
 * letters, digits, `.`, `_`, `-`, starting with a letter, digit or `_` (so never `.`, `..` or hidden).
 */
const PATH_COMPONENT = /^[A-Za-z0-9_][A-Za-z0-9_.+@-]{0,254}$/;
export function isSafePathComponent(name: string): boolean {
  return PATH_COMPONENT.test(name);
}

/** First-boot step names (custom/scripts) appear in logs, markers and JSON progress: plain names only. */
export const STEP_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** User and group names as useradd/groupadd accept them by default (NAME_REGEX): lower case, at most 32. */
export const POSIX_NAME = /^[a-z_][a-z0-9_.-]{0,31}$/;
/** systemd unit names. */
export const UNIT_NAME = /^[A-Za-z0-9:_.@-]{1,255}$/;
/** tz database names such as `Europe/Berlin`, `UTC`, `Etc/GMT+1`. */
export const TIMEZONE = /^[A-Za-z0-9_+-]+(\/[A-Za-z0-9_+-]+)*$/;
/** Console keymap names such as `us`, `de-nodeadkeys`, `fr.latin9`. */
export const KEYMAP = /^[A-Za-z0-9_.-]+$/;
/** NTP pools and servers: host names or addresses. */
export const NTP_HOST = /^[A-Za-z0-9.:[\]-]+$/;
/** Proxy URLs and no-proxy entries: nothing a shell or systemd environment file would interpret. */
export const URL_LIKE = /^[^\s"'\\$`]+$/;
/** crypt(3) hashes: one field of /etc/shadow. */
export const CRYPT_HASH = /^[^\s:]+$/;
/**
 * An OpenSSH public key line as authorized_keys takes it: optional options, a key type, base64 data,
 * an optional comment; one line.
 */
const SSH_KEY_TYPE =
  /(?:^|\s)(ssh-(?:rsa|dss|ed25519|ed448)|ecdsa-sha2-nistp(?:256|384|521)|sk-(?:ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com|(?:ssh|x509v3)-[a-z0-9-]+(?:-cert-v01)?(?:@openssh\.com)?)\s+[A-Za-z0-9+/]+={0,3}(\s|$)/;
export function isSshPublicKey(key: string): boolean {
  return !/[\u0000-\u001f\u007f]/.test(key) && SSH_KEY_TYPE.test(key);
}

/**
 * Kernel arguments: nothing GRUB, a BLS entry or a shell would interpret (`$`, quotes, `;`, spaces,
 * backslashes, braces, backticks).
 */
export const KERNEL_ARG = /^[A-Za-z0-9._:/,=+@%~[\]-]+$/;

/** A user or group id useradd/groupadd accept: 0 (root) to 2^32 - 2 (2^32 - 1 means "no id"). */
export const MAX_ID = 4_294_967_294;
