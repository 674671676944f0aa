import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { formatDiagnostic } from '../common/diagnostics.ts';
import { ActionError, type HostActions } from './actions.ts';
import { applyReport, parseReport, tokenMatches } from './callbacks.ts';
import { routeCluster } from './cluster-api.ts';
import type { ClusterManager } from './cluster-manager.ts';
import type { CredentialsFile } from './credentials.ts';
import type { InventoryParser } from './inventory-parser.ts';
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
  /** Parses inventories sent to the API, off the event loop. */
  inventoryParser: InventoryParser;
  /** The site's cluster: definition, plan, kubeconfig, node tracking. */
  cluster: ClusterManager;
  /** A failed installer/first-boot report: rewinds provisioning with backoff. */
  onReportedFailure: (host: HostRecord, message: string) => void;
}

/** An inventory of a few thousand hosts fits; the rest are small JSON documents. */
export const MAX_IMPORT_BODY = 4 * 1024 * 1024;
export const MAX_JSON_BODY = 64 * 1024;

/**
 * One HTTP handler for the three audiences: `/media/` (BMCs, no auth), `/callbacks/<host>` (hosts, per-host
 * token) and `/api/v1/` (users, the API token). Answers are JSON; errors are `{ "error": "..." }`.
 */
export function createHandler(ctx: ApiContext) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      const url = parseRequestUrl(req.url);
      const path = url.pathname;
      if (path.startsWith('/media/')) return await ctx.media.handle(req, res, decodePart(path.slice(7)));
      if (path === '/healthz') return send(res, 200, { ok: true });
      const callback = /^\/callbacks\/([^/]+)(?:\/([A-Za-z0-9_-]+))?$/.exec(path);
      if (callback) return await handleCallback(ctx, req, res, decodePart(callback[1]!), callback[2]);
      if (path.startsWith('/api/v1/')) {
        if (!authorized(req, ctx.apiToken)) {
          res.setHeader('WWW-Authenticate', 'Bearer realm="outpost"');
          return send(res, 401, { error: 'missing or wrong API token (Authorization: Bearer <token>)' });
        }
        return await route(ctx, req, res, path.slice(7), url);
      }
      send(res, 404, { error: `no such endpoint: ${req.method} ${path}` });
    } catch (error) {
      if (res.headersSent) return void res.destroy();
      if (error instanceof ActionError) return send(res, error.status, { error: error.message });
      send(res, 500, { error: `internal error: ${error instanceof Error ? error.message : String(error)}` });
    }
  };
}

async function route(ctx: ApiContext, req: IncomingMessage, res: ServerResponse, path: string, url: URL) {
  const { actions, store, credentials } = ctx;
  const method = req.method ?? 'GET';
  if (path === '/hosts' && method === 'GET') {
    const hosts = store
      .listHosts()
      .map((h) => ({ ...hostView(h, credentials), node: ctx.cluster.nodeColumns(h.name) }));
    return send(res, 200, { hosts });
  }
  if (path === '/cluster' || path.startsWith('/cluster/')) {
    const body = method === 'PUT' || method === 'POST' ? await readJson(req) : undefined;
    const answer = await routeCluster(
      ctx.cluster,
      method,
      path.slice('/cluster'.length),
      body,
      store.listHosts(),
    );
    return answer.text !== undefined
      ? sendText(res, answer.status, answer.text)
      : send(res, answer.status, answer.body);
  }
  if (path === '/hosts' && method === 'POST') return importHosts(ctx, req, res);
  if (path === '/events' && method === 'GET') {
    return send(res, 200, { events: store.events({ limit: limitParam(url) }) });
  }
  const match = /^\/hosts\/([^/]+)(?:\/([a-z]+))?$/.exec(path);
  if (!match) return send(res, 404, { error: `no such endpoint: ${method} /api/v1${path}` });
  const name = decodePart(match[1]!);
  const sub = match[2];
  const key = `${method} ${sub ?? ''}`;
  switch (key) {
    case 'GET ':
      return send(res, 200, hostView(actions.get(name), credentials));
    case 'DELETE ': {
      const force = url.searchParams.get('force');
      if (force !== null && force !== 'true' && force !== 'false')
        return send(res, 400, { error: "force must be 'true' or 'false'" });
      return send(res, 200, { deleted: name, ...(await actions.remove(name, { force: force === 'true' })) });
    }
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
 * files and ${ENV} references locally and sends the resolved hosts; the server validates them again, in a
 * worker thread so a large inventory does not hold up other requests.
 */
async function importHosts(ctx: ApiContext, req: IncomingMessage, res: ServerResponse) {
  const text = (await readBody(req, MAX_IMPORT_BODY)).toString('utf8');
  const result = await ctx.inventoryParser.parse(text);
  if (result.diagnostics.length) {
    return send(res, 400, {
      error: `the inventory has ${result.diagnostics.length} problem(s)`,
      problems: result.diagnostics.map((d) => ({ ...d, text: formatDiagnostic(d) })),
    });
  }
  return send(res, 200, await ctx.actions.import(result.hosts));
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
  const body = await readJson(req);
  const kubeconfig = kubeconfigReport(body);
  if (kubeconfig !== undefined) {
    const result = ctx.cluster.acceptKubeconfig(name, kubeconfig);
    countCallback('kubeconfig', result.status);
    return send(
      res,
      result.status,
      result.status < 300 ? { ok: true, message: result.message } : { error: result.message },
    );
  }
  const report = parseReport(body);
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

/**
 * The initializer's `{"phase": "kubeconfig", "kubeconfig": "<base64 of rke2.yaml>"}`; base64 so a shell
 * script can send it without JSON-escaping YAML. Undefined for every other report.
 */
function kubeconfigReport(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const b = body as Record<string, unknown>;
  if (b.phase !== 'kubeconfig' && b.step !== 'kubeconfig') return undefined;
  if (typeof b.kubeconfig !== 'string' || !/^[A-Za-z0-9+/=\s]*$/.test(b.kubeconfig)) {
    throw new ActionError(400, 'kubeconfig must be the base64 of the kubeconfig file');
  }
  return Buffer.from(b.kubeconfig, 'base64').toString('utf8');
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

/**
 * Wraps the service's outermost handler (the console and metrics sit in front of the API): a request target
 * that is not a URL gets 400 before any handler parses it.
 */
export function refuseMalformedTargets(
  handler: (req: IncomingMessage, res: ServerResponse) => Promise<void> | void,
) {
  return (req: IncomingMessage, res: ServerResponse) => {
    if (!URL.canParse(req.url ?? '/', 'http://service'))
      return send(res, 400, { error: 'malformed request URL' });
    return handler(req, res);
  };
}

/** The request target as a URL; one that does not parse is the client's error (400), not ours. */
function parseRequestUrl(target: string | undefined): URL {
  try {
    return new URL(target ?? '/', 'http://service');
  } catch {
    throw new ActionError(400, 'malformed request URL');
  }
}

/** A percent-encoded path part; a malformed escape (`%zz`, a lone `%`, invalid UTF-8) is a 400. */
function decodePart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new ActionError(400, 'malformed percent-escape in the request path');
  }
}

/** How much of a refused body is read and dropped, so the client gets to read the 413 before the close. */
const DRAIN_LIMIT = 16 * 1024 * 1024;

/**
 * Reads a body of at most `limit` bytes; a larger one is refused as soon as it is known (413). The rest of a
 * refused body is read and dropped (up to DRAIN_LIMIT, and within the request timeout) rather than cut off,
 * since a client still sending would otherwise see its connection reset instead of the answer.
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const tooLarge = () => new ActionError(413, `request body larger than ${limit} bytes`);
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    const refuse = () => {
      refused = true;
      chunks.length = 0;
      reject(tooLarge());
    };
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (refused) {
        if (size > DRAIN_LIMIT) req.destroy();
        return;
      }
      if (size > limit) refuse();
      else chunks.push(chunk);
    });
    req.once('end', () => {
      if (!refused) resolve(Buffer.concat(chunks));
    });
    req.once('error', (error) => {
      if (!refused) reject(error);
    });
    if (Number(req.headers['content-length'] ?? 0) > limit) refuse();
  });
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const text = (await readBody(req, MAX_JSON_BODY)).toString('utf8').trim();
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new ActionError(400, 'request body is not valid JSON');
  }
}

/** A secret or a document for people (a kubeconfig, the describe tree): plain text, never cached. */
function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  });
  res.end(text);
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    // No `Connection: close` on a 413: closing while the client still sends its body makes it fail with
    // EPIPE before it reads the answer. readBody drains what is left (up to DRAIN_LIMIT, then destroys).
  });
  res.end(text);
}
