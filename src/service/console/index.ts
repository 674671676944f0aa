import { readdirSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { Gauge, Registry } from 'prom-client';
import type { ClusterStatus } from '../../cluster/status.ts';
import { countError, serviceRegistry } from '../metrics.ts';
import type { Store } from '../store.ts';
import { HOST_STATES, type HostRecord } from '../types.ts';
import { loadAssets, SECURITY_HEADERS, serveAsset } from './assets.ts';
import { LiveUpdates } from './live.ts';
import { hostRow, type NodeColumns } from './rows.ts';
import {
  DEFAULT_SESSION_LIMITS,
  type Session,
  type SessionLimits,
  Sessions,
  sameSecret,
} from './sessions.ts';

export type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;

export interface ConsoleOptions {
  apiToken: string;
  store: Store;
  mediaDir: string;
  /** Serve /metrics without the token (for scrapers on a management network that cannot hold a secret). */
  metricsPublic?: boolean;
  sessionLimits?: SessionLimits;
  /** What the console reads of the site's cluster (the service's ClusterManager); none: no Node columns. */
  cluster?: ClusterView;
}

/** A read-only view of the site's cluster: each host's Node and the cluster's status (undefined: none defined). */
export interface ClusterView {
  nodeColumns(host: string): NodeColumns;
  status(): ClusterStatus | undefined;
}

export interface MountedConsole {
  handler: Handler;
  close(): void;
}

const MAX_LOGIN_BODY = 4096;

/**
 * Puts the operator console and /metrics in front of the service's HTTP handler. The console signs in with
 * the API token and then uses an HttpOnly, SameSite=Strict session cookie; its actions go to the very same
 * API handler (`/console/api/v1/...` is `/api/v1/...` once the session and its CSRF token are checked),
 * so the console can do nothing the API does not allow. Every other path goes to `api` unchanged.
 */
export function mountConsole(api: Handler, o: ConsoleOptions): MountedConsole {
  const assets = loadAssets();
  const sessions = new Sessions(o.sessionLimits ?? DEFAULT_SESSION_LIMITS);
  const cluster = o.cluster;
  const rowOf = (host: HostRecord) => hostRow(host, cluster?.nodeColumns(host.name));
  const live = new LiveUpdates(o.store, rowOf);
  const metrics = storeMetrics(o.store, cluster);

  const handler: Handler = async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://service');
    const route = url.pathname;
    const method = req.method ?? 'GET';
    if (route === '/metrics' && method === 'GET') {
      if (!o.metricsPublic && !bearerMatches(req, o.apiToken) && !sessions.of(req)) {
        res.setHeader('WWW-Authenticate', 'Bearer realm="outpost"');
        return json(res, 401, { error: 'metrics need the API token (Authorization: Bearer <token>)' });
      }
      const text = (await metrics.metrics()) + (await serviceRegistry.metrics());
      res.writeHead(200, { 'Content-Type': serviceRegistry.contentType, 'Cache-Control': 'no-store' });
      return void res.end(text);
    }
    const file = (method === 'GET' || method === 'HEAD') && assets.get(route);
    if (file) return serveAsset(req, res, file);
    if (route === '/console/session') return sessionRoute(req, res, method);
    if (route.startsWith('/console/')) {
      const session = sessions.of(req);
      if (!session) return json(res, 401, { error: 'not signed in' });
      if (method !== 'GET' && method !== 'HEAD') {
        const refused = crossSiteRefusal(req, session);
        if (refused) return json(res, 403, { error: refused });
      }
      if (route === '/console/events' && method === 'GET')
        return live.attach(req, res, () => sessions.alive(session));
      if (route === '/console/images' && method === 'GET')
        return json(res, 200, { images: mediaImages(o.mediaDir) });
      if (route.startsWith('/console/api/v1/')) {
        // The same handler, the same checks and answers as a call with the token.
        req.url = route.slice('/console'.length) + url.search;
        req.headers.authorization = `Bearer ${o.apiToken}`;
        return countInternalErrors(res, () => api(req, res));
      }
      return json(res, 404, { error: `no such console endpoint: ${method} ${route}` });
    }
    return countInternalErrors(res, () => api(req, res));
  };

  async function sessionRoute(req: IncomingMessage, res: ServerResponse, method: string) {
    if (method === 'GET') {
      const session = sessions.of(req);
      return session
        ? json(res, 200, { csrfToken: session.csrf })
        : json(res, 401, { error: 'not signed in' });
    }
    if (method === 'POST') {
      const refused = crossSiteRefusal(req);
      if (refused) return json(res, 403, { error: refused });
      const body = await readSmallJson(req);
      const token = typeof body?.token === 'string' ? body.token.trim() : '';
      if (!token || !sameSecret(token, o.apiToken)) return json(res, 401, { error: 'wrong API token' });
      const session = sessions.create();
      res.setHeader('Set-Cookie', sessions.cookieFor(session, isHttps(req)));
      return json(res, 200, { csrfToken: session.csrf });
    }
    if (method === 'DELETE') {
      const session = sessions.of(req);
      if (session) {
        const refused = crossSiteRefusal(req, session);
        if (refused) return json(res, 403, { error: refused });
        sessions.end(session);
      }
      res.setHeader('Set-Cookie', Sessions.clearCookie());
      return json(res, 200, { signedOut: true });
    }
    return json(res, 405, { error: `${method} is not supported on /console/session` });
  }

  return {
    handler,
    close: () => live.close(),
  };
}

/**
 * Why a state-changing request may come from another site, or undefined. The cookie is SameSite=Strict
 * already; the CSRF token (which only our own page can read) and the Origin check are two more locks.
 */
function crossSiteRefusal(req: IncomingMessage, session?: Session): string | undefined {
  if (req.headers['sec-fetch-site'] === 'cross-site') return 'cross-site request refused';
  const origin = req.headers.origin;
  if (origin !== undefined) {
    let originHost: string | undefined;
    try {
      originHost = new URL(origin).host;
    } catch {}
    if (originHost !== req.headers.host) return `request from another origin (${origin}) refused`;
  }
  if (session) {
    const given = req.headers['x-csrf-token'];
    if (typeof given !== 'string' || !sameSecret(given, session.csrf)) {
      return 'missing or wrong X-CSRF-Token header';
    }
  }
  return undefined;
}

/** The gauges read from the store at each scrape: they are this service's view, not a process counter. */
function storeMetrics(store: Store, cluster: ClusterView | undefined): Registry {
  const registry = new Registry();
  new Gauge({
    name: 'outpost_hosts',
    help: 'Hosts by provisioning state',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      this.reset();
      const counts = new Map<string, number>(HOST_STATES.map((s) => [s, 0]));
      for (const host of store.listHosts()) counts.set(host.state, (counts.get(host.state) ?? 0) + 1);
      for (const [state, n] of counts) this.set({ state }, n);
    },
  });
  new Gauge({
    name: 'outpost_hosts_with_error',
    help: 'Hosts whose last step failed and waits for its retry',
    registers: [registry],
    collect() {
      this.set(store.listHosts().filter((h) => h.error).length);
    },
  });
  new Gauge({
    name: 'outpost_cluster_nodes_ready',
    help: "Nodes of the site's cluster members whose Ready condition is True (0 when no cluster is defined)",
    registers: [registry],
    collect() {
      const status = cluster?.status();
      this.set(status ? readyNodes(status) : 0);
    },
  });
  return registry;
}

/** Member hosts whose Node reports Ready=True: the count `outpost_cluster_nodes_ready` exposes. */
export function readyNodes(status: ClusterStatus): number {
  return status.machines.filter((m) => m.node?.ready === 'True').length;
}

/** Images in the media dir a host can be provisioned with: regular files at its top, no checksums or hidden files. */
function mediaImages(mediaDir: string): { name: string; size: number }[] {
  const images: { name: string; size: number }[] = [];
  for (const entry of readdirSync(mediaDir, { withFileTypes: true })) {
    if (!entry.isFile() || entry.name.startsWith('.') || entry.name.endsWith('.sha256')) continue;
    try {
      images.push({ name: entry.name, size: statSync(path.join(mediaDir, entry.name)).size });
    } catch {}
  }
  return images.sort((a, b) => a.name.localeCompare(b.name));
}

async function countInternalErrors(res: ServerResponse, run: () => Promise<void> | void): Promise<void> {
  res.once('finish', () => {
    if (res.statusCode >= 500) countError('internal error');
  });
  await run();
}

function bearerMatches(req: IncomingMessage, token: string): boolean {
  const match = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  return match !== null && sameSecret(match[1]!, token);
}

function isHttps(req: IncomingMessage): boolean {
  // Behind a TLS-terminating proxy the cookie must say Secure; the proxy says so in X-Forwarded-Proto.
  return req.headers['x-forwarded-proto'] === 'https';
}

async function readSmallJson(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_LOGIN_BODY) return undefined;
    chunks.push(chunk as Buffer);
  }
  try {
    const value: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    return value && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    ...SECURITY_HEADERS,
  });
  res.end(text);
}
