import { describe, expect, it } from 'vitest';
import { isOneOf, unreachable } from '../../src/common/unions.ts';
import { FLOWS, HOST_STATES, type HostState } from '../../src/service/types.ts';

const LIGHTS = ['red', 'amber', 'green'] as const;
type Light = (typeof LIGHTS)[number];

/** Handles every light: the model of an exhaustive switch. */
function next(light: Light): Light {
  switch (light) {
    case 'red':
      return 'green';
    case 'green':
      return 'amber';
    case 'amber':
      return 'red';
    default:
      return unreachable(light);
  }
}

/** Forgets one: `tsc --noEmit` fails at unreachable() unless told to expect it. */
function forgetful(light: Light): string {
  switch (light) {
    case 'red':
    case 'green':
      return light;
    default:
      // @ts-expect-error 'amber' has no case, so the value is not `never` here
      return unreachable(light);
  }
}

describe('isOneOf', () => {
  it('accepts members only, whatever the outside value is', () => {
    expect(isOneOf(LIGHTS, 'amber')).toBe(true);
    for (const value of ['blue', '', 'Red', 1, null, undefined, {}])
      expect(isOneOf(LIGHTS, value)).toBe(false);
  });

  it('narrows a value read from outside to the union', () => {
    const read: unknown = 'green';
    if (isOneOf(LIGHTS, read)) expect(next(read)).toBe('amber');
    else expect.unreachable();
  });
});

describe('unreachable', () => {
  it('throws, naming the value, when a value got past the types (e.g. a damaged record)', () => {
    expect(() => forgetful('amber')).toThrow(/^internal: unexpected value "amber"$/);
    expect(() => next('blue' as Light)).toThrow('internal: unexpected value "blue"');
  });
});

describe('the lifecycle data', () => {
  it('keys the flows by exactly the host states, in their order', () => {
    expect(Object.keys(FLOWS)).toEqual([...HOST_STATES]);
    const states: readonly HostState[] = HOST_STATES;
    expect(states.filter((s) => FLOWS[s].length === 0)).toEqual(['available', 'provisioned']);
  });
});
