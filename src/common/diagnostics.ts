/** One problem found in user input, positioned so an editor can jump to it. */
export interface Diagnostic {
  file: string;
  line: number;
  col: number;
  /** Dotted path of the field, e.g. `operatingSystem.users[1].username`; empty for whole-file problems. */
  path: string;
  message: string;
  /** Grouping used when printing many problems at once, e.g. `Image`, `Operating system`. */
  section?: string;
}

export function formatDiagnostic(d: Diagnostic): string {
  const where = `${forTerminal(d.file)}:${d.line}:${d.col}`;
  const message = forTerminal(d.message);
  return d.path ? `${where}: ${forTerminal(d.path)}: ${message}` : `${where}: ${message}`;
}

/**
 * What must never reach a log or a terminal from input: C0 and C1 controls (escape sequences, carriage
 * returns, newlines that would forge another line), DEL, the Unicode line/paragraph separators and the
 * bidirectional overrides (which reorder what a terminal shows).
 */
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * `text` with every control character removed (whitespace ones become a space): for values shown inside
 * a line of ours (a log line, a table cell), where a newline must not start a line of its own.
 */
export function terminalSafe(text: string): string {
  return text.replace(CONTROL_CHARACTERS, (c) => (c === '\n' || c === '\r' || c === '\t' ? ' ' : ''));
}

/** Text from input made safe to print: control characters become visible `\xNN` / `\u{NNNN}` escapes. */
export function forTerminal(text: string): string {
  return text.replace(CONTROL_CHARACTERS, (c) => {
    const code = c.codePointAt(0)!;
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
  });
}

/** Multi-line text (a message with a command's output) made safe to print, its own line breaks kept. */
export function linesForTerminal(text: string): string {
  return text.split('\n').map(forTerminal).join('\n');
}

/** Prints diagnostics grouped by section, in first-seen section order, each group sorted by position. */
export function formatDiagnosticsGrouped(diagnostics: readonly Diagnostic[]): string {
  const groups = new Map<string, Diagnostic[]>();
  for (const d of diagnostics) {
    const key = d.section ?? 'General';
    const group = groups.get(key) ?? [];
    group.push(d);
    groups.set(key, group);
  }
  const lines: string[] = [];
  for (const [section, group] of groups) {
    lines.push(`${forTerminal(section)}:`);
    group.sort(byPosition);
    for (const d of group) lines.push(`  ${formatDiagnostic(d)}`);
  }
  return lines.join('\n');
}

export function byPosition(a: Diagnostic, b: Diagnostic): number {
  return a.file.localeCompare(b.file) || a.line - b.line || a.col - b.col;
}

/**
 * Bad user input: the CLI prints the diagnostics and exits with code 2.
 * Thrown only at I/O edges; validators return diagnostics instead so every problem is reported in one run.
 */
export class InputError extends Error {
  readonly exitCode = 2;
  readonly diagnostics: Diagnostic[];

  constructor(message: string, diagnostics: Diagnostic[] = []) {
    super(message);
    this.name = 'InputError';
    this.diagnostics = diagnostics;
  }
}

/** An error caused by the environment (missing tool, failed mount), not by the input: exit code 1. */
export class OperationError extends Error {
  readonly exitCode = 1;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'OperationError';
  }
}
