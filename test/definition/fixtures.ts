import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { writeFixtureChart, writeFixtureRelease, writeFixtureVipCharts } from '../fixtures/rke2-release.ts';

/*
 * Tiny real base images for the cross-file checks: partition tables written by sgdisk and sfdisk,
 * an ISO 9660 image written by xorriso. A few MiB each and sparse, so they are made per run.
 */

async function sparseFile(file: string, bytes: number): Promise<void> {
  const handle = await open(file, 'w');
  await handle.truncate(bytes);
  await handle.close();
}

/** A 4 MiB sparse disk with a GPT holding an EFI system partition and a Linux root. */
export async function makeGptImage(file: string): Promise<void> {
  await sparseFile(file, 4 * 2 ** 20);
  await execa('sgdisk', ['-n', '1:2048:+1M', '-t', '1:ef00', '-n', '2:0:0', '-t', '2:8300', file]);
}

/** A 4 MiB sparse disk with a DOS (MBR) partition table and one Linux partition. */
export async function makeMbrImage(file: string): Promise<void> {
  await sparseFile(file, 4 * 2 ** 20);
  await execa('sfdisk', ['--quiet', file], { input: 'label: dos\n2048,,83\n' });
}

/** A small ISO 9660 image with one file in it. */
export async function makeIsoImage(file: string): Promise<void> {
  const root = await mkdtemp(path.join(tmpdir(), 'outpost-iso-root-'));
  try {
    await writeFile(path.join(root, 'README'), 'outpost test ISO\n');
    await execa('xorriso', ['-as', 'mkisofs', '-quiet', '-V', 'OUTPOST_TEST', '-o', file, root]);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** A file of zeros: exists, but is no image at all. */
export async function makeBlankFile(file: string): Promise<void> {
  await sparseFile(file, 64 * 1024);
}

/** Writes `files` (relative path -> content) under `dir`, creating directories. */
export async function writeTree(dir: string, files: Record<string, string>): Promise<void> {
  for (const [relative, content] of Object.entries(files)) {
    const target = path.join(dir, relative);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, content);
  }
}

/** A temporary directory removed by the returned function. */
export async function tempDir(prefix: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Environment the corpora are validated with (the Metal3 quick start's two variables among them). */
export const CORPUS_ENV: Readonly<Record<string, string>> = {
  ROOT_PASSWORD: '$6$corpusSalt$corpusHashValueThatMustNeverBePrinted',
  USERKEY1: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICorpusKeyCorpusKeyCorpusKey corpus@example',
  SCC_CODE: 'REGCODE-CORPUS-0001',
  HELM_USER: 'corpus-helm-user',
  SITE_ADMIN: 'siteadmin',
};

/**
 * The config directory every corpus definition is checked against: base images of each kind,
 * Helm values and certificates, the RKE2 release, and the tarballs of the charts the valid corpus names
 * from OCI repositories (the build does not pull those) and of EIB's API VIP charts. The definitions are copied in, so file names print as written.
 */
export async function makeCorpusConfigDir(dir: string): Promise<void> {
  await mkdir(path.join(dir, 'base-images'), { recursive: true });
  await makeGptImage(path.join(dir, 'base-images/gpt.raw'));
  await makeGptImage(path.join(dir, 'base-images/SLE-Micro.x86_64-5.5.0-Default-GM.raw'));
  await makeMbrImage(path.join(dir, 'base-images/mbr.raw'));
  await makeIsoImage(path.join(dir, 'base-images/install.iso'));
  await makeBlankFile(path.join(dir, 'base-images/blank.raw'));
  await writeTree(dir, {
    'kubernetes/helm/values/metallb.yaml': 'controller:\n  logLevel: info\n',
    'kubernetes/helm/values/broken.yaml': 'controller:\n  logLevel: [info\n',
    // Dual stack (rke2-multi-node-vip.yaml) needs both families, IPv4 first in both, as EIB requires.
    'kubernetes/config/server.yaml':
      'cluster-cidr: 10.42.0.0/16,fd42::/48\nservice-cidr: 10.43.0.0/16,fd43::/112\n',
    'kubernetes/helm/certs/ca.pem': '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
  });
  await writeFixtureRelease(path.join(dir, 'kubernetes/install'));
  await writeFixtureChart(path.join(dir, 'kubernetes/helm/charts/metallb-0.14.9.tgz'), 'metallb', '0.14.9');
  await writeFixtureVipCharts(dir);
  // Where a chart's tarball should be, a folder (helm-chart-tarball-not-a-file.yaml).
  await mkdir(path.join(dir, 'kubernetes/helm/charts/folder-1.0.0.tgz'), { recursive: true });
}
