import path from 'node:path';

/** State dir layout: the database, the credentials file and the API token, all private to the service. */
export function statePaths(stateDir: string) {
  return {
    database: path.join(stateDir, 'outpost.db'),
    credentials: path.join(stateDir, 'credentials.json'),
    apiToken: path.join(stateDir, 'api-token'),
    lock: path.join(stateDir, 'service.pid'),
    /** Copies of the database taken at each start, newest last by name; `serve --repair` restores one. */
    backups: path.join(stateDir, 'backups'),
  };
}
