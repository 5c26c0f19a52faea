/**
 * What the EC2 kinds of `overlay-lb up` (security group, instances, VIP routes) share: the ARNs
 * their errors name, the lookups of the cluster's group and instances (by name and ownership tag,
 * never by a remembered id: a rerun after an interrupted run must find what the first one made),
 * and waiting on EC2's asynchronous state (instances pending -> running, shutting-down ->
 * terminated; a group in use) through the one retry helper, with a deadline.
 */
import { DescribeInstancesCommand, DescribeSecurityGroupsCommand, type Instance, type SecurityGroup } from '@aws-sdk/client-ec2';
import { OverlayError } from '../../../util/errors.js';
import { retry } from '../../../util/retry.js';
import { NODE_TAG } from './instance-launch.js';
import { OWNER_TAG } from './names.js';
import type { ProvisionSession } from './session.js';

/** Where the EC2 kinds are: the session, the account and VPC, the cluster. */
export interface Ec2Scope {
  readonly session: ProvisionSession;
  readonly account: string;
  readonly vpcId: string;
  readonly cluster: string;
}

/** `arn:aws:ec2:REGION:ACCOUNT:TYPE/ID`, as the errors of a refused call name it. */
export function ec2Arn(scope: Ec2Scope, type: string, id: string): string {
  return `arn:aws:ec2:${scope.session.region}:${scope.account}:${type}/${id}`;
}

/** The group named `name` in the VPC, whoever made it (DescribeSecurityGroups by name). */
export async function findGroup(scope: Ec2Scope, name: string, signal: AbortSignal): Promise<SecurityGroup | undefined> {
  const { session } = scope;
  const out = await session.call('ec2:DescribeSecurityGroups', '*', (abortSignal) => session.ec2.send(new DescribeSecurityGroupsCommand({
    Filters: [{ Name: 'vpc-id', Values: [scope.vpcId] }, { Name: 'group-name', Values: [name] }],
  }), { abortSignal }), { signal });
  return out.SecurityGroups?.find((g) => g.GroupName === name);
}

/** Instance states that hold a node (its address and ENI): not terminated, not on the way there. */
export const LIVE_STATES: readonly string[] = ['pending', 'running', 'stopping', 'stopped'];

/** The cluster's instances (ownership tag; of node `node` if given), in every state, all pages. */
export async function ownedInstances(scope: Ec2Scope, signal: AbortSignal, node?: string): Promise<Instance[]> {
  const { session } = scope;
  const filters = [{ Name: 'vpc-id', Values: [scope.vpcId] }, { Name: `tag:${OWNER_TAG}`, Values: [scope.cluster] }];
  if (node !== undefined) filters.push({ Name: `tag:${NODE_TAG}`, Values: [node] });
  const out: Instance[] = [];
  let token: string | undefined;
  do {
    const page = await session.call('ec2:DescribeInstances', '*', (abortSignal) => session.ec2.send(new DescribeInstancesCommand({
      Filters: filters, MaxResults: 1000, ...(token === undefined ? {} : { NextToken: token }),
    }), { abortSignal }), { signal });
    for (const r of page.Reservations ?? []) out.push(...(r.Instances ?? []));
    token = page.NextToken;
  } while (token !== undefined && token !== '');
  // A terminated instance may still be listed without its tags in some views: keep the tagged only.
  return out.filter((i) => (i.Tags ?? []).some((t) => t.Key === OWNER_TAG && t.Value === scope.cluster));
}

/** How long up waits for EC2's asynchronous changes (an instance booting or terminating, a group freed). */
export const WAIT_DEADLINE_MS = 600_000;

/** Marks "not yet" in a wait: the only error `waitFor` retries. */
class NotYet extends Error {}

/**
 * Polls `check` (reads only) until it answers a value (not undefined), with backoff up to 5 s and
 * a deadline of WAIT_DEADLINE_MS; `what` names the wait in the timeout error.
 */
export async function waitFor<T>(session: ProvisionSession, what: string, check: () => Promise<T | undefined>, signal: AbortSignal): Promise<T> {
  const clock = session.clock;
  try {
    return await retry(async () => {
      const v = await check();
      if (v === undefined) throw new NotYet(what);
      return v;
    }, { signal, clock, baseMs: 500, maxMs: 5000, deadline: clock.now() + WAIT_DEADLINE_MS, isRetryable: (e) => e instanceof NotYet });
  } catch (err) {
    if (err instanceof NotYet) throw new OverlayError('CLOUD_UNAVAILABLE', `gave up after ${WAIT_DEADLINE_MS / 1000} s waiting for ${what}; run up again to continue from there`);
    throw err;
  }
}

/** The primary network interface of an instance (device index 0). */
export function primaryEni(i: Instance): string | undefined {
  const enis = i.NetworkInterfaces ?? [];
  return (enis.find((e) => e.Attachment?.DeviceIndex === 0) ?? enis[0])?.NetworkInterfaceId;
}

/** The value of tag `key`, if any. */
export function tagValue(tags: readonly { readonly Key?: string | undefined; readonly Value?: string | undefined }[] | undefined, key: string): string | undefined {
  return (tags ?? []).find((t) => t.Key === key)?.Value;
}
