/**
 * Writer for the "newc" cpio format the Linux kernel unpacks as an initramfs.
 * Pure: entries in, bytes out, so the same inputs always give the same archive.
 */
export type CpioEntry =
  | { path: string; type: 'file'; mode: number; data: Uint8Array }
  | { path: string; type: 'dir'; mode: number }
  | { path: string; type: 'symlink'; target: string };

const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

export function writeCpio(entries: readonly CpioEntry[]): Buffer {
  const chunks: Buffer[] = [];
  let offset = 0;
  const push = (b: Buffer) => {
    chunks.push(b);
    offset += b.length;
  };
  const pad = () => {
    const rest = offset % 4;
    if (rest) push(Buffer.alloc(4 - rest));
  };
  let ino = 1;
  const record = (path: string, mode: number, data: Uint8Array) => {
    const name = Buffer.from(`${path}\0`);
    const fields = [ino++, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, name.length, 0];
    push(Buffer.from(`070701${fields.map((f) => f.toString(16).padStart(8, '0')).join('')}`));
    push(name);
    pad();
    push(Buffer.from(data));
    pad();
  };
  for (const entry of entries) {
    const path = entry.path.replace(/^\/+/, '');
    if (entry.type === 'file') record(path, S_IFREG | entry.mode, entry.data);
    else if (entry.type === 'dir') record(path, S_IFDIR | entry.mode, new Uint8Array());
    else record(path, S_IFLNK | 0o777, Buffer.from(entry.target));
  }
  record('TRAILER!!!', 0, new Uint8Array());
  const rest = offset % 512;
  if (rest) push(Buffer.alloc(512 - rest));
  return Buffer.concat(chunks);
}

/** Adds the parent directories of every entry (sorted, once each) so the kernel can create the files. */
export function withParentDirs(entries: readonly CpioEntry[]): CpioEntry[] {
  const dirs = new Set<string>();
  for (const e of entries) {
    const parts = e.path.replace(/^\/+/, '').split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
    if (e.type === 'dir') dirs.delete(e.path.replace(/^\/+/, ''));
  }
  const dirEntries: CpioEntry[] = [...dirs].sort().map((path) => ({ path, type: 'dir', mode: 0o755 }));
  return [...dirEntries, ...entries];
}
