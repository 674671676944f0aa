import { isSeq } from 'yaml';
import { CRYPT_HASH, isSshPublicKey, MAX_ID, POSIX_NAME } from '../../common/names.ts';
import type { YamlCursor } from '../../common/yaml-cursor.ts';
import { type ParseContext, reportDuplicates } from '../parse-context.ts';
import type { Draft, Group, User } from '../types.ts';

export function parseGroups(cursor: YamlCursor, ctx: ParseContext): Draft<Group>[] {
  const groups = cursor.items().map((item) => {
    const f = ctx.fields(item, ['name', 'gid']);
    const name = accountName(f.name);
    const gid = f.gid.integer({ min: 0, max: MAX_ID });
    return { group: { name, gid }, at: f.name };
  });
  reportDuplicates(
    groups.map((g) => ({ value: g.group.name, at: g.at })),
    (name) => `duplicate group '${name}'`,
  );
  return groups.map((g) => g.group);
}

export function parseUsers(cursor: YamlCursor, ctx: ParseContext): Draft<User>[] {
  const users = cursor.items().map((item) => {
    const f = ctx.fields(item, [
      'username',
      'uid',
      'encryptedPassword',
      'sshKeys',
      'primaryGroup',
      'secondaryGroups',
      'createHomeDir',
    ]);
    const username = accountName(f.username);
    const user: Draft<User> = {
      username,
      uid: f.uid.integer({ min: 0, max: MAX_ID }),
      encryptedPassword: f.encryptedPassword.string(),
      sshKeys: f.sshKeys.strings(),
      primaryGroup: f.primaryGroup.string(),
      secondaryGroups: f.secondaryGroups.strings(),
      createHomeDir: f.createHomeDir.boolean(),
    };
    checkUser(user, item, f.sshKeys);
    if (user.encryptedPassword !== undefined && !CRYPT_HASH.test(user.encryptedPassword)) {
      // Never quote it: it may be a secret from the environment.
      f.encryptedPassword.error('must be a crypt(3) hash without spaces or colons');
    }
    f.sshKeys.items().forEach((key, i) => {
      const value = user.sshKeys?.[i];
      if (value !== undefined && !isSshPublicKey(value)) {
        key.error(
          "must be one OpenSSH public key line ('<type> <base64 key> [comment]', e.g. ssh-ed25519 AAAA... user@host)",
        );
      }
    });
    return { user, at: f.username };
  });
  reportDuplicates(
    users.map((u) => ({ value: u.user.username, at: u.at })),
    (name) => `duplicate user '${name}'`,
  );
  return users.map((u) => u.user);
}

/**
 * Edge Image Builder's rules: a way to log in, and a home directory to hold authorized_keys.
 * Unlike EIB, root is exempt from the home-directory rule: /root always exists, and the SUSE Metal3
 * quick start gives root SSH keys without createHomeDir.
 */
function checkUser(user: Draft<User>, item: YamlCursor, sshKeys: YamlCursor): void {
  const hasKeys = (user.sshKeys?.length ?? 0) > 0;
  // A field that failed to read (e.g. an unset ${VAR}) already has its own error: no second one.
  const unreadPassword = item.get('encryptedPassword').present && user.encryptedPassword === undefined;
  const unreadKeys = !hasKeys && isSeq(sshKeys.node) && sshKeys.node.items.length > 0;
  if (!user.encryptedPassword && !hasKeys && !unreadPassword && !unreadKeys) {
    item.error('needs encryptedPassword or at least one entry in sshKeys');
  }
  if (hasKeys && user.createHomeDir !== true && user.username !== 'root') {
    sshKeys.errorAtKey('needs createHomeDir: true (the keys are written to ~/.ssh/authorized_keys)');
  }
}

function accountName(cursor: YamlCursor): string | undefined {
  const name = cursor.string({ required: true });
  if (name !== undefined && !POSIX_NAME.test(name)) {
    cursor.error(
      `'${name}' is not a valid account name (lower-case letters, digits, '_', '.', '-', starting with a letter or '_'; at most 32)`,
    );
  }
  return name;
}
