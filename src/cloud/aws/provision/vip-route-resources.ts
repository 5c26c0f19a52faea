/**
 * The VIP's /32 route in every route table the spec selects (`cluster.cloud.routeTables`), for
 * `overlay-lb up` with failover mode `route`. Created pointing at a node's primary network
 * interface (the first node of the spec with an instance: the highest priority); once it points at
 * ANY of this cluster's nodes it is owned and left alone, because the agents move it (up never
 * fights the master). A blackhole VIP route (its target is gone: a terminated node's deleted
 * interface) carries nothing and is re-pointed at a node, as the agents' claim treats it (no
 * holder). A route to the VIP with another live target is someone else's: a conflict, never
 * touched; routes for other destinations are never read as the VIP's. `remove` deletes the route
 * only while it points at one of the cluster's nodes.
 */
import { CreateRouteCommand, DeleteRouteCommand, ReplaceRouteCommand, DescribeRouteTablesCommand, type Instance, type RouteTable } from '@aws-sdk/client-ec2';
import type { RouteTableSelector, Spec } from '../../../model/spec.js';
import { selectTables } from '../../route-tables.js';
import type { RouteTableInfo } from '../../types.js';
import { OverlayError } from '../../../util/errors.js';
import type { ObservedResource, ProvisionResource } from '../../provision-kind.js';
import { type Ec2Scope, ec2Arn, LIVE_STATES, ownedInstances, tagValue } from './ec2-common.js';
import { NODE_TAG } from './instance-launch.js';

/** The VIP route found in a table, as far as ownership goes. */
export interface FoundVipRoute {
  readonly networkInterfaceId?: string;
  readonly instanceId?: string;
  /** A gateway, NAT, peering... id: never a node's. */
  readonly otherTarget?: string;
  readonly blackhole: boolean;
}

/** The cluster's nodes as targets: their instances' ids and network interfaces. */
export interface OwnedTargets {
  readonly instanceIds: ReadonlySet<string>;
  readonly networkInterfaceIds: ReadonlySet<string>;
}

/** The change of a blackhole VIP route, as the plan shows it (starts with BLACKHOLE_CHANGE). */
const BLACKHOLE_CHANGE = 'blackhole';

/**
 * Whether a table's VIP route is absent, the cluster's (pointing at any of its nodes: whichever
 * is master; a blackhole one, whose target is gone, to be re-pointed) or someone else's (what it
 * points at, and the fix). Pure.
 */
export function classifyVipRoute(route: FoundVipRoute | null, owned: OwnedTargets, where: { readonly table: string; readonly cidr: string }): ObservedResource {
  if (route === null) return { state: 'absent' };
  const ours = (route.networkInterfaceId !== undefined && owned.networkInterfaceIds.has(route.networkInterfaceId))
    || (route.instanceId !== undefined && owned.instanceIds.has(route.instanceId));
  const target = route.networkInterfaceId ?? route.instanceId ?? route.otherTarget ?? 'an unknown target';
  if (ours) return { state: 'owned', changes: [] };
  if (route.blackhole) return { state: 'owned', changes: [`${BLACKHOLE_CHANGE}: its target ${target} is gone; point it at a node`] };
  return {
    state: 'foreign',
    reason: `route table ${where.table} already routes ${where.cidr} to ${target}, which is none of this cluster's nodes`,
    fix: `if that route is a leftover, delete it (aws ec2 delete-route --route-table-id ${where.table} --destination-cidr-block ${where.cidr}) and run up again; if it is in use, give the cluster another VIP (cluster.vip) or leave this table out (cluster.cloud.routeTables)`,
  };
}

function foundRoute(t: RouteTable, cidr: string): FoundVipRoute | null {
  const r = (t.Routes ?? []).find((x) => x.DestinationCidrBlock === cidr);
  if (r === undefined) return null;
  const other = r.GatewayId ?? r.NatGatewayId ?? r.TransitGatewayId ?? r.VpcPeeringConnectionId ?? r.LocalGatewayId ?? r.CarrierGatewayId ?? r.EgressOnlyInternetGatewayId;
  return {
    ...(r.NetworkInterfaceId === undefined ? {} : { networkInterfaceId: r.NetworkInterfaceId }),
    ...(r.InstanceId === undefined ? {} : { instanceId: r.InstanceId }),
    ...(other === undefined ? {} : { otherTarget: other }),
    blackhole: r.State === 'blackhole',
  };
}

/** The primary network interface of an instance. */
function primaryEni(i: Instance): string | undefined {
  const enis = i.NetworkInterfaces ?? [];
  return (enis.find((e) => e.Attachment?.DeviceIndex === 0) ?? enis[0])?.NetworkInterfaceId;
}

async function describeTables(scope: Ec2Scope, filters: { Name: string; Values: string[] }[], signal: AbortSignal): Promise<RouteTable[]> {
  const { session } = scope;
  const out: RouteTable[] = [];
  let token: string | undefined;
  do {
    const page = await session.call('ec2:DescribeRouteTables', '*', (abortSignal) => session.ec2.send(new DescribeRouteTablesCommand({
      Filters: [{ Name: 'vpc-id', Values: [scope.vpcId] }, ...filters], MaxResults: 100, ...(token === undefined ? {} : { NextToken: token }),
    }), { abortSignal }), { signal });
    out.push(...(page.RouteTables ?? []));
    token = page.NextToken;
  } while (token !== undefined && token !== '');
  return out;
}

/** The ids of the route tables the spec selects (DescribeRouteTables for `all` and `tags`). */
export async function selectedRouteTables(scope: Ec2Scope, selector: RouteTableSelector, signal: AbortSignal): Promise<string[]> {
  if (selector.kind === 'ids') return [...selector.ids];
  const tables = await describeTables(scope, [], signal);
  const infos: RouteTableInfo[] = tables.map((t) => ({
    id: t.RouteTableId ?? '', vpcId: t.VpcId ?? '', main: (t.Associations ?? []).some((a) => a.Main === true),
    tags: Object.fromEntries((t.Tags ?? []).map((x) => [x.Key ?? '', x.Value ?? ''])), vipRoute: null,
  }));
  return selectTables(infos, selector);
}

export interface VipRouteOptions {
  readonly scope: Ec2Scope;
  readonly spec: Spec;
  readonly tableIds: readonly string[];
  /** Labels of the node instances (a route needs a node's interface). */
  readonly dependsOn: readonly string[];
}

/** One resource per selected route table. */
export function vipRouteResources(o: VipRouteOptions): ProvisionResource[] {
  return o.tableIds.map((table) => vipRouteResource(o, table));
}

function vipRouteResource(o: VipRouteOptions, table: string): ProvisionResource {
  const { scope, spec } = o;
  const { session } = scope;
  const cidr = `${spec.cluster.vip}/32`;
  const arn = ec2Arn(scope, 'route-table', table);
  const label = `VIP route ${cidr} in route table ${table}`;

  const nodes = async (signal: AbortSignal): Promise<Instance[]> => (await ownedInstances(scope, signal)).filter((i) => LIVE_STATES.includes(i.State?.Name ?? ''));
  const targets = (instances: readonly Instance[]): OwnedTargets => ({
    instanceIds: new Set(instances.map((i) => i.InstanceId ?? '')),
    networkInterfaceIds: new Set(instances.flatMap((i) => (i.NetworkInterfaces ?? []).map((e) => e.NetworkInterfaceId ?? ''))),
  });
  /** The first node of the spec with a running instance (the highest priority, master-to-be), else one pending. */
  const targetEni = async (signal: AbortSignal): Promise<string> => {
    const instances = await nodes(signal);
    const pick = (states: readonly string[]): string | undefined => spec.cluster.nodes
      .map((n) => instances.find((i) => tagValue(i.Tags, NODE_TAG) === n.name && states.includes(i.State?.Name ?? '')))
      .map((i) => (i === undefined ? undefined : primaryEni(i)))
      .find((e) => e !== undefined);
    const eni = pick(['running']) ?? pick(['pending']);
    if (eni === undefined) throw new OverlayError('CLOUD_CONFLICT', `${label}: no node of cluster ${scope.cluster} has a running instance to route the VIP to; run up again`);
    return eni;
  };
  const read = async (signal: AbortSignal): Promise<{ observed: ObservedResource; instances: Instance[] }> => {
    const [t] = await describeTables(scope, [{ Name: 'route-table-id', Values: [table] }], signal);
    if (t === undefined) {
      return {
        instances: [],
        observed: { state: 'foreign', reason: `route table ${table} (cluster.cloud.routeTables) does not exist in ${scope.vpcId}`, fix: `list the VPC's route tables (aws ec2 describe-route-tables --filters Name=vpc-id,Values=${scope.vpcId}) and correct cluster.cloud.routeTables` },
      };
    }
    const instances = await nodes(signal);
    return { instances, observed: classifyVipRoute(foundRoute(t, cidr), targets(instances), { table, cidr }) };
  };

  return {
    kind: 'vip-route', label, dependsOn: o.dependsOn,
    observe: async ({ signal }) => (await read(signal)).observed,
    create: async ({ signal }) => {
      const eni = await targetEni(signal);
      await session.call('ec2:CreateRoute', arn, (abortSignal) => session.ec2.send(new CreateRouteCommand({ RouteTableId: table, DestinationCidrBlock: cidr, NetworkInterfaceId: eni }), { abortSignal }), { signal });
    },
    // Owned routes change only when blackhole: the agents move the others.
    update: async (changes, { signal }) => {
      if (!changes.some((c) => c.startsWith(BLACKHOLE_CHANGE))) return;
      const eni = await targetEni(signal);
      await session.call('ec2:ReplaceRoute', arn, (abortSignal) => session.ec2.send(new ReplaceRouteCommand({ RouteTableId: table, DestinationCidrBlock: cidr, NetworkInterfaceId: eni }), { abortSignal }), { signal });
    },
    remove: async ({ signal }) => {
      const { observed } = await read(signal);
      // Only the cluster's route: a route someone else pointed elsewhere meanwhile stays.
      if (observed.state !== 'owned') return;
      await session.call('ec2:DeleteRoute', arn, (abortSignal) => session.ec2.send(new DeleteRouteCommand({ RouteTableId: table, DestinationCidrBlock: cidr }), { abortSignal }), { signal });
    },
  };
}
