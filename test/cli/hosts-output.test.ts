import { describe, expect, it } from 'vitest';
import { latestProgress, parseDuration } from '../../src/cli/commands/hosts.ts';

describe('hosts command output', () => {
  it('keeps one progress line per installer step in describe: the latest', () => {
    const event = (message: string, reason = 'Installer') => ({ time: 0, level: 'Normal', reason, message });
    const events = [
      event('provisioning with site.raw', 'ProvisioningStarted'),
      event('disk done 100% /dev/vda'),
      event('write running 10% written 80 MiB of 812 MiB of data'),
      event('write running 20% written 160 MiB of 812 MiB of data'),
      event('write running 90% written 730 MiB of 812 MiB of data'),
      event('write done 100 812 MiB of data verified range by range'),
      event('installer running 100%'),
      event('installer succeeded'),
    ];
    expect(latestProgress(events).map((e) => e.message)).toEqual([
      'provisioning with site.raw',
      'disk done 100% /dev/vda',
      'write done 100 812 MiB of data verified range by range',
      'installer succeeded',
    ]);
    // While a step runs, its latest progress stays.
    expect(latestProgress(events.slice(0, 5)).at(-1)!.message).toMatch(/^write running 90%/);
  });

  it('reads --timeout durations', () => {
    expect(parseDuration('--timeout', '90s')).toBe(90_000);
    expect(parseDuration('--timeout', '20m')).toBe(1_200_000);
    expect(parseDuration('--timeout', '1h')).toBe(3_600_000);
    expect(parseDuration('--timeout', '45')).toBe(45_000);
    expect(() => parseDuration('--timeout', 'soon')).toThrow(
      /--timeout must be a duration like 90s, 20m or 1h/,
    );
  });
});
