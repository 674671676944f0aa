import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { BmcPaths, isOptionalResourcePath, renderResources, type ServerHardware } from './bmc-resources.ts';
import type { ServerState, SlotState } from './bmc-state.ts';
import type { FaultInjector, FaultOperation } from './faults.ts';
import type { AsyncOperation } from './profiles.ts';

type Json = Record<string, unknown>;

/** An answer the emulated BMC gives: status, optional body and headers. */
interface Reply {
  status: number;
  body?: Json;
  headers?: Record<string, string>;
}

class RedfishFailure extends Error {
  readonly reply: Reply;
  constructor(status: number, messageId: string, message: string, relatedProperties: string[] = []) {
    super(message);
    this.reply = { status, body: errorBody(messageId, message, relatedProperties) };
  }
}

function errorBody(messageId: string, message: string, relatedProperties: string[] = []): Json {
  return {
    error: {
      code: messageId.startsWith('Base.') ? messageId : 'Base.1.8.GeneralError',
      message,
      '@Message.ExtendedInfo': [
        { MessageId: messageId, Message: message, Severity: 'Warning', RelatedProperties: relatedProperties },
      ],
    },
  };
}

const MAX_SESSIONS = 16;

export interface BmcCounters {
  sessionsCreated: number;
  sessionsDeleted: number;
  requests: number;
}

/**
 * One emulated BMC on its own loopback port: Redfish resources, session and Basic auth, ETag/If-Match,
 * actions, task monitors, the vendor's quirks and the injected faults.
 */
export class EmulatedBmc {
  readonly paths: BmcPaths;
  readonly counters: BmcCounters = { sessionsCreated: 0, sessionsDeleted: 0, requests: 0 };
  private readonly state: ServerState;
  private readonly hardware: ServerHardware;
  private readonly username: string;
  private readonly password: string;
  private readonly faults: FaultInjector;
  private readonly sessions = new Map<string, string>(); // token -> session id
  private readonly tasks = new Map<string, { done: boolean; reply?: Reply }>();
  private readonly held = new Set<http.ServerResponse>();
  private server: http.Server | undefined;
  private readonly retryAfter: string;

  constructor(o: {
    index: number;
    state: ServerState;
    hardware: ServerHardware;
    username: string;
    password: string;
    faults: FaultInjector;
    taskRetryAfterSeconds?: number;
  }) {
    this.state = o.state;
    this.hardware = o.hardware;
    this.username = o.username;
    this.password = o.password;
    this.faults = o.faults;
    this.retryAfter = String(o.taskRetryAfterSeconds ?? 1);
    this.paths = new BmcPaths(o.state.profile, o.index);
  }

  get activeSessions(): number {
    return this.sessions.size;
  }

  /** Listens on HTTP, or HTTPS with `tls` (the lab's certificate). */
  async listen(host: string, port: number, tls?: { key: string; cert: string }): Promise<number> {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
      this.handle(req, res).catch((error: unknown) => {
        send(res, { status: 500, body: errorBody('Base.1.8.InternalError', String(error)) });
      });
    };
    const server = tls
      ? https.createServer({ key: tls.key, cert: tls.cert }, handler)
      : http.createServer(handler);
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    return (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const res of this.held) res.destroy();
    this.held.clear();
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    this.counters.requests++;
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://bmc');
    const path = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, '') : url.pathname;
    const raw = await readBody(req);
    let body: Json | undefined;
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw) as Json;
      } catch {
        return send(res, {
          status: 400,
          body: errorBody('Base.1.8.MalformedJSON', 'The request body is not valid JSON.'),
        });
      }
    }

    const operation = this.operationOf(method, path, body);
    const token = header(req, 'x-auth-token');
    if (!this.isPublic(method, path) && !this.authorized(req)) {
      return send(res, {
        status: 401,
        headers: { 'WWW-Authenticate': 'Basic realm="BMC"' },
        body: errorBody(
          'Base.1.8.NoValidSession',
          'There is no valid session established with the implementation.',
        ),
      });
    }
    // Requests that need no credentials cannot be refused as unauthorized.
    const fault = operation
      ? this.faults.take(operation, this.isPublic(method, path) ? ['unauthorized'] : [])
      : undefined;
    if (fault === 'timeout') {
      // Never answered: the client's own timeout has to fire.
      this.held.add(res);
      res.on('close', () => this.held.delete(res));
      return;
    }
    if (fault === 'server-error') {
      return send(res, {
        status: 500,
        body: errorBody('Base.1.8.InternalError', 'Internal error (injected fault).'),
      });
    }
    if (fault === 'busy') {
      return send(res, {
        status: 409,
        body: errorBody(
          'Base.1.8.ResourceInUse',
          'The BMC is busy with another operation; try again later (injected fault).',
        ),
      });
    }
    if (fault === 'unauthorized') {
      if (token) this.sessions.delete(token);
      return send(res, {
        status: 401,
        body: errorBody('Base.1.8.NoValidSession', 'The session expired (injected fault).'),
      });
    }

    try {
      send(res, await this.route(method, path, req, body, fault === 'stale-inserted'));
    } catch (error) {
      if (error instanceof RedfishFailure) return send(res, error.reply);
      throw error;
    }
  }

  private isPublic(method: string, path: string): boolean {
    if (
      method === 'GET' &&
      (path === '/redfish' || path === this.paths.root || path === `${this.paths.root}/odata`)
    )
      return true;
    return method === 'POST' && path === this.paths.sessions;
  }

  private authorized(req: http.IncomingMessage): boolean {
    const token = header(req, 'x-auth-token');
    if (token) return this.sessions.has(token);
    const basic = /^Basic (.+)$/i.exec(header(req, 'authorization') ?? '')?.[1];
    if (!basic) return false;
    const decoded = Buffer.from(basic, 'base64').toString('utf8');
    return sameSecret(decoded, `${this.username}:${this.password}`);
  }

  private operationOf(
    method: string,
    path: string,
    body: Json | undefined,
  ): Exclude<FaultOperation, 'any'> | undefined {
    if (method === 'GET') return 'get';
    if (method === 'POST' && path === this.paths.sessions) return 'login';
    if (method === 'POST' && path.endsWith('/Actions/ComputerSystem.Reset')) return 'reset';
    if (method === 'POST' && path.endsWith('/Actions/VirtualMedia.InsertMedia')) return 'insert-media';
    if (method === 'POST' && path.endsWith('/Actions/VirtualMedia.EjectMedia')) return 'eject-media';
    if (method === 'PATCH' && path === this.paths.system) return 'boot-override';
    if (method === 'PATCH' && path.startsWith(`${this.paths.virtualMedia}/`))
      return body?.Image ? 'insert-media' : 'eject-media';
    return undefined;
  }

  private async route(
    method: string,
    path: string,
    req: http.IncomingMessage,
    body: Json | undefined,
    stale: boolean,
  ): Promise<Reply> {
    const p = this.paths;
    if (method === 'GET' && path === '/redfish') return { status: 200, body: { v1: `${p.root}/` } };
    if (path.startsWith(`${p.taskMonitors}/`) && method === 'GET') return this.taskMonitor(path);
    if (method === 'POST' && path === p.sessions) return this.login(body);
    if (method === 'DELETE' && path.startsWith(`${p.sessions}/`)) return this.logout(path);

    const resources = renderResources(p, this.state, this.hardware, [...this.sessions.values()]);
    const resource = resources.get(path);
    if (method === 'GET') {
      const failing = this.state.profile.failingResources.find((r) => isOptionalResourcePath(p, r, path));
      if (resource && failing)
        throw new RedfishFailure(500, 'Base.1.8.InternalError', `The ${failing} service is not responding.`);
      if (!resource)
        throw new RedfishFailure(
          404,
          'Base.1.8.ResourceMissingAtURI',
          `The resource at ${path} was not found.`,
        );
      const slot = this.slotAt(path);
      const allow = path === p.system || (slot && !slot.profile.actions) ? 'GET, PATCH' : 'GET';
      const etag = this.etagOf(resource);
      return {
        status: 200,
        body: { ...resource, '@odata.etag': etag },
        headers: this.state.profile.sendsAllowHeader ? { ETag: etag, Allow: allow } : { ETag: etag },
      };
    }

    if (method === 'POST' && path === `${p.system}/Actions/ComputerSystem.Reset`) {
      return this.maybeAsync('reset', () => this.reset(body));
    }
    const actionSlot = this.slotAt(path.replace(/\/Actions\/VirtualMedia\.(InsertMedia|EjectMedia)$/, ''));
    if (
      method === 'POST' &&
      actionSlot?.profile.actions &&
      path.endsWith('/Actions/VirtualMedia.InsertMedia')
    ) {
      return this.maybeAsync('insert-media', () => this.insertAction(actionSlot, body));
    }
    if (
      method === 'POST' &&
      actionSlot?.profile.actions &&
      path.endsWith('/Actions/VirtualMedia.EjectMedia')
    ) {
      return this.ejectAction(actionSlot, body, stale);
    }
    if (method === 'PATCH' && resource) {
      this.checkIfMatch(req, resource);
      if (path === p.system) return this.maybeAsync('boot-override', () => this.patchBoot(body));
      const slot = this.slotAt(path);
      if (slot && !slot.profile.actions) return this.patchSlot(slot, body, stale);
    }
    if (resource || actionSlot)
      throw new RedfishFailure(405, 'Base.1.8.ActionNotSupported', `${method} is not allowed on ${path}.`);
    throw new RedfishFailure(404, 'Base.1.8.ResourceMissingAtURI', `The resource at ${path} was not found.`);
  }

  private slotAt(path: string): SlotState | undefined {
    return this.state.slots.find((s) => this.paths.slot(s) === path);
  }

  private etagOf(resource: Json): string {
    const hash = createHash('sha1').update(JSON.stringify(resource)).digest('hex').slice(0, 16);
    return this.state.profile.etag === 'weak' ? `W/"${hash}"` : `"${hash}"`;
  }

  private checkIfMatch(req: http.IncomingMessage, resource: Json): void {
    const ifMatch = header(req, 'if-match');
    if (ifMatch === undefined) {
      if (this.state.profile.requireIfMatch) {
        throw new RedfishFailure(
          428,
          'Base.1.8.PreconditionRequired',
          'An If-Match header is required for PATCH.',
        );
      }
      return;
    }
    const current = this.etagOf(resource).replace(/^W\//, '');
    const offered = ifMatch.split(',').map((v) => v.trim());
    const matches = offered.some((v) => {
      if (v === '*') return true;
      if (v.startsWith('W/') && this.state.profile.ifMatchLiteral) return false;
      return v.replace(/^W\//, '') === current;
    });
    if (!matches)
      throw new RedfishFailure(
        412,
        'Base.1.8.PreconditionFailed',
        'The ETag supplied did not match the current ETag.',
      );
  }

  private login(body: Json | undefined): Reply {
    const user = typeof body?.UserName === 'string' ? body.UserName : '';
    const password = typeof body?.Password === 'string' ? body.Password : '';
    if (!sameSecret(`${user}:${password}`, `${this.username}:${this.password}`)) {
      throw new RedfishFailure(401, 'Base.1.8.NoValidSession', 'Invalid user name or password.');
    }
    if (this.sessions.size >= MAX_SESSIONS) {
      throw new RedfishFailure(
        503,
        'Base.1.8.SessionLimitExceeded',
        'The session establishment failed: too many sessions.',
      );
    }
    const token = randomBytes(24).toString('hex');
    const id = randomBytes(6).toString('hex');
    this.sessions.set(token, id);
    this.counters.sessionsCreated++;
    const location = `${this.paths.sessions}/${id}`;
    return {
      status: 201,
      headers: { 'X-Auth-Token': token, Location: location },
      body: { '@odata.id': location, Id: id, Name: 'User Session', UserName: user },
    };
  }

  private logout(path: string): Reply {
    const id = path.split('/').pop();
    for (const [token, sessionId] of this.sessions) {
      if (sessionId === id) {
        this.sessions.delete(token);
        this.counters.sessionsDeleted++;
        return { status: 204 };
      }
    }
    throw new RedfishFailure(404, 'Base.1.8.ResourceMissingAtURI', `No session ${id}.`);
  }

  /** Runs an operation now, or as a task behind a 202 + task monitor when the profile does so. */
  private async maybeAsync(operation: AsyncOperation, run: () => Promise<Reply>): Promise<Reply> {
    if (!this.state.profile.asyncOperations.includes(operation)) return run();
    const id = randomBytes(6).toString('hex');
    const task: { done: boolean; reply?: Reply } = { done: false };
    this.tasks.set(id, task);
    run().then(
      (reply) => Object.assign(task, { done: true, reply }),
      (error: unknown) =>
        Object.assign(task, {
          done: true,
          reply:
            error instanceof RedfishFailure
              ? error.reply
              : { status: 500, body: errorBody('Base.1.8.InternalError', String(error)) },
        }),
    );
    const monitor = `${this.paths.taskMonitors}/${id}`;
    return {
      status: 202,
      headers: { Location: monitor, 'Retry-After': this.retryAfter },
      body: { '@odata.id': monitor, Id: id, TaskState: 'Running' },
    };
  }

  private taskMonitor(path: string): Reply {
    const id = path.split('/').pop() ?? '';
    const task = this.tasks.get(id);
    if (!task) throw new RedfishFailure(404, 'Base.1.8.ResourceMissingAtURI', `No task ${id}.`);
    if (!task.done) {
      return {
        status: 202,
        headers: { Location: path, 'Retry-After': this.retryAfter },
        body: { Id: id, TaskState: 'Running' },
      };
    }
    this.tasks.delete(id);
    const reply = task.reply ?? { status: 204 };
    if (reply.status < 300)
      return { status: 200, body: { Id: id, TaskState: 'Completed', TaskStatus: 'OK' } };
    return reply;
  }

  private async reset(body: Json | undefined): Promise<Reply> {
    const type = body?.ResetType;
    const profile = this.state.profile;
    if (typeof type !== 'string' || !profile.resetTypes.includes(type)) {
      throw new RedfishFailure(
        400,
        'Base.1.8.ActionParameterValueNotInList',
        `The value ${JSON.stringify(type)} for ResetType is not in the list of acceptable values (${profile.resetTypes.join(', ')}).`,
      );
    }
    const power = this.state.power;
    const alreadyThere =
      ((type === 'On' || type === 'ForceOn') && power === 'On') ||
      ((type === 'ForceOff' || type === 'GracefulShutdown') && power === 'Off') ||
      ((type === 'ForceRestart' || type === 'GracefulRestart') && power === 'Off');
    if (alreadyThere) {
      if (profile.alreadyInStateStatus === 204) return { status: 204 };
      throw new RedfishFailure(
        profile.alreadyInStateStatus,
        profile.name === 'hpe' ? 'iLO.2.15.InvalidOperationForSystemState' : 'Base.1.8.ActionNotSupported',
        `The system is already ${power}.`,
      );
    }
    if (type === 'On' || type === 'ForceOn') await this.state.powerOn();
    else if (type === 'ForceOff') await this.state.powerOff('force');
    else if (type === 'GracefulShutdown') await this.state.powerOff('graceful');
    else if (type === 'ForceRestart' || type === 'GracefulRestart') await this.state.restart();
    else if (type === 'PushPowerButton')
      await (power === 'On' ? this.state.powerOff('graceful') : this.state.powerOn());
    return { status: 204 };
  }

  private async insertAction(slot: SlotState, body: Json | undefined): Promise<Reply> {
    const profile = this.state.profile;
    const keys = Object.keys(body ?? {});
    for (const key of profile.insertRejects) {
      if (keys.includes(key)) {
        throw new RedfishFailure(
          400,
          'Base.1.8.PropertyUnknown',
          `The property ${key} is not in the list of valid properties for the resource.`,
        );
      }
    }
    for (const key of profile.insertRequires) {
      if (!keys.includes(key)) {
        // Supermicro's exact answer (sushy matches on this code and RelatedProperties).
        throw new RedfishFailure(
          400,
          'Base.1.5.ActionParameterMissing',
          `The action InsertMedia requires the parameter ${key} to be present in the request body.`,
          [`#/${key}`],
        );
      }
    }
    const protocol = body?.TransferProtocolType;
    if (protocol !== undefined && protocol !== 'HTTP' && protocol !== 'HTTPS') {
      throw new RedfishFailure(
        400,
        'Base.1.8.ActionParameterValueNotInList',
        `TransferProtocolType ${String(protocol)} is not supported.`,
      );
    }
    return this.insert(slot, body?.Image, body?.WriteProtected !== false, body?.Inserted);
  }

  private async insert(
    slot: SlotState,
    image: unknown,
    writeProtected: boolean,
    inserted: unknown,
  ): Promise<Reply> {
    if (typeof image !== 'string' || !/^https?:\/\/[^\s]+$/.test(image)) {
      throw new RedfishFailure(
        400,
        'Base.1.8.ActionParameterValueFormatError',
        `The Image value ${JSON.stringify(image)} is not an http(s) URL.`,
      );
    }
    if (this.state.profile.rejectsQueryInImageUrl && /[?=]/.test(image)) {
      throw new RedfishFailure(
        400,
        'Base.1.8.ActionParameterValueFormatError',
        'The Image URL must not contain "?" or "=".',
      );
    }
    if (inserted === false)
      throw new RedfishFailure(
        400,
        'Base.1.8.PropertyValueConflict',
        'Inserted must be true to insert media.',
      );
    if (slot.profile.refusesMount) {
      throw new RedfishFailure(
        400,
        'Base.1.8.ActionNotSupported',
        `Slot ${slot.profile.id} cannot mount remote images.`,
      );
    }
    if (slot.inserted || slot.stale) {
      throw new RedfishFailure(
        400,
        'IDRAC.2.8.VRM0012',
        'The Virtual Media device is already in use; eject it first.',
      );
    }
    try {
      await this.state.insert(slot, image, writeProtected);
    } catch (error) {
      throw new RedfishFailure(
        500,
        'Base.1.8.GeneralError',
        `Unable to mount the remote image: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    return { status: 204 };
  }

  private ejectAction(slot: SlotState, body: Json | undefined, stale: boolean): Reply {
    const profile = this.state.profile;
    if (profile.ejectNeedsBody && body === undefined) {
      throw new RedfishFailure(
        415,
        'Base.1.8.UnsupportedMediaType',
        'The request body must be a JSON object.',
      );
    }
    if (!slot.inserted && !slot.stale) {
      if (profile.ejectEmptyFails)
        throw new RedfishFailure(400, 'iLO.2.15.UnableToEjectMedia', 'No media is inserted.');
      return { status: 204 };
    }
    this.state.eject(slot, stale || (profile.staleInsertedAfterEject && slot.inserted));
    return { status: 204 };
  }

  private async patchSlot(slot: SlotState, body: Json | undefined, stale: boolean): Promise<Reply> {
    if (body?.Image === null || body?.Inserted === false) {
      if (slot.inserted || slot.stale) this.state.eject(slot, stale);
      return { status: 204 };
    }
    if (body?.Inserted !== true) {
      throw new RedfishFailure(
        400,
        'Base.1.8.PropertyMissing',
        'Inserted must be true to mount an image with PATCH.',
      );
    }
    return this.insert(slot, body.Image, body.WriteProtected !== false, true);
  }

  private async patchBoot(body: Json | undefined): Promise<Reply> {
    const keys = Object.keys(body ?? {});
    const unknown = keys.filter((k) => k !== 'Boot');
    if (unknown.length)
      throw new RedfishFailure(
        400,
        'Base.1.8.PropertyNotWritable',
        `The property ${unknown[0]} is read only.`,
      );
    const boot = body?.Boot as Json | undefined;
    if (!boot || typeof boot !== 'object')
      throw new RedfishFailure(400, 'Base.1.8.PropertyMissing', 'Boot is required.');
    const profile = this.state.profile;
    const target = boot.BootSourceOverrideTarget;
    const enabled = boot.BootSourceOverrideEnabled;
    const mode = boot.BootSourceOverrideMode;
    if (target !== undefined && (typeof target !== 'string' || !profile.bootTargets.includes(target))) {
      throw new RedfishFailure(
        400,
        'Base.1.8.PropertyValueNotInList',
        `The value ${JSON.stringify(target)} for BootSourceOverrideTarget is not in the list of acceptable values.`,
      );
    }
    if (enabled !== undefined && !['Once', 'Continuous', 'Disabled'].includes(String(enabled))) {
      throw new RedfishFailure(
        400,
        'Base.1.8.PropertyValueNotInList',
        `The value ${JSON.stringify(enabled)} for BootSourceOverrideEnabled is not in the list of acceptable values.`,
      );
    }
    if (mode !== undefined && mode !== 'UEFI' && mode !== 'Legacy') {
      throw new RedfishFailure(
        400,
        'Base.1.8.PropertyValueNotInList',
        `The value ${JSON.stringify(mode)} for BootSourceOverrideMode is not in the list of acceptable values.`,
      );
    }
    if (profile.bootPatchNeedsEnabled && target !== undefined && enabled === undefined) {
      throw new RedfishFailure(
        400,
        'Base.1.8.PropertyMissing',
        'BootSourceOverrideEnabled is required when BootSourceOverrideTarget is set.',
      );
    }
    if (enabled === 'Once' && profile.bootOnce === 'refused') {
      throw new RedfishFailure(
        400,
        'Base.1.8.PropertyValueNotInList',
        'The value "Once" for BootSourceOverrideEnabled is not in the list of acceptable values.',
      );
    }
    const next = { ...this.state.boot };
    if (typeof target === 'string') next.target = target;
    if (typeof enabled === 'string')
      next.enabled = enabled === 'Once' && profile.bootOnce === 'reads-continuous' ? 'Continuous' : enabled;
    if (typeof mode === 'string') next.mode = mode;
    this.state.boot = next;
    return { status: 204 };
  }
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: http.ServerResponse, reply: Reply): void {
  if (res.headersSent || res.destroyed) return;
  const payload = reply.body ? JSON.stringify(reply.body) : '';
  const headers: Record<string, string | number> = { 'OData-Version': '4.0', ...reply.headers };
  if (payload) {
    headers['Content-Type'] = 'application/json; charset=utf-8';
    headers['Content-Length'] = Buffer.byteLength(payload);
  }
  res.writeHead(reply.status, headers);
  res.end(payload);
}
