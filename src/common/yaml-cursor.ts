import {
  type Document,
  isAlias,
  isCollection,
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

/** Deepest nesting of lists and mappings read from any YAML file: deeper input is refused, not parsed. */
export const MAX_YAML_DEPTH = 64;

const INTEGER_TEXT = /^[-+]?(0|[1-9][0-9]*|0x[0-9a-fA-F]+|0o[0-7]+)$/;

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
    const parseOptions = {
      lineCounter: this.lineCounter,
      uniqueKeys: true,
      prettyErrors: false,
      maxAliasCount: 1000,
    } as const;
    let docs: Document.Parsed[] = [];
    let failed = false;
    // The parser recurses once per nesting level: thousands of `[` or `- ` would exhaust the stack
    // (as a RangeError, or a SyntaxError from a regular expression compiled too deep), so text that
    // is certainly too deep is refused before it is parsed.
    const tooDeepAt = deepestOffset(text);
    if (tooDeepAt >= 0) {
      this.tooDeep(tooDeepAt);
      failed = true;
    } else {
      try {
        const parsed = opts.multiDocument
          ? parseAllDocuments(text, parseOptions)
          : [parseDocument(text, parseOptions)];
        docs = Array.isArray(parsed) ? parsed : [];
        failed = !Array.isArray(parsed);
      } catch (error) {
        // Belt and braces: whatever the parser throws is a problem of this file, never a crash.
        const [line, col] = [1, 1];
        this.diagnostics.push({
          file,
          line,
          col,
          path: '',
          message: `YAML cannot be read: ${firstLine(String((error as Error).message ?? error))}`,
          section: 'YAML',
        });
        failed = true;
      }
    }
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
      if (!failed) {
        const deep = tooDeepNode(doc.contents as Node | null);
        if (deep) {
          this.tooDeep(deep.range?.[0] ?? 0);
          failed = true;
        }
      }
    }
    this.documents = failed
      ? []
      : docs.map(
          (doc) => new YamlCursor(this, doc.contents as Node | null, '', section, undefined, undefined, doc),
        );
    this.root = this.documents[0] ?? new YamlCursor(this, null, '', section);
  }

  private tooDeep(offset: number): void {
    // The text may not have been parsed, so the line counter may know no lines: count them here.
    let line = 1;
    let lineStart = 0;
    for (let i = this.text.indexOf('\n'); i >= 0 && i < offset; i = this.text.indexOf('\n', i + 1)) {
      line++;
      lineStart = i + 1;
    }
    const col = offset - lineStart + 1;
    this.diagnostics.push({
      file: this.file,
      line,
      col,
      path: '',
      message: `YAML nesting is too deep: at most ${MAX_YAML_DEPTH} levels of lists and mappings`,
      section: 'YAML',
    });
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

/** The first node nested deeper than MAX_YAML_DEPTH, found without recursion. */
function tooDeepNode(root: Node | null): Node | undefined {
  const stack: [Node, number][] = root ? [[root, 1]] : [];
  while (stack.length) {
    const [node, depth] = stack.pop()!;
    if (!isCollection(node)) continue;
    if (depth > MAX_YAML_DEPTH) return node;
    for (const item of node.items as unknown[]) {
      if (isMap(node)) {
        const pair = item as { key: unknown; value: unknown };
        for (const part of [pair.key, pair.value]) if (isCollection(part)) stack.push([part, depth + 1]);
      } else if (isCollection(item)) stack.push([item as Node, depth + 1]);
    }
  }
  return undefined;
}

/** Beyond this estimated nesting the parser is not even tried; below it, MAX_YAML_DEPTH is checked exactly. */
const PARSER_DEPTH_GUARD = 400;

/**
 * Where text certainly nests too deep for the parser, or -1. An over-estimate: open flow brackets
 * outside quotes, plus a line's indentation and its `- `/`? ` indicators (a block level needs at
 * least one column or indicator), so no deeper text reaches the parser.
 */
function deepestOffset(text: string): number {
  let flow = 0;
  let quote = '';
  let lineStart = true;
  let block = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n') {
      lineStart = true;
      block = 0;
      if (flow === 0) quote = ''; // a block scalar line never leaves a quote open for the parser
      continue;
    }
    if (lineStart) {
      if (c === ' ' || c === '-' || c === '?' || c === '\t') {
        block++;
        if (flow + block > PARSER_DEPTH_GUARD) return i;
        continue;
      }
      lineStart = false;
    }
    if (quote) {
      if (c === quote) quote = '';
      else if (c === '\\' && quote === '"') i++;
      continue;
    }
    // A quote opens a quoted scalar only where a scalar starts (`don't` is plain text).
    if ((c === '"' || c === "'") && (i === 0 || ' \t[{,:'.includes(text[i - 1]!))) quote = c;
    else if (c === '#' && (i === 0 || text[i - 1] === ' ')) {
      const end = text.indexOf('\n', i);
      i = (end < 0 ? text.length : end) - 1;
    } else if (c === '[' || c === '{') {
      flow++;
      if (flow + block > PARSER_DEPTH_GUARD) return i;
    } else if ((c === ']' || c === '}') && flow > 0) flow--;
  }
  return -1;
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
  /** The document, to resolve `*alias` references to the node they name. */
  private readonly doc: Document.Parsed | undefined;

  constructor(
    source: YamlSource,
    node: Node | null | undefined,
    path: string,
    section?: string,
    anchor?: Node | null,
    keyNode?: Node,
    doc?: Document.Parsed,
  ) {
    this.source = source;
    this.doc = doc;
    this.node = isAlias(node) && doc ? ((node.resolve(doc) as Node | undefined) ?? node) : node;
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
    return new YamlCursor(this.source, this.node, this.path, section, this.anchor, this.keyNode, this.doc);
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
    // Readers ask for the same field several times; one cursor each keeps large files cheap.
    this.children ??= new Map();
    let child = this.children.get(key);
    if (!child) {
      child = this.child(key);
      this.children.set(key, child);
    }
    return child;
  }

  private children: Map<string, YamlCursor> | undefined;

  private child(key: string): YamlCursor {
    const childPath = this.path ? `${this.path}.${key}` : key;
    if (!isMap(this.node))
      return new YamlCursor(this.source, undefined, childPath, this.section, this.node, undefined, this.doc);
    const pair = this.node.items.find((p) => isScalar(p.key) && String((p.key as Scalar).value) === key);
    return new YamlCursor(
      this.source,
      pair ? (pair.value as Node | null) : undefined,
      childPath,
      this.section,
      this.node,
      pair ? (pair.key as Node) : undefined,
      this.doc,
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
        new YamlCursor(
          this.source,
          item as Node | null,
          `${this.path}[${i}]`,
          this.section,
          this.node,
          undefined,
          this.doc,
        ),
    );
  }

  /** Entries of a free-form map (e.g. user-supplied config); values are not interpreted. */
  toJS(): unknown {
    if (!this.present) return undefined;
    try {
      return this.doc
        ? (this.node as Node).toJS(this.doc, { maxAliasCount: 1000 })
        : (this.node as Node).toJSON();
    } catch {
      this.error('cannot be read: its aliases expand too far');
      return undefined;
    }
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
    let n: unknown = value;
    if (typeof value === 'string') n = /^-?\d+$/.test(value.trim()) ? Number(value) : value;
    // YAML reads 1e26 and 1.0 as numbers; a count or an id is written as a whole number.
    else if (
      typeof value === 'number' &&
      !INTEGER_TEXT.test(this.source.sourceText(this.node as Node).trim())
    )
      n = undefined;
    if (typeof n !== 'number' || !Number.isSafeInteger(n)) {
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
