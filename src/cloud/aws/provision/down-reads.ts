/**
 * What `overlay-lb down` reads before it removes anything, to tell whether the VIP still carries
 * traffic from an operator's machine outside the VPC: each agent's published status object
 * (beside the spec, `statusKey`), and per node whether up made an instance for it (its network
 * interface carries the ownership and `overlay-lb:node` tags, as instance-launch.ts tags it) and
 * whether a VIP route of the spec's VPC points at that interface. Reads only.
 */
import { DescribeNetworkInterfacesCommand, DescribeRouteTablesCommand } from '@aws-sdk/client-ec2';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { NODE_TAG } from './instance-launch.js';
import { OWNER_TAG } from './names.js';
import { isAwsError, type ProvisionSession } from './session.js';

/**
 * The body of each key (null: no such object or bucket). A body larger than 1 MiB is not a
 * status (read as null).
 */
export async function readStatusObjects(session: ProvisionSession, o: { readonly bucket: string; readonly keys: readonly string[] }, options: { readonly signal: AbortSignal }): Promise<Map<string, string | null>> {
  const out = new Map<string, string | null>();
  for (const key of o.keys) {
    const body = await session.call('s3:GetObject', `arn:aws:s3:::${o.bucket}/${key}`, async (abortSignal) => {
      const got = await session.s3.send(new GetObjectCommand({ Bucket: o.bucket, Key: key }), { abortSignal });
      if ((got.ContentLength ?? 0) > 1024 * 1024) return null;
      return (await got.Body?.transformToString('utf8')) ?? null;
    }, options).catch((err: unknown) => {
      if (isAwsError(err, 'NoSuchKey', 'NoSuchBucket', 'NotFound')) return null;
      throw err;
    });
    out.set(key, body);
  }
  return out;
}

/** Per node of the spec: whether up made an instance for it, and whether a VIP route points at it. */
export interface NodeRouting {
  readonly removed: boolean;
  readonly routed: boolean;
}

/** Where the VIP's `/32` routes of the VPC point, in terms of the cluster's nodes. */
export async function readVipRouting(session: ProvisionSession, o: { readonly cluster: string; readonly vpcId: string; readonly vip: string; readonly nodes: readonly string[] }, options: { readonly signal: AbortSignal }): Promise<Map<string, NodeRouting>> {
  const eniNode = new Map<string, string>();
  let token: string | undefined;
  do {
    const page = await session.call('ec2:DescribeNetworkInterfaces', '*', (abortSignal) => session.ec2.send(new DescribeNetworkInterfacesCommand({
      Filters: [{ Name: 'vpc-id', Values: [o.vpcId] }, { Name: `tag:${OWNER_TAG}`, Values: [o.cluster] }], MaxResults: 1000, ...(token === undefined ? {} : { NextToken: token }),
    }), { abortSignal }), options);
    for (const eni of page.NetworkInterfaces ?? []) {
      const node = eni.TagSet?.find((t) => t.Key === NODE_TAG)?.Value;
      if (eni.NetworkInterfaceId !== undefined && node !== undefined) eniNode.set(eni.NetworkInterfaceId, node);
    }
    token = page.NextToken;
  } while (token !== undefined && token !== '');
  const routedNodes = new Set<string>();
  const destination = `${o.vip}/32`;
  token = undefined;
  do {
    const page = await session.call('ec2:DescribeRouteTables', '*', (abortSignal) => session.ec2.send(new DescribeRouteTablesCommand({
      Filters: [{ Name: 'vpc-id', Values: [o.vpcId] }], MaxResults: 100, ...(token === undefined ? {} : { NextToken: token }),
    }), { abortSignal }), options);
    for (const table of page.RouteTables ?? []) {
      for (const route of table.Routes ?? []) {
        const node = route.DestinationCidrBlock === destination && route.NetworkInterfaceId !== undefined ? eniNode.get(route.NetworkInterfaceId) : undefined;
        if (node !== undefined) routedNodes.add(node);
      }
    }
    token = page.NextToken;
  } while (token !== undefined && token !== '');
  const madeFor = new Set(eniNode.values());
  return new Map(o.nodes.map((n) => [n, { removed: madeFor.has(n), routed: routedNodes.has(n) }]));
}
