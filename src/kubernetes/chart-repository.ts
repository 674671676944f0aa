import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { parse } from 'yaml';
import { InputError } from '../common/diagnostics.ts';
import type { HelmChart, HelmRepository } from '../definition/types.ts';

/**
 * Pulls a chart from a Helm HTTP(S) repository at build time, as `helm pull` does: the repository's
 * `index.yaml`, then the entry's tarball, whose sha256 must equal the entry's `digest`. Credentials go in an
 * Authorization header and are never printed.
 */
const MAX_INDEX_BYTES = 64 * 2 ** 20;
const MAX_CHART_BYTES = 512 * 2 ** 20;
const TIMEOUT_MS = 60_000;

export interface PullOptions {
  repository: HelmRepository;
  chart: Pick<HelmChart, 'name' | 'version'>;
  /** Absolute path the tarball is written to (atomically). */
  target: string;
  /** The repository's CA file (kubernetes/helm/certs/<caFile>), when it has one. */
  caFile?: string;
  /** Names the chart in messages, e.g. `kubernetes.helm.charts[0]`. */
  field: string;
}

export async function pullChart(o: PullOptions): Promise<void> {
  const { repository, chart, field } = o;
  const fail = (why: string): never => {
    throw new InputError(
      `${field}: cannot pull chart ${chart.name} ${chart.version} from repository ${repository.name}: ${why}`,
    );
  };
  if (!/^https?:\/\//.test(repository.url)) {
    fail(
      'only http:// and https:// repositories can be pulled; put the .tgz in kubernetes/helm/charts/ instead',
    );
  }
  const transport = {
    ca: o.caFile ? await readFile(o.caFile) : undefined,
    insecure: repository.skipTLSVerify === true,
    auth: repository.authentication,
  };
  const base = repositoryBase(repository.url);
  const indexText = (
    await get(new URL('index.yaml', base), transport, MAX_INDEX_BYTES).catch((e) =>
      fail(`index.yaml: ${e.message}`),
    )
  ).toString('utf8');
  const found = findChartEntry(indexText, chart, base);
  if (typeof found === 'string') return fail(found);
  const { url: tarballUrl, digest: expected } = found;
  const data = await get(tarballUrl, transport, MAX_CHART_BYTES).catch((e) =>
    fail(`${tarballUrl.pathname}: ${e.message}`),
  );
  const digest = createHash('sha256').update(data).digest('hex');
  if (digest !== expected) fail(`the tarball's sha256 is ${digest}, index.yaml says ${expected}`);
  await mkdir(path.dirname(o.target), { recursive: true });
  const partial = `${o.target}.partial-${process.pid}`;
  await writeFile(partial, data);
  await rename(partial, o.target);
}

/** The repository URL as a base for relative chart URLs (with a trailing slash). */
export function repositoryBase(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}

/**
 * The rules `helm pull` follows in a repository's index.yaml: the entry of that chart and version, its first
 * URL (relative to the repository), which must be http(s), and its sha256 `digest`, which must be there.
 * Returns why not as a string.
 */
export function findChartEntry(
  indexText: string,
  chart: Pick<HelmChart, 'name' | 'version'>,
  base: string,
): { url: URL; digest: string } | string {
  let index: { entries?: Record<string, { version?: unknown; urls?: unknown; digest?: unknown }[]> };
  try {
    index = parse(indexText) ?? {};
  } catch {
    return 'index.yaml is not YAML';
  }
  const versions = index.entries?.[chart.name];
  const entry = Array.isArray(versions)
    ? versions.find((e) => e && String(e.version) === chart.version)
    : undefined;
  if (!entry) return `index.yaml has no version ${chart.version} of ${chart.name}`;
  const first = Array.isArray(entry.urls) ? entry.urls[0] : undefined;
  if (typeof first !== 'string' || first === '') return 'the index entry has no URL';
  if (typeof entry.digest !== 'string' || !/^[0-9a-f]{64}$/.test(entry.digest))
    return 'the index entry has no sha256 digest to check the tarball against';
  let url: URL;
  try {
    url = new URL(first, base);
  } catch {
    return `the index entry's URL is not a URL: ${first}`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return `the chart URL is not http(s): ${url.protocol}`;
  return { url, digest: entry.digest };
}

interface Transport {
  ca?: Buffer;
  insecure: boolean;
  auth?: { username: string; password: string };
}

function get(url: URL, t: Transport, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (t.auth)
      headers.authorization = `Basic ${Buffer.from(`${t.auth.username}:${t.auth.password}`).toString('base64')}`;
    const options = {
      headers,
      timeout: TIMEOUT_MS,
      ...(url.protocol === 'https:' && { ca: t.ca, rejectUnauthorized: !t.insecure }),
    };
    const request = (url.protocol === 'https:' ? https : http).get(url, options, (response) => {
      if (response.statusCode !== 200) {
        response.resume();
        reject(new Error(`HTTP ${response.statusCode}`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > limit) {
          request.destroy(new Error(`larger than ${limit} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      response.on('end', () => resolve(Buffer.concat(chunks)));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`no answer within ${TIMEOUT_MS / 1000} s`)));
    request.on('error', reject);
  });
}
