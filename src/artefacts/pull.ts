import { createHash } from 'node:crypto';
import { lstat, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InputError, OperationError } from '../common/diagnostics.ts';
import { isSafePathComponent } from '../common/names.ts';
import type { Arch, ImageDefinition } from '../definition/types.ts';
import { findChartEntry, repositoryBase } from '../kubernetes/chart-repository.ts';
import { readConfigMap } from '../kubernetes/contributor.ts';
import { chartFileName } from '../kubernetes/manifests.ts';
import {
  checkRelease,
  INSTALL_SCRIPT,
  linkOnTheWay,
  parseChecksums,
  RELEASE_DIR,
  releaseNames,
} from '../kubernetes/release.ts';
import { isPullableRepository, LOCAL_CHARTS_DIR, wantedCharts } from '../kubernetes/rules.ts';
import { type DownloadStatus, downloadVerified } from './download.ts';
import { FetchError, fetchText, shownUrl, type Transport } from './http.ts';
import { imageArchiveNames, RKE2_INSTALL_SCRIPT_URL, RKE2_RELEASES_URL, releaseFileUrl } from './plan.ts';

const HELM_CERTS_DIR = 'kubernetes/helm/certs';
/** Size bounds: RKE2's largest archive is about 1 GiB; charts and install.sh are small. */
const MAX_RELEASE_FILE_BYTES = 16 * 2 ** 30;
const MAX_CHART_BYTES = 512 * 2 ** 20;
const MAX_INSTALL_SCRIPT_BYTES = 4 * 2 ** 20;
const SERVER_CONFIG = 'kubernetes/config/server.yaml';

export interface PullOptions {
  configDir: string;
  definition: ImageDefinition;
  /** A mirror with RKE2's release layout (`<source>/<version>/<file>`); default GitHub's release downloads. */
  source?: string;
  /** install.sh's URL; default `<source>/<version>/install.sh` with a source, else get.rke2.io; false: none. */
  installScript?: string | false;
  /** Architectures to fetch the release for; default the definition's. */
  arches?: Arch[];
  onProgress?: (file: string, received: number, total: number | undefined) => void;
}

export interface PulledFile {
  /** Relative to the config dir. */
  file: string;
  url: string;
  status: DownloadStatus;
  bytes: number;
  sha256: string;
  /** What the sha256 was checked against; absent for install.sh, which nothing vouches for. */
  checkedAgainst?: string;
}

export interface PullSummary {
  version: string;
  source: string;
  arches: Arch[];
  files: PulledFile[];
  fetched: number;
  present: number;
  bytesFetched: number;
}

/**
 * Fetches the RKE2 release, install.sh and the Helm charts a definition needs into its config dir, every
 * file checked before it appears under its final name. Bad input throws InputError; a failed fetch or
 * a refused file OperationError, naming the URL and the file.
 */
export async function pullArtefacts(o: PullOptions): Promise<PullSummary> {
  const k8s = o.definition.kubernetes;
  if (!k8s) throw new InputError('the definition has no kubernetes section: there is nothing to pull');
  if (k8s.distribution !== 'rke2')
    throw new InputError('kubernetes.version: only RKE2 releases can be pulled');
  const source = o.source ?? RKE2_RELEASES_URL;
  if (!/^https?:\/\/[^/]/.test(source)) throw new InputError(`--source: '${source}' is not an http(s) URL`);
  if (typeof o.installScript === 'string' && !/^https?:\/\/[^/]/.test(o.installScript))
    throw new InputError(`--install-script: '${o.installScript}' is not an http(s) URL`);
  const arches = o.arches ?? [o.definition.image.arch];
  for (const arch of arches) {
    if (arch !== o.definition.image.arch)
      throw new InputError(
        `--arch: ${arch}: ${RELEASE_DIR} holds the release of the image's architecture (${o.definition.image.arch}) only; validate refuses another architecture's files`,
      );
  }
  const files: PulledFile[] = [];
  const record = (f: PulledFile) => files.push(f);
  const serverConfig = await readConfigMap(o.configDir, SERVER_CONFIG);
  const releaseDir = await safeDir(o.configDir, RELEASE_DIR);

  for (const arch of arches) {
    const names = releaseNames(arch);
    const sumsUrl = releaseFileUrl(source, k8s.version, names.checksums);
    const sumsText = await fetchText(sumsUrl, names.checksums, {}, 4 * 2 ** 20).catch(
      failed(names.checksums),
    );
    const sums = parseChecksums(sumsText);
    if (typeof sums === 'string')
      throw new OperationError(`${shownUrl(sumsUrl.href)}: ${names.checksums}: ${sums}`);
    if (!sums.has(names.tarball))
      throw new OperationError(
        `${shownUrl(sumsUrl.href)}: ${names.checksums} has no line for ${names.tarball}`,
      );
    const images = imageArchiveNames(serverConfig, arch, new Set(sums.keys()));
    if (images.problems.length > 0) {
      throw new InputError(
        images.problems
          .map((p) => `${path.join(o.configDir, SERVER_CONFIG)}: ${p} (${shownUrl(sumsUrl.href)})`)
          .join('\n'),
      );
    }
    await mkdir(releaseDir, { recursive: true });
    // Another release's checksum file must not vouch for files while they are being replaced.
    await removeIfDifferent(path.join(releaseDir, names.checksums), sumsText);
    for (const name of [names.tarball, ...images.names]) {
      const url = releaseFileUrl(source, k8s.version, name);
      const file = `${RELEASE_DIR}/${name}`;
      const result = await downloadVerified({
        url,
        target: path.join(releaseDir, name),
        sha256: sums.get(name)!,
        digestSource: `${names.checksums} (${shownUrl(sumsUrl.href)})`,
        maxBytes: MAX_RELEASE_FILE_BYTES,
        onProgress: (received, total) => o.onProgress?.(file, received, total),
      }).catch(failed(file));
      record({ file, url: shownUrl(url.href), ...result, checkedAgainst: names.checksums });
    }
    // The checksum file last: it never vouches for files that are not in place yet.
    record(await writeIfChanged(releaseDir, names.checksums, sumsText, shownUrl(sumsUrl.href)));
  }

  if (o.installScript !== false) {
    const url = new URL(
      o.installScript ??
        (o.source ? releaseFileUrl(source, k8s.version, INSTALL_SCRIPT).href : RKE2_INSTALL_SCRIPT_URL),
    );
    const file = `${RELEASE_DIR}/${INSTALL_SCRIPT}`;
    const result = await downloadVerified({
      url,
      target: path.join(releaseDir, INSTALL_SCRIPT),
      maxBytes: MAX_INSTALL_SCRIPT_BYTES,
      onProgress: (received, total) => o.onProgress?.(file, received, total),
    }).catch(failed(file));
    record({ file, url: shownUrl(url.href), ...result });
  }

  const charts = wantedCharts(k8s);
  const chartsDir = charts.length > 0 ? await safeDir(o.configDir, LOCAL_CHARTS_DIR) : '';
  const indexes = new Map<string, Promise<string>>();
  for (const { chart, field, pullFrom } of charts) {
    const fileName = chartFileName(chart);
    const file = `${LOCAL_CHARTS_DIR}/${fileName}`;
    if (!isSafePathComponent(fileName))
      throw new InputError(`${field}: '${fileName}' cannot be a file name in ${LOCAL_CHARTS_DIR}`);
    if (!pullFrom || !isPullableRepository(pullFrom.url)) {
      throw new InputError(
        `${field}: chart ${chart.name} ${chart.version}: only http:// and https:// repositories can be pulled; put ${fileName} (as helm pull writes it) in ${LOCAL_CHARTS_DIR}/`,
      );
    }
    const base = repositoryBase(pullFrom.url);
    const transport: Transport = {
      ca: pullFrom.caFile
        ? await readFile(path.join(o.configDir, HELM_CERTS_DIR, pullFrom.caFile))
        : undefined,
      insecure: pullFrom.skipTLSVerify === true,
      auth: pullFrom.authentication,
      authOrigin: new URL(base).origin,
    };
    const indexUrl = new URL('index.yaml', base);
    if (!indexes.has(indexUrl.href)) indexes.set(indexUrl.href, fetchText(indexUrl, 'index.yaml', transport));
    const indexText = await indexes
      .get(indexUrl.href)!
      .catch(failed(`index.yaml of repository ${pullFrom.name}`));
    const entry = findChartEntry(indexText, chart, base);
    if (typeof entry === 'string')
      throw new OperationError(
        `${shownUrl(indexUrl.href)}: ${field}: chart ${chart.name} ${chart.version}: ${entry}`,
      );
    await mkdir(chartsDir, { recursive: true });
    const result = await downloadVerified({
      url: entry.url,
      target: path.join(chartsDir, fileName),
      sha256: entry.digest,
      digestSource: `the digest in ${shownUrl(indexUrl.href)}`,
      maxBytes: MAX_CHART_BYTES,
      transport,
      onProgress: (received, total) => o.onProgress?.(file, received, total),
    }).catch(failed(file));
    record({ file, url: shownUrl(entry.url.href), ...result, checkedAgainst: 'index.yaml digest' });
  }

  // validate's own rules, on what is there now: a stray or stale file from before is reported here.
  for (const arch of arches) {
    const verified = new Map(
      files.filter((f) => f.file.startsWith(`${RELEASE_DIR}/`)).map((f) => [path.basename(f.file), f.sha256]),
    );
    const { problems } = await checkRelease(o.configDir, arch, { verified });
    if (problems.length > 0) {
      throw new InputError(
        `the files were fetched, but ${RELEASE_DIR} still fails validate's release check (remove what is not part of this release):\n` +
          problems.map((p) => `  ${p.file}: ${p.message}`).join('\n'),
      );
    }
  }
  const fetched = files.filter((f) => f.status === 'fetched' || f.status === 'resumed');
  return {
    version: k8s.version,
    source: shownUrl(source),
    arches,
    files,
    fetched: fetched.length,
    present: files.length - fetched.length,
    bytesFetched: fetched.reduce((n, f) => n + f.bytes, 0),
  };
}

/** Turns a fetch failure into an OperationError naming the URL and the file; other errors pass. */
function failed(file: string) {
  return (error: unknown): never => {
    if (error instanceof FetchError) throw new OperationError(`${file}: ${error.message}`);
    if (error instanceof InputError || error instanceof OperationError) throw error;
    throw new OperationError(`${file}: ${(error as Error).message ?? String(error)}`);
  };
}

/** A folder of the config dir to write into (created when the first file is fetched); a link on the way is refused. */
async function safeDir(configDir: string, relative: string): Promise<string> {
  const linked = await linkOnTheWay(configDir, relative);
  if (linked)
    throw new InputError(
      `${path.join(configDir, linked)}: must be a folder, not a link (nothing is written through links)`,
    );
  const dir = path.join(configDir, relative);
  const info = await lstat(dir).catch(() => undefined);
  if (info && !info.isDirectory()) throw new InputError(`${dir}: must be a folder`);
  return dir;
}

async function removeIfDifferent(file: string, text: string): Promise<void> {
  const info = await lstat(file).catch(() => undefined);
  if (!info?.isFile()) return;
  if ((await readFile(file, 'utf8')) !== text) await rm(file);
}

/** Writes a small text file atomically unless it already holds exactly that text. */
async function writeIfChanged(dir: string, name: string, text: string, url: string): Promise<PulledFile> {
  const target = path.join(dir, name);
  const info = await lstat(target).catch(() => undefined);
  if (info && !info.isFile())
    throw new InputError(`${target}: is in the way (not a regular file); remove it`);
  const sha256 = createHash('sha256').update(text).digest('hex');
  const file = `${RELEASE_DIR}/${name}`;
  const bytes = Buffer.byteLength(text);
  if (info && (await readFile(target, 'utf8')) === text)
    return { file, url, status: 'present', bytes, sha256 };
  const partial = path.join(dir, `.${name}.partial`);
  await writeFile(partial, text, { mode: 0o644 });
  await rename(partial, target);
  return { file, url, status: 'fetched', bytes, sha256 };
}
