/**
 * `/api/v1/cluster`: the site's cluster for the CLI and the console. The token never leaves through
 * here; the admin kubeconfig does, to API-token holders only (`outpost cluster kubeconfig`).
 */
import { describeJSON, formatDescribe } from '../cluster/describe.ts';
import { formatJoinPlan, type JoinPlanResult, planJoin, planWarnings } from '../cluster/join-plan.ts';
import type { ClusterMember } from '../cluster/types.ts';
import type { ClusterManager, SiteCluster } from './cluster-manager.ts';
import { parseClusterSpec } from './cluster-spec.ts';
import type { HostRecord } from './types.ts';

export type ClusterAnswer = { status: number; body?: unknown; text?: string };

const NO_CLUSTER: ClusterAnswer = {
  status: 404,
  body: { error: 'this site has no cluster: define one with `outpost cluster up`' },
};

/** Problems in the API's error shape (`{ text }` each), as the CLI prints them. */
function listed(problems: string[]): { text: string }[] {
  return problems.map((text) => ({ text }));
}

function badDefinition(problems: string[]): ClusterAnswer {
  return { status: 400, body: { error: 'the cluster definition has problems', problems: listed(problems) } };
}

/** The site's hosts as members of a cluster defined by `spec` (its initializer, not the stored one's). */
function membersOf(cluster: ClusterManager, hosts: HostRecord[], spec: SiteCluster): ClusterMember[] {
  return cluster.members(hosts).map((m) => ({ ...m, initializer: m.host === spec.initializer }));
}

/** A plan as the API answers it; a plan that fails answers `failStatus` with its problems. */
function planned(
  spec: SiteCluster,
  plan: JoinPlanResult,
  members: ClusterMember[],
  failStatus = 400,
): ClusterAnswer {
  if (!plan.ok) {
    return {
      status: failStatus,
      body: { error: 'the cluster cannot be planned', problems: listed(plan.problems) },
    };
  }
  return { status: 200, body: { plan: formatJoinPlan(spec, plan.plan), warnings: planWarnings(members) } };
}

export async function routeCluster(
  cluster: ClusterManager,
  method: string,
  sub: string,
  body: unknown,
  hosts: HostRecord[],
): Promise<ClusterAnswer> {
  const key = `${method} ${sub}`;
  switch (key) {
    case 'GET ': {
      const spec = cluster.spec();
      const status = cluster.status();
      if (!spec || !status) return NO_CLUSTER;
      const { apiEndpoint: _internal, ...shown } = spec;
      return {
        status: 200,
        body: {
          spec: shown,
          ...(describeJSON(status) as object),
          describe: formatDescribe(status, Date.now()),
          /** Whether `GET /cluster/kubeconfig` has one to give (the console shows its download then). */
          kubeconfigReported: cluster.kubeconfig() !== undefined,
        },
      };
    }
    case 'PUT ': {
      const parsed = parseClusterSpec(
        body,
        hosts.map((h) => h.name),
      );
      if (!parsed.ok) return badDefinition(parsed.problems);
      const members = membersOf(cluster, hosts, parsed.spec);
      const plan = planJoin(parsed.spec, members);
      // A definition that cannot be planned is refused whole: nothing is saved.
      if (plan.ok) cluster.define(parsed.spec);
      return planned(parsed.spec, plan, members);
    }
    case 'DELETE ':
      if (!cluster.spec()) return NO_CLUSTER;
      await cluster.forget();
      return { status: 200, body: { deleted: true } };
    case 'POST /plan': {
      // A dry run: the plan a definition would give, nothing saved.
      const parsed = parseClusterSpec(
        body,
        hosts.map((h) => h.name),
      );
      if (!parsed.ok) return badDefinition(parsed.problems);
      const members = membersOf(cluster, hosts, parsed.spec);
      return planned(parsed.spec, planJoin(parsed.spec, members), members);
    }
    case 'GET /plan': {
      const spec = cluster.spec();
      const plan = cluster.plan();
      if (!spec || !plan) return NO_CLUSTER;
      return planned(spec, plan, cluster.members(hosts), 409);
    }
    case 'POST /up': {
      if (!cluster.spec()) return NO_CLUSTER;
      const image = (body as { image?: unknown } | undefined)?.image;
      if (typeof image !== 'string' || image === '')
        return { status: 400, body: { error: 'image is required' } };
      try {
        return { status: 202, body: cluster.up(image) };
      } catch (error) {
        return { status: 409, body: { error: (error as Error).message } };
      }
    }
    case 'GET /kubeconfig': {
      if (!cluster.spec()) return NO_CLUSTER;
      const kubeconfig = cluster.kubeconfig();
      if (!kubeconfig) {
        return {
          status: 404,
          body: { error: 'no kubeconfig yet: the initializer reports it once its API is up' },
        };
      }
      return { status: 200, text: kubeconfig };
    }
  }
  return { status: 404, body: { error: `no such endpoint: ${method} /api/v1/cluster${sub}` } };
}
