import type { YamlCursor } from '../../common/yaml-cursor.ts';
import { notSupported, type ParseContext, reportDuplicates } from '../parse-context.ts';

/*
 * Fields of operatingSystem that outpost reads and checks like Edge Image Builder does, then refuses:
 * they need services an air-gapped build does not have. Nothing here reaches the ImageDefinition.
 */

const PACKAGE_RESOLUTION = notSupported(
  'needs online package resolution against SUSE or custom RPM repositories; install packages from custom/scripts instead',
);

export function parsePackages(cursor: YamlCursor, ctx: ParseContext): void {
  const f = ctx.fields(cursor, [
    'packageList',
    'additionalRepos',
    'sccRegistrationCode',
    'noGPGCheck',
    'enableExtras',
  ]);
  const packages = f.packageList
    .items()
    .map((item) => ({ value: item.string({ required: true }), at: item }));
  reportDuplicates(packages, (name) => `duplicate package '${name}'`);
  if (packages.length) f.packageList.errorAtKey(PACKAGE_RESOLUTION);

  const repos = f.additionalRepos.items().map((item) => {
    const repo = ctx.fields(item, ['url', 'unsigned', 'priority']);
    repo.unsigned.boolean();
    repo.priority.integer({ min: 0, max: 99 });
    return { value: repo.url.string({ required: true }), at: repo.url };
  });
  reportDuplicates(repos, (url) => `duplicate repository '${url}'`);
  if (repos.length) f.additionalRepos.errorAtKey(PACKAGE_RESOLUTION);

  // The registration code is a secret: never echo it.
  if (f.sccRegistrationCode.string()) {
    f.sccRegistrationCode.errorAtKey(notSupported('needs SUSE Customer Center registration at build time'));
  }
  if (f.noGPGCheck.boolean()) f.noGPGCheck.errorAtKey(PACKAGE_RESOLUTION);
  if (f.enableExtras.boolean()) f.enableExtras.errorAtKey(PACKAGE_RESOLUTION);
}

export function parseSuma(cursor: YamlCursor, ctx: ParseContext): void {
  if (!cursor.present) return;
  const f = ctx.fields(cursor, ['host', 'activationKey']);
  const host = f.host.string({ required: true });
  if (host && /^https?:\/\//i.test(host))
    f.host.error("must be a host name, without 'http://' or 'https://'");
  f.activationKey.string({ required: true });
  cursor.errorAtKey(notSupported('needs a SUSE Multi-Linux Manager server to register with at first boot'));
}

export function parseEnableFips(cursor: YamlCursor): void {
  if (cursor.boolean()) {
    cursor.errorAtKey(
      notSupported('needs the FIPS packages from SUSE repositories and online package resolution'),
    );
  }
}
