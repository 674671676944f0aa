/**
 * Watches the cluster's Nodes through the Kubernetes API with @kubernetes/client-node's ListWatch:
 * list, then watch from the list's resourceVersion; a 410 Gone (too old resourceVersion, in-band or as a
 * status) makes it relist; any other failure reconnects with capped exponential backoff. We ask for
 * bookmarks and a server-side timeout, like client-go's reflector, so a watch through a VIP that moved
 * is renewed instead of hanging on a dead connection.
 */
import { CoreV1Api, KubeConfig, ListWatch, type V1Node, Watch } from '@kubernetes/client-node';
import type { NodeObservation } from './types.ts';
import { HOST_LABEL } from './types.ts';

const ROLE_PREFIX = 'node-role.kubernetes.io/';

function time(value: Date | string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const ms = new Date(value).getTime();
  return Number.isFinite(ms) ? ms : fallback;
}

/** A v1 Node reduced to what tracking needs; kubectl's rules for ROLES and Ready (missing Ready = Unknown). */
export function observeNode(node: V1Node, now = Date.now()): NodeObservation {
  const labels = node.metadata?.labels ?? {};
  const ready = node.status?.conditions?.find((c) => c.type.toLowerCase() === 'ready');
  const status = ready?.status === 'True' || ready?.status === 'False' ? ready.status : 'Unknown';
  const roles = Object.keys(labels)
    .filter((k) => k.startsWith(ROLE_PREFIX) && k.length > ROLE_PREFIX.length)
    .map((k) => k.slice(ROLE_PREFIX.length));
  if (labels['kubernetes.io/role']) roles.push(labels['kubernetes.io/role']);
  const created = time(node.metadata?.creationTimestamp, now);
  const internalIP = node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
  const host = labels[HOST_LABEL];
  const kubeletVersion = node.status?.nodeInfo?.kubeletVersion;
  return {
    name: node.metadata?.name ?? '',
    ...(host ? { host } : {}),
    ready: status,
    reason: ready?.reason ?? (ready ? '' : 'NoReadyCondition'),
    message: ready?.message ?? '',
    readySince: time(ready?.lastTransitionTime, created),
    created,
    roles: [...new Set(roles)].sort(),
    ...(internalIP ? { internalIP } : {}),
    ...(kubeletVersion ? { kubeletVersion } : {}),
  };
}

/** Adds the query parameters client-go's reflector sends and ListWatch does not. */
class ReflectorWatch extends Watch {
  private readonly timeoutSeconds: number;

  constructor(config: KubeConfig, timeoutSeconds: number) {
    super(config);
    this.timeoutSeconds = timeoutSeconds;
  }

  override watch(
    path: string,
    queryParams: Record<string, unknown>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    return super.watch(
      path,
      { ...queryParams, allowWatchBookmarks: true, timeoutSeconds: this.timeoutSeconds },
      callback,
      done,
    );
  }
}

export interface TrackerOptions {
  /** Called with every Node currently known, after each change. */
  onNodes: (nodes: NodeObservation[]) => void;
  /** Called when listing or watching failed; the tracker retries by itself. */
  onError?: (message: string, retryInMs: number) => void;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  watchTimeoutSeconds?: number;
}

export class NodeTracker {
  private readonly informer: ListWatch<V1Node>;
  private backoffMs: number;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly options: Required<Omit<TrackerOptions, 'onError'>> & Pick<TrackerOptions, 'onError'>;

  constructor(kubeconfig: string, options: TrackerOptions) {
    this.options = { initialBackoffMs: 1000, maxBackoffMs: 30_000, watchTimeoutSeconds: 300, ...options };
    this.backoffMs = this.options.initialBackoffMs;
    const config = new KubeConfig();
    config.loadFromString(kubeconfig);
    const api = config.makeApiClient(CoreV1Api);
    this.informer = new ListWatch<V1Node>(
      '/api/v1/nodes',
      new ReflectorWatch(config, this.options.watchTimeoutSeconds),
      () => api.listNode(),
      false,
    );
    const changed = () => {
      this.backoffMs = this.options.initialBackoffMs;
      this.emit();
    };
    this.informer.on('add', changed);
    this.informer.on('update', changed);
    this.informer.on('delete', changed);
    this.informer.on('error', (error: unknown) => this.retry(error));
  }

  private emit(): void {
    const now = Date.now();
    this.options.onNodes(this.informer.list().map((n) => observeNode(n, now)));
  }

  private retry(error: unknown): void {
    if (this.stopped) return;
    const wait = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.options.maxBackoffMs);
    const message = error instanceof Error ? error.message : String(error);
    this.options.onError?.(message, wait);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (!this.stopped) void this.informer.start();
    }, wait);
  }

  /** Lists and starts watching; resolves once the first list has been tried. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.informer.start();
    this.emit();
  }

  nodes(): NodeObservation[] {
    const now = Date.now();
    return this.informer.list().map((n) => observeNode(n, now));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    await this.informer.stop();
  }
}
