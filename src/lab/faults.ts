/** Which emulated BMC operation a fault applies to. */
export type FaultOperation =
  | 'any'
  | 'get'
  | 'login'
  | 'reset'
  | 'insert-media'
  | 'eject-media'
  | 'boot-override';
/**
 * timeout: the request is never answered; server-error: HTTP 500; unauthorized: 401 and the session is
 * dropped; stale-inserted: an eject leaves the slot reporting `Inserted: true` until ejected again;
 * busy: 409 "try again later".
 */
export type FaultKind = 'timeout' | 'server-error' | 'unauthorized' | 'stale-inserted' | 'busy';

export const FAULT_OPERATIONS: readonly FaultOperation[] = [
  'any',
  'get',
  'login',
  'reset',
  'insert-media',
  'eject-media',
  'boot-override',
];
export const FAULT_KINDS: readonly FaultKind[] = [
  'timeout',
  'server-error',
  'unauthorized',
  'stale-inserted',
  'busy',
];

export interface FaultSpec {
  /** Host name (`host-0`); absent = every host. */
  host?: string;
  operation: FaultOperation;
  kind: FaultKind;
  /** How many times the fault fires (per host) before the operation behaves again. */
  count: number;
}

/** Counts down the faults of one host. */
export class FaultInjector {
  private readonly remaining: { spec: FaultSpec; left: number }[];

  constructor(hostName: string, specs: readonly FaultSpec[]) {
    this.remaining = specs
      .filter((s) => s.host === undefined || s.host === hostName)
      .map((spec) => ({ spec, left: spec.count }));
  }

  /** The fault to apply to this operation now, if any (consumes one firing). */
  take(operation: Exclude<FaultOperation, 'any'>, inapplicable: FaultKind[] = []): FaultKind | undefined {
    for (const entry of this.remaining) {
      if (entry.left <= 0 || inapplicable.includes(entry.spec.kind)) continue;
      if (entry.spec.operation !== 'any' && entry.spec.operation !== operation) continue;
      // stale-inserted only makes sense on an eject.
      if (entry.spec.kind === 'stale-inserted' && operation !== 'eject-media') continue;
      entry.left--;
      return entry.spec.kind;
    }
    return undefined;
  }
}

/** Parses `[HOST:]OPERATION:KIND[:COUNT]`, e.g. `host-1:insert-media:server-error:2`. */
export function parseFaultSpec(text: string): { ok: true; value: FaultSpec } | { ok: false; error: string } {
  const parts = text.split(':');
  const host =
    parts.length === 4 || (parts.length === 3 && !isOperation(parts[0]!)) ? parts.shift() : undefined;
  const [operation, kind, count = '1'] = parts;
  if (!operation || !isOperation(operation)) {
    return { ok: false, error: `fault "${text}": operation must be one of ${FAULT_OPERATIONS.join(', ')}` };
  }
  if (!kind || !(FAULT_KINDS as readonly string[]).includes(kind)) {
    return { ok: false, error: `fault "${text}": kind must be one of ${FAULT_KINDS.join(', ')}` };
  }
  if (!/^[1-9]\d*$/.test(count))
    return { ok: false, error: `fault "${text}": count must be a positive integer` };
  const spec: FaultSpec = { operation, kind: kind as FaultKind, count: Number(count) };
  if (host) spec.host = host;
  return { ok: true, value: spec };
}

function isOperation(value: string): value is FaultOperation {
  return (FAULT_OPERATIONS as readonly string[]).includes(value);
}
