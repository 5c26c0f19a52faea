import { CreateRouteCommand, DescribeNetworkInterfacesCommand, DescribeRouteTablesCommand, EC2Client, ReplaceRouteCommand } from '@aws-sdk/client-ec2';
import type { Filter, RouteTable } from '@aws-sdk/client-ec2';
import type { CallOptions, RouteApi, RouteTableInfo } from '../types.js';
import { wrapAwsError } from './errors.js';

export interface Ec2ClientOptions {
  readonly region: string;
  /** The lab's EC2-compatible API, or a VPC endpoint. */
  readonly endpoint?: string;
  /**
   * Static credentials (tests), or a provider (the agent passes the instance role's credentials
   * from its own IMDSv2 client); otherwise the SDK's default chain.
   */
  readonly credentials?:
    | { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string }
    | (() => Promise<{ accessKeyId: string; secretAccessKey: string; sessionToken?: string; expiration?: Date }>);
}

/**
 * An EC2 client for failover: no SDK-level retries (our claim loop retries through its own
 * token bucket and deadline, so throttling is not retried twice); every call is bounded by the
 * caller's per-call timeout (AbortSignal).
 */
export function createEc2Client(options: Ec2ClientOptions): EC2Client {
  return new EC2Client({
    region: options.region,
    maxAttempts: 1,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.credentials ? { credentials: typeof options.credentials === 'function' ? options.credentials : { ...options.credentials } } : {}),
  });
}

/** RouteApi over the AWS SDK. */
export class Ec2RouteApi implements RouteApi {
  constructor(private readonly client: EC2Client) {}

  async listRouteTables(input: { vpcId: string; destinationCidr: string }, options: CallOptions): Promise<RouteTableInfo[]> {
    return this.#describe([{ Name: 'vpc-id', Values: [input.vpcId] }], input.destinationCidr, options);
  }

  async describeRouteTables(input: { routeTableIds: readonly string[]; destinationCidr: string; vpcId?: string }, options: CallOptions): Promise<RouteTableInfo[]> {
    if (input.routeTableIds.length === 0) return [];
    // A filter (not RouteTableIds) so that a table deleted meanwhile is left out instead of
    // failing the whole call with InvalidRouteTableID.NotFound.
    const filters: Filter[] = [{ Name: 'route-table-id', Values: [...input.routeTableIds] }];
    if (input.vpcId !== undefined) filters.push({ Name: 'vpc-id', Values: [input.vpcId] });
    return this.#describe(filters, input.destinationCidr, options);
  }

  async replaceRoute(input: { routeTableId: string; destinationCidr: string; networkInterfaceId: string }, options: CallOptions): Promise<void> {
    try {
      await this.client.send(new ReplaceRouteCommand({ RouteTableId: input.routeTableId, DestinationCidrBlock: input.destinationCidr, NetworkInterfaceId: input.networkInterfaceId }), { abortSignal: options.signal });
    } catch (err) {
      throw wrapAwsError(err, 'ReplaceRoute', options.signal);
    }
  }

  async createRoute(input: { routeTableId: string; destinationCidr: string; networkInterfaceId: string }, options: CallOptions): Promise<void> {
    try {
      await this.client.send(new CreateRouteCommand({ RouteTableId: input.routeTableId, DestinationCidrBlock: input.destinationCidr, NetworkInterfaceId: input.networkInterfaceId }), { abortSignal: options.signal });
    } catch (err) {
      throw wrapAwsError(err, 'CreateRoute', options.signal);
    }
  }

  async findNetworkInterfaces(input: { vpcId: string; privateIps: readonly string[] }, options: CallOptions): Promise<{ networkInterfaceId: string; privateIp: string }[]> {
    if (input.privateIps.length === 0) return [];
    try {
      const out: { networkInterfaceId: string; privateIp: string }[] = [];
      let nextToken: string | undefined;
      do {
        const page = await this.client.send(new DescribeNetworkInterfacesCommand({
          Filters: [{ Name: 'vpc-id', Values: [input.vpcId] }, { Name: 'addresses.private-ip-address', Values: [...input.privateIps] }],
          ...(nextToken ? { NextToken: nextToken } : {}),
        }), { abortSignal: options.signal });
        for (const ni of page.NetworkInterfaces ?? []) {
          for (const a of ni.PrivateIpAddresses ?? []) {
            if (ni.NetworkInterfaceId && a.PrivateIpAddress && input.privateIps.includes(a.PrivateIpAddress)) out.push({ networkInterfaceId: ni.NetworkInterfaceId, privateIp: a.PrivateIpAddress });
          }
        }
        nextToken = page.NextToken;
      } while (nextToken);
      return out;
    } catch (err) {
      throw wrapAwsError(err, 'DescribeNetworkInterfaces', options.signal);
    }
  }

  async #describe(filters: Filter[], cidr: string, options: CallOptions): Promise<RouteTableInfo[]> {
    const out: RouteTableInfo[] = [];
    let nextToken: string | undefined;
    try {
      do {
        const page = await this.client.send(new DescribeRouteTablesCommand({ Filters: filters, MaxResults: 100, ...(nextToken ? { NextToken: nextToken } : {}) }), { abortSignal: options.signal });
        for (const t of page.RouteTables ?? []) out.push(toInfo(t, cidr));
        nextToken = page.NextToken;
      } while (nextToken);
    } catch (err) {
      throw wrapAwsError(err, 'DescribeRouteTables', options.signal);
    }
    return out;
  }
}

function toInfo(t: RouteTable, cidr: string): RouteTableInfo {
  const route = (t.Routes ?? []).find((r) => r.DestinationCidrBlock === cidr);
  const other = route && !route.NetworkInterfaceId && !route.InstanceId
    ? (route.GatewayId ?? route.NatGatewayId ?? route.TransitGatewayId ?? route.VpcPeeringConnectionId ?? 'unknown')
    : undefined;
  return {
    id: t.RouteTableId ?? '',
    vpcId: t.VpcId ?? '',
    main: (t.Associations ?? []).some((a) => a.Main === true),
    tags: Object.fromEntries((t.Tags ?? []).map((x) => [x.Key ?? '', x.Value ?? ''])),
    vipRoute: route
      ? {
          ...(route.NetworkInterfaceId ? { networkInterfaceId: route.NetworkInterfaceId } : {}),
          ...(route.InstanceId ? { instanceId: route.InstanceId } : {}),
          ...(other ? { otherTarget: other } : {}),
          state: route.State === 'blackhole' ? 'blackhole' : 'active',
        }
      : null,
  };
}
