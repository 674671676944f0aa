/** fstab edits the builder needs when it relabels the root filesystem. */

/** Rewrites `LABEL=<old>` sources to `UUID=<uuid>` so mounts survive a new label; other lines stay as they are. */
export function relabelFstab(text: string, oldLabel: string, uuid: string): string {
  return text
    .split('\n')
    .map((line) => {
      const m = line.match(/^(\s*)(\S+)(\s.*)?$/);
      if (!m || line.trimStart().startsWith('#')) return line;
      const source = m[2]!.replace(/^"(.*)"$/, '$1');
      return source === `LABEL=${oldLabel}` ? `${m[1]}UUID=${uuid}${m[3] ?? ''}` : line;
    })
    .join('\n');
}
