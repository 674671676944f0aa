import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { RedfishError, type RedfishEvent } from './types.ts';

/** How requests authenticate; the secret values live only here and in the Authorization/X-Auth-Token headers. */
export type Auth =
  | { kind: 'none' }
  | { kind: 'basic'; header: string }
  | { kind: 'session'; token: string; location: string };

export interface RedfishResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** Parsed JSON body, or undefined when empty or not JSON. */
  body: Record<string, unknown> | undefined;
  path: string;
}

export interface TransportOptions {
  baseUrl: string;
  rejectUnauthorized: boolean;
  timeoutMs: number;
  retry: { attempts: number; delayMs: number };
  /** How long a 202 task monitor is polled before giving up. */
  taskTimeoutMs: number;
  onEvent: (e: RedfishEvent) => void;
  /** When aborted (the caller is stopping), the request under way is cancelled and nothing is retried. */
  signal?: AbortSignal;
}

export interface RequestOptions {
  body?: unknown;
  headers?: Record<string, string>;
  /** Send credentials (default true); the service root and the session login go without. */
  authenticate?: boolean;
  /** Retry 5xx answers too (GET always does; actions opt in where the operation is idempotent). */
  retryServerErrors?: boolean;
  /** Replay once after re-creating the session on 401 (default true). */
  reauthenticate?: boolean;
}

class ConnectionError extends Error {
  /** Certificate problems do not go away by retrying. */
  readonly permanent: boolean;
  constructor(message: string, permanent = false) {
    super(message);
    this.permanent = permanent;
  }
}

const CERTIFICATE_ERROR = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL/;

/**
 * One BMC's HTTP transport: explicit per-BMC agent (TLS settings never come from the environment),
 * per-request timeout, bounded retries with backoff, 202 task monitors, session re-login on 401.
 */
export class RedfishTransport {
  auth: Auth = { kind: 'none' };
  /** Called on a 401 with session auth; returns true when a new session was created. */
  relogin: (() => Promise<boolean>) | undefined;
  readonly options: TransportOptions;
  private readonly agent: http.Agent;
  private readonly origin: URL;

  constructor(options: TransportOptions) {
    this.options = options;
    this.origin = new URL(options.baseUrl);
    // keepAlive off: some BMCs choke on reused connections (sushy sends Connection: close).
    this.agent =
      this.origin.protocol === 'https:'
        ? new https.Agent({ keepAlive: false, rejectUnauthorized: options.rejectUnauthorized })
        : new http.Agent({ keepAlive: false });
  }

  get(path: string, options: RequestOptions = {}): Promise<RedfishResponse> {
    return this.request('GET', path, options);
  }

  async request(method: string, path: string, options: RequestOptions = {}): Promise<RedfishResponse> {
    const { attempts, delayMs } = this.options.retry;
    const retryServerErrors = method === 'GET' || options.retryServerErrors === true;
    let reauthenticated = false;
    for (let attempt = 1; ; attempt++) {
      this.options.signal?.throwIfAborted();
      let response: RedfishResponse;
      try {
        response = await this.exchange(method, path, options);
      } catch (error) {
        if (!(error instanceof ConnectionError)) throw error;
        if (error.permanent) {
          throw new RedfishError(
            `${method} ${path}: TLS certificate not accepted: ${error.message} (set disableCertificateVerification for self-signed BMC certificates)`,
            { cause: error },
          );
        }
        if (attempt >= attempts) {
          throw new RedfishError(`${method} ${path}: ${error.message} (gave up after ${attempts} attempts)`, {
            retriable: true,
            cause: error,
          });
        }
        await this.backoff(attempt, delayMs, `${method} ${path}: ${error.message}`);
        continue;
      }
      if (response.status === 401 && options.authenticate !== false && options.reauthenticate !== false) {
        if (!reauthenticated && this.auth.kind === 'session' && this.relogin) {
          reauthenticated = true;
          this.emit({ type: 'session', message: `401 on ${method} ${path}: creating a new session` });
          if (await this.relogin()) {
            attempt--;
            continue;
          }
        }
        return response;
      }
      // A GET answered 409 means "busy right now" on some BMCs: as transient as a 5xx.
      const transient = response.status >= 500 || (method === 'GET' && response.status === 409);
      if (transient && retryServerErrors && attempt < attempts) {
        await this.backoff(attempt, delayMs, `${method} ${path}: HTTP ${response.status}`);
        continue;
      }
      if (response.status === 202 && method !== 'GET') return this.waitForTask(response);
      return response;
    }
  }

  /** Polls a 202 task monitor (Location) until it answers something other than 202. */
  private async waitForTask(accepted: RedfishResponse): Promise<RedfishResponse> {
    const location = headerValue(accepted.headers, 'location');
    if (!location) return accepted;
    const deadline = Date.now() + this.options.taskTimeoutMs;
    let current = accepted;
    const monitor = this.pathOf(location);
    this.emit({ type: 'task', message: `waiting for task monitor ${monitor}`, path: monitor });
    while (current.status === 202) {
      if (Date.now() > deadline) {
        throw new RedfishError(
          `task ${monitor} still running after ${Math.round(this.options.taskTimeoutMs / 1000)} s`,
          { status: 202, retriable: true },
        );
      }
      await sleep(retryAfterMs(current.headers), undefined, { signal: this.options.signal });
      current = await this.get(monitor);
    }
    const state = current.body?.TaskState;
    if (typeof state === 'string' && ['Exception', 'Killed', 'Cancelled'].includes(state)) {
      throw new RedfishError(`task ${monitor} ended ${state}: ${describeBody(current.body)}`, {
        status: current.status,
        messageIds: messageIds(current.body),
      });
    }
    return current;
  }

  private async backoff(attempt: number, delayMs: number, reason: string): Promise<void> {
    const wait = delayMs * Math.min(2 ** (attempt - 1), 4);
    this.emit({ type: 'retry', message: `${reason}; retry ${attempt} in ${wait} ms` });
    await sleep(wait, undefined, { signal: this.options.signal });
  }

  /** A path on this BMC from an `@odata.id` or a Location header (absolute URLs keep only the path). */
  pathOf(reference: string): string {
    const url = new URL(reference, this.origin);
    return url.pathname + url.search;
  }

  private exchange(method: string, path: string, options: RequestOptions): Promise<RedfishResponse> {
    const target = new URL(this.pathOf(path), this.origin);
    const headers: Record<string, string> = {
      'OData-Version': '4.0',
      Accept: 'application/json',
      // identity: compression turns strong ETags into weak ones on some BMCs.
      'Accept-Encoding': 'identity',
      Connection: 'close',
      ...options.headers,
    };
    let payload: Buffer | undefined;
    if (options.body !== undefined) {
      payload = Buffer.from(JSON.stringify(options.body));
      headers['Content-Type'] = 'application/json';
    }
    if (payload !== undefined || method === 'POST' || method === 'PATCH') {
      headers['Content-Length'] = String(payload?.length ?? 0);
    }
    if (options.authenticate !== false) {
      if (this.auth.kind === 'basic') headers.Authorization = this.auth.header;
      if (this.auth.kind === 'session') headers['X-Auth-Token'] = this.auth.token;
    }
    const started = Date.now();
    const lib = target.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const signal = this.options.signal;
      const req = lib.request(target, { method, headers, agent: this.agent, ...(signal && { signal }) });
      let settled = false;
      const fail = (message: string, permanent = false) => {
        if (settled) return;
        settled = true;
        this.emit({ type: 'request', message: `${method} ${target.pathname}: ${message}`, method, path });
        reject(new ConnectionError(message, permanent));
      };
      const timer = setTimeout(() => {
        fail(`no answer within ${this.options.timeoutMs} ms`);
        req.destroy();
      }, this.options.timeoutMs);
      req.on('error', (error: Error & { code?: string }) => {
        clearTimeout(timer);
        if (signal?.aborted && !settled) {
          settled = true;
          reject(signal.reason);
          return;
        }
        fail(describeSocketError(error), CERTIFICATE_ERROR.test(error.code ?? ''));
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (error) => {
          clearTimeout(timer);
          fail(describeSocketError(error));
        });
        res.on('end', () => {
          clearTimeout(timer);
          if (settled) return;
          settled = true;
          const status = res.statusCode ?? 0;
          const durationMs = Date.now() - started;
          this.emit({
            type: 'request',
            message: `${method} ${path} -> ${status}`,
            method,
            path,
            status,
            durationMs,
          });
          resolve({
            status,
            headers: res.headers,
            body: parseJson(Buffer.concat(chunks).toString('utf8')),
            path,
          });
        });
      });
      req.end(payload);
    });
  }

  emit(event: RedfishEvent): void {
    this.options.onEvent(event);
  }

  close(): void {
    this.agent.destroy();
  }
}

function describeSocketError(error: Error & { code?: string }): string {
  return error.code ? `${error.code} ${error.message}` : error.message;
}

function parseJson(text: string): Record<string, unknown> | undefined {
  if (!text.trim()) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

function retryAfterMs(headers: IncomingHttpHeaders): number {
  const seconds = Number(headerValue(headers, 'retry-after'));
  return Number.isFinite(seconds) && seconds >= 0 ? Math.min(seconds, 60) * 1000 : 1000;
}

/** Redfish error text: `error.message` plus every `@Message.ExtendedInfo` message, for humans and matching. */
export function describeBody(body: Record<string, unknown> | undefined): string {
  if (!body) return '(no body)';
  const error = (body.error ?? body) as Record<string, unknown>;
  const parts: string[] = [];
  if (typeof error.message === 'string') parts.push(error.message);
  const extended = (error['@Message.ExtendedInfo'] ??
    body['@Message.ExtendedInfo'] ??
    body.Messages) as unknown;
  if (Array.isArray(extended)) {
    for (const info of extended as Record<string, unknown>[]) {
      const text = [info.MessageId, info.Message].filter((v) => typeof v === 'string').join(': ');
      if (text) parts.push(text);
    }
  }
  return parts.length ? parts.join('; ') : JSON.stringify(body).slice(0, 300);
}

export function messageIds(body: Record<string, unknown> | undefined): string[] {
  if (!body) return [];
  const error = (body.error ?? body) as Record<string, unknown>;
  const ids: string[] = [];
  if (typeof error.code === 'string') ids.push(error.code);
  const extended = error['@Message.ExtendedInfo'];
  if (Array.isArray(extended)) {
    for (const info of extended as Record<string, unknown>[])
      if (typeof info.MessageId === 'string') ids.push(info.MessageId);
  }
  return ids;
}

/** Turns a non-2xx answer into a RedfishError that says what was asked and what the BMC said. */
export function errorFrom(what: string, response: RedfishResponse): RedfishError {
  const status = response.status;
  const hint =
    status === 401
      ? ' (the BMC rejected the credentials)'
      : status === 403
        ? ' (the BMC user lacks privileges)'
        : '';
  return new RedfishError(`${what}: HTTP ${status}${hint}: ${describeBody(response.body)}`, {
    status,
    retriable: status >= 500 || status === 409 || status === 429,
    messageIds: messageIds(response.body),
  });
}

export function isSuccess(response: RedfishResponse): boolean {
  return response.status >= 200 && response.status < 300;
}
