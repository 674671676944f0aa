/**
 * When to power-cycle a host whose node stopped being Ready: Metal3's Reboot remediation strategy
 * (Metal3Remediation: retryLimit, timeoutSeconds) triggered like a MachineHealthCheck with
 * `unhealthyNodeConditions` Ready=False/Unknown for a timeout. Pure: the caller persists the record,
 * performs the power cycle through Redfish and records it as an operation and an event.
 */
import type { ConditionStatus } from './types.ts';

export interface RemediationPolicy {
  /** How long a node may be NotReady/Unknown before it is power-cycled (MHC timeoutSeconds; default 5 min). */
  notReadyTimeoutMs: number;
  /**
   * How long a node that has never been Ready may take to become Ready (MHC nodeStartupTimeout; default
   * 10 min): a first start pulls nothing but still waits for its CNI, and rebooting it then only restarts that.
   */
  startupTimeoutMs: number;
  /** Power cycles before giving up (Metal3Remediation retryLimit). */
  maxAttempts: number;
  /** How long to wait after a power cycle for the node to come back before the next one (Metal3 timeoutSeconds). */
  settleMs: number;
}

export const DEFAULT_REMEDIATION: RemediationPolicy = {
  notReadyTimeoutMs: 5 * 60_000,
  startupTimeoutMs: 10 * 60_000,
  maxAttempts: 3,
  settleMs: 5 * 60_000,
};

/** What the service remembers of one host's remediation; reset when its node is Ready again. */
export interface RemediationRecord {
  attempts: number;
  lastAttemptAt?: number;
  /** Set when attempts ran out: the host is left alone for a person. */
  unhealthy: boolean;
}

export const NO_REMEDIATION: RemediationRecord = { attempts: 0, unhealthy: false };

export interface NodeHealth {
  ready: ConditionStatus;
  /** When the Ready condition last changed (epoch ms). */
  since: number;
  /** False while the node has never been Ready since it registered. */
  everReady: boolean;
  /** When the node registered (epoch ms). */
  registered: number;
}

export type RemediationDecision =
  | { kind: 'healthy'; record: RemediationRecord }
  | { kind: 'watch'; remediateAt: number }
  | { kind: 'power-cycle'; attempt: number; record: RemediationRecord }
  | { kind: 'settling'; until: number }
  | { kind: 'give-up'; record: RemediationRecord }
  | { kind: 'left-alone'; reason: string }
  | { kind: 'deferred'; reason: string };

export interface RemediationContext {
  /** Another host of the site is being power-cycled right now: one at a time, so a control plane keeps its majority. */
  otherInFlight: boolean;
  /** The host's desired power state is off (Metal3: remediation fails when online is false). */
  desiredOff: boolean;
}

export function decideRemediation(
  node: NodeHealth | undefined,
  record: RemediationRecord,
  context: RemediationContext,
  now: number,
  policy: RemediationPolicy = DEFAULT_REMEDIATION,
): RemediationDecision {
  if (node === undefined)
    return { kind: 'left-alone', reason: 'no node registered yet (startup is tracked by provisioning)' };
  if (node.ready === 'True') {
    return { kind: 'healthy', record: record.attempts === 0 && !record.unhealthy ? record : NO_REMEDIATION };
  }
  if (record.unhealthy)
    return { kind: 'left-alone', reason: 'marked unhealthy after remediation ran out: needs a person' };
  if (context.desiredOff) return { kind: 'left-alone', reason: 'powered off on purpose (online: false)' };

  const remediateAt = node.everReady
    ? node.since + policy.notReadyTimeoutMs
    : node.registered + policy.startupTimeoutMs;
  if (now < remediateAt) return { kind: 'watch', remediateAt };
  if (record.lastAttemptAt !== undefined) {
    const until = record.lastAttemptAt + policy.settleMs;
    if (now < until) return { kind: 'settling', until };
  }
  if (record.attempts >= policy.maxAttempts) {
    return { kind: 'give-up', record: { ...record, unhealthy: true } };
  }
  if (context.otherInFlight) return { kind: 'deferred', reason: 'another host is being power-cycled' };
  const attempt = record.attempts + 1;
  return {
    kind: 'power-cycle',
    attempt,
    record: { attempts: attempt, lastAttemptAt: now, unhealthy: false },
  };
}
