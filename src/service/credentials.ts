import { chmodSync, existsSync, readFileSync, statSync } from 'node:fs';
import { OperationError } from '../common/diagnostics.ts';
import { writeFileAtomicAsync } from './files.ts';
import type { Credentials } from './types.ts';

/**
 * BMC credentials, kept out of the database in one JSON file of mode 0600 (host name -> credentials),
 * so a copy of the database or its backups never carries them. Values never leave this module except
 * to the BMC driver.
 */
export class CredentialsFile {
  readonly file: string;
  private entries: Record<string, Credentials>;
  /** Writes, in order: each writes the entries as they were when it was asked for. */
  private writes: Promise<void> = Promise.resolve();

  constructor(file: string) {
    this.file = file;
    this.entries = {};
    if (existsSync(file)) {
      // Tighten a file someone loosened (e.g. restored from a backup) before reading secrets from it.
      if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
      try {
        this.entries = JSON.parse(readFileSync(file, 'utf8')) as Record<string, Credentials>;
      } catch {
        throw new OperationError(`credentials file ${file} is not valid JSON; restore it from a backup`);
      }
    }
  }

  get(host: string): Credentials | undefined {
    return this.entries[host];
  }

  has(host: string): boolean {
    return this.entries[host] !== undefined;
  }

  /** Sets several hosts' credentials with a single atomic write; resolves once it is on disk. */
  setMany(values: Record<string, Credentials>): Promise<void> {
    const changed = Object.entries(values).some(
      ([host, c]) =>
        this.entries[host]?.username !== c.username || this.entries[host]?.password !== c.password,
    );
    if (!changed) return this.writes;
    this.entries = { ...this.entries, ...values };
    return this.save();
  }

  delete(host: string): Promise<void> {
    if (!(host in this.entries)) return this.writes;
    const { [host]: _removed, ...rest } = this.entries;
    this.entries = rest;
    return this.save();
  }

  private save(): Promise<void> {
    const content = `${JSON.stringify(this.entries, null, 2)}\n`;
    const write = this.writes.then(() => writeFileAtomicAsync(this.file, content, 0o600));
    this.writes = write.catch(() => {});
    return write;
  }
}
