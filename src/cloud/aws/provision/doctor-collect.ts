/**
 * `overlay-lb doctor`'s eyes on AWS (and the lab): read-only calls only (Describe*, S3 GetObject)
 * and DryRun requests, turned into the neutral facts of src/cloud/doctor-facts.ts that the pure
 * checks (src/provision/doctor-checks.ts) decide over. Never a write: every ReplaceRoute and
 * CreateRoute here carries `DryRun: true` (EC2 answers DryRunOperation when the call would have
 * been allowed, UnauthorizedOperation when not, and changes nothing:
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/CommonParameters.html).
 */
import { DescribeInstancesCommand, DescribeRouteTablesCommand, DescribeSecurityGroupsCommand, DescribeVpcsCommand, EC2Client, ReplaceRouteCommand, CreateRouteCommand } from '@aws-sdk/client-ec2';
import type { Instance, IpPermission as SdkPermission, RouteTable } from '@aws-sdk/client-ec2';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { ClusterFacts, DryRunFact, MetadataOptionsFact, NodeInstanceFact, PeeredNetworkFact, PublishedStatusFact, RouteTableFact, SecurityGroupFact, SecurityRule } from '../../doctor-facts.js';
import { guardedCall } from '../../guarded-call.js';
import type { Clock } from '../../../util/clock.js';
import { systemClock } from '../../../util/clock.js';
import { TokenBucket } from '../../../util/token-bucket.js';
import { OverlayError } from '../../../util/errors.js';
import { wrapAwsError } from '../errors.js';
import { timeoutSignal } from '../../../util/abort.js';
import { OWNER_TAG, statusKey } from './names.js';

export interface DoctorCollectorOptions {
  readonly region: string;
  /** EC2 and S3 endpoint (the lab's API). @default AWS's own */
  readonly endpoint?: string;
  /** @default the SDK's default credential chain (on a node: the instance role) */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string };
  readonly clock?: Clock;
}

/** Per call 10 s; retryable errors (throttling, 5xx, network) retried for up to 30 s. */
const CALL_TIMEOUT_MS = 10_000;
const CALL_DEADLINE_MS = 30_000;

/** What the cluster's describe phase needs from the spec. */
export interface DescribeInput {
  readonly vpcId: string;
  readonly vip: string;
  readonly nodes: readonly { readonly name: string; readonly address: string }[];
  /** The release bucket and prefix where agents publish their status; absent: not read. */
  readonly release?: { readonly bucket: string; readonly prefix: string };
}

function securityRules(perms: readonly SdkPermission[] | undefined): SecurityRule[] {
  return (perms ?? []).map((p) => ({
    protocol: p.IpProtocol ?? '-1',
    ...(p.FromPort === undefined ? {} : { fromPort: p.FromPort }),
    ...(p.ToPort === undefined ? {} : { toPort: p.ToPort }),
    cidrs: (p.IpRanges ?? []).flatMap((r) => (r.CidrIp === undefined ? [] : [r.CidrIp])),
    groupIds: (p.UserIdGroupPairs ?? []).flatMap((g) => (g.GroupId === undefined ? [] : [g.GroupId])),
  }));
}

function metadataOptions(i: Instance): MetadataOptionsFact | null {
  const m = i.MetadataOptions;
  if (m?.HttpTokens === undefined) return null;
  return { httpTokens: m.HttpTokens === 'required' ? 'required' : 'optional', hopLimit: m.HttpPutResponseHopLimit ?? 1, endpoint: m.HttpEndpoint === 'disabled' ? 'disabled' : 'enabled' };
}

/** The instance's fact for `address`: the interface that holds it. */
function instanceFact(i: Instance, address: string): NodeInstanceFact {
  const eni = (i.NetworkInterfaces ?? []).find((n) => (n.PrivateIpAddresses ?? []).some((a) => a.PrivateIpAddress === address) || n.PrivateIpAddress === address);
  return {
    instanceId: i.InstanceId ?? '',
    state: i.State?.Name ?? 'unknown',
    networkInterfaceId: eni?.NetworkInterfaceId ?? null,
    sourceDestCheck: eni?.SourceDestCheck ?? i.SourceDestCheck ?? true,
    groupIds: (eni?.Groups ?? i.SecurityGroups ?? []).flatMap((g) => (g.GroupId === undefined ? [] : [g.GroupId])),
    ownerTag: (i.Tags ?? []).find((t) => t.Key === OWNER_TAG)?.Value ?? null,
    metadata: metadataOptions(i),
  };
}

/** Routes to networks beyond the VPC through a peering, transit gateway, VPN or core network. */
function peeredRoutes(t: RouteTable): PeeredNetworkFact[] {
  const out: PeeredNetworkFact[] = [];
  for (const r of t.Routes ?? []) {
    const via = r.VpcPeeringConnectionId ?? r.TransitGatewayId ?? (r.GatewayId?.startsWith('vgw-') ? r.GatewayId : undefined) ?? r.LocalGatewayId ?? r.CoreNetworkArn;
    if (via !== undefined && r.DestinationCidrBlock !== undefined) out.push({ cidr: r.DestinationCidrBlock, via, routeTableId: t.RouteTableId ?? '' });
  }
  return out;
}

/** The describe half of {@link ClusterFacts}; the route permissions follow once the tables are selected. */
export type DescribedCluster = Omit<ClusterFacts, 'routePermissions'>;

/**
 * The read-only AWS side of doctor. `apiDate` tracks the API's own clock (its answers' `Date`
 * header): what the staleness of published statuses and a node's clock are measured against.
 */
export class AwsDoctorCollector {
  readonly #ec2: EC2Client;
  readonly #s3: S3Client;
  readonly #clock: Clock;
  readonly #bucket: TokenBucket;
  #apiDate: { readonly at: number; readonly date: number } | null = null;

  constructor(options: DoctorCollectorOptions) {
    const common = {
      region: options.region, maxAttempts: 1,
      ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
      ...(options.credentials === undefined ? {} : { credentials: { ...options.credentials } }),
    };
    this.#ec2 = new EC2Client(common);
    this.#s3 = new S3Client({ ...common, ...(options.endpoint === undefined ? {} : { forcePathStyle: true }) });
    this.#clock = options.clock ?? systemClock;
    this.#bucket = new TokenBucket({ capacity: 20, refillPerSec: 10, clock: this.#clock });
    // The API's Date header of every answer (errors included): the API's clock.
    this.#ec2.middlewareStack.add((next) => async (args) => {
      const result = await next(args);
      this.#noteDate((result.response as { headers?: Record<string, string> }).headers?.['date']);
      return result;
    }, { step: 'deserialize', name: 'overlayLbApiDate' });
  }

  #noteDate(header: string | undefined): void {
    const date = header === undefined ? Number.NaN : Date.parse(header);
    if (!Number.isNaN(date)) this.#apiDate = { at: this.#clock.now(), date };
  }

  /** The API's clock now (epoch ms), from its last answer; the local clock before any answer. */
  apiNow(): number {
    const d = this.#apiDate;
    return d === null ? this.#clock.now() : d.date + (this.#clock.now() - d.at);
  }

  /** The API's Date header of the last answer and the local time it arrived, or null. */
  lastApiDate(): { readonly at: number; readonly date: number } | null {
    return this.#apiDate;
  }

  #call<T>(action: string, signal: AbortSignal, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return guardedCall({ action, bucket: this.#bucket, signal, deadline: this.#clock.now() + CALL_DEADLINE_MS, callTimeoutMs: CALL_TIMEOUT_MS, attempts: 4, clock: this.#clock }, async (s) => {
      try {
        return await fn(s);
      } catch (err) {
        throw wrapAwsError(err, action, s);
      }
    });
  }

  /** The VPC's CIDR blocks (every associated one), or null when it does not exist. */
  async #vpc(vpcId: string, signal: AbortSignal): Promise<{ id: string; cidrs: string[] } | null> {
    try {
      const out = await this.#call('ec2:DescribeVpcs', signal, (s) => this.#ec2.send(new DescribeVpcsCommand({ VpcIds: [vpcId] }), { abortSignal: s }));
      const vpc = out.Vpcs?.[0];
      if (vpc === undefined) return null;
      const assoc = (vpc.CidrBlockAssociationSet ?? []).filter((a) => a.CidrBlockState?.State === undefined || a.CidrBlockState.State === 'associated' || a.CidrBlockState.State === 'associating').flatMap((a) => (a.CidrBlock === undefined ? [] : [a.CidrBlock]));
      const cidrs = [...new Set([...(vpc.CidrBlock === undefined ? [] : [vpc.CidrBlock]), ...assoc])];
      return { id: vpcId, cidrs };
    } catch (err) {
      if (err instanceof OverlayError && err.code === 'CLOUD_NOT_FOUND') return null;
      throw err;
    }
  }

  async #instances(input: DescribeInput, signal: AbortSignal): Promise<Map<string, NodeInstanceFact[]>> {
    const found: Instance[] = [];
    let token: string | undefined;
    do {
      const page = await this.#call('ec2:DescribeInstances', signal, (s) => this.#ec2.send(new DescribeInstancesCommand({
        Filters: [
          { Name: 'vpc-id', Values: [input.vpcId] },
          { Name: 'network-interface.addresses.private-ip-address', Values: input.nodes.map((n) => n.address) },
          { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
        ],
        ...(token === undefined ? {} : { NextToken: token }),
      }), { abortSignal: s }));
      for (const r of page.Reservations ?? []) found.push(...(r.Instances ?? []));
      token = page.NextToken;
    } while (token !== undefined);
    const holds = (i: Instance, address: string): boolean => i.PrivateIpAddress === address || (i.NetworkInterfaces ?? []).some((n) => (n.PrivateIpAddresses ?? []).some((a) => a.PrivateIpAddress === address));
    return new Map(input.nodes.map((n) => [n.name, found.filter((i) => holds(i, n.address)).map((i) => instanceFact(i, n.address))]));
  }

  async #groups(groupIds: readonly string[], signal: AbortSignal): Promise<SecurityGroupFact[]> {
    if (groupIds.length === 0) return [];
    const out = await this.#call('ec2:DescribeSecurityGroups', signal, (s) => this.#ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [...groupIds] }), { abortSignal: s }));
    return (out.SecurityGroups ?? []).map((g) => ({ groupId: g.GroupId ?? '', ingress: securityRules(g.IpPermissions), egress: securityRules(g.IpPermissionsEgress) }));
  }

  async #routeTables(vpcId: string, vip: string, signal: AbortSignal): Promise<{ tables: RouteTableFact[]; peered: PeeredNetworkFact[] }> {
    const tables: RouteTableFact[] = [];
    const peered: PeeredNetworkFact[] = [];
    let token: string | undefined;
    do {
      const page = await this.#call('ec2:DescribeRouteTables', signal, (s) => this.#ec2.send(new DescribeRouteTablesCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }], MaxResults: 100, ...(token === undefined ? {} : { NextToken: token }) }), { abortSignal: s }));
      for (const t of page.RouteTables ?? []) {
        if (t.RouteTableId === undefined) continue;
        tables.push({
          id: t.RouteTableId,
          tags: Object.fromEntries((t.Tags ?? []).flatMap((x) => (x.Key === undefined ? [] : [[x.Key, x.Value ?? '']]))),
          hasVipRoute: (t.Routes ?? []).some((r) => r.DestinationCidrBlock === `${vip}/32`),
        });
        peered.push(...peeredRoutes(t));
      }
      token = page.NextToken;
    } while (token !== undefined);
    return { tables, peered };
  }

  async #status(release: NonNullable<DescribeInput['release']>, node: string, signal: AbortSignal): Promise<PublishedStatusFact> {
    const key = statusKey(release.prefix, node);
    let text: string;
    try {
      text = await this.#call('s3:GetObject', signal, async (s) => {
        const out = await this.#s3.send(new GetObjectCommand({ Bucket: release.bucket, Key: key }), { abortSignal: s });
        return (await out.Body?.transformToString('utf8')) ?? '';
      });
    } catch (err) {
      if (err instanceof OverlayError && err.code === 'CLOUD_NOT_FOUND') return { state: 'missing' };
      return { state: 'unreadable', message: err instanceof Error ? err.message : String(err) };
    }
    try {
      const v = JSON.parse(text) as { format?: unknown; publishedAt?: unknown; intervalMs?: unknown; specVersion?: unknown; status?: { specHash?: unknown } };
      if (v.format !== 1 || typeof v.publishedAt !== 'number' || typeof v.intervalMs !== 'number' || typeof v.status?.specHash !== 'string') {
        return { state: 'unreadable', message: `s3://${release.bucket}/${key} is not a status of format 1` };
      }
      return { state: 'present', specHash: v.status.specHash, specVersion: typeof v.specVersion === 'string' ? v.specVersion : null, publishedAt: v.publishedAt, intervalMs: v.intervalMs };
    } catch {
      return { state: 'unreadable', message: `s3://${release.bucket}/${key} is not JSON` };
    }
  }

  /** Every fact but the route permissions: the VPC, the nodes' instances and groups, the route tables, the statuses. */
  async describe(input: DescribeInput, options: { readonly signal: AbortSignal }): Promise<DescribedCluster> {
    const { signal } = options;
    const vpc = await this.#vpc(input.vpcId, signal);
    if (vpc === null) return { vpc, instances: new Map(), groups: [], routeTables: [], peeredNetworks: [], statuses: null, now: this.apiNow() };
    const [instances, routes] = await Promise.all([this.#instances(input, signal), this.#routeTables(input.vpcId, input.vip, signal)]);
    const groupIds = [...new Set([...instances.values()].flat().flatMap((i) => i.groupIds))].sort();
    const groups = await this.#groups(groupIds, signal);
    const release = input.release;
    const statuses = release === undefined ? null : new Map(await Promise.all(input.nodes.map(async (n) => [n.name, await this.#status(release, n.name, signal)] as const)));
    return { vpc, instances, groups, routeTables: routes.tables, peeredNetworks: routes.peered, statuses, now: this.apiNow() };
  }

  /**
   * DryRun of the VIP route's write on `routeTableId` targeting `networkInterfaceId`: ReplaceRoute
   * where the route exists, CreateRoute where it does not (what a claim does first).
   */
  async dryRunRoute(input: { readonly routeTableId: string; readonly vip: string; readonly networkInterfaceId: string; readonly exists: boolean }, options: { readonly signal: AbortSignal }): Promise<DryRunFact> {
    const params = { DryRun: true, RouteTableId: input.routeTableId, DestinationCidrBlock: `${input.vip}/32`, NetworkInterfaceId: input.networkInterfaceId };
    const action = input.exists ? 'ec2:ReplaceRoute' : 'ec2:CreateRoute';
    try {
      await this.#call(action, options.signal, (s) => (input.exists ? this.#ec2.send(new ReplaceRouteCommand(params), { abortSignal: s }) : this.#ec2.send(new CreateRouteCommand(params), { abortSignal: s })));
      // EC2 never answers a DryRun with success; a server that does has done the write.
      return { outcome: 'error', message: `${action} with DryRun answered success instead of DryRunOperation: the endpoint does not honour DryRun` };
    } catch (err) {
      const code = err instanceof OverlayError ? err.code : undefined;
      if (code === 'CLOUD_DRY_RUN_OK') return { outcome: 'allowed' };
      const message = err instanceof Error ? err.message : String(err);
      if (code === 'CLOUD_UNAUTHORIZED') return { outcome: 'denied', message };
      return { outcome: 'error', message };
    }
  }

  /**
   * One DescribeRouteTables of the VPC within `timeoutMs`, no retry: whether this machine reaches
   * the EC2 API (from a node: through a VPC endpoint or a NAT), and the API's clock minus ours
   * (its Date header has whole seconds: the middle of that second is taken). Without credentials
   * to sign with, nothing is sent: `cause: 'credentials'`, not an unreachable API.
   */
  async probeApi(vpcId: string, options: { readonly signal: AbortSignal; readonly timeoutMs: number }): Promise<{ readonly ok: true; readonly clockSkewMs: number | null } | { readonly ok: false; readonly cause: 'unreachable' | 'credentials'; readonly message: string }> {
    const signal = timeoutSignal(options.timeoutMs, options.signal);
    try {
      await this.#ec2.send(new DescribeRouteTablesCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }], MaxResults: 5 }), { abortSignal: signal });
      const d = this.#apiDate;
      return { ok: true, clockSkewMs: d === null ? null : d.date + 500 - d.at };
    } catch (err) {
      // The SDK's credential chain found nothing (on a node: the metadata service gave no role
      // credentials): nothing was sent, so the API's reachability is unknown.
      const cause = (err as { name?: unknown } | null)?.name === 'CredentialsProviderError' ? 'credentials' : 'unreachable';
      return { ok: false, cause, message: wrapAwsError(err, 'ec2:DescribeRouteTables', signal).message };
    }
  }

  destroy(): void {
    this.#ec2.destroy();
    this.#s3.destroy();
  }
}
