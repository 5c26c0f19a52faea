/**
 * The RunInstances request of one LB node, derived from the spec (pure): the image and type, the
 * node's subnet and address, the group and instance profile up made, IMDSv2 required, the
 * user-data, the ownership tags on the instance and its network interface, and an idempotency
 * token, so a rerun after an interrupted launch finds the first instance instead of starting a
 * second. For the instance kind (instance-resources.ts); source/dest check off is a
 * ModifyInstanceAttribute after the launch (RunInstances has no parameter for it).
 */
import { createHash } from 'node:crypto';
import type { RunInstancesCommandInput } from '@aws-sdk/client-ec2';
import type { Spec } from '../../../model/spec.js';
import { OverlayError } from '../../../util/errors.js';
import { ownershipTags, type ReleaseLocation } from './names.js';
import { nodeUserData } from './user-data.js';

/** Tag naming the node an instance runs (with the ownership tag). */
export const NODE_TAG = 'overlay-lb:node';
/**
 * The instance's primary network interface, as a tag up writes on the instance once it runs (its
 * id is known only then): the record that lets up tell, after the instance is terminated and its
 * interface deleted, that a blackhole VIP route naming that interface was this cluster's
 * (vip-route-resources.ts `classifyVipRoute`). Terminated instances stay described with their tags.
 */
export const ENI_TAG = 'overlay-lb:eni';

export interface LaunchOptions {
  readonly subnetId: string;
  readonly securityGroupId: string;
  readonly instanceProfile: string;
  /**
   * The node's earlier instances that are terminated (or shutting down), which this launch
   * replaces: part of the token, so a node whose instance was terminated gets a new instance, and
   * a rerun of the same launch (same terminated ones) finds the one the first run started.
   * @default none (the first launch)
   */
  readonly replaces?: readonly string[];
  /** Where the node reads its release (`nodeUserData`'s option). @default `up`'s bucket and keys */
  readonly release?: ReleaseLocation;
}

/** The RunInstances input of node `nodeName`. */
export function nodeLaunchInput(spec: Spec, nodeName: string, options: LaunchOptions): RunInstancesCommandInput {
  const p = spec.provision;
  const node = spec.cluster.nodes.find((n) => n.name === nodeName);
  if (p === undefined || node === undefined) throw new OverlayError('INTERNAL', `nodeLaunchInput: no provision section or no node ${nodeName}`);
  const tags = [...ownershipTags(spec.cluster.name), { Key: NODE_TAG, Value: node.name }, { Key: 'Name', Value: `${spec.cluster.name}-${node.name}` }];
  const userData = nodeUserData(spec, node.name, options.release === undefined ? {} : { release: options.release });
  const input = {
    ImageId: p.imageId,
    InstanceType: p.instanceType as RunInstancesCommandInput['InstanceType'],
    MinCount: 1,
    MaxCount: 1,
    // The node's own address on its primary interface: the spec's, which VRRP peers and the
    // handoff link use. (Top-level parameters, not NetworkInterfaces: the same primary
    // interface, and the form the lab supports.)
    SubnetId: options.subnetId,
    PrivateIpAddress: node.address,
    SecurityGroupIds: [options.securityGroupId],
    IamInstanceProfile: { Name: options.instanceProfile },
    // IMDSv2 only; one hop: the agent runs on the host, not in a container.
    MetadataOptions: { HttpTokens: 'required' as const, HttpEndpoint: 'enabled' as const, HttpPutResponseHopLimit: 1 },
    UserData: Buffer.from(userData, 'utf8').toString('base64'),
    TagSpecifications: [
      { ResourceType: 'instance' as const, Tags: tags },
      { ResourceType: 'network-interface' as const, Tags: tags },
    ],
  };
  const token = createHash('sha256').update(JSON.stringify({ cluster: spec.cluster.name, node: node.name, replaces: [...(options.replaces ?? [])].sort(), input })).digest('hex');
  // ClientToken: at most 64 ASCII characters (https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html).
  return { ...input, ClientToken: `olb-${token.slice(0, 40)}` };
}
