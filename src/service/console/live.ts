import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Store } from '../store.ts';
import type { HostRecord } from '../types.ts';
import type { HostRow } from './rows.ts';

/** How long changes are gathered before they are pushed: one message for a burst, not one per write. */
const BATCH_MS = 100;
/** A comment line this often keeps proxies from closing an idle stream and notices ended sessions. */
const HEARTBEAT_MS = 15_000;
/** A browser that stopped reading gets its stream closed (it reconnects and gets a snapshot) instead of memory. */
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;

interface Client {
  res: ServerResponse;
  stillAllowed: () => boolean;
}

/**
 * Server-Sent Events for the console: a `snapshot` of every host when a browser connects (or reconnects), then
 * `hosts` messages with the rows of the hosts that changed and the names of those removed. Changes come from
 * the store's watch hook; rows are read again after the writing transaction is over, so what is pushed is
 * what was committed.
 */
export class LiveUpdates {
  private readonly store: Store;
  private readonly clients = new Set<Client>();
  private readonly pending = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private readonly unwatch: () => void;
  private readonly rowOf: (host: HostRecord) => HostRow;

  /** `rowOf` builds a host's row; a host's events (NodeReady, NodeNotReady, ...) re-send its row too. */
  constructor(store: Store, rowOf: (host: HostRecord) => HostRow) {
    this.store = store;
    this.rowOf = rowOf;
    this.unwatch = store.watch((name) => {
      if (this.clients.size === 0) return;
      this.pending.add(name);
      this.timer ??= setTimeout(() => this.flush(), BATCH_MS);
    });
  }

  attach(req: IncomingMessage, res: ServerResponse, stillAllowed: () => boolean): void {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Accel-Buffering': 'no',
    });
    const client = { res, stillAllowed };
    this.clients.add(client);
    send(res, 'snapshot', { hosts: this.store.listHosts().map(this.rowOf) });
    const heartbeat = setInterval(() => {
      if (!stillAllowed()) {
        send(res, 'signed-out', {});
        res.end();
      } else res.write(': ping\n\n');
    }, HEARTBEAT_MS);
    heartbeat.unref();
    const detach = () => {
      clearInterval(heartbeat);
      this.clients.delete(client);
    };
    req.on('close', detach);
    res.on('close', detach);
  }

  close(): void {
    this.unwatch();
    clearTimeout(this.timer);
    for (const client of this.clients) client.res.end();
    this.clients.clear();
  }

  private flush(): void {
    this.timer = undefined;
    const names = [...this.pending];
    this.pending.clear();
    const hosts: HostRow[] = [];
    const removed: string[] = [];
    for (const name of names) {
      const host = this.store.getHost(name);
      if (host) hosts.push(this.rowOf(host));
      else removed.push(name);
    }
    for (const client of [...this.clients]) {
      if (!client.stillAllowed()) {
        send(client.res, 'signed-out', {});
        client.res.end();
        continue;
      }
      if (client.res.writableLength > MAX_BUFFERED_BYTES) client.res.end();
      else send(client.res, 'hosts', { hosts, removed });
    }
  }
}

function send(res: ServerResponse, event: string, data: unknown): void {
  // JSON never contains a raw newline, so one data line carries it.
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}
