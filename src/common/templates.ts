import { readFileSync } from 'node:fs';
import Handlebars from 'handlebars';

/**
 * Templates live in `templates/` and are rendered with HTML escaping off: shell and config templates
 * must quote values themselves with `{{sq value}}` (shell single quotes), never rely on escaping.
 */
const templatesDir = new URL('../../templates/', import.meta.url);
const hb = Handlebars.create();
const cache = new Map<string, Handlebars.TemplateDelegate>();

/** Quotes a value for POSIX shells: `it's` -> `'it'\''s'`. Arrays become space-separated quoted words. */
export function shellQuote(value: unknown): string {
  if (Array.isArray(value)) return value.map(shellQuote).join(' ');
  const s = value === undefined || value === null ? '' : String(value);
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

hb.registerHelper('sq', (value: unknown) => new Handlebars.SafeString(shellQuote(value)));
hb.registerHelper('json', (value: unknown) => new Handlebars.SafeString(JSON.stringify(value)));
hb.registerHelper(
  'join',
  (values: unknown[], sep: unknown) =>
    new Handlebars.SafeString((values ?? []).map(String).join(typeof sep === 'string' ? sep : ' ')),
);
hb.registerHelper('eq', (a: unknown, b: unknown) => a === b);

/** A file from `templates/` used as it is (no placeholders: scripts and units with nothing to fill in). */
export function readTemplate(name: string): string {
  return readFileSync(new URL(name, templatesDir), 'utf8');
}

export function renderTemplate(name: string, context: object): string {
  let template = cache.get(name);
  if (!template) {
    const source = readFileSync(new URL(name, templatesDir), 'utf8');
    template = hb.compile(source, { noEscape: true, strict: true });
    cache.set(name, template);
  }
  return template(context);
}
