import { rmSync } from 'node:fs';
import { isOneOf } from '../common/unions.ts';
import { hashToken, hostConfigPath, newToken, writeHostConfig } from './callbacks.ts';
import type { CredentialsFile } from './credentials.ts';
import { newHostIsoName } from './host-media.ts';
import { conflictsWithExisting } from './inventory.ts';
import { leftOnBmc, refuseAction } from './lifecycle.ts';
import type { MediaServer } from './media.ts';
import type { Store } from './store.ts';
import type { Transitions } from './transitions.ts';
import {
  type HostRecord,
  type HostSpec,
  type InventoryHost,
  POWER_ACTIONS,
  type PowerAction,
} from './types.ts';

/** A refused request: the API answers with `status` and this message. */
export class ActionError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'ActionError';
    this.status = status;
  }
}

export interface ActionContext {
  store: Store;
  transitions: Transitions;
  credentials: CredentialsFile;
  media: MediaServer;
  stateDir: string;
  /** Base URL BMCs reach the service at (virtual media), e.g. `http://10.0.0.2:8080`. */
  advertiseUrl: string;
  /** Base URL the hosts being installed reach the service at (image download, callbacks). */
  hostUrl: string;
  /** Called after every accepted change so the reconciler looks at it now. */
  kick: () => void;
}

/** The user's requests on hosts; each is checked against the host's state and saved in one transaction. */
/** Hosts saved per transaction by an import; other requests are served between batches. */
const IMPORT_BATCH = 50;

export class HostActions {
  private readonly c: ActionContext;
  private imports: Promise<unknown> = Promise.resolve();

  constructor(context: ActionContext) {
    this.c = context;
  }

  get(name: string): HostRecord {
    const host = this.c.store.getHost(name);
    if (!host) throw new ActionError(404, `no host named '${name}'`);
    return host;
  }

  /**
   * Adds new hosts and updates existing ones. Imports run one at a time (the check that no other host has
   * the same BMC or boot MAC must see the previous import's hosts). A refused import writes nothing.
   * Credentials are written first (one atomic write), so a crash never leaves a host in the database
   * without them; hosts are then saved in batches, yielding to other requests in between, so a large import
   * never holds up the service for long (an import cut short by a crash is completed by sending it again).
   * A host whose BMC or credentials changed registers again unless it is provisioned (then the new values are
   * used from the next operation on).
   */
  import(hosts: InventoryHost[]): Promise<{ created: string[]; updated: string[]; unchanged: string[] }> {
    const run = this.imports.then(() => this.importNow(hosts));
    this.imports = run.catch(() => {});
    return run;
  }

  private async importNow(
    hosts: InventoryHost[],
  ): Promise<{ created: string[]; updated: string[]; unchanged: string[] }> {
    const { store, credentials } = this.c;
    const conflicts = conflictsWithExisting(
      hosts.map((h) => h.spec),
      store.listHosts().map((h) => h.spec),
    );
    if (conflicts.length) throw new ActionError(409, `nothing imported: ${conflicts.join('; ')}`);
    const result = { created: [] as string[], updated: [] as string[], unchanged: [] as string[] };
    const changedCredentials = new Set(
      hosts
        .filter((h) => {
          const old = credentials.get(h.spec.name);
          return old?.username !== h.credentials.username || old?.password !== h.credentials.password;
        })
        .map((h) => h.spec.name),
    );
    await credentials.setMany(Object.fromEntries(hosts.map((h) => [h.spec.name, h.credentials])));
    for (let start = 0; start < hosts.length; start += IMPORT_BATCH) {
      if (start > 0) await new Promise((resolve) => setImmediate(resolve));
      store.transaction(() => {
        for (const { spec } of hosts.slice(start, start + IMPORT_BATCH)) {
          this.importOne(spec, changedCredentials.has(spec.name), result);
        }
      });
      this.c.kick();
    }
    return result;
  }

  private importOne(
    imported: InventoryHost['spec'],
    credentialsChanged: boolean,
    result: { created: string[]; updated: string[]; unchanged: string[] },
  ): void {
    const { store, transitions } = this.c;
    const existing = store.getHost(imported.name);
    if (!existing) {
      transitions.create(imported);
      result.created.push(imported.name);
      return;
    }
    // `online` is the desired power state: the inventory sets it for a new host; after that it follows the
    // user's power actions and provisioning, so importing the same file again never flips it.
    const spec = { ...imported, online: existing.spec.online };
    const bmcChanged = JSON.stringify(existing.spec.bmc) !== JSON.stringify(spec.bmc) || credentialsChanged;
    if (!bmcChanged && JSON.stringify(existing.spec) === JSON.stringify(spec)) {
      result.unchanged.push(spec.name);
      return;
    }
    result.updated.push(spec.name);
    const changes = describeChanges(existing.spec, spec, credentialsChanged).join('; ');
    const reRegister = bmcChanged && ['registering', 'inspecting', 'available'].includes(existing.state);
    if (reRegister) {
      transitions.enter(existing, 'registering', 'BMC settings changed: registering again', { spec });
      transitions.event(spec.name, 'Normal', 'Updated', `re-imported: ${changes}; registering again`);
    } else {
      const { error: _retryNow, ...rest } = existing;
      transitions.save(bmcChanged ? { ...rest, spec } : { ...existing, spec }, {
        level: 'Normal',
        reason: 'Updated',
        message: `re-imported: ${changes}${bmcChanged ? ` (used from the next ${existing.state === 'provisioned' ? 'operation' : 'step'} on)` : ''}`,
      });
    }
  }

  /**
   * Forgets a host and its credentials. `force` deletes it in any state without touching its BMC; the
   * answer lists what is left there, so the user can undo it by hand.
   */
  async remove(name: string, opts: { force?: boolean } = {}): Promise<{ leftOnBmc: string[] }> {
    const host = this.get(name);
    const refused = refuseAction('delete', host);
    if (refused && !opts.force) throw new ActionError(409, refused);
    this.c.store.deleteHost(name);
    await this.c.credentials.delete(name);
    // Its per-host config and ISO carry a callback token: they go with the host.
    rmSync(hostConfigPath(this.c.stateDir, name), { force: true });
    const iso = host.provisioning?.installerIso && this.c.media.resolve(host.provisioning.installerIso);
    if (iso) rmSync(iso, { force: true });
    return { leftOnBmc: opts.force ? leftOnBmc(host) : [] };
  }

  /**
   * Starts provisioning. An image whose host cannot report back (an ISO inserted as it is) needs
   * `callbacks: false`: the host then counts as provisioned when its BMC reports a boot from disk. A raw
   * image without the `.sha256` its build wrote needs `checksum: false`.
   */
  provision(
    name: string,
    request: { image?: unknown; consumer?: unknown; callbacks?: unknown; checksum?: unknown },
  ): HostRecord {
    const host = this.get(name);
    const refused = refuseAction('provision', host);
    if (refused) throw new ActionError(409, refused);
    if (typeof request.image !== 'string' || !request.image) {
      throw new ActionError(400, 'image is required: a file name in the media dir or an http(s) URL');
    }
    if (request.consumer !== undefined && typeof request.consumer !== 'string') {
      throw new ActionError(400, 'consumer must be a string');
    }
    for (const flag of ['callbacks', 'checksum'] as const) {
      if (request[flag] !== undefined && typeof request[flag] !== 'boolean')
        throw new ActionError(400, `${flag} must be true or false`);
    }
    const image = request.image;
    const isUrl = /^https?:\/\//.test(image);
    // An ISO (a vendor's self-installing ISO, a live image) is inserted as it is; a raw disk image is
    // written to disk by this host's own installer ISO, built when provisioning starts.
    const installerImage = isUrl || /\.iso$/i.test(image) ? undefined : image;
    if (isUrl && !/\.iso$/i.test(new URL(image).pathname)) {
      throw new ActionError(
        400,
        `'${image}' is not an ISO: put raw disk images in the media dir so the installer can verify them`,
      );
    }
    const installerIso = installerImage !== undefined ? newHostIsoName() : undefined;
    const imageUrl = isUrl ? image : this.mediaUrl(image, installerIso);
    const callbacks = request.callbacks !== false;
    // `callbacks: true` given for an ISO says it reports by itself (a custom image that sends the
    // per-host callbacks); without it, an ISO is assumed silent, as outpost's own ISOs are.
    if (!installerImage && request.callbacks === undefined) {
      throw new ActionError(
        400,
        `'${image}' is inserted as it is: nothing on it reports to the service, so provisioning would wait for callbacks that never come. Give the raw image the build wrote (e.g. site.raw): the service builds this host's installer, which reports every step. Or pass --no-callbacks (API: "callbacks": false): the host then counts as provisioned when its BMC reports a boot from disk.`,
      );
    }
    if (installerImage && !callbacks) {
      throw new ActionError(
        400,
        `--no-callbacks is for ISOs inserted as they are; the installer built for '${image}' reports every step itself`,
      );
    }
    if (installerImage && request.checksum !== false && !this.c.media.exists(`${image}.sha256`)) {
      throw new ActionError(
        400,
        `'${image}' has no ${image}.sha256 next to it in the media dir, so the installer could not tell a damaged or swapped image from the one that was built. Copy the .sha256 file the build wrote, or pass --no-checksum (API: "checksum": false) to install it unverified.`,
      );
    }
    const token = newToken();
    // The per-host config (with the token's only plaintext copy) is on disk before the database says
    // "provisioning", so a crash in between leaves nothing that points at a missing token.
    writeHostConfig(this.c.stateDir, {
      name,
      role: host.spec.role,
      callbackUrl: `${this.c.hostUrl}/callbacks/${encodeURIComponent(name)}`,
      callbackToken: token,
      callbackUrlWithToken: `${this.c.hostUrl}/callbacks/${encodeURIComponent(name)}/${token}`,
      image: imageUrl,
      ...(host.spec.bootMACAddress !== undefined && { bootMACAddress: host.spec.bootMACAddress }),
      ...(host.spec.rootDeviceHints !== undefined && { rootDeviceHints: host.spec.rootDeviceHints }),
      ...(host.spec.networkData !== undefined && { networkData: host.spec.networkData }),
    });
    const { installProgress: _reset, ...rest } = host;
    const next = this.c.transitions.enter(rest, 'provisioning', `provisioning with ${image}`, {
      provisioning: {
        image,
        imageUrl,
        ...(installerImage !== undefined && { installerImage }),
        ...(installerIso !== undefined && { installerIso }),
        ...(request.consumer !== undefined && { consumer: request.consumer }),
        ...(!callbacks && { callbacks: false as const }),
      },
      // The desired power state: a provisioned host runs its image.
      spec: { ...host.spec, online: true },
      callbackTokenHash: hashToken(token),
    });
    this.c.kick();
    return next;
  }

  deprovision(name: string): HostRecord {
    const host = this.get(name);
    const refused = refuseAction('deprovision', host);
    if (refused) throw new ActionError(409, refused);
    // The host is meant to be off (the flow powers it off); its consumer and image are cleared when the
    // flow has ejected the media (the per-host ISO is found through them until then).
    const { callbackTokenHash: _revoked, installProgress: _p, ...rest } = host;
    const cleaning = host.spec.automatedCleaningMode !== 'disabled';
    const next = this.c.transitions.enter(
      rest,
      'deprovisioning',
      cleaning
        ? 'deprovisioning requested; the disks are cleaned before the host is available'
        : 'deprovisioning requested (automatedCleaningMode: disabled)',
      {
        spec: { ...host.spec, online: false },
        // The cleaning ISO gets its own random name when it is built; the BMC fetches it from here.
        ...(cleaning ? { mediaBaseUrl: `${this.c.advertiseUrl}/media/` } : {}),
      },
    );
    this.c.kick();
    return next;
  }

  inspect(name: string): HostRecord {
    const host = this.get(name);
    const refused = refuseAction('inspect', host);
    if (refused) throw new ActionError(409, refused);
    const next = this.c.transitions.enter(host, 'inspecting', 'inspection requested');
    this.c.kick();
    return next;
  }

  power(name: string, action: unknown): HostRecord {
    if (!isOneOf(POWER_ACTIONS, action)) {
      throw new ActionError(400, "action must be 'on', 'off' or 'reboot'");
    }
    const host = this.get(name);
    const refused = refuseAction('power', host);
    if (refused) throw new ActionError(409, refused);
    if (host.powerRequest)
      throw new ActionError(409, `power ${host.powerRequest} is already under way on ${name}`);
    const next = this.c.store.transaction(() => {
      this.c.store.startOperation(name, 'power', action);
      const { error: _cleared, ...rest } = host;
      return this.c.transitions.save(
        { ...rest, powerRequest: action as PowerAction },
        {
          level: 'Normal',
          reason: 'PowerRequested',
          message: `power ${action} requested`,
        },
      );
    });
    this.c.kick();
    return next;
  }

  /** The BMC-facing URL of `served` (default: the image itself), once the image is known to exist. */
  private mediaUrl(image: string, served = image): string {
    if (!this.c.media.exists(image)) {
      throw new ActionError(
        400,
        `image '${image}' is not in the media dir (give a file name there, or an http(s) URL of an ISO)`,
      );
    }
    return `${this.c.advertiseUrl}/media/${served.split('/').map(encodeURIComponent).join('/')}`;
  }
}

/** What a re-import changes, in words (credentials by name only, never their values). */
export function describeChanges(before: HostSpec, after: HostSpec, credentialsChanged: boolean): string[] {
  const changes: string[] = [];
  if (before.bmc.address !== after.bmc.address)
    changes.push(`BMC address ${before.bmc.address} -> ${after.bmc.address}`);
  if (before.bmc.disableCertificateVerification !== after.bmc.disableCertificateVerification)
    changes.push(`disableCertificateVerification ${after.bmc.disableCertificateVerification}`);
  if (credentialsChanged) changes.push('BMC credentials changed');
  const fields = ['bootMACAddress', 'role', 'online', 'labels', 'rootDeviceHints', 'networkData'] as const;
  for (const field of fields) {
    const a = before[field];
    const b = after[field];
    if (JSON.stringify(a) === JSON.stringify(b)) continue;
    changes.push(
      field === 'networkData' || typeof a === 'object' || typeof b === 'object'
        ? `${field} changed`
        : `${field} ${a ?? '(none)'} -> ${b ?? '(none)'}`,
    );
  }
  for (const key of Object.keys(after) as (keyof HostSpec)[]) {
    if (key === 'bmc' || key === 'name' || (fields as readonly string[]).includes(key)) continue;
    if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) changes.push(`${key} changed`);
  }
  return changes.length > 0 ? changes : ['no visible change'];
}
