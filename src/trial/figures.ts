/**
 * What `npm run bench:provision` prints of a trial: per host, each provisioning step against the work that
 * is the machine's — moving the image (the installer step: installer boot, image written and verified) and
 * the boot from disk (the first-boot step); per node, its time to Ready against that work; for the
 * cluster, `cluster up` to every node Ready against the critical path of that work (the initializer's,
 * then the slowest of the hosts that wait for it). Ratios only: what the seconds mean depends on the
 * machine, the ratios less so. Pure: a trial's result in, lines out.
 */
import type { TimelinePhase } from './run.ts';

/** The steps that are the machine's work rather than outpost's. */
const WORK_OF_THE_HOST = ['installer', 'first-boot'];

interface FiguresHost {
  name: string;
  state: string;
  role?: string;
  initializer?: boolean;
  network?: string;
  readyMs?: number;
  timeline: (TimelinePhase & { startedAt?: string })[];
}

export interface FiguresInput {
  image: { bytes: number; buildMs: number };
  hosts: FiguresHost[];
  /** The cluster trial: when `cluster up` was asked and how long until every node was Ready. */
  upAt?: number;
  readyMs?: number;
  error?: string;
  /** The provisioning-only trial. */
  provisioningMs?: number;
}

const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const ratio = (a: number, b: number) => (b > 0 ? (a / b).toFixed(3) : 'n/a');

export function provisionFigures(r: FiguresInput): string {
  const lines = [`image build: ${s(r.image.buildMs)} (${(r.image.bytes / 2 ** 30).toFixed(1)} GiB raw)`];
  const machineWork = new Map<string, number>();
  for (const host of r.hosts) {
    const provisioning = host.timeline.find((p) => p.state === 'provisioning');
    const role = host.initializer ? 'server, initializer' : (host.role ?? host.network ?? '');
    if (!provisioning) {
      lines.push('', `${host.name} (${role}): ${host.state}, never provisioned`);
      continue;
    }
    lines.push('', `${host.name} (${role}): ${host.state}, provisioning ${s(provisioning.durationMs)}`);
    let overhead = 0;
    for (const step of provisioning.steps) {
      const hostWork = WORK_OF_THE_HOST.includes(step.step);
      if (!hostWork) overhead += step.durationMs;
      lines.push(
        `  ${step.step.padEnd(14)} ${s(step.durationMs).padStart(8)}  ${hostWork ? 'image move + boot' : 'outpost'}`,
      );
    }
    const work = provisioning.durationMs - overhead;
    machineWork.set(host.name, work);
    lines.push(
      `  outpost overhead ${s(overhead)} beyond ${s(work)} of image move and boots: ratio ${ratio(provisioning.durationMs, work)} (provisioning / image move + boots)`,
    );
    if (host.readyMs !== undefined && r.upAt !== undefined && provisioning.startedAt) {
      const toReady = r.upAt + host.readyMs - Date.parse(provisioning.startedAt);
      lines.push(
        `  node Ready ${s(toReady)} after its provisioning started (RKE2 ${s(toReady - provisioning.durationMs)} after provisioned): ratio ${ratio(toReady, work)} (time to Ready / image move + boots)`,
      );
    }
  }
  lines.push('');
  if (r.upAt === undefined) {
    lines.push(`all hosts provisioned in ${s(r.provisioningMs ?? 0)}`);
    return lines.join('\n');
  }
  const initializer = r.hosts.find((h) => h.initializer);
  const joiners = r.hosts.filter((h) => !h.initializer).map((h) => machineWork.get(h.name) ?? 0);
  const criticalPath = (initializer ? (machineWork.get(initializer.name) ?? 0) : 0) + Math.max(0, ...joiners);
  lines.push(
    r.readyMs !== undefined
      ? `cluster: every node Ready ${s(r.readyMs)} after cluster up; image moves and boots on the critical path ${s(criticalPath)} (the initializer, then the slowest joiner): ratio ${ratio(r.readyMs, criticalPath)}`
      : `cluster: not Ready (${r.error ?? 'unknown'})`,
  );
  return lines.join('\n');
}
