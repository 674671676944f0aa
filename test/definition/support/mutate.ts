/**
 * A seeded generator of malformed and hostile inputs, made by mutating valid ones: wrong types, sizes,
 * nesting depth, encodings, traversal names and control characters. The same seed gives the same inputs,
 * so a failure is reproducible from its test name.
 */

/** mulberry32: small, fast and good enough to pick mutations. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Rng = () => number;
export const pick = <T>(rng: Rng, list: readonly T[]): T => list[Math.floor(rng() * list.length)]!;

/** Values that break types, ranges, YAML features and terminals. */
const HOSTILE_VALUES = [
  '[]',
  '{}',
  '~',
  '12',
  '-1',
  '1e26',
  '0x7fffffffffffffff',
  'true',
  '[a, b]',
  '{a: 1}',
  '&x y',
  '*undefinedAlias',
  '!!binary aGk=',
  '"\\e[31mred\\e[0m"',
  '"\\e]0;owned\\a"',
  '"a\\nb"',
  '"\\u202etxt.exe"',
  '"x\\0y"',
  `'${'A'.repeat(100_000)}'`,
  '|\n  multi\n  line',
  // Environment references: an unset one, and one whose value is a secret that must never be echoed.
  `"$\{UNSET_VARIABLE}"`,
  `"$\{ROOT_PASSWORD}"`,
];

/** Names that try to leave a folder or confuse a path. */
export const TRAVERSAL_NAMES = [
  '../../etc/passwd',
  '/etc/shadow',
  'a/../../b',
  '..',
  '.',
  './out/x.raw',
  'out/../../x.raw',
  '"x\\0y"',
  '"a\\nb"',
  '~root/x',
  '$(reboot)',
  '`id`',
  "a'b",
  ' lead',
  'con:',
];

function deepValue(rng: Rng): string {
  const n = pick(rng, [10, 63, 64, 65, 200, 5000]);
  switch (pick(rng, ['flow', 'maps', 'dashes', 'braces'])) {
    case 'flow':
      return `${'['.repeat(n)}${']'.repeat(n)}`;
    case 'braces':
      return `${'{a: '.repeat(n)}1${'}'.repeat(n)}`;
    case 'dashes':
      return `\n${'- '.repeat(n)}x`;
    default:
      return `\n${Array.from({ length: Math.min(n, 3000) }, (_, i) => `${' '.repeat(i + 1)}k${i}:`).join('\n')} 1`;
  }
}

type TextMutation = (text: string, rng: Rng) => string;

const valueLines = (text: string) =>
  text
    .split('\n')
    .map((line, i) => ({ line, i }))
    .filter(({ line }) => /^\s*(- )?[A-Za-z][\w-]*:\s*\S/.test(line) && !line.trim().startsWith('#'));

function replaceValue(text: string, rng: Rng, value: string): string {
  const lines = text.split('\n');
  const candidates = valueLines(text);
  if (!candidates.length) return `${text}\n${value}`;
  const { line, i } = pick(rng, candidates);
  lines[i] = line.replace(/:\s*\S.*$/, `: ${value}`);
  return lines.join('\n');
}

export const TEXT_MUTATIONS: Record<string, TextMutation> = {
  type: (t, rng) => replaceValue(t, rng, pick(rng, HOSTILE_VALUES)),
  depth: (t, rng) => replaceValue(t, rng, deepValue(rng)),
  traversal: (t, rng) => {
    const name = pick(rng, TRAVERSAL_NAMES);
    const key = pick(rng, [
      'outputImageName',
      'baseImage',
      'valuesFile',
      'caFile',
      'name',
      'username',
      'hostname',
    ]);
    const re = new RegExp(`(${key}:)\\s*\\S.*`);
    return re.test(t) ? t.replace(re, `$1 ${name}`) : replaceValue(t, rng, name);
  },
  control: (t, rng) =>
    replaceValue(t, rng, pick(rng, ['"\\e[2J"', '"\\x9b31m"', '"tab\\there"', '"\\r\\nforged:1:1: fake"'])),
  truncate: (t, rng) => t.slice(0, Math.floor(rng() * t.length)),
  deleteLine: (t, rng) => {
    const lines = t.split('\n');
    lines.splice(Math.floor(rng() * lines.length), 1);
    return lines.join('\n');
  },
  duplicateLine: (t, rng) => {
    const lines = t.split('\n');
    const i = Math.floor(rng() * lines.length);
    lines.splice(i, 0, lines[i]!);
    return lines.join('\n');
  },
  indent: (t, rng) => {
    const lines = t.split('\n');
    const i = Math.floor(rng() * lines.length);
    lines[i] = rng() < 0.5 ? ` ${lines[i]}` : lines[i]!.replace(/^ /, '');
    return lines.join('\n');
  },
  flip: (t, rng) => {
    const chars = [...t];
    for (let k = 0; k < 3 && chars.length; k++) {
      chars[Math.floor(rng() * chars.length)] = pick(rng, [
        ':',
        '-',
        '[',
        ']',
        '{',
        '}',
        '&',
        '*',
        '!',
        '|',
        '>',
        "'",
        '"',
        '#',
        '%',
        '@',
        '`',
        '\t',
        ' ',
        '\n',
      ]);
    }
    return chars.join('');
  },
  alias: (t) => `x-anchor: &a [1, 2]\n${t}`.replace(/(kernelArgs:)\s*\n/, '$1 *a\n'),
  bigFile: (t) => `${t}\n# ${'x'.repeat(2 * 2 ** 20)}\n`,
  duplicateKeys: (t) => `${t}\n${t.split('\n')[0]}\n`,
};

/** Byte-level damage: BOM, invalid UTF-8, NUL bytes, UTF-16, CRLF. */
export const BYTE_MUTATIONS: Record<string, (text: string, rng: Rng) => Buffer> = {
  bom: (t) => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(t)]),
  invalidUtf8: (t, rng) => {
    const b = Buffer.from(t);
    const at = Math.floor(rng() * b.length);
    return Buffer.concat([b.subarray(0, at), Buffer.from([0xc3, 0x28, 0xff]), b.subarray(at)]);
  },
  nul: (t, rng) => {
    const at = Math.floor(rng() * t.length);
    return Buffer.from(`${t.slice(0, at)}\0${t.slice(at)}`);
  },
  utf16: (t) => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(t, 'utf16le')]),
  crlf: (t) => Buffer.from(t.replaceAll('\n', '\r\n')),
};

/** `count` mutated versions of `sources`, each 1 to 3 mutations deep, as bytes with a descriptive name. */
export function mutateAll(
  sources: readonly { name: string; text: string }[],
  count: number,
  seed: number,
): { name: string; bytes: Buffer }[] {
  const rng = random(seed);
  const textNames = Object.keys(TEXT_MUTATIONS);
  const byteNames = Object.keys(BYTE_MUTATIONS);
  return Array.from({ length: count }, (_, n) => {
    const source = pick(rng, sources);
    let text = source.text;
    const applied: string[] = [];
    const depth = 1 + Math.floor(rng() * 3);
    for (let k = 0; k < depth; k++) {
      const name = pick(rng, textNames);
      applied.push(name);
      text = TEXT_MUTATIONS[name]!(text, rng);
    }
    let bytes: Buffer = Buffer.from(text);
    if (rng() < 0.15) {
      const name = pick(rng, byteNames);
      applied.push(name);
      bytes = BYTE_MUTATIONS[name]!(text, rng);
    }
    return { name: `${n}: ${source.name} + ${applied.join(' + ')}`, bytes };
  });
}
