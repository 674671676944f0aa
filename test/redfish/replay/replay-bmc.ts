import { readdirSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { parse } from 'yaml';

/**
 * Replays a BMC from recorded answers (the fixtures next to this file, written from vendors' published
 * documentation and examples). It is deliberately not the lab's emulator: GETs return the recorded
 * resources; a scripted answer, matched by method and path in order, wins over the plain Redfish
 * defaults (PATCH merges, InsertMedia/EjectMedia/Reset change the state, sessions come and go), and may
 * change the recorded state when given. Every request is kept, so a test can check what the client sent.
 */

type Json = Record<string, unknown>;

export interface ScriptedAnswer {
  /** `METHOD /path`, exact. */
  request: string;
  status: number;
  body?: Json;
  headers?: Record<string, string>;
  /** How many times this answer is given (default 1). */
  times?: number;
  /** Resource changes applied when the answer is given: path -> properties (null removes the resource). */
  set?: Record<string, Json | null>;
}

/** One folder per vendor and firmware generation: `bmc.yaml` is the BMC's resource tree. */
export interface BmcRecording {
  vendor: string;
  firmware: string;
  source: string;
  /** Path -> body as the BMC answers a GET. `null` = answers 404. */
  resources: Record<string, Json | null>;
  /** Extra response headers per path (e.g. `Allow`, `ETag`). */
  headers?: Record<string, Record<string, string>>;
}

export interface ReplayCase {
  /** The behaviour this file models, in a sentence. */
  models: string;
  /** Where the shapes and the behaviour come from. */
  source: string;
  operation:
    | 'inspect'
    | 'insert-media'
    | 'eject-media'
    | 'boot-once'
    | 'boot-disk'
    | 'power-on'
    | 'power-off';
  /** The BMC address as a user would write it; the host part is replaced by the replay server. */
  address: string;
  image?: string;
  /** Changes to the recorded resources for this case only. */
  resources?: Record<string, Json | null>;
  headers?: Record<string, Record<string, string>>;
  answers?: ScriptedAnswer[];
  expect: {
    /** Every request other than GET, in order: `METHOD /path` plus the JSON body when there is one. */
    requests: string[];
    /** For a successful operation: fields the result must contain. */
    result?: unknown;
    /** For a failing operation: a pattern the error message must match. */
    error?: string;
    /** Patterns the client's warning events must match (each at least once). */
    warnings?: string[];
    /** Final state of resources: path -> properties they must have. */
    state?: Record<string, Json>;
  };
}

export interface LoadedCase {
  name: string;
  recording: BmcRecording;
  replay: ReplayCase;
}

/** Every `<vendor>/<firmware>/<case>.yaml` under `root`, with its folder's `bmc.yaml`. */
export function loadCases(root: string): LoadedCase[] {
  const out: LoadedCase[] = [];
  for (const vendor of readdirSync(root).sort()) {
    const vendorDir = path.join(root, vendor);
    if (!statSync(vendorDir).isDirectory()) continue;
    for (const firmware of readdirSync(vendorDir).sort()) {
      const dir = path.join(vendorDir, firmware);
      const recording = parse(readFileSync(path.join(dir, 'bmc.yaml'), 'utf8')) as BmcRecording;
      for (const file of readdirSync(dir).sort()) {
        if (!file.endsWith('.yaml') || file === 'bmc.yaml') continue;
        const replay = parse(readFileSync(path.join(dir, file), 'utf8')) as ReplayCase;
        out.push({ name: `${vendor}/${firmware}/${file.replace(/\.yaml$/, '')}`, recording, replay });
      }
    }
  }
  return out;
}

export interface RecordedRequest {
  method: string;
  path: string;
  body: Json | undefined;
  headers: http.IncomingHttpHeaders;
}

const SESSION_TOKEN = 'replay-session-token';

export class ReplayBmc {
  readonly requests: RecordedRequest[] = [];
  readonly resources: Map<string, Json | null>;
  private readonly headers: Record<string, Record<string, string>>;
  private readonly answers: (ScriptedAnswer & { left: number })[];
  private readonly sessionsPath: string;
  private server: http.Server | undefined;

  constructor(c: LoadedCase) {
    this.resources = new Map(
      Object.entries({ ...c.recording.resources, ...c.replay.resources }).map(([p, body]) => [
        p,
        body === null ? null : structuredClone(body),
      ]),
    );
    this.headers = { ...c.recording.headers, ...c.replay.headers };
    this.answers = (c.replay.answers ?? []).map((a) => ({ ...a, left: a.times ?? 1 }));
    const root = this.resources.get('/redfish/v1/') ?? this.resources.get('/redfish/v1');
    const links = root?.Links as { Sessions?: { '@odata.id'?: string } } | undefined;
    this.sessionsPath = links?.Sessions?.['@odata.id'] ?? '/redfish/v1/SessionService/Sessions';
  }

  async listen(): Promise<string> {
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.answer(req, Buffer.concat(chunks).toString('utf8'), res));
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }

  private answer(req: http.IncomingMessage, raw: string, res: http.ServerResponse) {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://bmc');
    const requestPath = url.pathname;
    let body: Json | undefined;
    try {
      body = raw ? (JSON.parse(raw) as Json) : undefined;
    } catch {
      body = { unparsable: raw };
    }
    this.requests.push({ method, path: requestPath, body, headers: req.headers });
    const reply = (status: number, replyBody?: Json, headers: Record<string, string> = {}) => {
      const text = replyBody ? JSON.stringify(replyBody) : '';
      res.writeHead(status, {
        ...(text && { 'Content-Type': 'application/json' }),
        'Content-Length': String(Buffer.byteLength(text)),
        ...headers,
      });
      res.end(text);
    };

    const scripted = this.answers.find((a) => a.left > 0 && a.request === `${method} ${requestPath}`);
    if (scripted) {
      scripted.left--;
      for (const [p, change] of Object.entries(scripted.set ?? {})) this.apply(p, change);
      return reply(scripted.status, scripted.body, scripted.headers);
    }

    const isRoot = requestPath === '/redfish/v1' || requestPath === '/redfish/v1/';
    const isLogin = method === 'POST' && requestPath === this.sessionsPath;
    if (!isRoot && !isLogin && !this.authorized(req))
      return reply(401, error('Base.1.0.NoValidSession', 'No session.'));
    if (isLogin) {
      return reply(
        201,
        { '@odata.id': `${this.sessionsPath}/1`, Id: '1' },
        {
          'X-Auth-Token': SESSION_TOKEN,
          Location: `${this.sessionsPath}/1`,
        },
      );
    }
    if (method === 'DELETE' && requestPath.startsWith(`${this.sessionsPath}/`)) return reply(204);

    const resource = this.lookup(requestPath);
    if (method === 'GET') {
      if (!resource) return reply(404, error('Base.1.0.ResourceMissingAtURI', `${requestPath} not found`));
      return reply(200, resource, this.headers[requestPath] ?? this.headers[requestPath.replace(/\/$/, '')]);
    }
    if (method === 'PATCH' && resource) {
      this.apply(requestPath, body ?? {});
      return reply(204);
    }
    if (method === 'POST') {
      const action =
        /^(.*?)\/?Actions\/(VirtualMedia\.InsertMedia|VirtualMedia\.EjectMedia|ComputerSystem\.Reset)\/?$/.exec(
          requestPath,
        );
      if (action) return reply(this.defaultAction(action[1]!, action[2]!, body));
    }
    return reply(405, error('Base.1.0.ActionNotSupported', `${method} ${requestPath} is not supported`));
  }

  /** What a plain Redfish service does for the standard actions. */
  private defaultAction(owner: string, action: string, body: Json | undefined): number {
    if (action === 'VirtualMedia.InsertMedia') {
      this.apply(owner, { Image: body?.Image, Inserted: true, ConnectedVia: 'URI' });
    } else if (action === 'VirtualMedia.EjectMedia') {
      this.apply(owner, { Image: null, Inserted: false, ConnectedVia: 'NotConnected' });
    } else {
      const type = String(body?.ResetType);
      const on = ['On', 'ForceOn', 'ForceRestart', 'GracefulRestart', 'PowerCycle'].includes(type);
      this.apply(owner, { PowerState: on ? 'On' : 'Off' });
    }
    return 204;
  }

  /** The recorded key for a path, with or without its trailing slash (iLO writes links with one). */
  private keyOf(p: string): string {
    const bare = p.replace(/\/$/, '');
    return [p, bare, `${bare}/`].find((k) => this.resources.has(k)) ?? p;
  }

  private lookup(p: string): Json | undefined {
    return this.resources.get(this.keyOf(p)) ?? undefined;
  }

  private apply(p: string, change: Json | null): void {
    const key = this.keyOf(p);
    if (change === null) {
      this.resources.set(key, null);
      return;
    }
    this.resources.set(key, merge(this.lookup(key) ?? {}, change));
  }

  private authorized(req: http.IncomingMessage): boolean {
    return req.headers['x-auth-token'] === SESSION_TOKEN || req.headers.authorization !== undefined;
  }
}

function merge(target: Json, change: Json): Json {
  const out: Json = { ...target };
  for (const [key, value] of Object.entries(change)) {
    const current = out[key];
    out[key] =
      value && typeof value === 'object' && !Array.isArray(value) && current && typeof current === 'object'
        ? merge(current as Json, value as Json)
        : value;
  }
  return out;
}

function error(id: string, message: string): Json {
  return { error: { code: id, message, '@Message.ExtendedInfo': [{ MessageId: id, Message: message }] } };
}

/** A request as the expectations spell it: `METHOD /path` and the JSON body, if any (never a password). */
export function describeRequest(r: RecordedRequest, sessionsPath: string): string {
  if (r.method === 'POST' && r.path === sessionsPath) return `${r.method} ${r.path}`;
  return r.body === undefined ? `${r.method} ${r.path}` : `${r.method} ${r.path} ${JSON.stringify(r.body)}`;
}
