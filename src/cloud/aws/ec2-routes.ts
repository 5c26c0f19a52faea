import { xmlItems, xmlText, type XmlElement } from '../../util/xml.js';
import type { CallOptions, RouteApi, RouteTableInfo } from '../types.js';
import { filterParams, type Ec2Filter, type Ec2QueryClient } from './ec2-query.js';
import { wrapAwsError } from './errors.js';

export { createEc2Client, type Ec2ClientOptions } from './ec2-query.js';

/** RouteApi over EC2's Query API (ec2-query.ts). */
export class Ec2RouteApi implements RouteApi {
  constructor(private readonly client: Ec2QueryClient) {}

  async listRouteTables(input: { vpcId: string; destinationCidr: string }, options: CallOptions): Promise<RouteTableInfo[]> {
    return this.#describe([{ Name: 'vpc-id', Values: [input.vpcId] }], input.destinationCidr, options);
  }

  async describeRouteTables(input: { routeTableIds: readonly string[]; destinationCidr: string; vpcId?: string }, options: CallOptions): Promise<RouteTableInfo[]> {
    if (input.routeTableIds.length === 0) return [];
    // A filter (not RouteTableIds) so that a table deleted meanwhile is left out instead of
    // failing the whole call with InvalidRouteTableID.NotFound.
    const filters: Ec2Filter[] = [{ Name: 'route-table-id', Values: [...input.routeTableIds] }];
    if (input.vpcId !== undefined) filters.push({ Name: 'vpc-id', Values: [input.vpcId] });
    return this.#describe(filters, input.destinationCidr, options);
  }

  async replaceRoute(input: { routeTableId: string; destinationCidr: string; networkInterfaceId: string }, options: CallOptions): Promise<void> {
    try {
      await this.client.call('ReplaceRoute', { RouteTableId: input.routeTableId, DestinationCidrBlock: input.destinationCidr, NetworkInterfaceId: input.networkInterfaceId }, options.signal);
    } catch (err) {
      throw wrapAwsError(err, 'ReplaceRoute', options.signal);
    }
  }

  async createRoute(input: { routeTableId: string; destinationCidr: string; networkInterfaceId: string }, options: CallOptions): Promise<void> {
    try {
      await this.client.call('CreateRoute', { RouteTableId: input.routeTableId, DestinationCidrBlock: input.destinationCidr, NetworkInterfaceId: input.networkInterfaceId }, options.signal);
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
        const page = await this.client.call('DescribeNetworkInterfaces', {
          ...filterParams([{ Name: 'vpc-id', Values: [input.vpcId] }, { Name: 'addresses.private-ip-address', Values: [...input.privateIps] }]),
          ...(nextToken ? { NextToken: nextToken } : {}),
        }, options.signal);
        for (const ni of xmlItems(page, 'networkInterfaceSet')) {
          const id = xmlText(ni, 'networkInterfaceId');
          for (const a of xmlItems(ni, 'privateIpAddressesSet')) {
            const ip = xmlText(a, 'privateIpAddress');
            if (id && ip && input.privateIps.includes(ip)) out.push({ networkInterfaceId: id, privateIp: ip });
          }
        }
        nextToken = xmlText(page, 'nextToken');
      } while (nextToken);
      return out;
    } catch (err) {
      throw wrapAwsError(err, 'DescribeNetworkInterfaces', options.signal);
    }
  }

  async #describe(filters: Ec2Filter[], cidr: string, options: CallOptions): Promise<RouteTableInfo[]> {
    const out: RouteTableInfo[] = [];
    let nextToken: string | undefined;
    try {
      do {
        const page = await this.client.call('DescribeRouteTables', { ...filterParams(filters), MaxResults: '100', ...(nextToken ? { NextToken: nextToken } : {}) }, options.signal);
        for (const t of xmlItems(page, 'routeTableSet')) out.push(toInfo(t, cidr));
        nextToken = xmlText(page, 'nextToken');
      } while (nextToken);
    } catch (err) {
      throw wrapAwsError(err, 'DescribeRouteTables', options.signal);
    }
    return out;
  }
}

/** One `routeTableSet` item (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_RouteTable.html). */
function toInfo(t: XmlElement, cidr: string): RouteTableInfo {
  const route = xmlItems(t, 'routeSet').find((r) => xmlText(r, 'destinationCidrBlock') === cidr);
  const field = (name: string): string | undefined => {
    const value = route === undefined ? undefined : xmlText(route, name);
    return value === '' ? undefined : value;
  };
  const networkInterfaceId = field('networkInterfaceId');
  const instanceId = field('instanceId');
  const other = route && !networkInterfaceId && !instanceId
    ? (field('gatewayId') ?? field('natGatewayId') ?? field('transitGatewayId') ?? field('vpcPeeringConnectionId') ?? 'unknown')
    : undefined;
  return {
    id: xmlText(t, 'routeTableId') ?? '',
    vpcId: xmlText(t, 'vpcId') ?? '',
    main: xmlItems(t, 'associationSet').some((a) => xmlText(a, 'main') === 'true'),
    tags: Object.fromEntries(xmlItems(t, 'tagSet').map((x) => [xmlText(x, 'key') ?? '', xmlText(x, 'value') ?? ''])),
    vipRoute: route
      ? {
          ...(networkInterfaceId ? { networkInterfaceId } : {}),
          ...(instanceId ? { instanceId } : {}),
          ...(other ? { otherTarget: other } : {}),
          state: field('state') === 'blackhole' ? 'blackhole' : 'active',
        }
      : null,
  };
}
