import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OperationError } from '../common/diagnostics.ts';
import { mountConsole } from '../console/index.ts';
import { HostActions } from './actions.ts';
import { createHandler } from './api.ts';
import { CredentialsFile } from './credentials.ts';
import { type BmcDriver, redfishDriver } from './driver.ts';
import { writeFileAtomic } from './files.ts';
import { HostMedia } from './host-media.ts';
import { DEFAULT_TIMING, type Timing } from './lifecycle.ts';
import { MediaServer } from './media.ts';
import { Reconciler } from './reconciler.ts';
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
  /** Serve /metrics without the API token (default: the token is needed, as for the API). */
  metricsPublic?: boolean;
  /** Where events are printed (never with secrets); default stdout. */
  log?: (line: string) => void;
}

export interface RunningService {
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startService(o: ServiceOptions): Promise<RunningService> {
  mkdirSync(o.stateDir, { recursive: true, mode: 0o700 });
  if (!existsSync(o.mediaDir) || !statSync(o.mediaDir).isDirectory()) {
    throw new OperationError(`media dir ${o.mediaDir} does not exist or is not a directory`);
  }
  const paths = statePaths(o.stateDir);
  const releaseLock = takeLock(paths.lock);
  const log = o.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const sink: EventSink = (host, level, reason, message) =>
    log(`${new Date().toISOString()} ${level === 'Warning' ? 'WARN' : 'info'} ${host} ${reason}: ${message}`);
  const store = new Store(paths.database);
  const credentials = new CredentialsFile(paths.credentials);
  const apiToken = loadOrCreateToken(paths.apiToken);
  const transitions = new Transitions(store, sink);
  const timing: Timing = { ...DEFAULT_TIMING, ...o.timing };
  const media = new MediaServer(o.mediaDir);
  let advertiseUrl = o.advertiseUrl ?? '';
  const hostUrl = () => o.hostUrl ?? advertiseUrl;
  const hostMedia = new HostMedia({ stateDir: o.stateDir, mediaDir: o.mediaDir, media, hostUrl });
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
  const site = mountConsole(
    createHandler({
      apiToken,
      actions,
      store,
      transitions,
      credentials,
      media,
      onReportedFailure: (host, message) => {
        transitions.stepFailed(host, message, timing, { restartStep: 'power-off' });
        reconciler.kick();
      },
    }),
    { apiToken, store, mediaDir: o.mediaDir, metricsPublic: o.metricsPublic ?? false },
  );
  const server: Server = createServer(site.handler);
  server.keepAliveTimeout = 5000;
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

  return {
    url,
    port,
    async close() {
      await reconciler.stop();
      site.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
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

/** One service per state dir: two reconcilers would drive the same BMCs twice. A dead owner's lock is taken over. */
function takeLock(file: string): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => rmSync(file, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = Number(readFileSync(file, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
        throw new OperationError(`another outpost service (pid ${pid}) is using this state dir (${file})`);
      }
      rmSync(file, { force: true });
    }
  }
  throw new OperationError(`cannot take the lock ${file}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
