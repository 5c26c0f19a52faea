/**
 * The lab's in-memory cloud: VPCs, subnets, route tables, instances, ENIs, Elastic IPs, tags and
 * instance roles, as plain data with methods that enforce EC2's rules. No I/O: the HTTP server
 * (server.ts) and `lab up` drive it; the kernel side subscribes to its events and mirrors route,
 * source/dest-check and address changes into the data path.
 *
 * Mutations throw Ec2ApiError with EC2's codes, so the API answers exactly what the model decided.
 * For eventual consistency the model can keep a time-stamped history of its data; describes then
 * read the world as it was a while ago (viewAt).
 */
import { randomBytes } from 'node:crypto';
import { cidrContains, cidrWithin, cidrOverlaps, formatIpv4, parseCidr, parseIpv4 } from './cidr.js';
import { Ec2ApiError, ec2Errors } from './errors.js';
import { EC2_TRUST_POLICY, LabIam, type IamRoleData, type InstanceProfileData } from '../iam/model.js';
import type { LabCredential, PolicyDocument } from './policy.js';
import {
  describeRule, ruleKey, securityGroupErrors, SECURITY_GROUP_LIMITS,
  type RuleDirection, type SecurityGroupData, type SecurityGroupRuleData, type SecurityGroupRuleSpec,
} from './security-groups.js';

export type Tags = Readonly<Record<string, string>>;

export interface VpcData { readonly vpcId: string; readonly cidrBlock: string; tags: Record<string, string> }
export interface SubnetData {
  readonly subnetId: string; readonly vpcId: string; readonly cidrBlock: string; readonly availabilityZone: string;
  tags: Record<string, string>;
}
export interface InternetGatewayData { readonly internetGatewayId: string; readonly vpcId: string; tags: Record<string, string> }
/**
 * A virtual private gateway (the VPC side of a Site-to-Site VPN or Direct Connect): routes may send
 * a network to it while it is attached to their VPC. The lab has no VPN behind it: traffic routed
 * to it is dropped, as on AWS while no tunnel is up.
 */
export interface VpnGatewayData {
  readonly vpnGatewayId: string; readonly type: 'ipsec.1'; readonly amazonSideAsn: number;
  /** The VPC it is attached to (one at a time), or null. */
  vpcId: string | null;
  tags: Record<string, string>;
}
export type RouteTarget =
  | { readonly kind: 'local' }
  | { readonly kind: 'gateway'; readonly gatewayId: string }
  | { readonly kind: 'eni'; readonly networkInterfaceId: string };
export interface RouteData {
  readonly destinationCidrBlock: string;
  target: RouteTarget;
  readonly origin: 'CreateRouteTable' | 'CreateRoute';
}
export interface AssociationData { readonly associationId: string; readonly subnetId: string | null; readonly main: boolean }
export interface RouteTableData {
  readonly routeTableId: string; readonly vpcId: string; routes: RouteData[]; associations: AssociationData[];
  tags: Record<string, string>;
}
export type InstanceStateName = 'pending' | 'running' | 'shutting-down' | 'terminated' | 'stopping' | 'stopped';
/** EC2's state codes (the low byte of `instanceState.code`). */
export const INSTANCE_STATE_CODES: Readonly<Record<InstanceStateName, number>> = {
  pending: 0, running: 16, 'shutting-down': 32, terminated: 48, stopping: 64, stopped: 80,
};
/** The instance metadata options of RunInstances (`MetadataOptions`), as DescribeInstances shows them. */
export interface InstanceMetadataOptions {
  readonly httpTokens: 'optional' | 'required';
  readonly httpPutResponseHopLimit: number;
  readonly httpEndpoint: 'enabled' | 'disabled';
  readonly httpProtocolIpv6: 'enabled' | 'disabled';
  readonly instanceMetadataTags: 'enabled' | 'disabled';
}
export interface InstanceData {
  readonly instanceId: string; readonly subnetId: string; readonly vpcId: string; state: InstanceStateName;
  readonly roleName: string | null; readonly launchTime: number; readonly reservationId: string;
  tags: Record<string, string>;
  // Set for instances launched through RunInstances (the seeded ones of `lab up` have none).
  readonly imageId?: string;
  readonly instanceType?: string;
  /** The instance profile by name: its role (looked up when used) gives the IMDS credentials. */
  readonly instanceProfileName?: string | null;
  /** Base64, as given to RunInstances. */
  readonly userData?: string | null;
  /** Replaced by ModifyInstanceMetadataOptions. */
  metadataOptions?: InstanceMetadataOptions;
  readonly securityGroupIds?: readonly string[];
  readonly clientToken?: string;
  readonly amiLaunchIndex?: number;
  /** The primary ENI's address, kept for DescribeInstances after the ENI is gone (terminated). */
  readonly privateIp?: string;
  stateReason?: { readonly code: string; readonly message: string } | null;
  stateTransitionReason?: string;
  /** The console log (newest 64 KiB), as GetConsoleOutput answers it; written by the instance host. */
  consoleOutput?: string;
  consoleTime?: number;
}
export interface EniAttachment { readonly attachmentId: string; readonly instanceId: string; readonly deviceIndex: number }
export interface NetworkInterfaceData {
  readonly networkInterfaceId: string; readonly subnetId: string; readonly vpcId: string; readonly privateIp: string;
  readonly mac: string; sourceDestCheck: boolean; attachment: EniAttachment | null; readonly description: string;
  tags: Record<string, string>;
  /** Security group ids (1-5; empty only for ENIs restored from a state file older than security groups: unfiltered). */
  groups: string[];
}
export interface AddressAssociation { readonly associationId: string; readonly networkInterfaceId: string; readonly privateIp: string }
export interface AddressData {
  readonly allocationId: string; readonly publicIp: string; association: AddressAssociation | null;
  tags: Record<string, string>;
}
export interface RoleCredentialData {
  readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken: string;
  readonly roleName: string; readonly expiration: number;
}

/** Everything the lab's cloud holds. Plain JSON: snapshot() writes it, restore() reads it back. */
export interface World {
  counters: Record<string, number>;
  vpcs: Record<string, VpcData>;
  subnets: Record<string, SubnetData>;
  internetGateways: Record<string, InternetGatewayData>;
  /** Virtual private gateways by id (AttachVpnGateway and the routes that use them). */
  vpnGateways: Record<string, VpnGatewayData>;
  routeTables: Record<string, RouteTableData>;
  instances: Record<string, InstanceData>;
  networkInterfaces: Record<string, NetworkInterfaceData>;
  addresses: Record<string, AddressData>;
  /** IAM roles by name (src/lab/iam/model.ts). */
  roles: Record<string, IamRoleData>;
  instanceProfiles: Record<string, InstanceProfileData>;
  roleCredentials: Record<string, RoleCredentialData>;
  /** Security groups by id (src/lab/ec2/security-groups.ts). */
  securityGroups: Record<string, SecurityGroupData>;
  /** RunInstances' idempotency tokens: the request's fingerprint and the reservation it made. */
  clientTokens: Record<string, { readonly fingerprint: string; readonly reservationId: string; readonly instanceIds: readonly string[] }>;
}

/** A change the data path must mirror. Emitted synchronously after each committed mutation. */
export type LabCloudEvent =
  | {
    readonly type: 'route-changed'; readonly routeTableId: string; readonly destinationCidrBlock: string;
    /** null: the route was deleted. */
    readonly target: { readonly networkInterfaceId: string } | { readonly gatewayId: string } | null;
  }
  | { readonly type: 'source-dest-check'; readonly networkInterfaceId: string; readonly enabled: boolean }
  | {
    readonly type: 'address-associated'; readonly allocationId: string; readonly publicIp: string;
    readonly networkInterfaceId: string; readonly privateIp: string;
  }
  | { readonly type: 'address-disassociated'; readonly allocationId: string; readonly publicIp: string }
  /** A new table, holding only the VPC's local route. */
  | { readonly type: 'route-table-created'; readonly routeTableId: string; readonly vpcId: string; readonly main: boolean }
  /** The table a subnet uses changed (explicit association, or a new main table for unassociated subnets). */
  | { readonly type: 'association-changed'; readonly routeTableId: string; readonly subnetId: string; readonly associationId: string | null }
  | { readonly type: 'instance-state'; readonly instanceId: string; readonly state: InstanceStateName }
  /** ModifyInstanceMetadataOptions changed an instance's options (the IMDS hop limit is kernel state). */
  | { readonly type: 'metadata-options-changed'; readonly instanceId: string }
  /**
   * What some ENI may send or receive changed (a rule, an ENI's groups, a new ENI in a group that
   * rules refer to): the data path re-reads every ENI's rules (`resolveEniFirewalls`).
   */
  | { readonly type: 'security-groups-changed' };

export type LabCloudListener = (event: LabCloudEvent) => void;

/** What an instance knows about itself: served by the IMDS. */
export interface LabInstanceIdentity {
  readonly instanceId: string;
  readonly accountId: string;
  readonly region: string;
  readonly availabilityZone: string;
  readonly privateIp: string;
  readonly mac: string;
  readonly imageId: string;
  readonly instanceType: string;
  readonly launchTime: number;
  readonly interfaces: readonly {
    readonly mac: string; readonly networkInterfaceId: string; readonly privateIp: string;
    readonly subnetId: string; readonly vpcId: string; readonly subnetCidr: string; readonly vpcCidr: string; readonly deviceIndex: number;
  }[];
  /** Present when the instance has a role: issues (or reuses) its temporary credentials. */
  readonly roleName: string | null;
  /** `MetadataOptions.HttpTokens` of an API-launched instance; absent: the IMDS server's default. */
  readonly httpTokens?: 'optional' | 'required';
  /** `disabled`: the IMDS does not answer this instance. */
  readonly httpEndpoint?: 'enabled' | 'disabled';
  /** The user data (base64), served decoded at `/latest/user-data`. */
  readonly userData?: string | null;
  /** Instance tags, when `InstanceMetadataTags` is enabled (`meta-data/tags/instance/`). */
  readonly tags?: Readonly<Record<string, string>> | null;
  readonly credentials: (() => RoleCredentialData) | null;
}

export type RouteTargetInput =
  | { readonly networkInterfaceId: string }
  | { readonly instanceId: string }
  | { readonly gatewayId: string };

/**
 * The AMI every lab instance reports: Debian 12, what the lab's host runs (instances are
 * namespaces of the host). DescribeImages describes it as Debian's own AMIs are described.
 */
export const LAB_IMAGE_ID = 'ami-0deb12a0000000001';
/** Debian's AWS account, the owner of the official Debian AMIs (https://wiki.debian.org/Cloud/AmazonEC2Image). */
export const DEBIAN_OWNER_ID = '136693071363';
export const LAB_IMAGE_NAME = 'debian-12-amd64-20240717-1811';
export const LAB_INSTANCE_TYPE = 't3.micro';
/** Role credentials live this long, as an instance profile's do (IMDS refreshes them earlier). */
const ROLE_CREDENTIAL_LIFETIME_MS = 6 * 3600_000;
/**
 * 2: IAM roles with trust and inline policies, instance profiles. 3: security groups (a version 2
 * snapshot is read too: no groups, its ENIs stay unfiltered).
 */
const SNAPSHOT_VERSION = 3;
/** GetConsoleOutput answers the newest 64 KiB of the console. */
const CONSOLE_OUTPUT_MAX = 64 * 1024;

function emptyWorld(): World {
  return {
    counters: {}, vpcs: {}, subnets: {}, internetGateways: {}, vpnGateways: {}, routeTables: {}, instances: {},
    networkInterfaces: {}, addresses: {}, roles: {}, instanceProfiles: {}, roleCredentials: {}, securityGroups: {}, clientTokens: {},
  };
}

/** `true` if `text` looks like an id with this prefix (`rtb-` + hex), as EC2 checks before lookups. */
export function isWellFormedId(prefix: string, text: string): boolean {
  return new RegExp(`^${prefix}-[0-9a-f]{8,17}$`).test(text);
}

const ID_KINDS: Readonly<Record<string, { code: string; noun: string; collection: keyof World }>> = {
  vpc: { code: 'InvalidVpcID', noun: 'vpc', collection: 'vpcs' },
  subnet: { code: 'InvalidSubnetID', noun: 'subnet', collection: 'subnets' },
  igw: { code: 'InvalidInternetGatewayID', noun: 'internetGateway', collection: 'internetGateways' },
  vgw: { code: 'InvalidVpnGatewayID', noun: 'vpnGateway', collection: 'vpnGateways' },
  rtb: { code: 'InvalidRouteTableID', noun: 'routeTable', collection: 'routeTables' },
  i: { code: 'InvalidInstanceID', noun: 'instance', collection: 'instances' },
  eni: { code: 'InvalidNetworkInterfaceID', noun: 'networkInterface', collection: 'networkInterfaces' },
  eipalloc: { code: 'InvalidAllocationID', noun: 'allocation', collection: 'addresses' },
};

/**
 * Look up a resource by id in a world, throwing EC2's `.Malformed` / `.NotFound` errors.
 * Used by the model and by the read-only describe handlers.
 */
export function lookup<T>(world: World, prefix: string, id: string): T {
  const kind = ID_KINDS[prefix];
  if (kind === undefined) throw new Error(`unknown id prefix ${prefix}`);
  if (!isWellFormedId(prefix, id)) throw ec2Errors.malformed(`${kind.code}.Malformed`, id);
  const found = (world[kind.collection] as Record<string, T>)[id];
  if (found === undefined) throw ec2Errors.notFound(`${kind.code}.NotFound`, kind.noun, id);
  return found;
}

/** A security group by id, with EC2's `InvalidGroupId.Malformed` / `InvalidGroup.NotFound`. */
export function lookupGroup(world: World, groupId: string): SecurityGroupData {
  if (!isWellFormedId('sg', groupId)) throw securityGroupErrors.malformed(groupId);
  const found = world.securityGroups[groupId];
  if (found === undefined) throw securityGroupErrors.notFound(groupId);
  return found;
}

/** The route table a subnet uses: its explicit association, else its VPC's main table. */
export function effectiveRouteTable(world: World, subnetId: string): RouteTableData | undefined {
  const tables = Object.values(world.routeTables);
  const explicit = tables.find((t) => t.associations.some((a) => a.subnetId === subnetId));
  if (explicit !== undefined) return explicit;
  const vpcId = world.subnets[subnetId]?.vpcId;
  return tables.find((t) => t.vpcId === vpcId && t.associations.some((a) => a.main));
}

/** `active`, or `blackhole` when the target ENI is gone or its instance is not running. */
export function routeState(world: World, route: RouteData, table: RouteTableData): 'active' | 'blackhole' {
  if (route.target.kind === 'gateway' && route.target.gatewayId.startsWith('vgw-')) {
    // A virtual private gateway's route is a blackhole once the gateway left the table's VPC.
    const vgw = world.vpnGateways[route.target.gatewayId];
    return vgw?.vpcId === table.vpcId ? 'active' : 'blackhole';
  }
  if (route.target.kind !== 'eni') return 'active';
  const eni = world.networkInterfaces[route.target.networkInterfaceId];
  if (eni === undefined) return 'blackhole';
  if (eni.attachment === null) return 'active';
  return world.instances[eni.attachment.instanceId]?.state === 'running' ? 'active' : 'blackhole';
}

/** The resource type name of an id, as DescribeTags reports it. */
export function resourceTypeOf(id: string): string | undefined {
  const prefix = id.slice(0, id.indexOf('-'));
  return ({
    vpc: 'vpc', subnet: 'subnet', igw: 'internet-gateway', vgw: 'vpn-gateway', rtb: 'route-table', i: 'instance',
    eni: 'network-interface', eipalloc: 'elastic-ip', sg: 'security-group',
  } as Record<string, string>)[prefix];
}

export interface LabCloudOptions {
  readonly region: string;
  /** @default '123456789012' */
  readonly accountId?: string;
  /** Milliseconds since the epoch. @default Date.now */
  readonly clock?: () => number;
  /** First public address handed out by allocateAddress. @default '198.51.100.10' (TEST-NET-2) */
  readonly publicIpBase?: string;
}

/**
 * The lab's cloud. Create resources with the create* methods (as `lab up` does), serve it with
 * startEc2Api, and mirror it into the kernel with on(listener).
 */
export class LabCloud {
  readonly region: string;
  readonly accountId: string;
  readonly clock: () => number;
  private world: World = emptyWorld();
  private readonly listeners = new Set<LabCloudListener>();
  private readonly publicIpBase: number;
  /** Time-stamped copies of the world, oldest first; kept only while retainHistoryMs > 0. */
  private history: { time: number; world: World }[] = [];
  private retainHistoryMs = 0;
  /** The account's IAM (roles, inline policies, instance profiles), kept in the same world. */
  readonly iam: LabIam;

  constructor(options: LabCloudOptions) {
    this.region = options.region;
    this.accountId = options.accountId ?? '123456789012';
    this.clock = options.clock ?? Date.now;
    this.iam = new LabIam({ store: () => this.world, commit: () => this.commit([]), clock: this.clock, accountId: this.accountId });
    const base = parseIpv4(options.publicIpBase ?? '198.51.100.10');
    if (base === undefined) throw new Error(`publicIpBase ${options.publicIpBase ?? ''} is not an IPv4 address`);
    this.publicIpBase = base;
  }

  /** The ARN of a resource of this account and region (`arn:aws:ec2:REGION:ACCOUNT:TYPE/ID`). */
  arn(type: string, id: string): string {
    return `arn:aws:ec2:${this.region}:${this.accountId}:${type}/${id}`;
  }

  // ---- observation -------------------------------------------------------------------------

  /** Subscribe to changes; returns the unsubscribe function. */
  on(listener: LabCloudListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Alias of on(). */
  subscribe(listener: LabCloudListener): () => void {
    return this.on(listener);
  }

  /** The current world, read-only. */
  view(): Readonly<World> {
    return this.world;
  }

  /**
   * The world as a describe at `time` sees it: the newest recorded copy not newer than `time`
   * (eventual consistency), or the current world when no history is kept.
   */
  viewAt(time: number): Readonly<World> {
    if (this.retainHistoryMs <= 0 || this.history.length === 0) return this.world;
    let chosen = this.history[0]!.world;
    for (const entry of this.history) {
      if (entry.time > time) break;
      chosen = entry.world;
    }
    return chosen;
  }

  /** Keep copies of the world for `ms` (0 stops and drops the history). Used by the consistency fault. */
  retainHistory(ms: number): void {
    this.retainHistoryMs = ms;
    this.history = ms > 0 ? [{ time: this.clock(), world: structuredClone(this.world) }] : [];
  }

  /** JSON of the whole world, for the lab's state file. */
  snapshot(): string {
    return JSON.stringify({ version: SNAPSHOT_VERSION, region: this.region, accountId: this.accountId, world: this.world });
  }

  /** Replace the world by a snapshot() (no events are emitted: the caller rebuilds from it). */
  restore(json: string): void {
    const parsed = JSON.parse(json) as { version?: unknown; region?: unknown; world?: World };
    if ((parsed.version !== SNAPSHOT_VERSION && parsed.version !== 2) || parsed.world === undefined) {
      throw new Error(`lab cloud snapshot has version ${String(parsed.version)}; this build reads versions 2 and ${SNAPSHOT_VERSION}`);
    }
    if (parsed.region !== this.region) throw new Error(`lab cloud snapshot is for region ${String(parsed.region)}, not ${this.region}`);
    this.world = { ...emptyWorld(), ...parsed.world };
    // Version 2 had no security groups: its ENIs have none (unfiltered, as before).
    for (const eni of Object.values(this.world.networkInterfaces)) eni.groups ??= [];
    for (const vpcId of Object.keys(this.world.vpcs)) {
      if (!Object.values(this.world.securityGroups).some((g) => g.vpcId === vpcId && g.groupName === 'default')) this.addDefaultSecurityGroup(vpcId);
    }
    if (this.retainHistoryMs > 0) this.retainHistory(this.retainHistoryMs);
  }

  private nextId(prefix: string): string {
    const n = (this.world.counters[prefix] ?? 0) + 1;
    this.world.counters[prefix] = n;
    return `${prefix}-${n.toString(16).padStart(17, '0')}`;
  }

  /**
   * A new id: the next counter value, or `requested` (as `lab up` passes the ids of its plan) when
   * it is well-formed and unused.
   */
  private claimId(prefix: string, requested: string | undefined): string {
    if (requested === undefined) return this.nextId(prefix);
    const kind = ID_KINDS[prefix];
    if (!isWellFormedId(prefix, requested)) throw ec2Errors.malformed(`${kind?.code ?? 'InvalidID'}.Malformed`, requested);
    if (kind !== undefined && (this.world[kind.collection] as Record<string, unknown>)[requested] !== undefined) {
      throw ec2Errors.invalidParameterValue(`The ${kind.noun} ID '${requested}' already exists`);
    }
    return requested;
  }

  private commit(events: readonly LabCloudEvent[]): void {
    if (this.retainHistoryMs > 0) {
      const now = this.clock();
      this.history.push({ time: now, world: structuredClone(this.world) });
      // Keep the newest copy older than the window: it is what a delayed read at the window's edge sees.
      while (this.history.length > 1 && this.history[1]!.time <= now - this.retainHistoryMs) this.history.shift();
    }
    for (const event of events) for (const listener of [...this.listeners]) listener(event);
  }

  // ---- creation (lab up, tests) --------------------------------------------------------------

  /** A VPC and, as in AWS, its main route table with the local route (unless mainRouteTable is false). */
  createVpc(options: { cidr: string; tags?: Tags; mainRouteTable?: boolean; vpcId?: string; mainRouteTableId?: string }): {
    vpcId: string; mainRouteTableId: string | null;
  } {
    if (parseCidr(options.cidr) === undefined) throw invalidCidr('cidrBlock', options.cidr);
    const vpcId = this.claimId('vpc', options.vpcId);
    this.world.vpcs[vpcId] = { vpcId, cidrBlock: options.cidr, tags: { ...options.tags } };
    this.addDefaultSecurityGroup(vpcId);
    this.commit([]);
    const mainRouteTableId = options.mainRouteTable === false ? null : this.createRouteTable({
      vpcId, main: true, ...(options.mainRouteTableId === undefined ? {} : { routeTableId: options.mainRouteTableId }),
    }).routeTableId;
    return { vpcId, mainRouteTableId };
  }

  /** A subnet inside its VPC's CIDR, not overlapping another subnet. */
  createSubnet(options: { vpcId: string; cidr: string; availabilityZone: string; tags?: Tags; subnetId?: string }): { subnetId: string } {
    const vpc = lookup<VpcData>(this.world, 'vpc', options.vpcId);
    const cidr = parseCidr(options.cidr);
    if (cidr === undefined) throw invalidCidr('cidrBlock', options.cidr);
    if (!cidrWithin(parseCidr(vpc.cidrBlock)!, cidr)) {
      throw new Ec2ApiError({ code: 'InvalidSubnet.Range', message: `The CIDR '${options.cidr}' is invalid.` });
    }
    const clash = Object.values(this.world.subnets).find((s) => s.vpcId === vpc.vpcId && cidrOverlaps(parseCidr(s.cidrBlock)!, cidr));
    if (clash !== undefined) throw new Ec2ApiError({ code: 'InvalidSubnet.Conflict', message: `The CIDR '${options.cidr}' conflicts with another subnet` });
    if (!options.availabilityZone.startsWith(this.region)) {
      throw ec2Errors.invalidParameterValue(`Value (${options.availabilityZone}) for parameter availabilityZone is invalid. Subnets can currently only be created in the following availability zones: ${this.region}a, ${this.region}b, ${this.region}c.`);
    }
    const subnetId = this.claimId('subnet', options.subnetId);
    this.world.subnets[subnetId] = {
      subnetId, vpcId: vpc.vpcId, cidrBlock: options.cidr, availabilityZone: options.availabilityZone, tags: { ...options.tags },
    };
    const main = effectiveRouteTable(this.world, subnetId);
    this.commit(main === undefined ? [] : [{ type: 'association-changed', routeTableId: main.routeTableId, subnetId, associationId: null }]);
    return { subnetId };
  }

  /** An internet gateway attached to a VPC (a route target for public subnets). */
  createInternetGateway(options: { vpcId: string; tags?: Tags }): { internetGatewayId: string } {
    lookup<VpcData>(this.world, 'vpc', options.vpcId);
    const internetGatewayId = this.nextId('igw');
    this.world.internetGateways[internetGatewayId] = { internetGatewayId, vpcId: options.vpcId, tags: { ...options.tags } };
    this.commit([]);
    return { internetGatewayId };
  }

  // ---- virtual private gateways (CreateVpnGateway, AttachVpnGateway, ...) --------------------

  /**
   * CreateVpnGateway: a detached gateway. Its Amazon side ASN is a private one, 64512 by default
   * (16-bit 64512-65534 or 32-bit 4200000000-4294967294, as EC2 allows).
   */
  createVpnGateway(options: { type: string; amazonSideAsn?: number; tags?: Tags }): VpnGatewayData {
    if (options.type !== 'ipsec.1') throw ec2Errors.invalidParameterValue(`Value (${options.type}) for parameter type is invalid. Allowed: ipsec.1.`);
    const asn = options.amazonSideAsn ?? 64512;
    if (!Number.isInteger(asn) || !((asn >= 64512 && asn <= 65534) || (asn >= 4_200_000_000 && asn <= 4_294_967_294))) throw invalidAmazonSideAsn(String(asn));
    const vpnGatewayId = this.nextId('vgw');
    const vgw: VpnGatewayData = { vpnGatewayId, type: 'ipsec.1', amazonSideAsn: asn, vpcId: null, tags: { ...options.tags } };
    this.world.vpnGateways[vpnGatewayId] = vgw;
    this.commit([]);
    return vgw;
  }

  /** AttachVpnGateway: one gateway per VPC and one VPC per gateway, at a time. */
  attachVpnGateway(options: { vpnGatewayId: string; vpcId: string }): void {
    const vgw = lookup<VpnGatewayData>(this.world, 'vgw', options.vpnGatewayId);
    const vpc = lookup<VpcData>(this.world, 'vpc', options.vpcId);
    if (vgw.vpcId !== null) {
      throw new Ec2ApiError({ code: 'IncorrectState', message: `The vpn gateway ${vgw.vpnGatewayId} is already attached to ${vgw.vpcId}: detach it first (DetachVpnGateway).` });
    }
    const other = Object.values(this.world.vpnGateways).find((g) => g.vpcId === vpc.vpcId);
    if (other !== undefined) {
      throw new Ec2ApiError({ code: 'VpnGatewayAttachmentLimitExceeded', message: `The VPC ${vpc.vpcId} already has the virtual private gateway ${other.vpnGatewayId} attached; a VPC can have one at a time.` });
    }
    vgw.vpcId = vpc.vpcId;
    this.commit([]);
  }

  /** DetachVpnGateway: routes to the gateway stay, as blackholes (routeState). */
  detachVpnGateway(options: { vpnGatewayId: string; vpcId: string }): void {
    const vgw = lookup<VpnGatewayData>(this.world, 'vgw', options.vpnGatewayId);
    lookup<VpcData>(this.world, 'vpc', options.vpcId);
    if (vgw.vpcId !== options.vpcId) {
      throw new Ec2ApiError({ code: 'InvalidVpnGatewayAttachment.NotFound', message: `The attachment with vpn gateway ID '${vgw.vpnGatewayId}' and vpc ID '${options.vpcId}' does not exist` });
    }
    vgw.vpcId = null;
    this.commit([]);
  }

  /** DeleteVpnGateway: only a detached gateway (the lab forgets it at once; EC2 shows it as `deleted` for a while). */
  deleteVpnGateway(options: { vpnGatewayId: string }): void {
    const vgw = lookup<VpnGatewayData>(this.world, 'vgw', options.vpnGatewayId);
    if (vgw.vpcId !== null) {
      throw new Ec2ApiError({ code: 'IncorrectState', message: `The vpn gateway ${vgw.vpnGatewayId} is attached to ${vgw.vpcId}: detach it first (DetachVpnGateway).` });
    }
    delete this.world.vpnGateways[vgw.vpnGatewayId];
    this.commit([]);
  }

  /** A route table with the VPC's local route; `main: true` makes it the VPC's main table. */
  createRouteTable(options: { vpcId: string; main?: boolean; tags?: Tags; routeTableId?: string }): { routeTableId: string } {
    const vpc = lookup<VpcData>(this.world, 'vpc', options.vpcId);
    const routeTableId = this.claimId('rtb', options.routeTableId);
    const events: LabCloudEvent[] = [];
    const associations: AssociationData[] = [];
    if (options.main === true) {
      for (const t of Object.values(this.world.routeTables)) {
        if (t.vpcId === vpc.vpcId) t.associations = t.associations.filter((a) => !a.main);
      }
      associations.push({ associationId: this.nextId('rtbassoc'), subnetId: null, main: true });
    }
    this.world.routeTables[routeTableId] = {
      routeTableId, vpcId: vpc.vpcId, associations, tags: { ...options.tags },
      routes: [{ destinationCidrBlock: vpc.cidrBlock, target: { kind: 'local' }, origin: 'CreateRouteTable' }],
    };
    // No route-changed event for the local route: route-table-created implies it (the kernel side
    // reaches the VPC's subnets from every table by construction).
    events.push({ type: 'route-table-created', routeTableId, vpcId: vpc.vpcId, main: options.main === true });
    if (options.main === true) {
      for (const s of Object.values(this.world.subnets)) {
        if (s.vpcId === vpc.vpcId && effectiveRouteTable(this.world, s.subnetId)?.routeTableId === routeTableId) {
          events.push({ type: 'association-changed', routeTableId, subnetId: s.subnetId, associationId: null });
        }
      }
    }
    this.commit(events);
    return { routeTableId };
  }

  /** Associate a subnet with a table (a subnet has at most one explicit association). */
  associateRouteTable(options: { routeTableId: string; subnetId: string }): { associationId: string } {
    const table = lookup<RouteTableData>(this.world, 'rtb', options.routeTableId);
    const subnet = lookup<SubnetData>(this.world, 'subnet', options.subnetId);
    if (table.vpcId !== subnet.vpcId) {
      throw ec2Errors.invalidParameterValue(`Route table ${table.routeTableId} and subnet ${subnet.subnetId} belong to different networks`);
    }
    const existing = Object.values(this.world.routeTables).find((t) => t.associations.some((a) => a.subnetId === subnet.subnetId));
    if (existing !== undefined) {
      throw new Ec2ApiError({ code: 'Resource.AlreadyAssociated', message: `the specified association for route table ${existing.routeTableId} conflicts with an existing association` });
    }
    const associationId = this.nextId('rtbassoc');
    table.associations.push({ associationId, subnetId: subnet.subnetId, main: false });
    this.commit([{ type: 'association-changed', routeTableId: table.routeTableId, subnetId: subnet.subnetId, associationId }]);
    return { associationId };
  }

  /** An instance with its primary ENI (device 0) at `privateIp` in the subnet. */
  createInstance(options: {
    subnetId: string; privateIp: string; mac?: string; tags?: Tags; roleName?: string; instanceId?: string; networkInterfaceId?: string;
    /** The primary ENI's security groups. @default the VPC's default group, as EC2 does */
    groupIds?: readonly string[];
  }): {
    instanceId: string; networkInterfaceId: string; mac: string;
  } {
    const subnet = lookup<SubnetData>(this.world, 'subnet', options.subnetId);
    this.checkNewEni(subnet, options.privateIp, options.mac);
    const groups = this.checkGroupsFor(subnet.vpcId, subnet.subnetId, options.groupIds);
    if (options.networkInterfaceId !== undefined) this.claimId('eni', options.networkInterfaceId);
    const instanceId = this.claimId('i', options.instanceId);
    this.world.instances[instanceId] = {
      instanceId, subnetId: subnet.subnetId, vpcId: subnet.vpcId, state: 'running', roleName: options.roleName ?? null,
      launchTime: this.clock(), reservationId: this.nextId('r'), tags: { ...options.tags },
    };
    const eni = this.addEni({
      subnet, privateIp: options.privateIp, mac: options.mac, tags: {}, description: 'Primary network interface', networkInterfaceId: options.networkInterfaceId, groups,
    });
    eni.attachment = { attachmentId: this.nextId('eni-attach'), instanceId, deviceIndex: 0 };
    this.commit([{ type: 'security-groups-changed' }]);
    return { instanceId, networkInterfaceId: eni.networkInterfaceId, mac: eni.mac };
  }

  /** A detached ENI in a subnet. */
  createNetworkInterface(options: {
    subnetId: string; privateIp: string; mac?: string; tags?: Tags; description?: string; networkInterfaceId?: string;
    /** @default the VPC's default group, as EC2 does */
    groupIds?: readonly string[];
  }): {
    networkInterfaceId: string; mac: string;
  } {
    const subnet = lookup<SubnetData>(this.world, 'subnet', options.subnetId);
    this.checkNewEni(subnet, options.privateIp, options.mac);
    const groups = this.checkGroupsFor(subnet.vpcId, subnet.subnetId, options.groupIds);
    const eni = this.addEni({
      subnet, privateIp: options.privateIp, mac: options.mac, tags: { ...options.tags }, description: options.description ?? '', networkInterfaceId: options.networkInterfaceId, groups,
    });
    this.commit([{ type: 'security-groups-changed' }]);
    return { networkInterfaceId: eni.networkInterfaceId, mac: eni.mac };
  }

  /** Attach an ENI to an instance in the same AZ (an instance may have several). */
  attachNetworkInterface(options: { networkInterfaceId: string; instanceId: string; deviceIndex?: number }): { attachmentId: string } {
    const eni = lookup<NetworkInterfaceData>(this.world, 'eni', options.networkInterfaceId);
    const instance = lookup<InstanceData>(this.world, 'i', options.instanceId);
    if (eni.attachment !== null) {
      throw new Ec2ApiError({ code: 'InvalidNetworkInterface.InUse', message: `Interface: [${eni.networkInterfaceId}] in use.` });
    }
    const used = Object.values(this.world.networkInterfaces).filter((e) => e.attachment?.instanceId === instance.instanceId).map((e) => e.attachment!.deviceIndex);
    const deviceIndex = options.deviceIndex ?? Math.max(...used) + 1;
    if (used.includes(deviceIndex)) {
      throw ec2Errors.invalidParameterValue(`Instance '${instance.instanceId}' already has an interface attached at device index '${deviceIndex}'.`);
    }
    const attachmentId = this.nextId('eni-attach');
    eni.attachment = { attachmentId, instanceId: instance.instanceId, deviceIndex };
    this.commit([]);
    return { attachmentId };
  }

  /** Start or stop an instance: routes to its ENIs turn blackhole while it is not running. */
  setInstanceState(options: { instanceId: string; state: InstanceStateName }): void {
    const instance = lookup<InstanceData>(this.world, 'i', options.instanceId);
    instance.state = options.state;
    this.commit([{ type: 'instance-state', instanceId: instance.instanceId, state: options.state }]);
  }

  // ---- instances launched through the API (RunInstances and the lifecycle) --------------------

  /**
   * Who boots and stops API-launched instances (the lab controller's instance host). Without one
   * (a model served alone, in API tests) every transition completes right after the call that
   * started it, so `pending` and `shutting-down` are still observable in that call's answer.
   */
  attachInstanceHost(): () => void {
    this.instanceHostAttached = true;
    return () => {
      this.instanceHostAttached = false;
    };
  }

  private instanceHostAttached = false;

  /**
   * The iam-propagation fault: instance profiles younger than this are unknown to RunInstances
   * (IAM is eventually consistent in AWS). 0: off.
   */
  iamPropagationDelayMs = 0;

  /**
   * RunInstances after the API has checked its parameters: `count` instances (MinCount..MaxCount,
   * as many as the subnet has free addresses, at least MinCount) in one reservation, `pending`.
   * With a client token seen before, the same reservation (and nothing new) when the fingerprint
   * matches, IdempotentParameterMismatch when it does not.
   */
  runInstances(options: {
    subnetId: string; privateIp?: string; minCount: number; maxCount: number; imageId: string; instanceType: string;
    instanceProfileName: string | null; userData: string | null; metadataOptions: InstanceMetadataOptions; securityGroupIds: readonly string[];
    instanceTags: Tags; networkInterfaceTags: Tags; clientToken?: string; fingerprint?: string;
  }): { reservationId: string; instanceIds: string[] } {
    if (options.clientToken !== undefined) {
      const seen = this.world.clientTokens[options.clientToken];
      if (seen !== undefined) {
        if (seen.fingerprint !== (options.fingerprint ?? '')) {
          throw new Ec2ApiError({ code: 'IdempotentParameterMismatch', message: `Arguments on this idempotent request are inconsistent with arguments used in previous request(s).` });
        }
        return { reservationId: seen.reservationId, instanceIds: [...seen.instanceIds] };
      }
    }
    const subnet = lookup<SubnetData>(this.world, 'subnet', options.subnetId);
    // Each instance's primary ENI is in these groups (the VPC's default group when none are given).
    const groups = this.checkGroupsFor(subnet.vpcId, subnet.subnetId, options.securityGroupIds);
    let addresses: string[];
    if (options.privateIp !== undefined) {
      this.checkPrivateIp(subnet, options.privateIp);
      const host = (parseIpv4(options.privateIp)! - parseCidr(subnet.cidrBlock)!.base) >>> 0;
      const size = 2 ** (32 - parseCidr(subnet.cidrBlock)!.prefix);
      if (host < 4 || host === size - 1) {
        throw ec2Errors.invalidParameterValue(`Address ${options.privateIp} is reserved by AWS in subnet ${subnet.subnetId} (the first four and the last address of a subnet).`);
      }
      addresses = [options.privateIp];
    } else {
      addresses = this.freeAddresses(subnet, options.maxCount);
      if (addresses.length < options.minCount) {
        throw new Ec2ApiError({ code: 'InsufficientFreeAddressesInSubnet', message: `There are not enough free addresses in subnet '${subnet.subnetId}' to satisfy the requested number of instances.` });
      }
    }
    const reservationId = this.nextId('r');
    const now = this.clock();
    const instanceIds: string[] = [];
    const events: LabCloudEvent[] = [];
    for (const [index, privateIp] of addresses.entries()) {
      const instanceId = this.nextId('i');
      this.world.instances[instanceId] = {
        instanceId, subnetId: subnet.subnetId, vpcId: subnet.vpcId, state: 'pending', roleName: null, launchTime: now, reservationId,
        tags: { ...options.instanceTags }, imageId: options.imageId, instanceType: options.instanceType,
        instanceProfileName: options.instanceProfileName, userData: options.userData, metadataOptions: options.metadataOptions,
        securityGroupIds: [...groups], amiLaunchIndex: index, privateIp, stateReason: { code: 'pending', message: 'pending' },
        stateTransitionReason: '', consoleOutput: '', ...(options.clientToken === undefined ? {} : { clientToken: options.clientToken }),
      };
      const eni = this.addEni({ subnet, privateIp, mac: undefined, tags: { ...options.networkInterfaceTags }, description: '', networkInterfaceId: undefined, groups: [...groups] });
      eni.attachment = { attachmentId: this.nextId('eni-attach'), instanceId, deviceIndex: 0 };
      instanceIds.push(instanceId);
      events.push({ type: 'instance-state', instanceId, state: 'pending' });
    }
    events.push({ type: 'security-groups-changed' });
    if (options.clientToken !== undefined) {
      this.world.clientTokens[options.clientToken] = { fingerprint: options.fingerprint ?? '', reservationId, instanceIds };
    }
    this.commit(events);
    this.completeWithoutHost(instanceIds);
    return { reservationId, instanceIds };
  }

  /** Up to `count` free host addresses of a subnet (AWS reserves the first four and the last). */
  private freeAddresses(subnet: SubnetData, count: number): string[] {
    const { base, prefix: length } = parseCidr(subnet.cidrBlock)!;
    const used = new Set(Object.values(this.world.networkInterfaces).filter((e) => e.vpcId === subnet.vpcId).map((e) => e.privateIp));
    const out: string[] = [];
    for (let host = 4; host < 2 ** (32 - length) - 1 && out.length < count; host += 1) {
      const candidate = formatIpv4(base + host);
      if (!used.has(candidate)) out.push(candidate);
    }
    return out;
  }

  /**
   * TerminateInstances / StopInstances / StartInstances: every id must exist (checked first), each
   * moves to its transitional state; the answer lists previous and current states.
   * @throws IncorrectInstanceState when an instance cannot make the change (stopping a terminated
   *   or pending one, starting one that is shutting down).
   */
  changeInstanceStates(options: { instanceIds: readonly string[]; action: 'terminate' | 'stop' | 'start'; force?: boolean }): {
    instanceId: string; previous: InstanceStateName; current: InstanceStateName;
  }[] {
    const instances = options.instanceIds.map((id) => lookup<InstanceData>(this.world, 'i', id));
    for (const instance of instances) {
      const s = instance.state;
      const wrong = options.action === 'stop' ? ['pending', 'shutting-down', 'terminated'].includes(s)
        : options.action === 'start' ? ['pending', 'shutting-down', 'terminated', 'stopping'].includes(s) : false;
      if (wrong) {
        const verb = options.action === 'stop' ? 'stopped' : 'started';
        throw new Ec2ApiError({ code: 'IncorrectInstanceState', message: `This instance '${instance.instanceId}' is not in a state from which it can be ${verb}.` });
      }
    }
    const out: { instanceId: string; previous: InstanceStateName; current: InstanceStateName }[] = [];
    const events: LabCloudEvent[] = [];
    const changed: string[] = [];
    const when = new Date(this.clock()).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' GMT');
    for (const instance of instances) {
      const previous = instance.state;
      let next: InstanceStateName = previous;
      if (options.action === 'terminate' && previous !== 'terminated' && previous !== 'shutting-down') next = 'shutting-down';
      if (options.action === 'stop' && (previous === 'running')) next = 'stopping';
      if (options.action === 'start' && previous === 'stopped') next = 'pending';
      if (next !== previous) {
        instance.state = next;
        if (next === 'shutting-down' || next === 'stopping') {
          instance.stateReason = { code: 'Client.UserInitiatedShutdown', message: 'Client.UserInitiatedShutdown: User initiated shutdown' };
          instance.stateTransitionReason = `User initiated (${when})`;
        } else {
          instance.stateReason = { code: 'pending', message: 'pending' };
          instance.stateTransitionReason = '';
        }
        events.push({ type: 'instance-state', instanceId: instance.instanceId, state: next });
        changed.push(instance.instanceId);
      }
      out.push({ instanceId: instance.instanceId, previous, current: next });
    }
    this.commit(events);
    this.completeWithoutHost(changed);
    return out;
  }

  /**
   * Ends a transition (the instance host calls it when the namespace is up, or gone): pending ->
   * running, stopping -> stopped, shutting-down -> terminated. Termination deletes the primary ENI
   * (DeleteOnTermination) and releases its Elastic IP, as EC2 does. A no-op when the instance has
   * moved on (a terminate while it was booting).
   */
  completeInstanceTransition(instanceId: string, from: InstanceStateName): void {
    const instance = this.world.instances[instanceId];
    if (instance === undefined || instance.state !== from) return;
    const events: LabCloudEvent[] = [];
    if (from === 'pending') {
      instance.state = 'running';
      instance.stateReason = null;
      // The instance host has told the data path the ENI's routing realm by now: traffic routed to
      // the ENI (a VIP route) is filtered by its groups as traffic to its address is.
      events.push({ type: 'security-groups-changed' });
    } else if (from === 'stopping') {
      instance.state = 'stopped';
    } else if (from === 'shutting-down') {
      instance.state = 'terminated';
      for (const eni of Object.values(this.world.networkInterfaces).filter((e) => e.attachment?.instanceId === instanceId)) {
        for (const address of Object.values(this.world.addresses)) {
          if (address.association?.networkInterfaceId === eni.networkInterfaceId) {
            address.association = null;
            events.push({ type: 'address-disassociated', allocationId: address.allocationId, publicIp: address.publicIp });
          }
        }
        if (eni.attachment?.deviceIndex === 0) delete this.world.networkInterfaces[eni.networkInterfaceId];
        else eni.attachment = null;
      }
    } else {
      return;
    }
    events.push({ type: 'instance-state', instanceId, state: instance.state });
    // The deleted ENI's rules, and its address in other groups' references, go away.
    if (instance.state === 'terminated') events.push({ type: 'security-groups-changed' });
    this.commit(events);
  }

  /** Appends to an instance's console log (kept to the newest 64 KiB, as GetConsoleOutput answers). */
  appendConsoleOutput(instanceId: string, text: string): void {
    const instance = this.world.instances[instanceId];
    if (instance === undefined || text === '') return;
    const all = (instance.consoleOutput ?? '') + text;
    instance.consoleOutput = all.length > CONSOLE_OUTPUT_MAX ? all.slice(all.length - CONSOLE_OUTPUT_MAX) : all;
    instance.consoleTime = this.clock();
    this.commit([]);
  }

  private completeWithoutHost(instanceIds: readonly string[]): void {
    if (this.instanceHostAttached || instanceIds.length === 0) return;
    setImmediate(() => {
      for (const id of instanceIds) {
        const state = this.world.instances[id]?.state;
        if (state === 'pending' || state === 'stopping' || state === 'shutting-down') this.completeInstanceTransition(id, state);
      }
    });
  }

  /** The role of an instance: its instance profile's role (at the time of asking), or the seeded role. */
  instanceRoleName(instance: InstanceData): string | null {
    if (instance.instanceProfileName === undefined || instance.instanceProfileName === null) return instance.roleName;
    return this.world.instanceProfiles[instance.instanceProfileName]?.roleNames[0] ?? null;
  }

  /** Validation before any change, so a rejected create leaves nothing half-made. */
  private checkNewEni(subnet: SubnetData, privateIp: string, mac: string | undefined): void {
    this.checkPrivateIp(subnet, privateIp);
    if (mac !== undefined && !/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(mac)) {
      throw ec2Errors.invalidParameterValue(`MAC address ${mac} is not six colon-separated hex bytes`);
    }
  }

  private checkPrivateIp(subnet: SubnetData, privateIp: string): void {
    const ip = parseIpv4(privateIp);
    if (ip === undefined || !cidrContains(parseCidr(subnet.cidrBlock)!, ip)) {
      throw ec2Errors.invalidParameterValue(`Address ${privateIp} does not fall within the subnet's address range`);
    }
    if (Object.values(this.world.networkInterfaces).some((e) => e.privateIp === privateIp && e.vpcId === subnet.vpcId)) {
      throw new Ec2ApiError({ code: 'InvalidIPAddress.InUse', message: `Address ${privateIp} is in use.` });
    }
  }

  private addEni(options: {
    subnet: SubnetData; privateIp: string; mac: string | undefined; tags: Record<string, string>; description: string; networkInterfaceId: string | undefined;
    groups: string[];
  }): NetworkInterfaceData {
    const networkInterfaceId = this.claimId('eni', options.networkInterfaceId);
    // Counts every ENI (also those with given ids) so generated MACs stay unique.
    const n = (this.world.counters['mac'] ?? 0) + 1;
    this.world.counters['mac'] = n;

    // Locally administered unicast MACs (02:...), unique per ENI.
    const mac = options.mac ?? `02:00:00:${[16, 8, 0].map((s) => ((n >> s) & 0xff).toString(16).padStart(2, '0')).join(':')}`;
    const eni: NetworkInterfaceData = {
      networkInterfaceId, subnetId: options.subnet.subnetId, vpcId: options.subnet.vpcId, privateIp: options.privateIp,
      mac: mac.toLowerCase(), sourceDestCheck: true, attachment: null, description: options.description, tags: options.tags, groups: options.groups,
    };
    this.world.networkInterfaces[networkInterfaceId] = eni;
    return eni;
  }

  // ---- routes ---------------------------------------------------------------------------------

  /** Resolve a route target as EC2 does: an instance id must have exactly one ENI. */
  private resolveTarget(table: RouteTableData, target: RouteTargetInput): RouteTarget {
    if ('gatewayId' in target) {
      if (target.gatewayId === 'local') return { kind: 'local' };
      if (target.gatewayId.startsWith('vgw-')) {
        const vgw = lookup<VpnGatewayData>(this.world, 'vgw', target.gatewayId);
        if (vgw.vpcId === null) {
          throw new Ec2ApiError({ code: 'Gateway.NotAttached', message: `resource ${vgw.vpnGatewayId} is not attached to any VPC` });
        }
        if (vgw.vpcId !== table.vpcId) throw differentNetworks(table.routeTableId, vgw.vpnGatewayId);
        return { kind: 'gateway', gatewayId: vgw.vpnGatewayId };
      }
      const igw = this.world.internetGateways[target.gatewayId];
      if (igw === undefined) throw ec2Errors.notFound('InvalidGatewayID.NotFound', 'gateway', target.gatewayId);
      if (igw.vpcId !== table.vpcId) throw differentNetworks(table.routeTableId, target.gatewayId);
      return { kind: 'gateway', gatewayId: igw.internetGatewayId };
    }
    let eni: NetworkInterfaceData;
    if ('instanceId' in target) {
      const instance = lookup<InstanceData>(this.world, 'i', target.instanceId);
      const enis = Object.values(this.world.networkInterfaces).filter((e) => e.attachment?.instanceId === instance.instanceId);
      if (enis.length !== 1) {
        throw new Ec2ApiError({
          code: 'InvalidInstanceID',
          message: `There are multiple interfaces attached to instance '${instance.instanceId}'. Please specify an interface ID for the operation instead.`,
        });
      }
      eni = enis[0]!;
    } else {
      eni = lookup<NetworkInterfaceData>(this.world, 'eni', target.networkInterfaceId);
    }
    if (eni.vpcId !== table.vpcId) throw differentNetworks(table.routeTableId, eni.networkInterfaceId);
    return { kind: 'eni', networkInterfaceId: eni.networkInterfaceId };
  }

  private checkDestination(destinationCidrBlock: string): void {
    if (parseCidr(destinationCidrBlock) === undefined) throw invalidCidr('destinationCidrBlock', destinationCidrBlock);
  }

  /** CreateRoute: RouteAlreadyExists when the destination has a route. */
  createRoute(options: { routeTableId: string; destinationCidrBlock: string; target: RouteTargetInput }): void {
    const table = lookup<RouteTableData>(this.world, 'rtb', options.routeTableId);
    this.checkDestination(options.destinationCidrBlock);
    const target = this.resolveTarget(table, options.target);
    if (table.routes.some((r) => r.destinationCidrBlock === options.destinationCidrBlock)) {
      throw new Ec2ApiError({ code: 'RouteAlreadyExists', message: `The route identified by ${options.destinationCidrBlock} already exists.` });
    }
    table.routes.push({ destinationCidrBlock: options.destinationCidrBlock, target, origin: 'CreateRoute' });
    this.commit([routeEvent(table.routeTableId, options.destinationCidrBlock, target)]);
  }

  /** ReplaceRoute: AWS answers InvalidParameterValue (not InvalidRoute.NotFound) for a missing route. */
  replaceRoute(options: { routeTableId: string; destinationCidrBlock: string; target: RouteTargetInput }): void {
    const table = lookup<RouteTableData>(this.world, 'rtb', options.routeTableId);
    this.checkDestination(options.destinationCidrBlock);
    const route = table.routes.find((r) => r.destinationCidrBlock === options.destinationCidrBlock);
    if (route === undefined) {
      throw ec2Errors.invalidParameterValue(`There is no route defined for '${options.destinationCidrBlock}' in the route table. Please use CreateRoute instead.`);
    }
    const target = this.resolveTarget(table, options.target);
    if (route.target.kind === 'local' && target.kind !== 'local') {
      throw ec2Errors.invalidParameterValue(`The local route ${route.destinationCidrBlock} in route table ${table.routeTableId} cannot be replaced in the lab.`);
    }
    route.target = target;
    this.commit([routeEvent(table.routeTableId, options.destinationCidrBlock, target)]);
  }

  /** DeleteRoute: InvalidRoute.NotFound for a missing route; the local route cannot be deleted. */
  deleteRoute(options: { routeTableId: string; destinationCidrBlock: string }): void {
    const table = lookup<RouteTableData>(this.world, 'rtb', options.routeTableId);
    this.checkDestination(options.destinationCidrBlock);
    const route = table.routes.find((r) => r.destinationCidrBlock === options.destinationCidrBlock);
    if (route === undefined) {
      throw new Ec2ApiError({ code: 'InvalidRoute.NotFound', message: `no route with destination-cidr-block ${options.destinationCidrBlock} in route table ${table.routeTableId}` });
    }
    if (route.target.kind === 'local') {
      throw ec2Errors.invalidParameterValue(`cannot remove local route ${route.destinationCidrBlock} in route table ${table.routeTableId}`);
    }
    table.routes = table.routes.filter((r) => r !== route);
    this.commit([{ type: 'route-changed', routeTableId: table.routeTableId, destinationCidrBlock: options.destinationCidrBlock, target: null }]);
  }

  // ---- attributes -----------------------------------------------------------------------------

  /** Source/destination check of an ENI, or of an instance's ENIs (as ModifyInstanceAttribute does). */
  setSourceDestCheck(options: ({ networkInterfaceId: string } | { instanceId: string }) & { enabled: boolean }): void {
    const enis = 'instanceId' in options
      ? (lookup<InstanceData>(this.world, 'i', options.instanceId),
        Object.values(this.world.networkInterfaces).filter((e) => e.attachment?.instanceId === options.instanceId))
      : [lookup<NetworkInterfaceData>(this.world, 'eni', options.networkInterfaceId)];
    for (const eni of enis) eni.sourceDestCheck = options.enabled;
    this.commit(enis.map((e) => ({ type: 'source-dest-check', networkInterfaceId: e.networkInterfaceId, enabled: options.enabled })));
  }

  /** Add or overwrite tags on resources (all must exist). */
  createTags(options: { resourceIds: readonly string[]; tags: Tags }): void {
    const targets = options.resourceIds.map((id) => this.taggable(id));
    for (const t of targets) Object.assign(t.tags, options.tags);
    this.commit([]);
  }

  /**
   * DeleteTags: removes tags from resources (all must exist). `tags` undefined: every tag not
   * prefixed `aws:`; a tag with `value` undefined: that key whatever its value; with a value
   * (also ''): that key only while it has that value. Missing tags are no error, as in EC2.
   */
  deleteTags(options: { resourceIds: readonly string[]; tags?: readonly { key: string; value?: string }[] }): void {
    const targets = options.resourceIds.map((id) => this.taggable(id));
    for (const t of targets) {
      for (const [key, value] of Object.entries(t.tags)) {
        const drop = options.tags === undefined
          ? !key.toLowerCase().startsWith('aws:')
          : options.tags.some((tag) => tag.key === key && (tag.value === undefined || tag.value === value));
        if (drop) delete t.tags[key];
      }
    }
    this.commit([]);
  }

  /** ModifyInstanceMetadataOptions: the instance's options become `options` (merged by the caller). */
  setInstanceMetadataOptions(options: { instanceId: string; metadataOptions: InstanceMetadataOptions }): void {
    const instance = lookup<InstanceData>(this.world, 'i', options.instanceId);
    instance.metadataOptions = { ...options.metadataOptions };
    this.commit([{ type: 'metadata-options-changed', instanceId: instance.instanceId }]);
  }

  private taggable(id: string): { tags: Record<string, string> } {
    const prefix = id.slice(0, id.indexOf('-'));
    if (prefix === 'sg') return lookupGroup(this.world, id);
    if (!(prefix in ID_KINDS)) throw ec2Errors.invalidParameterValue(`Value (${id}) for parameter resourceId is invalid. The resource type cannot be tagged.`);
    return lookup<{ tags: Record<string, string> }>(this.world, prefix, id);
  }

  // ---- Elastic IPs ----------------------------------------------------------------------------

  /** A VPC Elastic IP from the lab's public range (or the given address). */
  allocateAddress(options: { publicIp?: string; tags?: Tags } = {}): { allocationId: string; publicIp: string } {
    const taken = new Set(Object.values(this.world.addresses).map((a) => a.publicIp));
    let publicIp = options.publicIp;
    if (publicIp === undefined) {
      for (let i = 0; i < 65536 && publicIp === undefined; i += 1) {
        const candidate = formatIpv4(this.publicIpBase + i);
        if (!taken.has(candidate)) publicIp = candidate;
      }
    } else if (parseIpv4(publicIp) === undefined || taken.has(publicIp)) {
      throw ec2Errors.invalidParameterValue(`Value (${publicIp}) for parameter PublicIp is invalid or already allocated.`);
    }
    if (publicIp === undefined) throw new Ec2ApiError({ code: 'AddressLimitExceeded', message: 'The maximum number of addresses has been reached.' });
    const allocationId = this.nextId('eipalloc');
    this.world.addresses[allocationId] = { allocationId, publicIp, association: null, tags: { ...options.tags } };
    this.commit([]);
    return { allocationId, publicIp };
  }

  /**
   * AssociateAddress: to an ENI or a single-ENI instance. Without allowReassociation an address
   * that is already associated fails with Resource.AlreadyAssociated, as in AWS.
   */
  associateAddress(options: {
    allocationId: string; target: { networkInterfaceId: string } | { instanceId: string }; privateIp?: string; allowReassociation?: boolean;
  }): { associationId: string } {
    const address = lookup<AddressData>(this.world, 'eipalloc', options.allocationId);
    let eni: NetworkInterfaceData;
    if ('instanceId' in options.target) {
      const instanceId = options.target.instanceId;
      lookup<InstanceData>(this.world, 'i', instanceId);
      const enis = Object.values(this.world.networkInterfaces).filter((e) => e.attachment?.instanceId === instanceId);
      const primary = enis.find((e) => e.attachment?.deviceIndex === 0);
      if (enis.length !== 1 || primary === undefined) {
        throw new Ec2ApiError({ code: 'InvalidInstanceID', message: `There are multiple interfaces attached to instance '${instanceId}'. Please specify an interface ID for the operation instead.` });
      }
      eni = primary;
    } else {
      eni = lookup<NetworkInterfaceData>(this.world, 'eni', options.target.networkInterfaceId);
    }
    const privateIp = options.privateIp ?? eni.privateIp;
    if (privateIp !== eni.privateIp) {
      throw ec2Errors.invalidParameterValue(`The private IP address ${privateIp} is not associated with the network interface ${eni.networkInterfaceId}.`);
    }
    if (address.association !== null && options.allowReassociation !== true) {
      throw new Ec2ApiError({ code: 'Resource.AlreadyAssociated', message: `resource ${address.allocationId} is already associated with associate-id ${address.association.associationId}` });
    }
    const events: LabCloudEvent[] = [];
    // An ENI's private address carries at most one Elastic IP: the old one is released.
    for (const other of Object.values(this.world.addresses)) {
      if (other !== address && other.association?.networkInterfaceId === eni.networkInterfaceId && other.association.privateIp === privateIp) {
        other.association = null;
        events.push({ type: 'address-disassociated', allocationId: other.allocationId, publicIp: other.publicIp });
      }
    }
    const associationId = this.nextId('eipassoc');
    address.association = { associationId, networkInterfaceId: eni.networkInterfaceId, privateIp };
    events.push({ type: 'address-associated', allocationId: address.allocationId, publicIp: address.publicIp, networkInterfaceId: eni.networkInterfaceId, privateIp });
    this.commit(events);
    return { associationId };
  }

  /** DisassociateAddress by association id (VPC) or public IP. */
  disassociateAddress(options: { associationId: string } | { publicIp: string }): void {
    const address = Object.values(this.world.addresses).find((a) => ('associationId' in options
      ? a.association?.associationId === options.associationId
      : a.publicIp === options.publicIp));
    if (address === undefined || address.association === null) {
      const id = 'associationId' in options ? options.associationId : options.publicIp;
      throw new Ec2ApiError({ code: 'InvalidAssociationID.NotFound', message: `The association ID '${id}' does not exist` });
    }
    address.association = null;
    this.commit([{ type: 'address-disassociated', allocationId: address.allocationId, publicIp: address.publicIp }]);
  }

  // ---- security groups ------------------------------------------------------------------------

  /** The VPC's `default` group: ingress from itself, all egress (EC2's defaults). */
  private addDefaultSecurityGroup(vpcId: string): void {
    const groupId = this.nextId('sg');
    this.world.securityGroups[groupId] = {
      groupId, groupName: 'default', description: 'default VPC security group', vpcId, tags: {},
      ingress: [{ ruleId: this.nextId('sgr'), protocol: '-1', groupId, tags: {} }],
      egress: [{ ruleId: this.nextId('sgr'), protocol: '-1', cidr: '0.0.0.0/0', tags: {} }],
    };
  }

  /** The id of a VPC's `default` security group. */
  defaultSecurityGroupId(vpcId: string): string {
    const found = Object.values(this.world.securityGroups).find((g) => g.vpcId === vpcId && g.groupName === 'default');
    if (found === undefined) throw new Ec2ApiError({ code: 'InvalidGroup.NotFound', message: `The security group 'default' does not exist in VPC '${vpcId}'` });
    return found.groupId;
  }

  /** The groups of a new or changed ENI, checked (exist, in its VPC, 1-5, no repeats); the default group when none are given. */
  private checkGroupsFor(vpcId: string, subnetId: string, groupIds: readonly string[] | undefined): string[] {
    if (groupIds === undefined || groupIds.length === 0) return [this.defaultSecurityGroupId(vpcId)];
    const unique = [...new Set(groupIds)];
    if (unique.length > SECURITY_GROUP_LIMITS.groupsPerInterface) {
      throw new Ec2ApiError({ code: 'SecurityGroupsPerInterfaceLimitExceeded', message: `The maximum number of security groups per interface (${SECURITY_GROUP_LIMITS.groupsPerInterface}) has been reached.` });
    }
    for (const id of unique) {
      const group = lookupGroup(this.world, id);
      if (group.vpcId !== vpcId) throw ec2Errors.invalidParameterValue(`Security group ${id} and subnet ${subnetId} belong to different networks.`);
    }
    return unique;
  }

  /** CreateSecurityGroup: a group with EC2's default egress rule (all traffic to 0.0.0.0/0) and no ingress. */
  createSecurityGroup(options: { vpcId: string; groupName: string; description: string; tags?: Tags }): { groupId: string } {
    const vpc = lookup<VpcData>(this.world, 'vpc', options.vpcId);
    const name = options.groupName;
    if (name.length === 0 || name.length > 255) throw ec2Errors.invalidParameterValue(`Invalid security group name '${name}': it must have 1 to 255 characters.`);
    if (name.toLowerCase().startsWith('sg-')) throw ec2Errors.invalidParameterValue(`Group names may not be in the format sg-*: '${name}'.`);
    if (name === 'default') {
      throw new Ec2ApiError({ code: 'InvalidGroup.Reserved', message: "The security group 'default' is reserved" });
    }
    if (options.description.length > 255) throw ec2Errors.invalidParameterValue(`Invalid security group description: it has ${options.description.length} characters; at most 255 are allowed.`);
    if (Object.values(this.world.securityGroups).some((g) => g.vpcId === vpc.vpcId && g.groupName === name)) {
      throw new Ec2ApiError({ code: 'InvalidGroup.Duplicate', message: `The security group '${name}' already exists for VPC '${vpc.vpcId}'` });
    }
    const groupId = this.nextId('sg');
    this.world.securityGroups[groupId] = {
      groupId, groupName: name, description: options.description, vpcId: vpc.vpcId, tags: { ...options.tags },
      ingress: [], egress: [{ ruleId: this.nextId('sgr'), protocol: '-1', cidr: '0.0.0.0/0', tags: {} }],
    };
    this.commit([]);
    return { groupId };
  }

  /**
   * DeleteSecurityGroup: CannotDelete for a VPC's default group, DependencyViolation while an
   * ENI uses the group or another group's rule refers to it.
   */
  deleteSecurityGroup(options: { groupId: string }): void {
    const group = lookupGroup(this.world, options.groupId);
    if (group.groupName === 'default') {
      throw new Ec2ApiError({ code: 'CannotDelete', message: `the specified group: "${group.groupId}" name: "default" cannot be deleted by a user` });
    }
    const usedByEni = Object.values(this.world.networkInterfaces).some((e) => e.groups.includes(group.groupId));
    const referenced = Object.values(this.world.securityGroups).some((g) => g.groupId !== group.groupId
      && [...g.ingress, ...g.egress].some((r) => r.groupId === group.groupId));
    if (usedByEni || referenced) throw new Ec2ApiError({ code: 'DependencyViolation', message: `resource ${group.groupId} has a dependent object` });
    delete this.world.securityGroups[group.groupId];
    this.commit([]);
  }

  /** Checks rule specs for a group: peers exist in its VPC. */
  private checkSpecs(group: SecurityGroupData, specs: readonly SecurityGroupRuleSpec[]): void {
    for (const spec of specs) {
      if (spec.groupId === undefined) continue;
      const peer = lookupGroup(this.world, spec.groupId);
      if (peer.vpcId !== group.vpcId) {
        throw ec2Errors.invalidParameterValue(`You have specified two resources that belong to different networks: ${group.groupId} and ${peer.groupId}.`);
      }
    }
  }

  /**
   * AuthorizeSecurityGroupIngress/Egress: adds every rule or none (InvalidPermission.Duplicate
   * for a rule the group has, or one given twice; RulesPerSecurityGroupLimitExceeded over 60).
   */
  authorizeSecurityGroupRules(options: { groupId: string; direction: RuleDirection; rules: readonly SecurityGroupRuleSpec[]; tags?: Tags }): SecurityGroupRuleData[] {
    const group = lookupGroup(this.world, options.groupId);
    this.checkSpecs(group, options.rules);
    const existing = new Set(group[options.direction].map(ruleKey));
    for (const spec of options.rules) {
      const key = ruleKey(spec);
      if (existing.has(key)) {
        throw new Ec2ApiError({ code: 'InvalidPermission.Duplicate', message: `the specified rule "${describeRule(spec)}" already exists` });
      }
      existing.add(key);
    }
    if (existing.size > SECURITY_GROUP_LIMITS.rulesPerDirection) {
      throw new Ec2ApiError({ code: 'RulesPerSecurityGroupLimitExceeded', message: 'The maximum number of rules per security group has been reached.' });
    }
    const added = options.rules.map((spec): SecurityGroupRuleData => ({ ...spec, ruleId: this.nextId('sgr'), tags: { ...options.tags } }));
    group[options.direction].push(...added);
    this.commit([{ type: 'security-groups-changed' }]);
    return added;
  }

  /**
   * RevokeSecurityGroupIngress/Egress by rule properties (matched without descriptions) or rule
   * ids. In a non-default VPC (every lab VPC) a rule that does not exist is
   * InvalidPermission.NotFound and nothing is revoked, as EC2 answers.
   */
  revokeSecurityGroupRules(options: { groupId: string; direction: RuleDirection; rules?: readonly SecurityGroupRuleSpec[]; ruleIds?: readonly string[] }): SecurityGroupRuleData[] {
    const group = lookupGroup(this.world, options.groupId);
    const rules = group[options.direction];
    const removed: SecurityGroupRuleData[] = [];
    for (const spec of options.rules ?? []) {
      const found = rules.find((r) => ruleKey(r) === ruleKey(spec));
      if (found === undefined) {
        throw new Ec2ApiError({ code: 'InvalidPermission.NotFound', message: 'The specified rule does not exist in this security group.' });
      }
      if (!removed.includes(found)) removed.push(found);
    }
    for (const id of options.ruleIds ?? []) {
      if (!isWellFormedId('sgr', id)) throw securityGroupErrors.ruleMalformed(id);
      const found = rules.find((r) => r.ruleId === id);
      if (found === undefined) throw securityGroupErrors.ruleNotFound(id);
      if (!removed.includes(found)) removed.push(found);
    }
    group[options.direction] = rules.filter((r) => !removed.includes(r));
    this.commit([{ type: 'security-groups-changed' }]);
    return removed;
  }

  /**
   * Sets the security groups of a network interface (ModifyNetworkInterfaceAttribute `Groups`):
   * the one entry point for anything that places an ENI in groups (RunInstances'
   * `SecurityGroupId.N` after the ENI is made). The data path follows at once for new flows.
   */
  setNetworkInterfaceGroups(options: { networkInterfaceId: string; groupIds: readonly string[] }): void {
    const eni = lookup<NetworkInterfaceData>(this.world, 'eni', options.networkInterfaceId);
    if (options.groupIds.length === 0) throw ec2Errors.missingParameter('groupId');
    eni.groups = this.checkGroupsFor(eni.vpcId, eni.subnetId, options.groupIds);
    this.commit([{ type: 'security-groups-changed' }]);
  }

  // ---- roles and identities -------------------------------------------------------------------

  /**
   * An instance role as `lab up` and tests make it: the role (EC2 may assume it) and an instance
   * profile of the same name holding it, created when missing, and `policy` as its inline policy
   * of the same name (the API enforces it for the role's credentials).
   */
  putRolePolicy(roleName: string, policy: PolicyDocument): void {
    if (this.world.roles[roleName] === undefined) this.iam.createRole({ roleName, assumeRolePolicyDocument: EC2_TRUST_POLICY });
    if (this.world.instanceProfiles[roleName] === undefined) {
      this.iam.createInstanceProfile({ instanceProfileName: roleName });
      this.iam.addRoleToInstanceProfile({ instanceProfileName: roleName, roleName });
    }
    this.iam.putRolePolicy({ roleName, policyName: roleName, policyDocument: JSON.stringify(policy) });
  }

  /** Temporary credentials of a role; reused until 5 minutes before they expire. */
  issueRoleCredentials(roleName: string): RoleCredentialData {
    if (this.world.roles[roleName] === undefined) throw new Error(`role ${roleName} does not exist; create it first (putRolePolicy or the IAM API)`);
    const now = this.clock();
    const current = Object.values(this.world.roleCredentials).find((c) => c.roleName === roleName && c.expiration - now > 5 * 60_000);
    if (current !== undefined) return current;
    for (const [key, c] of Object.entries(this.world.roleCredentials)) if (c.expiration <= now) delete this.world.roleCredentials[key];
    const credential: RoleCredentialData = {
      accessKeyId: `ASIA${randomBytes(8).toString('hex').toUpperCase()}`,
      secretAccessKey: randomBytes(30).toString('base64'),
      sessionToken: randomBytes(48).toString('base64'),
      roleName,
      expiration: now + ROLE_CREDENTIAL_LIFETIME_MS,
    };
    this.world.roleCredentials[credential.accessKeyId] = credential;
    this.commit([]);
    return credential;
  }

  /** The lab credential behind a role access key, if it is current. */
  findRoleCredential(accessKeyId: string): LabCredential | undefined {
    const c = this.world.roleCredentials[accessKeyId];
    const policy = c === undefined ? undefined : this.iam.effectivePolicy(c.roleName);
    if (c === undefined || policy === undefined || c.expiration <= this.clock()) return undefined;
    return { accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken, principal: `role/${c.roleName}`, policy };
  }

  /** The instance whose ENI has this private address (for IMDS and for API callers), if any. */
  instanceIdByPrivateIp(privateIp: string): string | undefined {
    return Object.values(this.world.networkInterfaces).find((e) => e.privateIp === privateIp && e.attachment !== null)?.attachment?.instanceId;
  }

  /** What the IMDS serves to an instance. */
  instanceIdentity(instanceId: string): LabInstanceIdentity {
    const instance = lookup<InstanceData>(this.world, 'i', instanceId);
    const enis = Object.values(this.world.networkInterfaces)
      .filter((e) => e.attachment?.instanceId === instanceId)
      .sort((a, b) => a.attachment!.deviceIndex - b.attachment!.deviceIndex);
    const primary = enis[0];
    const subnet = this.world.subnets[instance.subnetId];
    if (primary === undefined || subnet === undefined) throw new Error(`instance ${instanceId} has no primary network interface`);
    const roleName = this.instanceRoleName(instance);
    return {
      instanceId, accountId: this.accountId, region: this.region, availabilityZone: subnet.availabilityZone,
      privateIp: primary.privateIp, mac: primary.mac, imageId: instance.imageId ?? LAB_IMAGE_ID, instanceType: instance.instanceType ?? LAB_INSTANCE_TYPE, launchTime: instance.launchTime,
      ...(instance.metadataOptions === undefined ? {} : { httpTokens: instance.metadataOptions.httpTokens, httpEndpoint: instance.metadataOptions.httpEndpoint }),
      userData: instance.userData ?? null,
      tags: instance.metadataOptions?.instanceMetadataTags === 'enabled' ? { ...instance.tags } : null,
      interfaces: enis.map((e) => ({
        mac: e.mac, networkInterfaceId: e.networkInterfaceId, privateIp: e.privateIp, subnetId: e.subnetId, vpcId: e.vpcId,
        subnetCidr: this.world.subnets[e.subnetId]?.cidrBlock ?? '', vpcCidr: this.world.vpcs[e.vpcId]?.cidrBlock ?? '', deviceIndex: e.attachment!.deviceIndex,
      })),
      roleName,
      credentials: roleName === null ? null : () => this.issueRoleCredentials(roleName),
    };
  }
}

function invalidCidr(parameter: string, value: string): Ec2ApiError {
  return ec2Errors.invalidParameterValue(`Value (${value}) for parameter ${parameter} is invalid. This is not a valid CIDR block.`);
}

/** CreateVpnGateway's `AmazonSideAsn` outside EC2's private ranges (or not a number). */
export function invalidAmazonSideAsn(value: string): Ec2ApiError {
  return ec2Errors.invalidParameterValue(`Value (${value}) for parameter amazonSideAsn is invalid. It must be a private ASN: 64512 to 65534, or 4200000000 to 4294967294.`);
}

function differentNetworks(routeTableId: string, targetId: string): Ec2ApiError {
  return ec2Errors.invalidParameterValue(`route table ${routeTableId} and network gateway ${targetId} belong to different networks`);
}

function routeEvent(routeTableId: string, destinationCidrBlock: string, target: RouteTarget): LabCloudEvent {
  return {
    type: 'route-changed', routeTableId, destinationCidrBlock,
    target: target.kind === 'eni' ? { networkInterfaceId: target.networkInterfaceId } : { gatewayId: target.kind === 'local' ? 'local' : target.gatewayId },
  };
}
