import { randomUUID } from 'node:crypto';
import { afterStep, backoffDelay, ERROR_TYPES, firstStep, stepsBetween, type Timing } from './lifecycle.ts';
import { countError, observeStep } from './metrics.ts';
import type { Store } from './store.ts';
import type { EventLevel, HostRecord, HostSpec, HostState, Step } from './types.ts';

export type EventSink = (host: string, level: EventLevel, reason: string, message: string) => void;

const ENTER_REASONS: Record<HostState, string> = {
  registering: 'Registering',
  inspecting: 'InspectionStarted',
  available: 'Available',
  provisioning: 'ProvisioningStarted',
  provisioned: 'Provisioned',
  deprovisioning: 'DeprovisioningStarted',
};

/**
 * Every change to a host goes through here: the record, its event and its operation history are written
 * in one transaction. The operation history has one row per state entered (step '') and one per step.
 */
export class Transitions {
  private readonly store: Store;
  private readonly sink: EventSink;

  constructor(store: Store, sink: EventSink = () => {}) {
    this.store = store;
    this.sink = sink;
  }

  create(spec: HostSpec, now = Date.now()): HostRecord {
    const host: HostRecord = {
      id: randomUUID(),
      name: spec.name,
      spec,
      state: 'registering',
      step: firstStep('registering'),
      stepStartedAt: now,
      createdAt: now,
      updatedAt: now,
    };
    return this.store.transaction(() => {
      this.store.putHost(host);
      this.openState(host, now);
      this.event(host.name, 'Normal', 'Registered', `host ${spec.name} added (BMC ${spec.bmc.address})`, now);
      return host;
    });
  }

  /** Saves a change that does not move the host (spec update, progress) with an optional event. */
  save(
    host: HostRecord,
    event?: { level: EventLevel; reason: string; message: string },
    now = Date.now(),
  ): HostRecord {
    const next = { ...host, updatedAt: now };
    this.store.transaction(() => {
      this.store.putHost(next);
      if (event) this.event(host.name, event.level, event.reason, event.message, now);
    });
    return next;
  }

  /** The current step worked: record it, clear any error, move to the next step or state. */
  stepSucceeded(
    host: HostRecord,
    patch: Partial<HostRecord> = {},
    message?: string,
    now = Date.now(),
  ): HostRecord {
    return this.store.transaction(() => {
      this.store.endOperation(host.name, host.state, host.step, 'succeeded', message, now);
      observeStep(host.state, host.step, now - host.stepStartedAt);
      const to = afterStep(host.state, host.step);
      const { error: _cleared, ...rest } = { ...host, ...patch };
      const next: HostRecord = {
        ...rest,
        state: to.state,
        step: to.step,
        stepStartedAt: now,
        updatedAt: now,
      };
      if (to.state !== host.state) {
        this.store.endOperation(host.name, host.state, '', 'succeeded', undefined, now);
        this.openState(next, now);
      } else this.store.startOperation(host.name, to.state, to.step, now);
      this.store.putHost(next);
      return next;
    });
  }

  /**
   * A callback shows the host is already past steps we have not recorded (the service stopped between acting
   * and saving): close those steps and continue from `step`.
   */
  skipTo(host: HostRecord, step: string, now = Date.now()): HostRecord {
    let current = host;
    for (const _ of stepsBetween(host.state, host.step, step)) {
      current = this.stepSucceeded(current, {}, 'confirmed by a callback from the host', now);
    }
    return current;
  }

  /**
   * A step failed: keep the host where it is (or rewind to `restartStep`), count the error and back off.
   * The failed attempt is closed in the operation history and the retry opened as a new row, so the timeline
   * shows every attempt. A permanent failure is not retried: the host waits for the user.
   */
  stepFailed(
    host: HostRecord,
    message: string,
    timing: Timing,
    opts: { restartStep?: Step; now?: number; permanent?: boolean } = {},
  ): HostRecord {
    const now = opts.now ?? Date.now();
    const count = (host.error?.count ?? 0) + 1;
    const type = ERROR_TYPES[host.powerRequest && !host.step ? 'power' : host.state];
    const delay = backoffDelay(count, timing);
    countError(type);
    return this.store.transaction(() => {
      const step = opts.restartStep ?? host.step;
      if (host.step) this.store.endOperation(host.name, host.state, host.step, 'failed', message, now);
      else if (host.powerRequest)
        this.store.endOperation(host.name, 'power', host.powerRequest, 'failed', message, now);
      if (!opts.permanent) {
        if (step) this.store.startOperation(host.name, host.state, step, now);
        else if (host.powerRequest) this.store.startOperation(host.name, 'power', host.powerRequest, now);
      }
      const next: HostRecord = {
        ...host,
        step,
        stepStartedAt: step !== host.step ? now : host.stepStartedAt,
        error: {
          type,
          message,
          count,
          nextAttemptAt: now + delay,
          ...(opts.permanent && { permanent: true }),
        },
        updatedAt: now,
      };
      this.store.putHost(next);
      this.event(
        host.name,
        'Warning',
        type.replace(/(^|\s)(\w)/g, (_, _s, c: string) => c.toUpperCase()),
        opts.permanent
          ? `${message} (attempt ${count}; not retried)`
          : `${message} (attempt ${count}; retrying in ${Math.round(delay / 1000)} s)`,
        now,
      );
      return next;
    });
  }

  /** Moves a host into a state on a user's request, closing whatever was running. */
  enter(
    host: HostRecord,
    state: HostState,
    message: string,
    patch: Partial<HostRecord> = {},
    now = Date.now(),
  ): HostRecord {
    return this.store.transaction(() => {
      this.store.abandonOperations(host.name, `interrupted: ${message}`, now);
      const { error: _cleared, ...rest } = { ...host, ...patch };
      const next: HostRecord = { ...rest, state, step: firstStep(state), stepStartedAt: now, updatedAt: now };
      this.store.putHost(next);
      this.openState(next, now, message);
      return next;
    });
  }

  event(host: string, level: EventLevel, reason: string, message: string, now = Date.now()): void {
    this.store.addEvent(host, level, reason, message, now);
    this.sink(host, level, reason, message);
  }

  private openState(host: HostRecord, now: number, message?: string): void {
    if (host.step) {
      this.store.startOperation(host.name, host.state, '', now);
      this.store.startOperation(host.name, host.state, host.step, now);
    }
    if (host.state !== 'registering') {
      this.event(host.name, 'Normal', ENTER_REASONS[host.state], message ?? `host is ${host.state}`, now);
    }
  }
}
