/**
 * The site kit's manifest, `outpost-kit.json`: the first entry of every kit and the one source of truth
 * for what a kit holds. Pure: parsing and checking only, no I/O.
 */

export const MANIFEST_NAME = 'outpost-kit.json';
export const KIT_FORMAT = 'outpost-kit';
export const KIT_FORMAT_VERSION = 1;
/** A manifest is read whole (it is the index, not a payload): refuse anything larger before reading it. */
export const MAX_MANIFEST_BYTES = 64 * 2 ** 20;

export interface KitFile {
  /** `/`-separated, relative to the kit's root. */
  path: string;
  size: number;
  sha256: string;
  /** Permission bits as four octal digits, e.g. `0644`; never set-id or sticky bits. */
  mode: string;
}

/** A credential the site must supply at `outpost kit import --secrets FILE`: kits never carry them. */
export interface SecretNeeded {
  host: string;
  /** The kit's inventory file the host comes from. */
  inventory: string;
  /** What to supply: `username` and `password` of the host's BMC. */
  keys: string[];
  /** For Metal3 inventories: the Secret `spec.bmc.credentialsName` names. */
  secret?: { namespace: string; name: string };
}

export interface KitManifest {
  format: typeof KIT_FORMAT;
  formatVersion: typeof KIT_FORMAT_VERSION;
  outpostVersion: string;
  created: string;
  /** The definition, below `config/`. */
  definition: string;
  images: string[];
  inventory: string[];
  secretsNeeded: SecretNeeded[];
  files: KitFile[];
}

/** Where each part lives inside a kit. */
export const KIT_DIRS = { config: 'config', images: 'images', inventory: 'inventory' } as const;

const MAX_PATH_BYTES = 4096;
const MAX_COMPONENT_BYTES = 255;

/**
 * Why an archive entry's name cannot be a path below the kit's root, or undefined when it can: no absolute
 * paths, no `..` or `.` components, no empty components, no backslashes or control characters.
 */
export function entryNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'has an empty name';
  if (Buffer.byteLength(name) > MAX_PATH_BYTES) return `has a name longer than ${MAX_PATH_BYTES} bytes`;
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) return 'is an absolute path';
  if (/[\u0000-\u001f\u007f\\]/.test(name)) return 'has a control character or a backslash in its name';
  for (const part of name.split('/')) {
    if (part === '..') return 'leaves the kit (a `..` component)';
    if (part === '' || part === '.') return 'has an empty or `.` component in its name';
    if (Buffer.byteLength(part) > MAX_COMPONENT_BYTES)
      return `has a name component longer than ${MAX_COMPONENT_BYTES} bytes`;
  }
  return undefined;
}

export interface ManifestProblem {
  /** Dotted path of the field, e.g. `files[3].sha256`. */
  field: string;
  message: string;
}

/** Thrown by parseManifest: the manifest is not one outpost can trust. */
export class ManifestError extends Error {
  readonly problems: ManifestProblem[];
  constructor(problems: ManifestProblem[]) {
    super(problems.map((p) => (p.field ? `${p.field}: ${p.message}` : p.message)).join('; '));
    this.problems = problems;
  }
}

/** Parses and checks a manifest's text; every problem is reported at once (ManifestError). */
export function parseManifest(text: string): KitManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ManifestError([{ field: '', message: `is not JSON: ${(error as Error).message}` }]);
  }
  const problems: ManifestProblem[] = [];
  const fail = (field: string, message: string) => problems.push({ field, message });
  if (!isObject(raw)) throw new ManifestError([{ field: '', message: 'must be a JSON object' }]);
  if (raw.format !== KIT_FORMAT || raw.formatVersion !== KIT_FORMAT_VERSION) {
    // Nothing else can be trusted in a format we do not know.
    throw new ManifestError([
      {
        field: 'format',
        message: `unknown kit format ${JSON.stringify(raw.format)} version ${JSON.stringify(raw.formatVersion)}: this outpost reads ${KIT_FORMAT} version ${KIT_FORMAT_VERSION}`,
      },
    ]);
  }
  for (const key of ['outpostVersion', 'created', 'definition'] as const) {
    if (typeof raw[key] !== 'string' || raw[key] === '') fail(key, 'must be a non-empty string');
  }
  const files = Array.isArray(raw.files) ? raw.files : [];
  if (!Array.isArray(raw.files)) fail('files', 'must be a list');
  const seen = new Set<string>();
  for (const [i, file] of (files as unknown[]).entries()) {
    const at = `files[${i}]`;
    if (!isObject(file)) {
      fail(at, 'must be an object');
      continue;
    }
    if (typeof file.path !== 'string') fail(`${at}.path`, 'must be a string');
    else {
      const problem = entryNameProblem(file.path);
      if (problem) fail(`${at}.path`, `'${file.path}' ${problem}`);
      else if (file.path === MANIFEST_NAME) fail(`${at}.path`, `must not be ${MANIFEST_NAME} itself`);
      else if (seen.has(file.path)) fail(`${at}.path`, `'${file.path}' is listed twice`);
      seen.add(file.path);
    }
    if (!Number.isSafeInteger(file.size) || (file.size as number) < 0)
      fail(`${at}.size`, 'must be a whole number of bytes');
    if (typeof file.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(file.sha256))
      fail(`${at}.sha256`, 'must be 64 lower-case hex digits');
    if (typeof file.mode !== 'string' || !/^0[0-7]{3}$/.test(file.mode))
      fail(`${at}.mode`, "must be permission bits as four octal digits, e.g. '0644'");
  }
  // A path that is also a folder of another path could not be unpacked.
  for (const p of seen) {
    const parts = p.split('/');
    for (let n = 1; n < parts.length; n++) {
      const folder = parts.slice(0, n).join('/');
      if (seen.has(folder)) fail('files', `'${folder}' is both a file and the folder of '${p}'`);
    }
  }
  const listed = (key: 'images' | 'inventory') => {
    const value = raw[key];
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || !seen.has(v)))
      fail(key, 'must be a list of paths listed in files');
  };
  listed('images');
  listed('inventory');
  if (typeof raw.definition === 'string' && !seen.has(raw.definition))
    fail('definition', 'must be a path listed in files');
  if (!Array.isArray(raw.secretsNeeded)) fail('secretsNeeded', 'must be a list');
  else {
    for (const [i, s] of (raw.secretsNeeded as unknown[]).entries()) {
      const at = `secretsNeeded[${i}]`;
      if (!isObject(s) || typeof s.host !== 'string' || typeof s.inventory !== 'string') {
        fail(at, 'must name a host and its inventory file');
        continue;
      }
      if (!Array.isArray(s.keys) || s.keys.some((k) => typeof k !== 'string'))
        fail(`${at}.keys`, 'must be a list of key names');
      if (
        s.secret !== undefined &&
        (!isObject(s.secret) || typeof s.secret.name !== 'string' || typeof s.secret.namespace !== 'string')
      )
        fail(`${at}.secret`, 'must have a name and a namespace');
    }
  }
  if (problems.length) throw new ManifestError(problems);
  return raw as unknown as KitManifest;
}

export function formatMode(mode: number): string {
  return `0${(mode & 0o777).toString(8).padStart(3, '0')}`;
}

export function parseMode(mode: string): number {
  return Number.parseInt(mode, 8);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
