import { KERNEL_ARG, KEYMAP, NTP_HOST, TIMEZONE, UNIT_NAME, URL_LIKE } from '../../common/names.ts';
import type { YamlCursor } from '../../common/yaml-cursor.ts';
import { parseDiskSize } from '../disk-size.ts';
import { notSupported, type ParseContext, reportDuplicates } from '../parse-context.ts';
import type { Draft, ImageType, OperatingSystem } from '../types.ts';
import { parseGroups, parseUsers } from './accounts.ts';
import { parseEnableFips, parsePackages, parseSuma } from './os-refused.ts';

export function parseOperatingSystem(
  cursor: YamlCursor,
  ctx: ParseContext,
  imageType: ImageType | undefined,
): Draft<OperatingSystem> {
  const f = ctx.fields(cursor, [
    'kernelArgs',
    'groups',
    'users',
    'systemd',
    'time',
    'proxy',
    'keymap',
    'packages',
    'isoConfiguration',
    'rawConfiguration',
    'enableFIPS',
    'suma',
  ]);
  parsePackages(f.packages, ctx);
  parseSuma(f.suma, ctx);
  parseEnableFips(f.enableFIPS);
  return {
    kernelArgs: parseKernelArgs(f.kernelArgs),
    groups: parseGroups(f.groups, ctx),
    users: parseUsers(f.users, ctx),
    systemd: parseSystemd(f.systemd, ctx),
    time: parseTime(f.time, ctx),
    proxy: parseProxy(f.proxy, ctx),
    keymap: matching(f.keymap, KEYMAP, 'a console keymap name such as us or de-nodeadkeys'),
    isoConfiguration: parseIsoConfiguration(f.isoConfiguration, ctx, imageType),
    rawConfiguration: parseRawConfiguration(f.rawConfiguration, ctx, imageType),
  };
}

function parseKernelArgs(cursor: YamlCursor): string[] {
  const args = cursor.items().map((item) => {
    const arg = item.string({ required: true });
    if (arg === undefined) return { arg, key: undefined, at: item };
    const eq = arg.indexOf('=');
    const key = eq < 0 ? arg : arg.slice(0, eq);
    if (/\s/.test(arg) || arg === '') {
      item.error(`'${arg}' must be one argument without spaces (list each argument separately)`);
    } else if (eq >= 0 && (key === '' || eq === arg.length - 1)) {
      item.error(`'${arg}' must be 'key=value' or a bare flag`);
    } else if (!KERNEL_ARG.test(arg)) {
      item.error(
        `'${arg}' contains characters a boot loader or shell would interpret (quotes, '$', ';', '\\', braces, backticks)`,
      );
    } else if (arg === 'fips=1') {
      item.error(
        `'fips=1' is not allowed here: FIPS mode is operatingSystem.enableFIPS, ${notSupported('needs the FIPS packages from SUSE repositories')}`,
      );
    }
    return { arg, key, at: item };
  });
  reportDuplicates(
    args.map((a) => ({ value: a.key, at: a.at })),
    (key) => `duplicate kernel argument '${key}'`,
  );
  return args.flatMap((a) => (a.arg === undefined ? [] : [a.arg]));
}

function parseSystemd(cursor: YamlCursor, ctx: ParseContext): Draft<OperatingSystem['systemd']> {
  const f = ctx.fields(cursor, ['enable', 'disable']);
  const read = (list: YamlCursor) =>
    list.items().map((item) => ({ value: matching(item, UNIT_NAME, 'a systemd unit name', true), at: item }));
  const enable = read(f.enable);
  const disable = read(f.disable);
  reportDuplicates(enable, (unit) => `'${unit}' is listed twice in systemd.enable`);
  reportDuplicates(disable, (unit) => `'${unit}' is listed twice in systemd.disable`);
  const enabled = new Set(enable.map((e) => e.value));
  for (const { value, at } of disable) {
    if (value !== undefined && enabled.has(value)) at.error(`'${value}' is both enabled and disabled`);
  }
  const values = (entries: typeof enable) => entries.flatMap((e) => (e.value === undefined ? [] : [e.value]));
  return { enable: values(enable), disable: values(disable) };
}

function parseTime(cursor: YamlCursor, ctx: ParseContext): Draft<OperatingSystem['time']> {
  if (!cursor.present) return undefined;
  const f = ctx.fields(cursor, ['timezone', 'ntp']);
  const timezone = matching(f.timezone, TIMEZONE, 'a time zone name such as Europe/Berlin or UTC');
  if (!f.ntp.present) return { timezone };
  const ntp = ctx.fields(f.ntp, ['pools', 'servers', 'forceWait']);
  const hosts = (list: YamlCursor) =>
    list.items().flatMap((item) => matching(item, NTP_HOST, 'a host name or IP address', true) ?? []);
  const pools = hosts(ntp.pools);
  const servers = hosts(ntp.servers);
  const forceWait = ntp.forceWait.boolean();
  if (forceWait && pools.length === 0 && servers.length === 0) {
    ntp.forceWait.error('needs at least one NTP source in ntp.pools or ntp.servers');
  }
  return { timezone, ntp: { pools, servers, forceWait } };
}

function parseProxy(cursor: YamlCursor, ctx: ParseContext): Draft<OperatingSystem['proxy']> {
  if (!cursor.present) return undefined;
  const f = ctx.fields(cursor, ['httpProxy', 'httpsProxy', 'noProxy']);
  return {
    httpProxy: proxyUrl(f.httpProxy),
    httpsProxy: proxyUrl(f.httpsProxy),
    noProxy: f.noProxy
      .items()
      .flatMap(
        (item) => matching(item, URL_LIKE, 'a host, domain or address without spaces or quotes', true) ?? [],
      ),
  };
}

function proxyUrl(cursor: YamlCursor): string | undefined {
  const value = cursor.string();
  if (value !== undefined && !/^https?:$/.test(URL.parse(value)?.protocol ?? '')) {
    cursor.error(`must be an http:// or https:// URL, not '${value}'`);
  } else if (value !== undefined && !URL_LIKE.test(value)) {
    cursor.error('must be a URL without spaces, quotes, backslashes or $');
  }
  return value;
}

function parseIsoConfiguration(
  cursor: YamlCursor,
  ctx: ParseContext,
  imageType: ImageType | undefined,
): Draft<OperatingSystem['isoConfiguration']> {
  if (!cursor.present) return undefined;
  const f = ctx.fields(cursor, ['installDevice']);
  if (imageType === 'raw') cursor.errorAtKey("is only for imageType 'iso' (this image is 'raw')");
  const installDevice = f.installDevice.string();
  if (installDevice !== undefined && !/^\/dev\/\S+$/.test(installDevice)) {
    f.installDevice.error(`must be a device path such as /dev/sda, not '${installDevice}'`);
  }
  return { installDevice };
}

function parseRawConfiguration(
  cursor: YamlCursor,
  ctx: ParseContext,
  imageType: ImageType | undefined,
): Draft<OperatingSystem['rawConfiguration']> {
  if (!cursor.present) return undefined;
  const f = ctx.fields(cursor, ['diskSize', 'luksKey', 'expandEncryptedPartition']);
  if (imageType === 'iso') cursor.errorAtKey("is only for imageType 'raw' (this image is 'iso')");
  const diskSizeText = f.diskSize.string();
  let diskSize: number | undefined;
  if (diskSizeText !== undefined) {
    diskSize = parseDiskSize(diskSizeText);
    if (diskSize === undefined) {
      f.diskSize.error(`must be a whole number followed by M, G or T (e.g. 8G), not '${diskSizeText}'`);
    }
  }
  // The LUKS key is a secret: read it, never echo it.
  const luksKey = f.luksKey.string();
  if (luksKey) f.luksKey.errorAtKey(notSupported('needs LUKS-encrypted base image support'));
  if (f.expandEncryptedPartition.boolean()) {
    if (!luksKey && !f.luksKey.present) f.expandEncryptedPartition.errorAtKey('needs luksKey');
    f.expandEncryptedPartition.errorAtKey(notSupported('needs LUKS-encrypted base image support'));
  }
  return { diskSize, diskSizeText };
}

/** A string that must match a rule, reported on its field with what was expected. */
function matching(cursor: YamlCursor, rule: RegExp, what: string, required = false): string | undefined {
  const value = cursor.string({ required });
  if (value !== undefined && !rule.test(value)) cursor.error(`must be ${what}, not '${value}'`);
  return value;
}
