/**
 * Adding kernel arguments to the boot configurations images ship with. Pure text edits: the builder cannot
 * run a foreign OS's `grub2-mkconfig`, so it edits both GRUB's defaults (for later regenerations on the
 * host) and the generated grub.cfg (for the next boot), or the Boot Loader Specification entries that
 * systemd-boot and BLS-enabled GRUB read. Every edit is idempotent: an argument already present is not
 * added twice.
 */

import { KERNEL_ARG } from '../common/names.ts';

/** Characters a kernel argument may contain: nothing GRUB or a shell would interpret (`$`, quotes, `;`, spaces). */
export function unsafeKernelArg(arg: string): boolean {
  return !KERNEL_ARG.test(arg);
}

/** Appends the arguments not yet present to a command line. */
export function appendArgs(cmdline: string, args: readonly string[]): string {
  const present = new Set(cmdline.split(/\s+/).filter(Boolean));
  const added: string[] = [];
  for (const arg of args) {
    if (present.has(arg)) continue;
    present.add(arg);
    added.push(arg);
  }
  return [cmdline.trimEnd(), ...added].filter(Boolean).join(' ');
}

const GRUB_DEFAULT_KEY = 'GRUB_CMDLINE_LINUX_DEFAULT';

/** `/etc/default/grub` is a shell fragment: the value may be double-, single- or un-quoted. */
export function editGrubDefaults(text: string, args: readonly string[]): string {
  const lines = text.split('\n');
  const re = new RegExp(`^(\\s*(?:export\\s+)?${GRUB_DEFAULT_KEY}=)(.*)$`);
  let index = -1;
  lines.forEach((line, i) => {
    if (re.test(line)) index = i; // the last assignment wins in shell
  });
  if (index === -1) {
    const body = text.endsWith('\n') || text === '' ? text : `${text}\n`;
    return `${body}${GRUB_DEFAULT_KEY}="${appendArgs('', args)}"\n`;
  }
  const [, prefix, raw] = lines[index]!.match(re)!;
  lines[index] = `${prefix}"${appendArgs(unquoteShell(raw!.trim()), args)}"`;
  return lines.join('\n');
}

function unquoteShell(value: string): string {
  const withoutComment = value.replace(/\s+#.*$/, '');
  const m = withoutComment.match(/^"(.*)"$/s) ?? withoutComment.match(/^'(.*)'$/s);
  return m ? m[1]! : withoutComment;
}

/** Kernel lines in a generated grub.cfg: `linux`, `linuxefi` or `linux16`, then the kernel path, then the arguments. */
const GRUB_LINUX_LINE = /^(\s*(?:linux|linuxefi|linux16)\s+\S+)(.*)$/;

export function editGrubCfg(text: string): { count: number; apply: (args: readonly string[]) => string } {
  const lines = text.split('\n');
  const count = lines.filter((l) => GRUB_LINUX_LINE.test(l)).length;
  return {
    count,
    apply: (args) =>
      lines
        .map((line) => {
          const m = line.match(GRUB_LINUX_LINE);
          return m ? `${m[1]} ${appendArgs(m[2]!.trim(), args)}` : line;
        })
        .join('\n'),
  };
}

/**
 * A Boot Loader Specification entry (`/boot/loader/entries/*.conf`, also systemd-boot's entries on the ESP).
 * `options` may appear several times and is concatenated: the arguments go on the last one.
 */
export function editBlsEntry(text: string, args: readonly string[]): string {
  const lines = text.split('\n');
  const isOptions = (l: string) => /^\s*options(\s|$)/.test(l);
  let last = -1;
  lines.forEach((l, i) => {
    if (isOptions(l)) last = i;
  });
  const existing = lines.filter(isOptions).map((l) => l.replace(/^\s*options\s*/, ''));
  const alreadyThere = new Set(existing.join(' ').split(/\s+/).filter(Boolean));
  const missing = args.filter((a) => !alreadyThere.has(a));
  if (missing.length === 0) return text;
  if (last === -1) {
    const trailing = text.endsWith('\n') ? '' : '\n';
    return `${text}${trailing}options ${missing.join(' ')}\n`;
  }
  lines[last] = `options ${appendArgs(existing.at(-1)!, missing)}`;
  return lines.join('\n');
}
