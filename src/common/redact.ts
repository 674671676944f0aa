export const REDACTED_MARK = '<redacted>';

/**
 * A copy of a JSON-like value with every secret masked inside string values only. Keys and structure
 * are never touched, so a short secret (`us`) cannot turn a key such as `status` into `stat<redacted>`
 * or break the JSON; a value that holds a secret anywhere still never shows it.
 */
export function redactValues<T>(value: T, secrets: Iterable<string>): T {
  const values = [...secrets].filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
  if (!values.length) return value;
  const mask = (text: string) => values.reduce((t, s) => t.replaceAll(s, REDACTED_MARK), text);
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return mask(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, walk(x)]));
    }
    return v;
  };
  return walk(JSON.parse(JSON.stringify(value))) as T;
}
