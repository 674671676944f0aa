import { FLOWS, isStable, stepIndex } from '../lifecycle.ts';
import type { HostRecord } from '../types.ts';

/** The Kubernetes Node of a host as the service last saw it: its name and its Ready status ('' when none yet). */
export interface NodeColumns {
  node: string;
  ready: string;
}

/**
 * One line of the console's hosts table, pushed to browsers on every change. Built field by field from the
 * record (never spread), so nothing secret reaches the page.
 */
export function hostRow(host: HostRecord, node: NodeColumns = { node: '', ready: '' }) {
  const steps = FLOWS[host.state] as readonly string[];
  const index = stepIndex(host.state, host.step);
  const withinStep = host.step === 'installer' ? (host.installProgress ?? 0) / 100 : 0;
  return {
    name: host.name,
    role: host.spec.role,
    vendor: host.hardware?.systemVendor?.manufacturer ?? null,
    model: host.hardware?.systemVendor?.productName ?? null,
    state: host.state,
    step: host.step || null,
    stepNumber: index >= 0 ? index + 1 : null,
    stepCount: steps.length,
    /** Percent through the state's steps; null in a stable state. */
    progress:
      isStable(host.state) || index < 0 ? null : Math.round(((index + withinStep) / steps.length) * 100),
    installProgress: host.installProgress ?? null,
    powerState: host.powerState ?? null,
    powerRequest: host.powerRequest ?? null,
    online: host.spec.online,
    image: host.provisioning?.image ?? null,
    consumer: host.provisioning?.consumer ?? null,
    /** The host's Kubernetes Node, once it registered. */
    node: node.node || null,
    /** Its Ready condition: true, false, or null when unknown or no Node is seen. */
    nodeReady: node.ready === 'True' ? true : node.ready === 'False' ? false : null,
    error: host.error
      ? { type: host.error.type, message: host.error.message, count: host.error.count }
      : null,
    createdAt: host.createdAt,
    updatedAt: host.updatedAt,
  };
}

export type HostRow = ReturnType<typeof hostRow>;
