import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { OperationError, terminalSafe } from '../common/diagnostics.ts';
import type { EventLevel, HostEvent, HostRecord, HostState, Operation, OperationStep } from './types.ts';

const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS hosts (
  name TEXT PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  record TEXT NOT NULL,
  state TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  host TEXT NOT NULL,
  time INTEGER NOT NULL,
  level TEXT NOT NULL,
  reason TEXT NOT NULL,
  message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_host ON events (host, id);
CREATE TABLE IF NOT EXISTS operations (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  host TEXT NOT NULL,
  state TEXT NOT NULL,
  step TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  ended_at INTEGER,
  result TEXT NOT NULL,
  message TEXT
);
CREATE INDEX IF NOT EXISTS operations_by_host ON operations (host, id);
CREATE TABLE IF NOT EXISTS cluster (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

/**
 * The service's durable state in SQLite (WAL, synchronous=FULL): every state change is written in one
 * transaction together with its event and operation history, so a crash leaves either all or none of it.
 * Hosts are stored as a JSON record plus the columns queries need.
 */
export class Store {
  private readonly db: DatabaseSync;
  private readonly statements = new Map<string, StatementSync>();
  private depth = 0;
  private readonly watchers = new Set<(host: string) => void>();

  constructor(file: string) {
    this.db = new DatabaseSync(file);
    this.db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;');
    this.db.exec(SCHEMA);
    const row = this.sql('SELECT value FROM meta WHERE key = ?').get('schemaVersion') as
      | { value: string }
      | undefined;
    if (!row)
      this.sql('INSERT INTO meta (key, value) VALUES (?, ?)').run('schemaVersion', String(SCHEMA_VERSION));
    else if (Number(row.value) > SCHEMA_VERSION) {
      throw new OperationError(
        `${file} has schema version ${row.value}, newer than this outpost understands (${SCHEMA_VERSION}); upgrade outpost`,
      );
    }
  }

  /**
   * Calls `watcher` with a host's name whenever its record or events are written (inside the transaction:
   * read the store again later to see the committed state). Returns the function that stops watching.
   */
  watch(watcher: (host: string) => void): () => void {
    this.watchers.add(watcher);
    return () => this.watchers.delete(watcher);
  }

  private changed(host: string): void {
    for (const watcher of this.watchers) watcher(host);
  }

  close(): void {
    this.db.close();
  }

  /** Runs `fn` in one transaction (nested calls join the outer one). */
  transaction<T>(fn: () => T): T {
    if (this.depth > 0) return fn();
    this.db.exec('BEGIN IMMEDIATE');
    this.depth++;
    try {
      const result = fn();
      this.db.exec('COMMIT');
      return result;
    } catch (error) {
      this.db.exec('ROLLBACK');
      throw error;
    } finally {
      this.depth--;
    }
  }

  listHosts(): HostRecord[] {
    return (this.sql('SELECT record FROM hosts ORDER BY name').all() as { record: string }[]).map((r) =>
      JSON.parse(r.record),
    );
  }

  getHost(name: string): HostRecord | undefined {
    const row = this.sql('SELECT record FROM hosts WHERE name = ?').get(name) as
      | { record: string }
      | undefined;
    return row ? (JSON.parse(row.record) as HostRecord) : undefined;
  }

  /** The host whose installer ISO has this media-dir name, if any. */
  hostWithInstallerIso(name: string): HostRecord | undefined {
    const row = this.sql(
      "SELECT record FROM hosts WHERE json_extract(record, '$.provisioning.installerIso') = ?",
    ).get(name) as { record: string } | undefined;
    return row ? (JSON.parse(row.record) as HostRecord) : undefined;
  }

  putHost(host: HostRecord): void {
    this.sql(
      `INSERT INTO hosts (name, id, record, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET record = excluded.record, state = excluded.state, updated_at = excluded.updated_at`,
    ).run(host.name, host.id, JSON.stringify(host), host.state, host.createdAt, host.updatedAt);
    this.changed(host.name);
  }

  deleteHost(name: string): void {
    this.transaction(() => {
      this.sql('DELETE FROM hosts WHERE name = ?').run(name);
      this.sql('DELETE FROM operations WHERE host = ?').run(name);
      this.sql('DELETE FROM events WHERE host = ?').run(name);
    });
    this.changed(name);
  }

  /** Events are read on terminals (`outpost hosts describe`): stored without control characters. */
  addEvent(host: string, level: EventLevel, reason: string, message: string, time = Date.now()): void {
    this.sql('INSERT INTO events (host, time, level, reason, message) VALUES (?, ?, ?, ?, ?)').run(
      host,
      time,
      level,
      terminalSafe(reason),
      terminalSafe(message),
    );
    this.changed(host);
  }

  events(opts: { host?: string; limit?: number } = {}): HostEvent[] {
    const limit = opts.limit ?? 1000;
    const rows = (
      opts.host
        ? this.sql('SELECT * FROM events WHERE host = ? ORDER BY id DESC LIMIT ?').all(opts.host, limit)
        : this.sql('SELECT * FROM events ORDER BY id DESC LIMIT ?').all(limit)
    ) as { id: number; host: string; time: number; level: EventLevel; reason: string; message: string }[];
    return rows.reverse().map((r) => ({
      id: r.id,
      hostName: r.host,
      time: r.time,
      level: r.level,
      reason: r.reason,
      message: r.message,
    }));
  }

  /** Opens an operation row; a running row for the same host, state and step is reused (resumed after a restart). */
  startOperation(host: string, state: HostState | 'power', step: OperationStep, time = Date.now()): number {
    const running = this.sql(
      "SELECT id FROM operations WHERE host = ? AND state = ? AND step = ? AND result = 'running' ORDER BY id DESC LIMIT 1",
    ).get(host, state, step) as { id: number } | undefined;
    if (running) return running.id;
    const result = this.sql(
      "INSERT INTO operations (host, state, step, started_at, result) VALUES (?, ?, ?, ?, 'running')",
    ).run(host, state, step, time);
    return Number(result.lastInsertRowid);
  }

  /** Closes the running operation(s) of a host for a state and step ('' = the whole state). */
  endOperation(
    host: string,
    state: HostState | 'power',
    step: OperationStep,
    result: Operation['result'],
    message?: string,
    time = Date.now(),
  ): void {
    this.sql(
      "UPDATE operations SET ended_at = ?, result = ?, message = ? WHERE host = ? AND state = ? AND step = ? AND result = 'running'",
    ).run(time, result, message ?? null, host, state, step);
  }

  /** Sets the message of a running operation (a retry under way shows there as it happens). */
  noteOperation(host: string, state: HostState | 'power', step: OperationStep, message: string): void {
    this.sql(
      "UPDATE operations SET message = ? WHERE host = ? AND state = ? AND step = ? AND result = 'running'",
    ).run(message, host, state, step);
  }

  /** Closes every running operation of a host (when it leaves a state early, e.g. a deprovision mid-provisioning). */
  abandonOperations(host: string, message: string, time = Date.now()): void {
    this.sql(
      "UPDATE operations SET ended_at = ?, result = 'abandoned', message = ? WHERE host = ? AND result = 'running'",
    ).run(time, message, host);
  }

  operations(host: string): Operation[] {
    const rows = this.sql('SELECT * FROM operations WHERE host = ? ORDER BY id').all(host) as {
      id: number;
      host: string;
      state: HostState | 'power';
      step: OperationStep;
      started_at: number;
      ended_at: number | null;
      result: Operation['result'];
      message: string | null;
    }[];
    return rows.map((r) => ({
      id: r.id,
      hostName: r.host,
      state: r.state,
      step: r.step,
      startedAt: r.started_at,
      ...(r.ended_at !== null && { endedAt: r.ended_at }),
      result: r.result,
      ...(r.message !== null && { message: r.message }),
    }));
  }

  /** The site cluster's records (spec, per-host node and remediation state), as JSON text by key. */
  getClusterValue(key: string): string | undefined {
    const row = this.sql('SELECT value FROM cluster WHERE key = ?').get(key) as { value: string } | undefined;
    return row?.value;
  }

  putClusterValue(key: string, value: string): void {
    this.sql(
      'INSERT INTO cluster (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
    ).run(key, value);
  }

  deleteClusterValue(key: string): void {
    this.sql('DELETE FROM cluster WHERE key = ?').run(key);
  }

  private sql(text: string): StatementSync {
    let statement = this.statements.get(text);
    if (!statement) {
      statement = this.db.prepare(text);
      this.statements.set(text, statement);
    }
    return statement;
  }
}
