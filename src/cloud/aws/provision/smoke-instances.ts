/**
 * The EC2 calls of the real-account smoke run (src/provision/smoke.ts) beyond up's, down's and
 * apply's own: launch and terminate the client instance, read its console output, terminate a
 * node's instance, and read where the VIP's routes point. Each through the session's guarded
 * call, so a refusal names the IAM action.
 */
import { DescribeRouteTablesCommand, GetConsoleOutputCommand, RunInstancesCommand, TerminateInstancesCommand, type RunInstancesCommandInput } from '@aws-sdk/client-ec2';
import { OverlayError } from '../../../util/errors.js';
import { ownedInstances, tagValue, type Ec2Scope } from './ec2-common.js';
import { NODE_TAG } from './instance-launch.js';
import { isAwsError, type ProvisionSession } from './session.js';

/** The tag on the smoke run's client instance (value: the cluster), to find one left by a killed run. */
export const SMOKE_TAG = 'overlay-lb:smoke';

export interface ClientLaunch {
  readonly cluster: string;
  readonly imageId: string;
  readonly instanceType: string;
  readonly subnetId: string;
  readonly userData: string;
}

/**
 * Launches the client: no instance profile (it calls no AWS API), no security group named (the
 * VPC's default group: all egress), IMDSv2 required, tagged as the smoke run's. Returns its id.
 */
export async function launchClient(session: ProvisionSession, launch: ClientLaunch, options: { readonly signal: AbortSignal }): Promise<string> {
  const tags = [{ Key: SMOKE_TAG, Value: launch.cluster }, { Key: 'Name', Value: `${launch.cluster}-smoke-client` }];
  const input: RunInstancesCommandInput = {
    ImageId: launch.imageId, InstanceType: launch.instanceType as RunInstancesCommandInput['InstanceType'], MinCount: 1, MaxCount: 1,
    SubnetId: launch.subnetId,
    MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 1 },
    UserData: Buffer.from(launch.userData, 'utf8').toString('base64'),
    TagSpecifications: [{ ResourceType: 'instance', Tags: tags }],
  };
  const out = await session.call('ec2:RunInstances', `subnet/${launch.subnetId}`, (abortSignal) => session.ec2.send(new RunInstancesCommand(input), { abortSignal }), options);
  const id = out.Instances?.[0]?.InstanceId;
  if (id === undefined) throw new OverlayError('CLOUD_INVALID_REQUEST', 'RunInstances answered no instance for the smoke client');
  return id;
}

/** Terminates instances (already terminated ones too: idempotent). */
export async function terminateInstances(session: ProvisionSession, ids: readonly string[], options: { readonly signal: AbortSignal }): Promise<void> {
  if (ids.length === 0) return;
  await session.call('ec2:TerminateInstances', ids.map((id) => `instance/${id}`).join(','), (abortSignal) => session.ec2.send(new TerminateInstancesCommand({ InstanceIds: [...ids] }), { abortSignal }), options);
}

/**
 * The instance's console output as text. `Latest` asks for the newest output (Nitro instances);
 * where EC2 does not support it (Xen instance types), the buffered output, minutes behind.
 */
export async function consoleOutput(session: ProvisionSession, instanceId: string, options: { readonly signal: AbortSignal }): Promise<string> {
  const read = (latest: boolean) => session.call('ec2:GetConsoleOutput', `instance/${instanceId}`, (abortSignal) => session.ec2.send(new GetConsoleOutputCommand({ InstanceId: instanceId, ...(latest ? { Latest: true } : {}) }), { abortSignal }), options);
  let out;
  try {
    out = await read(true);
  } catch (err) {
    if (!isAwsError(err, 'UnsupportedOperation', 'InvalidParameterCombination')) throw err;
    out = await read(false);
  }
  return Buffer.from(out.Output ?? '', 'base64').toString('utf8');
}

/** The target interface of the VIP's `/32` route in every route table of the VPC that has one (`null`: a blackhole or another kind of target). */
export async function vipRouteTargets(session: ProvisionSession, o: { readonly vpcId: string; readonly vip: string }, options: { readonly signal: AbortSignal }): Promise<Map<string, string | null>> {
  const out = new Map<string, string | null>();
  const destination = `${o.vip}/32`;
  let token: string | undefined;
  do {
    const page = await session.call('ec2:DescribeRouteTables', '*', (abortSignal) => session.ec2.send(new DescribeRouteTablesCommand({
      Filters: [{ Name: 'vpc-id', Values: [o.vpcId] }], MaxResults: 100, ...(token === undefined ? {} : { NextToken: token }),
    }), { abortSignal }), options);
    for (const table of page.RouteTables ?? []) {
      const route = table.Routes?.find((r) => r.DestinationCidrBlock === destination);
      if (route !== undefined && table.RouteTableId !== undefined) out.set(table.RouteTableId, route.State === 'blackhole' ? null : route.NetworkInterfaceId ?? null);
    }
    token = page.NextToken;
  } while (token !== undefined && token !== '');
  return out;
}

/** A running node instance of the cluster, as the smoke run needs it. */
export interface RunningNode {
  readonly node: string;
  readonly instanceId: string;
  readonly subnetId: string;
  /** Its primary network interface, the VIP route's target. */
  readonly eni: string;
}

/** The cluster's running node instances (ownership and node tags). */
export async function runningNodes(scope: Ec2Scope, options: { readonly signal: AbortSignal }): Promise<RunningNode[]> {
  const out: RunningNode[] = [];
  for (const i of await ownedInstances(scope, options.signal)) {
    const node = tagValue(i.Tags, NODE_TAG);
    const eni = i.NetworkInterfaces?.find((n) => n.Attachment?.DeviceIndex === 0)?.NetworkInterfaceId ?? i.NetworkInterfaces?.[0]?.NetworkInterfaceId;
    if (i.State?.Name === 'running' && node !== undefined && i.InstanceId !== undefined && i.SubnetId !== undefined && eni !== undefined) out.push({ node, instanceId: i.InstanceId, subnetId: i.SubnetId, eni });
  }
  return out;
}
