import path from 'node:path';
import { isInside, readOperatorFile, readTextInside } from '../common/contained-fs.ts';
import { byPosition, type Diagnostic } from '../common/diagnostics.ts';
import { type Environment, YamlSource } from '../common/yaml-cursor.ts';
import type { ConfigDirCheck, ConfigDirCheckContext } from './config-dir-checks.ts';
import { locateField } from './locate.ts';
import { parseDefinition } from './parse.ts';
import { SECTIONS, sectionRank } from './section-names.ts';
import type { DefinitionDraft, ImageDefinition, LoadedDefinition } from './types.ts';

export interface LoadOptions {
  /** The config directory (EIB's --config-dir). */
  configDir: string;
  /** The definition file, relative to the config directory (EIB's --definition-file) or absolute. */
  definitionFile: string;
  /** Where `${NAME}` references are resolved from. */
  env: Environment;
  /** File names in diagnostics are relative to this directory; default: the working directory. */
  cwd?: string;
}

/**
 * Reads a definition and runs `checks` on it and its config directory. Every problem found is returned,
 * grouped by section; `loaded` is set only when there is none. Messages never contain values resolved
 * from the environment. The checks come from the caller because the domains that read the config
 * directory (network, kubernetes) sit above the definition: src/build/load-definition.ts lists them all.
 */
export async function loadDefinitionWith(
  opts: LoadOptions,
  checks: readonly ConfigDirCheck[],
): Promise<{ loaded?: LoadedDefinition; diagnostics: Diagnostic[] }> {
  const configDir = path.resolve(opts.configDir);
  const file = path.resolve(configDir, opts.definitionFile);
  const cwd = opts.cwd ?? process.cwd();
  const display = (absolute: string) => path.relative(cwd, absolute) || path.basename(absolute);
  const shownFile = display(file);

  // A definition in the config dir is read like the dir's other files (a link may not lead out of it:
  // the dir may come from someone else); one named outside it by the operator is read where it is.
  const read = isInside(configDir, file)
    ? await readTextInside(configDir, path.relative(configDir, file))
    : await readOperatorFile(file);
  if (read.kind !== 'text') {
    const reason = read.kind === 'missing' ? 'not found' : read.message;
    const message = `cannot read the definition file: ${reason}`;
    return {
      diagnostics: [{ file: shownFile, line: 1, col: 1, path: '', message, section: SECTIONS.definition }],
    };
  }
  const text = read.text;

  const source = new YamlSource(shownFile, text, opts.env);
  const definition = parseDefinition(source);
  const ctx = { ...checkContext(configDir, file, definition, source, display), env: opts.env };
  const crossFile = await Promise.all(
    checks.map((check) =>
      // Belt and braces: a check that fails unexpectedly still yields a positioned problem, not a crash.
      check(ctx).catch((error: unknown) => [
        ctx.atFile(
          path.relative(configDir, file),
          `the config directory could not be checked: ${(error as Error).message ?? String(error)}`,
          SECTIONS.configDir,
        ),
      ]),
    ),
  );
  const diagnostics = sortBySection(
    redact(unique([...source.diagnostics, ...crossFile.flat()]), source.secrets),
  );
  if (diagnostics.length) return { diagnostics };
  return {
    // Every required field was checked while parsing, so a draft without diagnostics is complete.
    loaded: { definition: definition as ImageDefinition, file, configDir, secrets: source.secrets },
    diagnostics,
  };
}

function checkContext(
  configDir: string,
  definitionFile: string,
  definition: DefinitionDraft,
  source: YamlSource,
  display: (absolute: string) => string,
): ConfigDirCheckContext {
  return {
    configDir,
    definitionFile,
    definition,
    displayPath: (relative) => display(path.join(configDir, relative)),
    atField(fieldPath, message, section) {
      const node = locateField(source.root.node, fieldPath);
      const [line, col] = node?.range ? source.position(node.range[0]) : [1, 1];
      return { file: source.file, line, col, path: fieldPath, message, section };
    },
    atFile(relative, message, section) {
      return { file: display(path.join(configDir, relative)), line: 1, col: 1, path: '', message, section };
    },
  };
}

/** Belt and braces: a message that quotes a value resolved from the environment gets it masked. */
function redact(diagnostics: Diagnostic[], secrets: ReadonlySet<string>): Diagnostic[] {
  const values = [...secrets].filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
  if (!values.length) return diagnostics;
  return diagnostics.map((d) => {
    let message = d.message;
    for (const value of values) message = message.replaceAll(value, '<redacted>');
    return message === d.message ? d : { ...d, message };
  });
}

/** Two checks may meet the same bad file (a FIFO in kubernetes/manifests): say it once. */
function unique(diagnostics: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return diagnostics.filter((d) => {
    const key = `${d.file}\0${d.line}\0${d.col}\0${d.path}\0${d.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function sortBySection(diagnostics: Diagnostic[]): Diagnostic[] {
  return diagnostics.sort((a, b) => sectionRank(a.section) - sectionRank(b.section) || byPosition(a, b));
}
