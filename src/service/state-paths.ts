import path from 'node:path';

/** Where `outpost serve` keeps its state unless told otherwise; clients on this machine look here too. */
export const DEFAULT_STATE_DIR = '/var/lib/outpost';

/** State dir layout: the database, the credentials file and the API token, all private to the service. */
export function statePaths(stateDir: string) {
  return {
    database: path.join(stateDir, 'outpost.db'),
    credentials: path.join(stateDir, 'credentials.json'),
    apiToken: path.join(stateDir, 'api-token'),
    lock: path.join(stateDir, 'service.pid'),
    /** Written by `outpost serve` while it runs: where clients on this machine reach it. */
    discovery: path.join(stateDir, 'service.json'),
    /** Copies of the database taken at each start, newest last by name; `serve --repair` restores one. */
    backups: path.join(stateDir, 'backups'),
  };
}
