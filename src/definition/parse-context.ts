import { isCollection, isScalar } from 'yaml';
import type { YamlCursor } from '../common/yaml-cursor.ts';
import type { ApiVersion } from './types.ts';
import { requiredVersion } from './versions.ts';

/** What every section parser shares: the declared apiVersion and the field-level rules that depend on it. */
export class ParseContext {
  /** Undefined when apiVersion is missing or unknown: version gates are then not checked. */
  readonly apiVersion: ApiVersion | undefined;

  constructor(apiVersion: ApiVersion | undefined) {
    this.apiVersion = apiVersion;
  }

  /**
   * A child field of a map. Reports the field when the definition's apiVersion predates it and it is
   * set to something other than false or empty (Edge Image Builder's rule), positioned and with the
   * version declared.
   */
  field(parent: YamlCursor, key: string): YamlCursor {
    const child = parent.get(key);
    if (isSet(child) && this.apiVersion) {
      const needed = requiredVersion(child.path, this.apiVersion);
      if (needed) {
        child.errorAtKey(
          `is only available in apiVersion ${needed} and later (this definition declares ${this.apiVersion})`,
        );
      }
    }
    return child;
  }

  /** The children of a map after reporting unknown keys: `const f = ctx.fields(c, ['a', 'b']); f.a` */
  fields<K extends string>(parent: YamlCursor, known: readonly K[]): Record<K, YamlCursor> {
    parent.keys(known);
    return Object.fromEntries(known.map((k) => [k, this.field(parent, k)])) as Record<K, YamlCursor>;
  }
}

/** Message for a field outpost reads but cannot act on yet; `need` says what it would take. */
export function notSupported(need: string): string {
  return `not supported by outpost yet (${need})`;
}

/** Reports every repeat of a value after its first occurrence. */
export function reportDuplicates(
  entries: readonly { value: string | undefined; at: YamlCursor }[],
  message: (value: string) => string,
): void {
  const seen = new Set<string>();
  for (const { value, at } of entries) {
    if (value === undefined) continue;
    if (seen.has(value)) at.error(message(value));
    seen.add(value);
  }
}

/** Edge Image Builder counts a field as used when its value is not Go's zero value. */
function isSet(cursor: YamlCursor): boolean {
  const node = cursor.node;
  if (!cursor.present) return false;
  if (isScalar(node)) return node.value !== false && node.value !== '';
  if (isCollection(node)) return node.items.length > 0;
  return true;
}
