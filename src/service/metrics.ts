import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';

/**
 * The service's process-wide Prometheus metrics (one service per process). Call sites increment them with
 * one line; the console serves them at /metrics together with the gauges it reads from the store at scrape
 * time. Labels are closed vocabularies (never host names or strings a host sent), so a hostile callback
 * cannot grow the number of series.
 */
export const serviceRegistry = new Registry();
collectDefaultMetrics({ register: serviceRegistry, prefix: 'outpost_' });
// Gauges named like counters: promtool's lint (and Prometheus' naming rules) refuse the _total suffix on them.
for (const name of ['active_handles_total', 'active_requests_total', 'active_resources_total']) {
  serviceRegistry.removeSingleMetric(`outpost_nodejs_${name}`);
}

const stepDuration = new Histogram({
  name: 'outpost_provisioning_step_duration_seconds',
  help: 'How long each lifecycle step took, from its start to its success, by state and step',
  labelNames: ['state', 'step'],
  // From a BMC call (sub-second) to an installer writing an image over a slow link (an hour).
  buckets: [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600],
  registers: [serviceRegistry],
});

const redfishRequests = new Counter({
  name: 'outpost_redfish_requests_total',
  help: 'Redfish requests sent to BMCs, by BMC vendor, HTTP method and answer status ("error": no answer)',
  labelNames: ['vendor', 'method', 'status'],
  registers: [serviceRegistry],
});

const redfishLatency = new Histogram({
  name: 'outpost_redfish_request_duration_seconds',
  help: 'Latency of answered Redfish requests, by BMC vendor and HTTP method',
  labelNames: ['vendor', 'method'],
  buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [serviceRegistry],
});

const callbacks = new Counter({
  name: 'outpost_callbacks_total',
  help: 'Progress reports from installers and first boot, by kind (installer, first-boot, other, rejected) and HTTP answer code',
  labelNames: ['kind', 'code'],
  registers: [serviceRegistry],
});

const errors = new Counter({
  name: 'outpost_errors_total',
  help: "Errors by type: hosts' error types (Metal3's words) and internal errors of the HTTP service",
  labelNames: ['type'],
  registers: [serviceRegistry],
});

const HTTP_METHODS = new Set(['GET', 'POST', 'PATCH', 'PUT', 'DELETE', 'HEAD']);

/** A step ended successfully after `ms`. */
export function observeStep(state: string, step: string, ms: number): void {
  if (step) stepDuration.observe({ state, step }, Math.max(0, ms) / 1000);
}

/** A host error (registration error, provisioning error, ...) or an internal error. */
export function countError(type: string): void {
  errors.inc({ type });
}

/** A callback was answered with `code`; `step` is what the report was about (undefined: another phase). */
export function countCallback(step: string | undefined, code: number): void {
  const kind = code === 401 ? 'rejected' : step === 'installer' || step === 'first-boot' ? step : 'other';
  callbacks.inc({ kind, code: String(code) });
}

interface RedfishRequestEvent {
  type: string;
  method?: string;
  status?: number;
  durationMs?: number;
}

/**
 * Counts a BMC session's requests by vendor. The vendor is known only once the client has read the service
 * root and the System, so the requests of the connection are held back until then ('unknown' when the
 * connection failed).
 */
export async function observeRedfish<T extends { quirks: { vendor: string } }>(
  connect: (onEvent: (e: RedfishRequestEvent) => void) => Promise<T>,
): Promise<T> {
  let vendor: string | undefined;
  const held: RedfishRequestEvent[] = [];
  const record = (e: RedfishRequestEvent) => {
    if (e.type !== 'request') return;
    if (vendor === undefined) return void held.push(e);
    const method = e.method && HTTP_METHODS.has(e.method) ? e.method : 'other';
    redfishRequests.inc({ vendor, method, status: e.status !== undefined ? String(e.status) : 'error' });
    if (e.status !== undefined && e.durationMs !== undefined)
      redfishLatency.observe({ vendor, method }, e.durationMs / 1000);
  };
  const identified = (name: string) => {
    vendor = name;
    for (const e of held.splice(0)) record(e);
  };
  try {
    const client = await connect(record);
    identified(client.quirks.vendor);
    return client;
  } catch (error) {
    identified('unknown');
    throw error;
  }
}
