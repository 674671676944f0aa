import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { formatBytes } from '../common/units.ts';
import { writeConfigDrive } from '../installer/config-drive.ts';
import { computeImageMap, type ImageMap } from '../installer/image-map.ts';
import { installerNetwork } from '../installer/installer-network.ts';
import {
  buildInstallerIso,
  type InstallerBase,
  type InstallerSettings,
  prepareInstallerBase,
} from '../installer/iso.ts';
import { locateInstallerKernel } from '../installer/kernel.ts';
import { type HostConfig, hashToken, hostConfigPath, newToken, writeHostConfig } from './callbacks.ts';
import { PermanentStepError, stepIndex } from './lifecycle.ts';
import type { MediaServer } from './media.ts';
import type { HostRecord, HostSpec } from './types.ts';

/** Per-host installer ISOs live under this media-dir folder, at short URLs `/media/hosts/<key>.iso`. */
export const HOST_MEDIA_DIR = 'hosts';

/**
 * A new name for a host's installer ISO: 128 random bits, so only the BMC that is told the URL can fetch
 * the ISO (and the callback token in it). A new name per provisioning; the file exists only while inserted.
 */
export function newHostIsoName(): string {
  return `${HOST_MEDIA_DIR}/${randomBytes(16).toString('hex')}.iso`;
}

/**
 * Whether a per-host ISO may be served now: only while it is inserted at its host's BMC (from the
 * `insert-media` step, when the BMC first reads it, until it is ejected). Other media-dir files: always.
 */
export function installerIsoServable(
  name: string,
  hostWithIso: (name: string) => HostRecord | undefined,
): boolean {
  if (!name.startsWith(`${HOST_MEDIA_DIR}/`)) return true;
  const host = hostWithIso(name);
  if (!host) return false;
  if (host.state === 'deprovisioning') return true;
  return (
    host.state === 'provisioning' &&
    stepIndex('provisioning', host.step) >= stepIndex('provisioning', 'insert-media')
  );
}

function hostIsoName(host: HostRecord): string {
  const name = host.provisioning?.installerIso;
  if (!name)
    throw new Error(
      'no installer ISO name recorded (provisioning request lost); deprovision and provision again',
    );
  return name;
}

export interface HostMediaOptions {
  stateDir: string;
  mediaDir: string;
  media: MediaServer;
  /** Base URL the hosts being installed reach the service at (image download, callbacks). */
  hostUrl: () => string;
  /** The host's RKE2 settings for its config drive, when the site has a cluster (docs/first-boot.md). */
  clusterKeys?: (host: string) => Record<string, string> | undefined;
}

/**
 * Builds a host's self-installing ISO when its provisioning starts: the shared installer (kernel,
 * initramfs, UEFI image — built once into the state dir's cache) plus this host's settings and config
 * drive. The ISO holds the host's callback token, so it is deleted once the media is ejected.
 */
export class HostMedia {
  private readonly o: HostMediaOptions;
  private base: Promise<InstallerBase> | undefined;
  private readonly maps = new Map<string, { key: string; map: Promise<ImageMap> }>();

  constructor(options: HostMediaOptions) {
    this.o = options;
  }

  async prepare(host: HostRecord, image: string): Promise<string> {
    const started = performance.now();
    const config = JSON.parse(
      await readFile(hostConfigPath(this.o.stateDir, host.name), 'utf8'),
    ) as HostConfig;
    const imageFile = this.o.media.resolve(image);
    if (!imageFile) throw new Error(`image '${image}' is not in the media dir`);
    const map = await this.imageMap(imageFile);
    const published = await publishedChecksum(imageFile);
    if (published && published !== map.sha256) {
      throw new PermanentStepError(
        `checksum mismatch: ${image} does not match ${image}.sha256 (expected sha256 ${published}, got ${map.sha256}); put the image and the .sha256 its build wrote in the media dir, then deprovision ${host.name} and provision it again`,
      );
    }
    const { size, sha256 } = map;
    const base = await this.installerBase();
    const dir = path.join(this.o.mediaDir, HOST_MEDIA_DIR);
    await mkdir(dir, { recursive: true });
    const configDrive = path.join(dir, `.${host.name}.config-2.iso`);
    try {
      await writeConfigDrive(configDrive, {
        metaData: {
          uuid: host.id,
          name: host.name,
          hostname: host.name,
          'metal3-name': host.name,
          outpost_role: host.spec.role,
          outpost_callback: config.callbackUrlWithToken,
          ...this.o.clusterKeys?.(host.name),
        },
        ...(host.spec.networkData !== undefined && { networkData: host.spec.networkData }),
      });
      const settings: InstallerSettings = {
        host: host.name,
        image: {
          url: `${this.o.hostUrl()}/media/${image.split('/').map(encodeURIComponent).join('/')}`,
          size,
          sha256,
        },
        disk: { hints: rootDeviceHints(host.spec) },
        callback: { url: config.callbackUrl, token: config.callbackToken },
        network: installerNetwork(host.spec.networkData, host.spec.bootMACAddress),
      };
      await buildInstallerIso({
        base,
        output: path.join(this.o.mediaDir, hostIsoName(host)),
        settings,
        imageMap: map,
        configDriveImage: configDrive,
      });
    } finally {
      await rm(configDrive, { force: true });
    }
    return `installer ISO built in ${((performance.now() - started) / 1000).toFixed(1)} s (image ${image}, ${formatBytes(size)})`;
  }

  /**
   * Builds the host's cleaning ISO: the installer in wipe mode, with a new callback token (written to the
   * host's config first, as for provisioning). Returns the token's hash for the host record.
   */
  async prepareWipe(
    host: HostRecord,
  ): Promise<{ message: string; callbackTokenHash: string; installerIso: string }> {
    const started = performance.now();
    const token = newToken();
    const callbackUrl = `${this.o.hostUrl()}/callbacks/${encodeURIComponent(host.name)}`;
    writeHostConfig(this.o.stateDir, {
      name: host.name,
      role: host.spec.role,
      callbackUrl,
      callbackToken: token,
      callbackUrlWithToken: `${callbackUrl}/${token}`,
      image: '',
    });
    const base = await this.installerBase();
    await mkdir(path.join(this.o.mediaDir, HOST_MEDIA_DIR), { recursive: true });
    // A new random name, as for provisioning: only the BMC told the URL can fetch the token in it.
    const installerIso = newHostIsoName();
    await buildInstallerIso({
      base,
      output: path.join(this.o.mediaDir, installerIso),
      settings: {
        host: host.name,
        mode: 'wipe',
        image: { size: 0, sha256: '' },
        disk: {},
        callback: { url: callbackUrl, token },
        network: installerNetwork(host.spec.networkData, host.spec.bootMACAddress),
      },
    });
    return {
      message: `cleaning ISO built in ${((performance.now() - started) / 1000).toFixed(1)} s`,
      callbackTokenHash: hashToken(token),
      installerIso,
    };
  }

  /** The shared installer (kernel, initramfs, UEFI image), built once into the state dir's cache. */
  private async installerBase(): Promise<InstallerBase> {
    this.base ??= prepareInstallerBase(locateInstallerKernel(), path.join(this.o.stateDir, 'cache'));
    return this.base.catch((error: unknown) => {
      this.base = undefined;
      throw error;
    });
  }

  /** The image's block map, computed once per file version (size, mtime, inode) and shared by hosts. */
  private imageMap(file: string): Promise<ImageMap> {
    const info = statSync(file);
    const key = `${info.ino}:${info.size}:${info.mtimeMs}`;
    const cached = this.maps.get(file);
    if (cached?.key === key) return cached.map;
    const map = computeImageMap(file);
    this.maps.set(file, { key, map });
    map.catch(() => this.maps.delete(file));
    return map;
  }

  async remove(host: HostRecord): Promise<void> {
    const name = host.provisioning?.installerIso;
    if (name) await rm(path.join(this.o.mediaDir, name), { force: true });
  }
}

/**
 * The checksum the build published next to the image (`<image>.sha256`, sha256sum format), so the
 * installer verifies the image against what was built, not against what happens to be on disk now.
 */
async function publishedChecksum(imageFile: string): Promise<string | undefined> {
  const text = await readFile(`${imageFile}.sha256`, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const digest = /^([0-9a-f]{64})\b/i.exec(text.trim())?.[1];
  if (!digest)
    throw new PermanentStepError(
      `${path.basename(imageFile)}.sha256 is not in sha256sum format (<64 hex digits>  <file name>)`,
    );
  return digest.toLowerCase();
}

/** Metal3's root device hints, in the installer's terms (sizes in bytes). */
function rootDeviceHints(spec: HostSpec): NonNullable<InstallerSettings['disk']['hints']> {
  const h = spec.rootDeviceHints ?? {};
  const gib = (v: unknown) => (typeof v === 'number' ? v * 2 ** 30 : undefined);
  const text = (v: unknown) => (typeof v === 'string' && v ? v : undefined);
  return {
    ...(text(h.deviceName) && { deviceName: text(h.deviceName) }),
    ...(gib(h.minSizeGigabytes) && { minSizeBytes: gib(h.minSizeGigabytes) }),
    ...(gib(h.maxSizeGigabytes) && { maxSizeBytes: gib(h.maxSizeGigabytes) }),
    ...(text(h.serialNumber) && { serialNumber: text(h.serialNumber) }),
    ...(text(h.wwn) && { wwn: text(h.wwn) }),
    ...(typeof h.rotational === 'boolean' && { rotational: h.rotational }),
  };
}
