/**
 * `outpost cluster describe`: the cluster as a tree in `clusterctl describe cluster`'s legacy columns
 * (NAME READY SEVERITY REASON SINCE MESSAGE), so the output reads like Cluster API's for people who run
 * both. Pure: status in, text out.
 */
import { terminalSafe } from '../common/diagnostics.ts';
import type { ClusterStatus, MachineStatus } from './status.ts';
import type { Condition, NodeObservation } from './types.ts';

/**
 * Kubernetes' short human durations (apimachinery `duration.HumanDuration`): exact at small scales,
 * coarser as they grow, so SINCE stays narrow.
 */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 60 * 2) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 60 * 3) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  const years = Math.floor(hours / 24 / 365);
  if (years < 8) {
    const d = Math.floor(hours / 24) % 365;
    return d === 0 ? `${years}y` : `${years}y${d}d`;
  }
  return `${years}y`;
}

interface Row {
  prefix: string;
  name: string;
  condition?: Condition;
}

/** The Node's own Ready condition as the kubelet reports it; when Ready, its address and kubelet version. */
function nodeCondition(node: NodeObservation): Condition {
  const facts = [node.internalIP, node.kubeletVersion].filter((f) => f !== undefined).join(' ');
  const ready = node.ready === 'True';
  return {
    type: 'Ready',
    status: node.ready,
    severity: ready ? '' : 'Warning',
    reason: ready ? '' : node.reason,
    message: ready ? facts : node.message,
    since: node.readySince,
  };
}

function machineRows(machines: MachineStatus[], indent: string): Row[] {
  const rows: Row[] = [];
  machines.forEach((m, i) => {
    const isLast = i === machines.length - 1;
    const branch = isLast ? '└─' : '├─';
    const role = m.initializer ? ' (initializer)' : '';
    rows.push({ prefix: `${indent}${branch}`, name: `Machine/${m.host}${role}`, condition: m.nodeReady });
    if (m.node) {
      const childIndent = `${indent}${isLast ? '  ' : '│ '}`;
      rows.push({
        prefix: `${childIndent}└─`,
        name: `Node/${m.node.name}`,
        condition: nodeCondition(m.node),
      });
    }
  });
  return rows;
}

export function describeRows(status: ClusterStatus): Row[] {
  const available = status.conditions.find((c) => c.type === 'Available');
  const controlPlane = status.conditions.find((c) => c.type === 'ControlPlaneAvailable');
  const workers = status.conditions.find((c) => c.type === 'WorkersAvailable');
  const servers = status.machines.filter((m) => m.role === 'server');
  const agents = status.machines.filter((m) => m.role === 'agent');
  const rows: Row[] = [
    { prefix: '', name: `Cluster/${status.name}`, ...(available ? { condition: available } : {}) },
  ];
  const hasWorkers = agents.length > 0;
  rows.push({
    prefix: hasWorkers ? '├─' : '└─',
    name: 'ControlPlane - RKE2 servers',
    ...(controlPlane ? { condition: controlPlane } : {}),
  });
  rows.push(...machineRows(servers, hasWorkers ? '│ ' : '  '));
  if (hasWorkers) {
    rows.push({ prefix: '└─', name: 'Workers - RKE2 agents', ...(workers ? { condition: workers } : {}) });
    rows.push(...machineRows(agents, '  '));
  }
  return rows;
}

const HEADERS = ['NAME', 'READY', 'SEVERITY', 'REASON', 'SINCE', 'MESSAGE'] as const;

/** The tree as text; `now` fixes SINCE so the output is reproducible. */
export function formatDescribe(status: ClusterStatus, now: number): string {
  // Names and messages carry what hosts and their nodes reported: one line per row, whatever they hold.
  const cells = describeRows(status).map((row) => {
    const c = row.condition;
    return [
      `${row.prefix}${row.name}`,
      c?.status ?? '',
      c?.severity ?? '',
      c?.reason ?? '',
      c ? humanDuration(now - c.since) : '',
      c?.message ?? '',
    ].map(terminalSafe);
  });
  const table = [HEADERS as readonly string[], ...cells];
  // Column widths count code points, so the tree's box-drawing characters align like ASCII.
  const width = (s: string) => [...s].length;
  const widths = HEADERS.map((_, i) => Math.max(...table.map((r) => width(r[i] ?? ''))));
  return table
    .map((r) =>
      r
        .map((cell, i) => (i === r.length - 1 ? cell : cell + ' '.repeat((widths[i] ?? 0) - width(cell) + 2)))
        .join('')
        .trimEnd(),
    )
    .join('\n');
}

/** The same status for scripts: phase, conditions and machines with their nodes. */
export function describeJSON(status: ClusterStatus): unknown {
  return {
    name: status.name,
    phase: status.phase,
    conditions: status.conditions.map((c) => ({ ...c, since: new Date(c.since).toISOString() })),
    machines: status.machines.map((m) => ({
      host: m.host,
      role: m.role,
      initializer: m.initializer,
      phase: m.phase,
      node: m.node
        ? {
            name: m.node.name,
            ready: m.node.ready,
            reason: m.node.reason,
            internalIP: m.node.internalIP ?? null,
            kubeletVersion: m.node.kubeletVersion ?? null,
          }
        : null,
      nodeReady: { ...m.nodeReady, since: new Date(m.nodeReady.since).toISOString() },
    })),
    strayNodes: status.strayNodes.map((n) => n.name),
  };
}
