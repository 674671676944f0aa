import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InputError, OperationError } from '../common/diagnostics.ts';
import { HostActions } from './actions.ts';
import { createHandler, refuseMalformedTargets } from './api.ts';
import { ClusterManager } from './cluster-manager.ts';
import { mountConsole } from './console/index.ts';
import { CredentialsFile } from './credentials.ts';
import { type BmcDriver, redfishDriver } from './driver.ts';
import { writeFileAtomic } from './files.ts';
import { HostMedia, installerIsoServable } from './host-media.ts';
import { InventoryParser } from './inventory-parser.ts';
import { DEFAULT_TIMING, type Timing } from './lifecycle.ts';
import { formatLogLine, type LogFormat, type LogRecord } from './log.ts';
import { MediaServer } from './media.ts';
import { Reconciler } from './reconciler.ts';
import { checkAndBackUpDatabase, prepareStateDir, repairDatabase, takeLock, tighten } from './state-dir.ts';
import { statePaths } from './state-paths.ts';
import { Store } from './store.ts';
import { type EventSink, Transitions } from './transitions.ts';

export interface ServiceOptions {
  stateDir: string;
  mediaDir: string;
  host: string;
  port: number;
  /** Base URL BMCs use to reach this service (virtual media); default `http://<host>:<port>`. */
  advertiseUrl?: string;
  /** Base URL the hosts being installed use (image download, callbacks); default the advertise URL. */
  hostUrl?: string;
  driver?: BmcDriver;
  timing?: Partial<Timing>;
  concurrency?: number;
  /** HTTP limits against slow or too many clients (defaults in DEFAULT_HTTP_LIMITS). */
  httpLimits?: Partial<HttpLimits>;
  /** Serve /metrics without the API token (default: the token is needed, as for the API). */
  metricsPublic?: boolean;
  /** Where log lines are printed (never with secrets, never with control characters); default stdout. */
  log?: (line: string) => void;
  /** `text` (default) or `json`: one JSON object per line, for log collectors. */
  logFormat?: LogFormat;
  /** Restore the newest good backup of a damaged database first (`serve --repair`), under the lock. */
  repair?: boolean;
}

export interface HttpLimits {
  /** Open connections at most; more are closed at once (BMCs, hosts and users together). */
  maxConnections: number;
  /** A request's headers must arrive within this time. */
  headersTimeoutMs: number;
  /** A whole request (headers and body) must arrive within this time. */
  requestTimeoutMs: number;
  /** A connection with no traffic for this long is closed. */
  idleTimeoutMs: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  maxConnections: 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  idleTimeoutMs: 120_000,
};

export interface RunningService {
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startService(o: ServiceOptions): Promise<RunningService> {
  prepareStateDir(o.stateDir);
  if (!existsSync(o.mediaDir) || !statSync(o.mediaDir).isDirectory()) {
    throw new InputError(`media dir ${o.mediaDir} does not exist or is not a directory`);
  }
  const write = o.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const logRecord = (record: LogRecord) => write(formatLogLine(o.logFormat ?? 'text', record));
  const paths = statePaths(o.stateDir);
  const releaseLock = takeLock(paths.lock);
  try {
    if (o.repair) logRecord({ level: 'info', message: repairDatabase(o.stateDir) });
    checkAndBackUpDatabase(o.stateDir);
  } catch (error) {
    releaseLock();
    throw error;
  }
  const log = (message: string) => logRecord({ level: 'error', message });
  const sink: EventSink = (host, level, reason, message) =>
    logRecord({ level: level === 'Warning' ? 'warn' : 'info', host, reason, message });
  const store = new Store(paths.database);
  // SQLite creates its files with the process umask: make them private like the rest.
  tighten(o.stateDir);
  const credentials = new CredentialsFile(paths.credentials);
  const apiToken = loadOrCreateToken(paths.apiToken);
  const transitions = new Transitions(store, sink);
  const timing: Timing = { ...DEFAULT_TIMING, ...o.timing };
  const media = new MediaServer(o.mediaDir, (name) =>
    installerIsoServable(name, (iso) => store.hostWithInstallerIso(iso)),
  );
  let advertiseUrl = o.advertiseUrl ?? '';
  const hostUrl = () => o.hostUrl ?? advertiseUrl;
  // The site's cluster: its power cycles go through the same action as a user's (`hosts power --reboot`).
  const starting = () => {
    throw new Error('the service is starting');
  };
  let powerCycle: (host: string) => void = starting;
  let provision: (host: string, image: string) => void = starting;
  const cluster = new ClusterManager({
    store,
    stateDir: o.stateDir,
    powerCycle: (host) => powerCycle(host),
    provision: (host, image) => provision(host, image),
    event: (host, level, reason, message) => transitions.event(host, level, reason, message),
  });
  const hostMedia = new HostMedia({
    stateDir: o.stateDir,
    mediaDir: o.mediaDir,
    media,
    hostUrl,
    clusterKeys: (host) => cluster.configDriveKeys(host),
  });
  const reconciler = new Reconciler({
    hostMedia,
    store,
    transitions,
    credentials,
    driver: o.driver ?? redfishDriver(),
    timing,
    concurrency: o.concurrency ?? 16,
    log,
  });

  const actions = new HostActions({
    store,
    transitions,
    credentials,
    media,
    stateDir: o.stateDir,
    get advertiseUrl() {
      return advertiseUrl;
    },
    get hostUrl() {
      return hostUrl();
    },
    kick: () => reconciler.kick(),
  });
  powerCycle = (host) => void actions.power(host, 'reboot');
  // Cluster hosts always call back: the initializer's kubeconfig and RKE2's progress come that way.
  provision = (host, image) => void actions.provision(host, { image, consumer: 'cluster', callbacks: true });
  const inventoryParser = new InventoryParser();
  const site = mountConsole(
    createHandler({
      apiToken,
      actions,
      store,
      transitions,
      credentials,
      media,
      inventoryParser,
      cluster,
      onReportedFailure: (host, message) => {
        transitions.stepFailed(host, message, timing, { restartStep: 'power-off' });
        reconciler.kick();
      },
    }),
    {
      apiToken,
      store,
      mediaDir: o.mediaDir,
      metricsPublic: o.metricsPublic ?? false,
      cluster: { nodeColumns: (host) => cluster.nodeColumns(host), status: () => cluster.status() },
    },
  );
  const limits = { ...DEFAULT_HTTP_LIMITS, ...o.httpLimits };
  const server: Server = createServer(
    // Header and request timeouts are enforced by a periodic check: often enough for the limits to hold.
    { connectionsCheckingInterval: 1000 },
    refuseMalformedTargets(site.handler),
  );
  server.keepAliveTimeout = 5000;
  server.maxConnections = limits.maxConnections;
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.timeout = limits.idleTimeoutMs;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.port, o.host, () => resolve());
    });
  } catch (error) {
    store.close();
    releaseLock();
    throw new OperationError(`cannot listen on ${o.host}:${o.port}: ${(error as Error).message}`);
  }
  const port = (server.address() as AddressInfo).port;
  const hostInUrl = o.host.includes(':') ? `[${o.host}]` : o.host;
  const url = `http://${hostInUrl}:${port}`;
  advertiseUrl ||= url;
  reconciler.start();
  cluster.start();

  return {
    url,
    port,
    async close() {
      await reconciler.stop();
      await cluster.stop();
      site.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await inventoryParser.close();
      store.close();
      releaseLock();
    },
  };
}

/** The API token: generated at first start, kept in the state dir with mode 0600. */
function loadOrCreateToken(file: string): string {
  if (existsSync(file)) {
    const token = readFileSync(file, 'utf8').trim();
    if (token) return token;
  }
  const token = randomBytes(32).toString('base64url');
  writeFileAtomic(file, `${token}\n`, 0o600);
  return token;
}
