import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { formatDiagnostic } from '../common/diagnostics.ts';
import { ActionError, type HostActions } from './actions.ts';
import { applyReport, parseReport, tokenMatches } from './callbacks.ts';
import type { CredentialsFile } from './credentials.ts';
import { parseInventory } from './inventory.ts';
import type { MediaServer } from './media.ts';
import { countCallback } from './metrics.ts';
import type { Store } from './store.ts';
import type { Transitions } from './transitions.ts';
import type { HostRecord } from './types.ts';
import { hostView, timelineView } from './views.ts';

export interface ApiContext {
  apiToken: string;
  actions: HostActions;
  store: Store;
  transitions: Transitions;
  credentials: CredentialsFile;
  media: MediaServer;
  /** A failed installer/first-boot report: rewinds provisioning with backoff. */
  onReportedFailure: (host: HostRecord, message: string) => void;
}

const MAX_BODY = 16 * 1024 * 1024;

/**
 * One HTTP handler for the three audiences: `/media/` (BMCs, no auth), `/callbacks/<host>` (hosts, per-host
 * token) and `/api/v1/` (users, the API token). Answers are JSON; errors are `{ "error": "..." }`.
 */
export function createHandler(ctx: ApiContext) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      const url = new URL(req.url ?? '/', 'http://service');
      const path = url.pathname;
      if (path.startsWith('/media/'))
        return await ctx.media.handle(req, res, decodeURIComponent(path.slice(7)));
      if (path === '/healthz') return send(res, 200, { ok: true });
      const callback = /^\/callbacks\/([^/]+)(?:\/([A-Za-z0-9_-]+))?$/.exec(path);
      if (callback) return await handleCallback(ctx, req, res, decodeURIComponent(callback[1]!), callback[2]);
      if (path.startsWith('/api/v1/')) {
        if (!authorized(req, ctx.apiToken)) {
          res.setHeader('WWW-Authenticate', 'Bearer realm="outpost"');
          return send(res, 401, { error: 'missing or wrong API token (Authorization: Bearer <token>)' });
        }
        return await route(ctx, req, res, path.slice(7), url);
      }
      send(res, 404, { error: `no such endpoint: ${req.method} ${path}` });
    } catch (error) {
      if (error instanceof ActionError) return send(res, error.status, { error: error.message });
      send(res, 500, { error: `internal error: ${error instanceof Error ? error.message : String(error)}` });
    }
  };
}

async function route(ctx: ApiContext, req: IncomingMessage, res: ServerResponse, path: string, url: URL) {
  const { actions, store, credentials } = ctx;
  const method = req.method ?? 'GET';
  if (path === '/hosts' && method === 'GET') {
    return send(res, 200, { hosts: store.listHosts().map((h) => hostView(h, credentials)) });
  }
  if (path === '/hosts' && method === 'POST') return importHosts(ctx, req, res);
  if (path === '/events' && method === 'GET') {
    return send(res, 200, { events: store.events({ limit: limitParam(url) }) });
  }
  const match = /^\/hosts\/([^/]+)(?:\/([a-z]+))?$/.exec(path);
  if (!match) return send(res, 404, { error: `no such endpoint: ${method} /api/v1${path}` });
  const name = decodeURIComponent(match[1]!);
  const sub = match[2];
  const key = `${method} ${sub ?? ''}`;
  switch (key) {
    case 'GET ':
      return send(res, 200, hostView(actions.get(name), credentials));
    case 'DELETE ':
      actions.remove(name);
      return send(res, 200, { deleted: name });
    case 'GET events':
      actions.get(name);
      return send(res, 200, { events: store.events({ host: name, limit: limitParam(url) }) });
    case 'GET timeline':
      actions.get(name);
      return send(res, 200, { timeline: timelineView(store.operations(name)) });
    case 'POST provision': {
      const body = (await readJson(req)) as { image?: unknown; consumer?: unknown };
      return send(res, 202, hostView(actions.provision(name, body ?? {}), credentials));
    }
    case 'POST deprovision':
      return send(res, 202, hostView(actions.deprovision(name), credentials));
    case 'POST inspect':
      return send(res, 202, hostView(actions.inspect(name), credentials));
    case 'POST power': {
      const body = (await readJson(req)) as { action?: unknown } | undefined;
      return send(res, 202, hostView(actions.power(name, body?.action), credentials));
    }
  }
  send(res, 405, { error: `${method} is not supported on /api/v1${path}` });
}

/**
 * Body: an outpost inventory as JSON or YAML (`{"hosts": [...]}`). The CLI reads Metal3 manifests, password
 * files and ${ENV} references locally and sends the resolved hosts; the server validates them again.
 */
async function importHosts(ctx: ApiContext, req: IncomingMessage, res: ServerResponse) {
  const text = (await readBody(req)).toString('utf8');
  const result = parseInventory([{ file: 'request', text, readFile: refuseFileReads }], { env: LITERAL_ENV });
  if (result.diagnostics.length) {
    return send(res, 400, {
      error: `the inventory has ${result.diagnostics.length} problem(s)`,
      problems: result.diagnostics.map((d) => ({ ...d, text: formatDiagnostic(d) })),
    });
  }
  return send(res, 200, ctx.actions.import(result.hosts));
}

/**
 * The CLI already resolved ${ENV} references on the user's side; a `${...}` still in a value sent to the API is
 * part of it (e.g. a password), so every reference resolves to itself.
 */
const LITERAL_ENV: Record<string, string> = new Proxy({}, { get: (_, name) => `\${${String(name)}}` });

function refuseFileReads(file: string): string {
  throw Object.assign(new Error(`files are read by the CLI, not the server: ${file}`), { code: 'ENOTSUP' });
}

async function handleCallback(
  ctx: ApiContext,
  req: IncomingMessage,
  res: ServerResponse,
  name: string,
  pathToken: string | undefined,
) {
  if (req.method !== 'POST') return send(res, 405, { error: 'callbacks are POST requests' });
  const host = ctx.store.getHost(name);
  const token = bearer(req) ?? pathToken;
  // Same answer for an unknown host and a wrong token: do not tell a guesser which hosts exist.
  if (!host || token === undefined || !tokenMatches(token, host.callbackTokenHash)) {
    countCallback(undefined, 401);
    return send(res, 401, { error: 'unknown host or wrong callback token' });
  }
  const report = parseReport(await readJson(req));
  if (typeof report === 'string') return send(res, 400, { error: report });
  const result = ctx.store.transaction(() => {
    // Re-read: the host may have moved while the body arrived.
    const fresh = ctx.store.getHost(name);
    if (!fresh || fresh.id !== host.id) return { status: 409, message: `host ${name} was replaced` };
    return applyReport(ctx.transitions, fresh, report, ctx.onReportedFailure);
  });
  countCallback(report.step, result.status);
  send(
    res,
    result.status,
    result.status < 300 ? { ok: true, message: result.message } : { error: result.message },
  );
}

function authorized(req: IncomingMessage, apiToken: string): boolean {
  const token = bearer(req);
  if (token === undefined) return false;
  const a = Buffer.from(token);
  const b = Buffer.from(apiToken);
  return a.length === b.length && timingSafeEqual(a, b);
}

function bearer(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  return match?.[1];
}

function limitParam(url: URL): number {
  const n = Number(url.searchParams.get('limit') ?? 1000);
  return Number.isInteger(n) && n > 0 ? Math.min(n, 100_000) : 1000;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new ActionError(413, `request body larger than ${MAX_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const text = (await readBody(req)).toString('utf8').trim();
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new ActionError(400, 'request body is not valid JSON');
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
