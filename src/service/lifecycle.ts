import type { ErrorType, HostRecord, HostState, PowerAction } from './types.ts';

/**
 * The host lifecycle as data: each state is a list of idempotent steps run in order, then the next state.
 * The current step is persisted, so a restart re-runs at most the step that was under way — and every
 * step checks before it acts (power on only when off), so re-running it does not act twice.
 */
export const FLOWS = {
  registering: ['connect'],
  inspecting: ['inspect'],
  available: [],
  provisioning: [
    'power-off',
    'prepare-media',
    'insert-media',
    'boot-once',
    'power-on',
    'installer',
    'first-boot',
    'eject-media',
  ],
  provisioned: [],
  deprovisioning: ['power-off', 'eject-media'],
} as const satisfies Record<HostState, readonly string[]>;

export type Step = (typeof FLOWS)[HostState][number];

const NEXT_STATE: Partial<Record<HostState, HostState>> = {
  registering: 'inspecting',
  inspecting: 'available',
  provisioning: 'provisioned',
  deprovisioning: 'available',
};

/** Steps that work on the service's own files, without the BMC. */
export const LOCAL_STEPS: readonly string[] = ['prepare-media'];

/** Steps that wait for the host to call back instead of acting on the BMC (unless it cannot call back). */
export const CALLBACK_STEPS: readonly string[] = ['installer', 'first-boot'];

/** How often a host that cannot call back has its BMC asked whether it booted (no-callbacks provisioning). */
export const BOOT_POLL_MS = 5_000;

/**
 * A step failure that retrying cannot fix (a checksum mismatch, credentials the BMC refuses). The host
 * stops with it; the message says what the user has to do.
 */
export class PermanentStepError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PermanentStepError';
  }
}

export const ERROR_TYPES: Record<HostState | 'power', ErrorType> = {
  registering: 'registration error',
  inspecting: 'inspection error',
  available: 'power management error',
  provisioning: 'provisioning error',
  provisioned: 'power management error',
  deprovisioning: 'deprovisioning error',
  power: 'power management error',
};

export function firstStep(state: HostState): string {
  return (FLOWS[state] as readonly string[])[0] ?? '';
}

/** Where a host goes once its current step succeeded: the next step, or the first step of the next state. */
export function afterStep(state: HostState, step: string): { state: HostState; step: string } {
  const steps = FLOWS[state] as readonly string[];
  const next = steps[steps.indexOf(step) + 1];
  if (next !== undefined) return { state, step: next };
  const nextState = NEXT_STATE[state] ?? state;
  return { state: nextState, step: firstStep(nextState) };
}

/** Steps of a state strictly before `step` — used when a callback shows the host is further than recorded. */
export function stepsBetween(state: HostState, from: string, to: string): string[] {
  const steps = FLOWS[state] as readonly string[];
  const a = steps.indexOf(from);
  const b = steps.indexOf(to);
  return a >= 0 && b > a ? steps.slice(a, b) : [];
}

export function stepIndex(state: HostState, step: string): number {
  return (FLOWS[state] as readonly string[]).indexOf(step);
}

export function isStable(state: HostState): boolean {
  return FLOWS[state].length === 0;
}

export interface Timing {
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** How long each callback step may wait before it counts as failed. */
  callbackTimeoutMs: number;
  /** How often the power state of a stable host is read again (Ironic's power sync: 60 s). */
  powerSyncMs: number;
}

export const DEFAULT_TIMING: Timing = {
  backoffBaseMs: 10_000,
  backoffMaxMs: 10 * 60_000,
  callbackTimeoutMs: 60 * 60_000,
  powerSyncMs: 60_000,
};

/** Exponential backoff like Metal3's: base * 2^(n-1), capped. */
export function backoffDelay(errorCount: number, timing: Timing): number {
  return Math.min(timing.backoffBaseMs * 2 ** Math.max(0, errorCount - 1), timing.backoffMaxMs);
}

export type Work =
  | { kind: 'step'; state: HostState; step: string }
  | { kind: 'power'; action: PowerAction }
  | { kind: 'timeout'; state: HostState; step: string }
  | { kind: 'refresh-power' }
  | { kind: 'none' };

/** What the reconciler should do for a host now; pure, so it is tested without a BMC. */
export function workFor(host: HostRecord, now: number, timing: Timing): Work {
  if (host.error?.permanent) return { kind: 'none' };
  if (host.error && host.error.nextAttemptAt > now) return { kind: 'none' };
  if (isStable(host.state)) {
    if (host.powerRequest) return { kind: 'power', action: host.powerRequest };
    // POWER shows what the BMC reports, also when the host was switched off behind the service's back.
    const checked = host.powerCheckedAt ?? host.updatedAt;
    return now - checked >= timing.powerSyncMs ? { kind: 'refresh-power' } : { kind: 'none' };
  }
  if (CALLBACK_STEPS.includes(host.step)) {
    if (now - host.stepStartedAt > timing.callbackTimeoutMs)
      return { kind: 'timeout', state: host.state, step: host.step };
    // A host that cannot call back has its BMC watched instead.
    if (host.provisioning?.callbacks !== false) return { kind: 'none' };
  }
  return { kind: 'step', state: host.state, step: host.step };
}

/** Which states each user action is accepted in; the message says why not otherwise. */
export function refuseAction(
  action: 'provision' | 'deprovision' | 'power' | 'inspect' | 'delete',
  host: HostRecord,
): string | undefined {
  const s = host.state;
  const busy = (what: string) => `host ${host.name} is ${s}; ${what}`;
  switch (action) {
    case 'provision':
      return s === 'available' ? undefined : busy('only an available host can be provisioned');
    case 'deprovision':
      return s === 'provisioned' || s === 'provisioning'
        ? undefined
        : busy('only a provisioned or provisioning host can be deprovisioned');
    case 'power':
      return isStable(s) ? undefined : busy('wait until it is available or provisioned');
    case 'inspect':
      return s === 'available' || s === 'inspecting' || (s === 'registering' && host.error)
        ? undefined
        : busy('only an available host can be inspected');
    case 'delete':
      return s === 'provisioning' || s === 'provisioned' || s === 'deprovisioning'
        ? busy('deprovision it first')
        : undefined;
  }
}
