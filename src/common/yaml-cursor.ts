import {
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseAllDocuments,
  parseDocument,
  type Scalar,
  type YAMLMap,
} from 'yaml';
import type { Diagnostic } from './diagnostics.ts';

/** Environment used to resolve `${NAME}` references in string values. */
export type Environment = Readonly<Record<string, string | undefined>>;

/**
 * A parsed YAML file plus the diagnostics found while reading it.
 * Readers never throw on bad input: they record a positioned diagnostic and carry on,
 * so one run reports every problem.
 */
export class YamlSource {
  readonly diagnostics: Diagnostic[] = [];
  /** Values that came from environment references: callers must never print them. */
  readonly secrets = new Set<string>();
  readonly root: YamlCursor;
  private readonly lineCounter = new LineCounter();

  readonly file: string;
  readonly text: string;
  readonly env: Environment;

  /** Every document of a multi-document file (`---` separated); just `[root]` otherwise. */
  readonly documents: YamlCursor[];

  constructor(
    file: string,
    text: string,
    env: Environment = {},
    section?: string,
    opts: { multiDocument?: boolean } = {},
  ) {
    this.file = file;
    this.text = text;
    this.env = env;
    const parseOptions = { lineCounter: this.lineCounter, uniqueKeys: true, prettyErrors: false } as const;
    const parsed = opts.multiDocument
      ? parseAllDocuments(text, parseOptions)
      : [parseDocument(text, parseOptions)];
    const docs = Array.isArray(parsed) ? parsed : [];
    let failed = !Array.isArray(parsed);
    for (const doc of docs) {
      failed ||= doc.errors.length > 0;
      for (const e of [...doc.errors, ...doc.warnings.filter((w) => w.code !== 'TAG_RESOLVE_FAILED')]) {
        const [line, col] = this.position(e.pos[0]);
        this.diagnostics.push({
          file,
          line,
          col,
          path: '',
          message: `YAML syntax error: ${firstLine(e.message)}`,
          section: 'YAML',
        });
      }
    }
    this.documents = failed
      ? []
      : docs.map((doc) => new YamlCursor(this, doc.contents as Node | null, '', section));
    this.root = this.documents[0] ?? new YamlCursor(this, null, '', section);
  }

  get ok(): boolean {
    return this.diagnostics.length === 0;
  }

  position(offset: number): [number, number] {
    const pos = this.lineCounter.linePos(offset);
    return [pos.line, pos.col];
  }

  /** Plain source text of a scalar: keeps `1.0` as written instead of the number 1. */
  sourceText(node: Node): string {
    const [start, end] = node.range ?? [0, 0];
    return this.text.slice(start, end);
  }
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}

/** A position in a YAML document (a node, or a missing field of a parent) with its dotted path. */
export class YamlCursor {
  readonly source: YamlSource;
  readonly node: Node | null | undefined;
  readonly path: string;
  readonly section: string | undefined;
  /** Node to point at when this field is missing: the parent map. */
  private readonly anchor: Node | null | undefined;
  /** The key of this field in its parent map, for messages about the field itself rather than its value. */
  private readonly keyNode: Node | undefined;

  constructor(
    source: YamlSource,
    node: Node | null | undefined,
    path: string,
    section?: string,
    anchor?: Node | null,
    keyNode?: Node,
  ) {
    this.source = source;
    this.node = node;
    this.path = path;
    this.section = section;
    this.anchor = anchor;
    this.keyNode = keyNode;
  }

  get present(): boolean {
    return (
      this.node !== undefined && this.node !== null && !(isScalar(this.node) && this.node.value === null)
    );
  }

  get isMap(): boolean {
    return isMap(this.node);
  }

  get isList(): boolean {
    return isSeq(this.node);
  }

  inSection(section: string): YamlCursor {
    return new YamlCursor(this.source, this.node, this.path, section, this.anchor, this.keyNode);
  }

  /** Line and column of this field, or of where it should have been. */
  position(): [number, number] {
    const target = this.node ?? this.anchor;
    if (!target?.range) return [1, 1];
    return this.source.position(target.range[0]);
  }

  error(message: string, path = this.path): void {
    const [line, col] = this.position();
    this.source.diagnostics.push({ file: this.source.file, line, col, path, message, section: this.section });
  }

  /** Like error(), but points at the field's key (e.g. a field not allowed here) when there is one. */
  errorAtKey(message: string): void {
    if (!this.keyNode?.range) {
      this.error(message);
      return;
    }
    const [line, col] = this.source.position(this.keyNode.range[0]);
    this.source.diagnostics.push({
      file: this.source.file,
      line,
      col,
      path: this.path,
      message,
      section: this.section,
    });
  }

  /** A child field of a map (missing children point at the parent). */
  get(key: string): YamlCursor {
    const childPath = this.path ? `${this.path}.${key}` : key;
    if (!isMap(this.node)) return new YamlCursor(this.source, undefined, childPath, this.section, this.node);
    const pair = this.node.items.find((p) => isScalar(p.key) && String((p.key as Scalar).value) === key);
    return new YamlCursor(
      this.source,
      pair ? (pair.value as Node | null) : undefined,
      childPath,
      this.section,
      this.node,
      pair ? (pair.key as Node) : undefined,
    );
  }

  /** The keys of a map; reports a non-map and every key not in `known`. */
  keys(known: readonly string[]): string[] {
    if (!this.present) return [];
    if (!isMap(this.node)) {
      this.error(`must be a mapping, not ${describe(this.node)}`);
      return [];
    }
    const keys: string[] = [];
    for (const pair of (this.node as YAMLMap).items) {
      const keyNode = pair.key as Node;
      const key = isScalar(keyNode) ? String(keyNode.value) : this.source.sourceText(keyNode);
      keys.push(key);
      if (!known.includes(key)) {
        const keyPath = this.path ? `${this.path}.${key}` : key;
        new YamlCursor(this.source, keyNode, keyPath, this.section).error(unknownKeyMessage(key, known));
      }
    }
    return keys;
  }

  /** Items of a list; a missing field is an empty list, a scalar or map is an error. */
  items(): YamlCursor[] {
    if (!this.present) return [];
    if (!isSeq(this.node)) {
      this.error(`must be a list, not ${describe(this.node)}`);
      return [];
    }
    return this.node.items.map(
      (item, i) =>
        new YamlCursor(this.source, item as Node | null, `${this.path}[${i}]`, this.section, this.node),
    );
  }

  /** Entries of a free-form map (e.g. user-supplied config); values are not interpreted. */
  toJS(): unknown {
    if (!this.present) return undefined;
    return (this.node as Node).toJSON();
  }

  /**
   * A string value. Numbers and booleans are read as written (`1.0` stays `1.0`).
   * `${NAME}` references are resolved from the environment; resolved values are recorded as secrets.
   */
  string(opts: { required?: boolean; env?: boolean } = {}): string | undefined {
    if (!this.present) {
      if (opts.required) this.error('is required');
      return undefined;
    }
    if (!isScalar(this.node)) {
      this.error(`must be a string, not ${describe(this.node)}`);
      return undefined;
    }
    const raw = typeof this.node.value === 'string' ? this.node.value : this.source.sourceText(this.node);
    return opts.env === false ? raw : this.expand(raw);
  }

  /** A string restricted to a set of values (compared case-insensitively, returned as listed). */
  oneOf<T extends string>(allowed: readonly T[], opts: { required?: boolean } = {}): T | undefined {
    const value = this.string(opts);
    if (value === undefined) return undefined;
    const match = allowed.find((a) => a.toLowerCase() === value.toLowerCase());
    if (!match) this.error(`must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, not '${value}'`);
    return match;
  }

  integer(opts: { required?: boolean; min?: number; max?: number } = {}): number | undefined {
    if (!this.present) {
      if (opts.required) this.error('is required');
      return undefined;
    }
    const value = isScalar(this.node) ? this.node.value : undefined;
    const n = typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : value;
    if (typeof n !== 'number' || !Number.isInteger(n)) {
      this.error(`must be an integer, not ${describe(this.node)}`);
      return undefined;
    }
    if (opts.min !== undefined && n < opts.min) this.error(`must be at least ${opts.min}, not ${n}`);
    else if (opts.max !== undefined && n > opts.max) this.error(`must be at most ${opts.max}, not ${n}`);
    return n;
  }

  boolean(): boolean | undefined {
    if (!this.present) return undefined;
    const value = isScalar(this.node) ? this.node.value : undefined;
    if (typeof value !== 'boolean') {
      this.error(`must be true or false, not ${describe(this.node)}`);
      return undefined;
    }
    return value;
  }

  /** A list of strings. */
  strings(opts: { env?: boolean } = {}): string[] {
    return this.items()
      .map((item) => item.string({ required: true, ...opts }))
      .filter((s): s is string => s !== undefined);
  }

  private expand(raw: string): string | undefined {
    let failed = false;
    const value = raw.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
      const resolved = this.source.env[name];
      if (resolved === undefined) {
        this.error(`environment variable ${name} is not set`);
        failed = true;
        return '';
      }
      if (resolved) this.source.secrets.add(resolved);
      return resolved;
    });
    return failed ? undefined : value;
  }
}

function describe(node: Node | null | undefined): string {
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) {
    const v = node.value;
    if (v === null) return 'null';
    if (typeof v === 'string') return `the string '${v.length > 40 ? `${v.slice(0, 40)}…` : v}'`;
    return `${typeof v} ${String(v)}`;
  }
  return 'nothing';
}

function unknownKeyMessage(key: string, known: readonly string[]): string {
  const close =
    known.find((k) => k.toLowerCase() === key.toLowerCase()) ?? known.find((k) => editDistance(k, key) <= 2);
  return close ? `unknown field '${key}' (did you mean '${close}'?)` : `unknown field '${key}'`;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = current;
    }
  }
  return row[b.length]!;
}
