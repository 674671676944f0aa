import { describe, expect, it } from 'vitest';
import {
  DEFAULT_REMEDIATION,
  decideRemediation,
  NO_REMEDIATION,
  type RemediationRecord,
} from '../../src/cluster/remediation.ts';
import { MIN, T0 } from './fixtures.ts';

const calm = { otherInFlight: false, desiredOff: false };
const notReady = { ready: 'False' as const, since: T0, everReady: true, registered: T0 - 60 * MIN };

describe('remediation (Metal3 Reboot strategy, MHC-style trigger)', () => {
  it('waits out the NotReady timeout, then power-cycles', () => {
    expect(decideRemediation(notReady, NO_REMEDIATION, calm, T0 + 4 * MIN)).toEqual({
      kind: 'watch',
      remediateAt: T0 + 5 * MIN,
    });
    expect(decideRemediation(notReady, NO_REMEDIATION, calm, T0 + 5 * MIN)).toEqual({
      kind: 'power-cycle',
      attempt: 1,
      record: { attempts: 1, lastAttemptAt: T0 + 5 * MIN, unhealthy: false },
    });
  });

  it('treats Unknown (a node that stopped reporting) like NotReady', () => {
    const decision = decideRemediation({ ...notReady, ready: 'Unknown' }, NO_REMEDIATION, calm, T0 + 6 * MIN);
    expect(decision.kind).toBe('power-cycle');
  });

  it('lets a power cycle settle before the next, and gives up after the limit', () => {
    let record: RemediationRecord = NO_REMEDIATION;
    const attempts: number[] = [];
    let now = T0 + 5 * MIN;
    for (let i = 0; i < 10; i++) {
      const d = decideRemediation(notReady, record, calm, now);
      if (d.kind === 'power-cycle') {
        attempts.push(d.attempt);
        record = d.record;
        expect(decideRemediation(notReady, record, calm, now + MIN)).toEqual({
          kind: 'settling',
          until: now + DEFAULT_REMEDIATION.settleMs,
        });
      } else if (d.kind === 'give-up') {
        record = d.record;
        break;
      }
      now += DEFAULT_REMEDIATION.settleMs;
    }
    expect(attempts).toEqual([1, 2, 3]);
    expect(record).toMatchObject({ attempts: 3, unhealthy: true });
    expect(decideRemediation(notReady, record, calm, now + 60 * MIN)).toEqual({
      kind: 'left-alone',
      reason: 'marked unhealthy after remediation ran out: needs a person',
    });
  });

  it('resets when the node is Ready again', () => {
    const record = { attempts: 2, lastAttemptAt: T0, unhealthy: false };
    expect(
      decideRemediation({ ...notReady, ready: 'True', since: T0 + MIN }, record, calm, T0 + 2 * MIN),
    ).toEqual({
      kind: 'healthy',
      record: NO_REMEDIATION,
    });
  });

  it('one host at a time, never a host powered off on purpose, never before a node exists', () => {
    expect(
      decideRemediation(notReady, NO_REMEDIATION, { ...calm, otherInFlight: true }, T0 + 6 * MIN).kind,
    ).toBe('deferred');
    expect(
      decideRemediation(notReady, NO_REMEDIATION, { ...calm, desiredOff: true }, T0 + 6 * MIN).kind,
    ).toBe('left-alone');
    expect(decideRemediation(undefined, NO_REMEDIATION, calm, T0 + 60 * MIN).kind).toBe('left-alone');
  });

  it('a node that was never Ready gets the longer startup timeout, counted from registration', () => {
    const starting = { ready: 'False' as const, since: T0, everReady: false, registered: T0 };
    expect(decideRemediation(starting, NO_REMEDIATION, calm, T0 + 6 * MIN)).toEqual({
      kind: 'watch',
      remediateAt: T0 + 10 * MIN,
    });
    expect(decideRemediation(starting, NO_REMEDIATION, calm, T0 + 10 * MIN).kind).toBe('power-cycle');
  });
});
