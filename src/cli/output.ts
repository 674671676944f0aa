import { Option } from 'commander';

export type OutputFormat = 'text' | 'json';

/** The `--output` option shared by every command a script may read. */
export function outputOption(extra: string[] = []): Option {
  return new Option('-o, --output <format>', 'output format')
    .choices(['text', 'json', ...extra])
    .default('text');
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Left-aligned columns like `kubectl get`: header in upper case, two spaces between columns. */
export function formatTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('   ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}
