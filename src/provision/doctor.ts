/**
 * `overlay-lb doctor` as a library operation (the CLI and the tests call it): load the spec, observe
 * the cluster read-only through the cloud's API (src/cloud/aws/doctor-collect.ts: describes, reads
 * and DryRun requests only), and decide every check over what was observed
 * (src/provision/doctor-checks.ts). Nothing is ever written.
 */
import type { Spec } from '../model/spec.js';
import { loadSpecFile } from '../ops/load-spec.js';
import { AwsDoctorCollector, type DoctorCollectorOptions } from '../cloud/aws/provision/doctor-collect.js';
import type { RoutePermissionFact } from '../cloud/doctor-facts.js';
import { selectTables } from '../cloud/route-tables.js';
import { OverlayError, UserError } from '../util/errors.js';
import { decideClusterChecks, decideNodeChecks, foundInstances, resultsForNode, type CheckResult } from './doctor-checks.js';

export { resultsForNode } from './doctor-checks.js';
import { collectNodeFacts } from './doctor-local.js';

export interface DoctorOptions {
  readonly specFile: string;
  /** EC2 and S3 endpoint. @default the spec's cluster.cloud.endpoint, else AWS's */
  readonly endpoint?: string;
  /** @default the SDK's default credential chain */
  readonly credentials?: DoctorCollectorOptions['credentials'];
  /** Only the checks of this node (and the cluster-wide ones); with `local`, the node doctor runs on. */
  readonly node?: string;
  /**
   * Run on a node: also its own checks (IMDSv2, its route to the EC2 API, the clock, the iptables
   * time match). The node is the one whose address the metadata service names, else `node`.
   */
  readonly local?: { readonly imdsEndpoint?: string };
  readonly signal: AbortSignal;
}

export interface DoctorResult {
  readonly cluster: string;
  readonly checks: readonly CheckResult[];
  /** Whether any check failed (the CLI's exit status 1). */
  readonly failed: boolean;
}

/** The spec's cloud coordinates doctor needs, as a user error naming the fix. */
export function requireCloud(spec: Spec, file: string): { readonly region: string; readonly vpcId: string } {
  const c = spec.cluster.cloud;
  if (c.provider === 'none') throw new UserError('SPEC_REQUIRED', `${file}: cluster.cloud.provider is none: doctor checks a cluster in a cloud; set provider aws (or lab) with region and vpcId`);
  if (c.region === undefined || c.vpcId === undefined) throw new UserError('SPEC_REQUIRED', `${file}: doctor needs cluster.cloud.region and cluster.cloud.vpcId (the VPC of the LB nodes)`);
  return { region: c.region, vpcId: c.vpcId };
}

/** A describe that failed, with what to do about it (the same code, the cause kept). */
function withFix(err: unknown, endpoint: string): unknown {
  if (!(err instanceof OverlayError)) return err;
  const fixes: Partial<Record<string, string>> = {
    CLOUD_UNAVAILABLE: `the EC2 API at ${endpoint} did not answer: check --endpoint-url (or cluster.cloud.endpoint) and this machine's network, then run doctor again`,
    CLOUD_AUTH_FAILURE: 'the credentials doctor runs with were refused: set them as for the aws CLI (AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)',
    CLOUD_UNAUTHORIZED: 'grant the credentials doctor runs with ec2:Describe* on * (and s3:GetObject on the release bucket\'s status/ keys)',
  };
  const fix = fixes[err.code];
  return fix === undefined ? err : new OverlayError(err.code, `${err.message}; ${fix}`, { cause: err, details: err.details });
}

/** Observes the cluster through the API (describes, then a DryRun per selected table) and decides. */
async function clusterChecks(spec: Spec, specHash: string, collector: AwsDoctorCollector, options: { readonly vpcId: string; readonly signal: AbortSignal }): Promise<CheckResult[]> {
  const { signal, vpcId } = options;
  const p = spec.provision;
  const described = await collector.describe({
    vpcId, vip: spec.cluster.vip, nodes: spec.cluster.nodes.map((n) => ({ name: n.name, address: n.address })),
    ...(p === undefined ? {} : { release: { bucket: p.bucket, prefix: p.prefix } }),
  }, { signal });
  const selected = described.vpc === null ? [] : selectTables(described.routeTables, spec.cluster.cloud.routeTables);
  const known = new Map(described.routeTables.map((t) => [t.id, t]));
  // The VIP route's target in the DryRun: the first node's interface that was found.
  const target = [...foundInstances(spec, described).values()].find((i) => i.networkInterfaceId !== null)?.networkInterfaceId ?? null;
  const routePermissions: RoutePermissionFact[] = [];
  if (spec.cluster.cloud.failover === 'route') {
    for (const id of selected) {
      const table = known.get(id);
      if (table === undefined) continue;
      const action = table.hasVipRoute ? 'ec2:ReplaceRoute' : 'ec2:CreateRoute';
      const dryRun = target === null
        ? { outcome: 'error' as const, message: "no node's network interface was found to target" }
        : await collector.dryRunRoute({ routeTableId: id, vip: spec.cluster.vip, networkInterfaceId: target, exists: table.hasVipRoute }, { signal });
      routePermissions.push({ routeTableId: id, action, dryRun });
    }
  }
  return decideClusterChecks(spec, { ...described, routePermissions }, { selected, specHash });
}

/** Runs every check of the cluster from outside it (an operator's machine, or a node). */
export async function doctor(options: DoctorOptions): Promise<DoctorResult> {
  const { signal } = options;
  const loaded = await loadSpecFile(options.specFile, { signal });
  const { spec } = loaded;
  const { region, vpcId } = requireCloud(spec, options.specFile);
  if (options.node !== undefined && !spec.cluster.nodes.some((n) => n.name === options.node)) {
    throw new UserError('CLI_USAGE', `doctor: --node ${JSON.stringify(options.node)} is not a node of ${options.specFile}; its nodes: ${spec.cluster.nodes.map((n) => n.name).join(', ')}`);
  }
  const endpoint = options.endpoint ?? spec.cluster.cloud.endpoint;
  const collector = new AwsDoctorCollector({ region, ...(endpoint === undefined ? {} : { endpoint }), ...(options.credentials === undefined ? {} : { credentials: options.credentials }) });
  try {
    // On a node its own checks come first: without the API, the cluster's cannot run.
    let nodeChecks: CheckResult[] = [];
    let apiReachable = true;
    if (options.local !== undefined) {
      const facts = await collectNodeFacts({
        collector, vpcId, endpoint: endpoint ?? `https://ec2.${region}.amazonaws.com`, signal,
        ...(options.local.imdsEndpoint === undefined ? {} : { imdsEndpoint: options.local.imdsEndpoint }),
      });
      const imdsAddress = facts.imds.ok ? facts.imds.address : undefined;
      const me = spec.cluster.nodes.find((n) => n.address === imdsAddress)?.name ?? options.node ?? (imdsAddress === undefined ? 'this node' : `this node (${imdsAddress})`);
      nodeChecks = decideNodeChecks(facts, { node: me, region });
      apiReachable = facts.api.ok;
    }
    const cluster = apiReachable ? await clusterChecks(spec, loaded.hash, collector, { vpcId, signal }).catch((err: unknown) => {
      throw withFix(err, endpoint ?? `https://ec2.${region}.amazonaws.com`);
    }) : [];
    const all = [...cluster, ...nodeChecks];
    const checks = options.node === undefined ? all : resultsForNode(spec, all, options.node);
    return { cluster: spec.cluster.name, checks, failed: checks.some((c) => c.status === 'fail') };
  } finally {
    collector.destroy();
  }
}
