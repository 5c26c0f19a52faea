/**
 * One EC2 instance per LB node for `overlay-lb up`: launched with nodeLaunchInput
 * (instance-launch.ts: the node's subnet and address, the group, the instance profile, IMDSv2
 * required, the user-data, the ownership and node tags from the launch itself), then source/dest
 * check off (the node forwards the VIP's traffic). Found again by its tags, never by a remembered
 * id; the launch's ClientToken derives from the launch, so a run killed after RunInstances but
 * before it saw the answer finds the first instance instead of starting a second. A node whose
 * instance is terminated (or shutting down) is `absent` and gets a new one (a new token: it
 * names the instances it replaces). A new instance profile is briefly unknown to EC2 (IAM is
 * eventually consistent): that refusal is retried. `remove` terminates and waits for terminated.
 */
import {
  CreateTagsCommand, DescribeNetworkInterfacesCommand, DescribeSubnetsCommand, type Instance, ModifyInstanceAttributeCommand, RunInstancesCommand, StartInstancesCommand, TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import type { Spec } from '../../../model/spec.js';
import { OverlayError } from '../../../util/errors.js';
import { retry } from '../../../util/retry.js';
import type { ObservedResource, ProvisionResource } from '../../provision-kind.js';
import { type Ec2Scope, ec2Arn, findGroup, LIVE_STATES, ownedInstances, primaryEni, tagValue, WAIT_DEADLINE_MS, waitFor } from './ec2-common.js';
import { ENI_TAG, nodeLaunchInput } from './instance-launch.js';
import { OWNER_TAG, ownedBy } from './names.js';
import { isAwsError } from './session.js';

/** A subnet as DescribeSubnets gives it (src/provision/subnets.ts' SubnetInfo). */
export interface SubnetView {
  readonly subnetId: string;
  readonly vpcId: string;
  readonly availabilityZone: string;
  readonly cidr: string;
}

/**
 * Node name -> subnet id for the spec's nodes among `subnets` (the provision layer's
 * nodeSubnets, injected: it throws a UserError naming the node and the fix).
 */
export type PlaceNodes = (subnets: readonly SubnetView[]) => ReadonlyMap<string, string>;

export interface InstanceResourceOptions {
  readonly scope: Ec2Scope;
  readonly placeNodes: PlaceNodes;
  readonly spec: Spec;
  readonly groupName: string;
  readonly instanceProfile: string;
  /** Labels of what the instances need first: the group, the role and profile, the objects the user-data reads. */
  readonly dependsOn: readonly string[];
}

/** The label of node `node`'s instance (the VIP routes depend on them). */
export function instanceLabel(spec: Spec, node: string): string {
  const n = spec.cluster.nodes.find((x) => x.name === node);
  return `instance of node ${node}${n === undefined ? '' : ` (${n.address}, ${n.zone})`}`;
}

const stateOf = (i: Instance): string => i.State?.Name ?? 'unknown';
const isLive = (i: Instance): boolean => LIVE_STATES.includes(stateOf(i));
/** RunInstances' refusal of an instance profile IAM has not propagated yet (AWS's words, and the lab's). */
const profileNotPropagated = (err: unknown): boolean => isAwsError(err, 'InvalidParameterValue') && err instanceof Error && /iamInstanceProfile\.(name|arn) is invalid/i.test(err.message);

/** One resource per node of the spec, in the spec's order. */
export function instanceResources(o: InstanceResourceOptions): ProvisionResource[] {
  return o.spec.cluster.nodes.map((n) => new NodeInstance(o, n.name));
}

/** Node `node`'s instance, as a resource. */
class NodeInstance implements ProvisionResource {
  readonly kind = 'instance';
  readonly label: string;
  readonly dependsOn: readonly string[];
  readonly #o: InstanceResourceOptions;
  readonly #node: string;
  readonly #address: string;

  constructor(o: InstanceResourceOptions, node: string) {
    this.#o = o;
    this.#node = node;
    this.label = instanceLabel(o.spec, node);
    this.dependsOn = o.dependsOn;
    this.#address = o.spec.cluster.nodes.find((n) => n.name === node)?.address ?? '';
  }

  async observe({ signal }: { readonly signal: AbortSignal }): Promise<ObservedResource> {
    const { cluster } = this.#o.scope;
    const i = (await this.#instances(signal)).find(isLive);
    if (i !== undefined) {
      const changes: string[] = [];
      if (stateOf(i) === 'stopped' || stateOf(i) === 'stopping') changes.push(`${i.InstanceId ?? ''} is ${stateOf(i)}: start it`);
      if (i.SourceDestCheck !== false) changes.push('source/dest check on');
      const eni = primaryEni(i);
      if (eni !== undefined && tagValue(i.Tags, ENI_TAG) !== eni) changes.push(`record its interface ${eni} (tag ${ENI_TAG})`);
      const notes = this.#launchDrift(i);
      return { state: 'owned', changes, ...(notes.length === 0 ? {} : { notes }) };
    }
    const holder = await this.#addressHolder(signal);
    if (holder !== undefined) {
      return {
        state: 'foreign', reason: `node ${this.#node}'s address ${this.#address} is held by ${holder}, which is not tagged ${OWNER_TAG}=${cluster}`,
        fix: `free the address (terminate that instance or delete that interface) or give node ${this.#node} another address in its subnet`,
      };
    }
    // Resolved now, so a spec whose node fits no subnet fails at the plan, naming the fix.
    await this.#subnet(signal);
    return { state: 'absent' };
  }

  create({ signal }: { readonly signal: AbortSignal }): Promise<void> {
    return this.#launch(signal);
  }

  /**
   * How the running instance differs from what the spec would launch now (type, image, the node's
   * address): up does not replace a serving node by itself (replacing the master fails over, and
   * a changed address changes the VRRP peers of the other node too), so each is a note saying how
   * to replace it one node at a time.
   */
  #launchDrift(i: Instance): string[] {
    const p = this.#o.spec.provision;
    if (p === undefined) return [];
    const drift: string[] = [];
    if (i.InstanceType !== undefined && i.InstanceType !== p.instanceType) drift.push(`instance type ${i.InstanceType}, the spec says ${p.instanceType}`);
    if (i.ImageId !== undefined && i.ImageId !== p.imageId) drift.push(`image ${i.ImageId}, the spec says ${p.imageId}`);
    if (i.PrivateIpAddress !== undefined && i.PrivateIpAddress !== this.#address) drift.push(`address ${i.PrivateIpAddress}, the spec says ${this.#address}`);
    if (drift.length === 0) return [];
    const id = i.InstanceId ?? '';
    return [`${id} runs with ${drift.join('; ')}. up does not replace a running node: replace the nodes one at a time, the backup first (overlay-lb status shows which is master): aws ec2 terminate-instances --instance-ids ${id}, then overlay-lb up again, and wait until the new node serves before the next`];
  }

  async update(_changes: readonly string[], { signal }: { readonly signal: AbortSignal }): Promise<void> {
    const i = (await this.#instances(signal)).find(isLive);
    if (i === undefined) throw new OverlayError('CLOUD_CONFLICT', `the instance of node ${this.#node} is gone; run up again to replace it`);
    await this.#converge(i, signal);
  }

  async remove({ signal }: { readonly signal: AbortSignal }): Promise<void> {
    const { session } = this.#o.scope;
    const ids = (await this.#instances(signal)).filter((i) => isLive(i) || stateOf(i) === 'shutting-down').map((i) => i.InstanceId ?? '').filter((id) => id !== '');
    if (ids.length === 0) return;
    await session.call('ec2:TerminateInstances', this.#arn(ids[0]!), (abortSignal) => session.ec2.send(new TerminateInstancesCommand({ InstanceIds: ids }), { abortSignal }), { signal });
    await waitFor(session, `the instances of node ${this.#node} (${ids.join(', ')}) to be terminated`, async () => {
      const now = await this.#instances(signal);
      return now.some((i) => ids.includes(i.InstanceId ?? '') && stateOf(i) !== 'terminated') ? undefined : true;
    }, signal);
  }

  #arn(id: string): string {
    return ec2Arn(this.#o.scope, 'instance', id);
  }

  #instances(signal: AbortSignal): Promise<Instance[]> {
    return ownedInstances(this.#o.scope, signal, this.#node);
  }

  async #subnet(signal: AbortSignal): Promise<string> {
    const { scope: { session, vpcId }, spec } = this.#o;
    const describe = async (filter: { Name: string; Values: string[] }) => (await session.call('ec2:DescribeSubnets', '*', (abortSignal) => session.ec2.send(new DescribeSubnetsCommand({ Filters: [filter] }), { abortSignal }), { signal })).Subnets ?? [];
    const given = Object.values(spec.provision?.subnets ?? {});
    // Subnets the spec names outside the VPC: described too, so the error says where they are.
    const found = [...await describe({ Name: 'vpc-id', Values: [vpcId] }), ...(given.length === 0 ? [] : await describe({ Name: 'subnet-id', Values: given }))];
    const subnets: SubnetView[] = found.map((s) => ({ subnetId: s.SubnetId ?? '', vpcId: s.VpcId ?? '', availabilityZone: s.AvailabilityZone ?? '', cidr: s.CidrBlock ?? '' }));
    return this.#o.placeNodes(subnets).get(this.#node) ?? '';
  }

  /** Who else holds the node's address in the VPC (an ENI not tagged as this cluster's). */
  async #addressHolder(signal: AbortSignal): Promise<string | undefined> {
    const { session, vpcId, cluster } = this.#o.scope;
    const out = await session.call('ec2:DescribeNetworkInterfaces', '*', (abortSignal) => session.ec2.send(new DescribeNetworkInterfacesCommand({
      Filters: [{ Name: 'vpc-id', Values: [vpcId] }, { Name: 'addresses.private-ip-address', Values: [this.#address] }],
    }), { abortSignal }), { signal });
    const other = (out.NetworkInterfaces ?? []).find((e) => !ownedBy(e.TagSet, cluster));
    if (other === undefined) return undefined;
    return `${other.NetworkInterfaceId ?? 'a network interface'}${other.Attachment?.InstanceId === undefined ? '' : ` of instance ${other.Attachment.InstanceId}`}`;
  }

  /** Waits until instance `id` is in `state` (running: fails when it terminates instead). */
  #waitState(id: string, state: 'running' | 'stopped', signal: AbortSignal): Promise<Instance> {
    return waitFor(this.#o.scope.session, `instance ${id} of node ${this.#node} to be ${state}`, async () => {
      const i = (await this.#instances(signal)).find((x) => x.InstanceId === id);
      if (i === undefined) return undefined; // not listed yet: EC2's describes are eventually consistent
      if (stateOf(i) === state) return i;
      if (stateOf(i) === 'shutting-down' || stateOf(i) === 'terminated') {
        throw new OverlayError('CLOUD_CONFLICT', `instance ${id} of node ${this.#node} became ${stateOf(i)} while up waited for it (${i.StateReason?.Message ?? 'no reason given'}); its console output (aws ec2 get-console-output --instance-id ${id}) says why; run up again to replace it`);
      }
      return undefined;
    }, signal);
  }

  /** A pending instance is waited for, a stopped (or stopping) one started; then source/dest check off. */
  async #converge(i: Instance, signal: AbortSignal): Promise<void> {
    const { session } = this.#o.scope;
    const id = i.InstanceId ?? '';
    let now = i;
    if (stateOf(i) === 'stopping' || stateOf(i) === 'stopped') {
      await this.#waitState(id, 'stopped', signal);
      await session.call('ec2:StartInstances', this.#arn(id), (abortSignal) => session.ec2.send(new StartInstancesCommand({ InstanceIds: [id] }), { abortSignal }), { signal });
      now = await this.#waitState(id, 'running', signal);
    } else if (stateOf(i) === 'pending') {
      now = await this.#waitState(id, 'running', signal);
    }
    if (now.SourceDestCheck !== false) {
      await session.call('ec2:ModifyInstanceAttribute', this.#arn(id), (abortSignal) => session.ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: id, SourceDestCheck: { Value: false } }), { abortSignal }), { signal });
    }
    // The record of its interface (ENI_TAG), for the VIP routes left blackhole once it is terminated.
    const eni = primaryEni(now);
    if (eni === undefined || tagValue(now.Tags, ENI_TAG) === eni) return;
    await session.call('ec2:CreateTags', this.#arn(id), (abortSignal) => session.ec2.send(new CreateTagsCommand({ Resources: [id], Tags: [{ Key: ENI_TAG, Value: eni }] }), { abortSignal }), { signal });
  }

  async #launch(signal: AbortSignal): Promise<void> {
    const { scope, spec } = this.#o;
    const { session, cluster } = scope;
    const node = this.#node;
    const group = await findGroup(scope, this.#o.groupName, signal);
    if (group?.GroupId === undefined || !ownedBy(group.Tags, cluster)) throw new OverlayError('CLOUD_CONFLICT', `security group ${this.#o.groupName} is missing or not this cluster's; run up again`);
    const subnetId = await this.#subnet(signal);
    // AWS keeps a shutting-down instance's address until it is terminated: wait for that.
    const previous = await waitFor(session, `the terminating instance of node ${node} to be terminated`, async () => {
      const all = await this.#instances(signal);
      return all.some((i) => stateOf(i) === 'shutting-down') ? undefined : all;
    }, signal);
    const live = previous.find(isLive);
    // An earlier run's launch landed after the plan read: that is the node's instance.
    if (live !== undefined) return this.#converge(live, signal);
    const replaces = previous.filter((i) => stateOf(i) === 'terminated').map((i) => i.InstanceId ?? '').filter((id) => id !== '');
    const clock = session.clock;
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const input = nodeLaunchInput(spec, node, { subnetId, securityGroupId: group.GroupId, instanceProfile: this.#o.instanceProfile, replaces });
      const out = await retry(
        () => session.call('ec2:RunInstances', ec2Arn(scope, 'instance', '*'), (abortSignal) => session.ec2.send(new RunInstancesCommand(input), { abortSignal }), { signal }),
        { signal, clock, baseMs: 1000, maxMs: 5000, deadline: clock.now() + WAIT_DEADLINE_MS, isRetryable: profileNotPropagated },
      );
      const started = out.Instances?.[0];
      if (started?.InstanceId === undefined) throw new OverlayError('CLOUD_INVALID_REQUEST', `RunInstances for node ${node} answered no instance`);
      // A token EC2 still remembers from a launch whose instance is gone (its terminated
      // instance no longer listed): launch again, naming that instance as replaced.
      if (stateOf(started) === 'shutting-down' || stateOf(started) === 'terminated') {
        replaces.push(started.InstanceId);
        continue;
      }
      return this.#converge(await this.#waitState(started.InstanceId, 'running', signal), signal);
    }
    throw new OverlayError('CLOUD_CONFLICT', `RunInstances for node ${node} kept answering terminated instances (${replaces.join(', ')}); run up again`);
  }
}
