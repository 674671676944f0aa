/**
 * Helpers for string-literal unions declared `as const` (a state machine's states and steps, a protocol's
 * values): narrowing an outside value to one, and making a switch over one exhaustive.
 */

/** Whether `value` is one of `members`, narrowing it to their union (e.g. a string read from a request). */
export function isOneOf<T extends string>(members: readonly T[], value: unknown): value is T {
  return (members as readonly unknown[]).includes(value);
}

/**
 * The end of a switch that handles every member of a union: `default: return unreachable(x)`. Adding a
 * member without a case makes `x` not `never` there, so `tsc` fails; at run time (a value that got past
 * the types, e.g. from a damaged database) it throws instead of carrying on.
 */
export function unreachable(value: never, message = `unexpected value ${JSON.stringify(value)}`): never {
  throw new Error(`internal: ${message}`);
}
