import { readFileSync } from 'node:fs';
import { InputError, OperationError } from '../common/diagnostics.ts';
import { DEFAULT_STATE_DIR, statePaths } from './state-paths.ts';

/** A small client for the service's API, used by the CLI, tests and the fleet benchmark. */
export class ServiceClient {
  readonly server: string;
  private readonly token: string;

  constructor(server: string, token: string) {
    this.server = server.replace(/\/+$/, '');
    this.token = token;
  }

  /**
   * `--server`/OUTPOST_SERVER, else the service running on this machine with the state dir `--state-dir`
   * (or OUTPOST_STATE_DIR, or /var/lib/outpost), found by the discovery file it writes there. The token:
   * `--token-file`, OUTPOST_TOKEN, else the state dir's api-token.
   */
  static fromOptions(
    o: { server?: string; tokenFile?: string; stateDir?: string },
    env = process.env,
  ): ServiceClient {
    const stateDir = o.stateDir ?? env.OUTPOST_STATE_DIR ?? DEFAULT_STATE_DIR;
    const paths = statePaths(stateDir);
    const server = o.server ?? env.OUTPOST_SERVER ?? discoveredUrl(paths.discovery);
    if (!server) {
      throw new InputError(
        [
          `where is the service? None runs on this machine with the state dir ${stateDir} (no ${paths.discovery}).`,
          'If it runs here with another state dir, give --state-dir DIR. If it runs on another machine:',
          '  export OUTPOST_SERVER=http://SERVICE-ADDRESS:8080',
          '  export OUTPOST_TOKEN=...   # the contents of <state-dir>/api-token on that machine',
        ].join('\n'),
      );
    }
    let token = o.tokenFile ? undefined : env.OUTPOST_TOKEN;
    const tokenFile = o.tokenFile ?? (token ? undefined : paths.apiToken);
    if (tokenFile) {
      try {
        token = readFileSync(tokenFile, 'utf8').trim();
      } catch (error) {
        throw new InputError(
          `cannot read the API token from ${tokenFile}: ${(error as NodeJS.ErrnoException).code}; give --token-file FILE, set OUTPOST_TOKEN, or give --state-dir DIR of the service`,
        );
      }
    }
    if (!token) {
      throw new InputError(
        'no API token: give --token-file, set OUTPOST_TOKEN, or give --state-dir of the service',
      );
    }
    return new ServiceClient(server, token);
  }

  async request<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.send(method, path, body);
    const json = parseAnswer(response.status, await response.text());
    if (!response.ok) throw new ApiError(response.status, json);
    return json as T;
  }

  /** A plain-text answer (a kubeconfig) as it is; error answers are JSON like the rest. */
  async text(method: string, path: string): Promise<string> {
    const response = await this.send(method, path);
    const text = await response.text();
    if (!response.ok) throw new ApiError(response.status, parseAnswer(response.status, text));
    return text;
  }

  private async send(method: string, path: string, body?: unknown): Promise<Response> {
    try {
      return await fetch(`${this.server}/api/v1${path}`, {
        method,
        headers: {
          Authorization: `Bearer ${this.token}`,
          ...(body !== undefined && { 'Content-Type': 'application/json' }),
        },
        ...(body !== undefined && { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(60_000),
      });
    } catch (error) {
      const c = (error as { cause?: { code?: string; message?: string } }).cause;
      const cause = c?.code ?? c?.message ?? (error as Error).message;
      throw new OperationError(`cannot reach the outpost service at ${this.server}: ${cause}`);
    }
  }
}

function parseAnswer(status: number, text: string): unknown {
  try {
    return text ? JSON.parse(text) : {};
  } catch {
    throw new OperationError(`the service answered ${status} with something that is not JSON`);
  }
}

/** An error answer from the API: 4xx are the user's to fix (exit 2), 5xx the service's (exit 1). */
export class ApiError extends Error {
  readonly status: number;
  readonly body: { error?: string; problems?: { text: string }[] };
  constructor(status: number, body: unknown) {
    const b = (body ?? {}) as { error?: string; problems?: { text: string }[] };
    super(b.error ?? `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.body = b;
  }
}

/**
 * The discovery file a running `outpost serve` writes: `{ "url": ..., "pid": ..., "mediaDir": ... }`; ignored
 * once its process is gone.
 */
export interface Discovery {
  url: string;
  pid: number;
  mediaDir?: string;
}

/** The media dir of the service running on this machine with this state dir, when it says. */
export function discoveredMediaDir(stateDir: string): string | undefined {
  try {
    const found = JSON.parse(readFileSync(statePaths(stateDir).discovery, 'utf8')) as Partial<Discovery>;
    return typeof found.mediaDir === 'string' ? found.mediaDir : undefined;
  } catch {
    return undefined;
  }
}

function discoveredUrl(file: string): string | undefined {
  let found: Partial<Discovery>;
  try {
    found = JSON.parse(readFileSync(file, 'utf8')) as Partial<Discovery>;
  } catch {
    return undefined;
  }
  if (typeof found.url !== 'string' || typeof found.pid !== 'number') return undefined;
  try {
    process.kill(found.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return undefined;
  }
  return found.url;
}
