import { readFileSync } from 'node:fs';
import { InputError, OperationError } from '../common/diagnostics.ts';
import { statePaths } from './state-paths.ts';

/** A small client for the service's API, used by the CLI, tests and the fleet benchmark. */
export class ServiceClient {
  readonly server: string;
  private readonly token: string;

  constructor(server: string, token: string) {
    this.server = server.replace(/\/+$/, '');
    this.token = token;
  }

  /** `--server`/OUTPOST_SERVER and `--token-file`/OUTPOST_TOKEN, else the token in `--state-dir`. */
  static fromOptions(
    o: { server?: string; tokenFile?: string; stateDir?: string },
    env = process.env,
  ): ServiceClient {
    const server = o.server ?? env.OUTPOST_SERVER;
    if (!server) throw new InputError('where is the service? give --server URL or set OUTPOST_SERVER');
    let token = o.tokenFile ? undefined : env.OUTPOST_TOKEN;
    const tokenFile = o.tokenFile ?? (token ? undefined : o.stateDir && statePaths(o.stateDir).apiToken);
    if (tokenFile) {
      try {
        token = readFileSync(tokenFile, 'utf8').trim();
      } catch (error) {
        throw new InputError(
          `cannot read the API token from ${tokenFile}: ${(error as NodeJS.ErrnoException).code}`,
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
    let response: Response;
    try {
      response = await fetch(`${this.server}/api/v1${path}`, {
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
    const text = await response.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      throw new OperationError(`the service answered ${response.status} with something that is not JSON`);
    }
    if (!response.ok) throw new ApiError(response.status, json);
    return json as T;
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
