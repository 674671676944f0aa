import { terminalSafe } from '../common/diagnostics.ts';
import type { CredentialsFile } from './credentials.ts';
import type { HostRecord, Operation } from './types.ts';

/**
 * What the API shows of a host. Built field by field (never by spreading the record) so nothing secret
 * — credentials, callback token hashes — can slip into a response.
 */
export function hostView(host: HostRecord, credentials: CredentialsFile) {
  return {
    name: host.name,
    id: host.id,
    state: host.state,
    step: host.step || undefined,
    consumer: host.provisioning?.consumer,
    image: host.provisioning?.image,
    online: host.spec.online,
    role: host.spec.role,
    bootMACAddress: host.spec.bootMACAddress,
    bmc: {
      address: host.spec.bmc.address,
      disableCertificateVerification: host.spec.bmc.disableCertificateVerification,
      credentials: credentials.has(host.name) ? 'set' : 'missing',
    },
    powerState: host.powerState,
    powerRequest: host.powerRequest,
    installProgress: host.installProgress,
    error: host.error
      ? {
          type: host.error.type,
          message: terminalSafe(host.error.message),
          count: host.error.count,
          // A permanent error is not retried: it waits for the user, as its message says.
          ...(host.error.permanent
            ? { permanent: true }
            : { nextAttemptAt: new Date(host.error.nextAttemptAt).toISOString() }),
        }
      : undefined,
    labels: host.spec.labels,
    rootDeviceHints: host.spec.rootDeviceHints,
    networkData: host.spec.networkData !== undefined ? 'set' : undefined,
    hardware: host.hardware,
    createdAt: new Date(host.createdAt).toISOString(),
    updatedAt: new Date(host.updatedAt).toISOString(),
  };
}

export type HostView = ReturnType<typeof hostView> & {
  /** In host lists: the site cluster's node on this host and its Ready condition ('' when none). */
  node?: { node: string; ready: string };
};

/** Operation history as phases (one per state entered) with their steps, durations in ms. */
export function timelineView(operations: Operation[], now = Date.now()) {
  const phases: {
    state: string;
    step?: string;
    startedAt: string;
    endedAt?: string;
    durationMs: number;
    result: string;
    message?: string;
    steps: {
      step: string;
      startedAt: string;
      endedAt?: string;
      durationMs: number;
      result: string;
      message?: string;
    }[];
  }[] = [];
  const item = (op: Operation) => ({
    startedAt: new Date(op.startedAt).toISOString(),
    ...(op.endedAt !== undefined && { endedAt: new Date(op.endedAt).toISOString() }),
    durationMs: (op.endedAt ?? now) - op.startedAt,
    result: op.result,
    ...(op.message !== undefined && { message: op.message }),
  });
  for (const op of operations) {
    if (op.step === '' || op.state === 'power') {
      phases.push({
        state: op.state,
        ...(op.state === 'power' && { step: op.step }),
        ...item(op),
        steps: [],
      });
    } else {
      const phase = [...phases].reverse().find((p) => p.state === op.state && p.state !== 'power');
      if (phase) phase.steps.push({ step: op.step, ...item(op) });
      else phases.push({ state: op.state, step: op.step, ...item(op), steps: [] });
    }
  }
  return phases;
}
