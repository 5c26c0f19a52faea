/**
 * The VIP's /32 route in every route table the spec selects (`cluster.cloud.routeTables`), for
 * `overlay-lb up` with failover mode `route`. Created pointing at a node's primary network
 * interface (the first node of the spec with an instance: the highest priority); once it points at
 * ANY of this cluster's nodes it is owned and left alone, because the agents move it (up never
 * fights the master). A blackhole VIP route (its target is gone) is re-pointed at a node only when
 * the target it still names was one of this cluster's: an instance carrying the ownership tag
 * (terminated ones stay described), or an interface up recorded on such an instance
 * (`ENI_TAG`). Any other route to the VIP, blackhole or not, is someone else's: a conflict, never
 * touched; routes for other destinations are never read as the VIP's. `remove` deletes the route
 * only while it points, or pointed, at one of the cluster's nodes.
 */
import { CreateRouteCommand, DeleteRouteCommand, ReplaceRouteCommand, DescribeRouteTablesCommand, type Instance, type RouteTable } from '@aws-sdk/client-ec2';
import type { RouteTableSelector, Spec } from '../../../model/spec.js';
import { selectTables } from '../../route-tables.js';
import type { RouteTableInfo } from '../../types.js';
import { OverlayError } from '../../../util/errors.js';
import type { ObservedResource, ProvisionResource } from '../../provision-kind.js';
import { type Ec2Scope, ec2Arn, LIVE_STATES, ownedInstances, primaryEni, tagValue } from './ec2-common.js';
import { ENI_TAG, NODE_TAG } from './instance-launch.js';

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
  /** The live nodes' (pending, running, stopping, stopped): a route to them is the agents' to move. */
  readonly instanceIds: ReadonlySet<string>;
  readonly networkInterfaceIds: ReadonlySet<string>;
  /**
   * What the cluster's nodes were: every instance with the ownership tag still described (terminated
   * ones included), their interfaces as described and as recorded (`ENI_TAG`). A blackhole route
   * naming one of these is the cluster's, left by a node that is gone.
   */
  readonly former: { readonly instanceIds: ReadonlySet<string>; readonly networkInterfaceIds: ReadonlySet<string> };
}

/** The change of a blackhole VIP route, as the plan shows it (starts with BLACKHOLE_CHANGE). */
const BLACKHOLE_CHANGE = 'blackhole';

/**
 * Whether a table's VIP route is absent, the cluster's (pointing at any of its nodes: whichever
 * is master; a blackhole one whose gone target was one of its nodes, to be re-pointed) or someone
 * else's (what it points at, and the fix): a blackhole route is not ownerless, it still names the
 * target someone pointed it at. Pure.
 */
export function classifyVipRoute(route: FoundVipRoute | null, owned: OwnedTargets, where: { readonly table: string; readonly cidr: string }): ObservedResource {
  if (route === null) return { state: 'absent' };
  const names = (targets: { readonly instanceIds: ReadonlySet<string>; readonly networkInterfaceIds: ReadonlySet<string> }): boolean =>
    (route.networkInterfaceId !== undefined && targets.networkInterfaceIds.has(route.networkInterfaceId))
    || (route.instanceId !== undefined && targets.instanceIds.has(route.instanceId));
  const target = route.networkInterfaceId ?? route.instanceId ?? route.otherTarget ?? 'an unknown target';
  if (names(owned)) return { state: 'owned', changes: [] };
  if (route.blackhole && names(owned.former)) return { state: 'owned', changes: [`${BLACKHOLE_CHANGE}: its target ${target} is gone; point it at a node`] };
  return {
    state: 'foreign',
    reason: route.blackhole
      ? `route table ${where.table} already routes ${where.cidr} to ${target}, a blackhole (its target is gone) that was none of this cluster's nodes`
      : `route table ${where.table} already routes ${where.cidr} to ${target}, which is none of this cluster's nodes`,
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

  const isLive = (i: Instance): boolean => LIVE_STATES.includes(i.State?.Name ?? '');
  const nodes = async (signal: AbortSignal): Promise<Instance[]> => (await ownedInstances(scope, signal)).filter(isLive);
  const ids = (instances: readonly Instance[], recorded: boolean): { instanceIds: Set<string>; networkInterfaceIds: Set<string> } => ({
    instanceIds: new Set(instances.map((i) => i.InstanceId ?? '')),
    networkInterfaceIds: new Set(instances.flatMap((i) => [
      ...(i.NetworkInterfaces ?? []).map((e) => e.NetworkInterfaceId ?? ''),
      ...(recorded ? [tagValue(i.Tags, ENI_TAG) ?? ''] : []),
    ]).filter((e) => e !== '')),
  });
  /** `all`: every instance with the ownership tag, in any state (ownedInstances). */
  const targets = (all: readonly Instance[]): OwnedTargets => ({ ...ids(all.filter(isLive), false), former: ids(all, true) });
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
    const all = await ownedInstances(scope, signal);
    return { instances: all.filter(isLive), observed: classifyVipRoute(foundRoute(t, cidr), targets(all), { table, cidr }) };
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
