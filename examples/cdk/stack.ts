// The example stack: an overlay-lb cluster from examples/provision.yaml in an existing VPC,
// imported by its ids (no lookup: `cdk synth` needs no account). The ids are those of the lab's
// VPC for that spec (`overlay-lb lab up --bare --spec examples/provision.yaml --prefix olb-`);
// for your account, put your VPC's ids, zones, subnet CIDRs and route tables here, and your
// spec's cluster.cloud.vpcId, region, zones and node addresses. docs/cdk.md explains each prop.
import { App, Stack, aws_ec2 as ec2, type StackProps } from 'aws-cdk-lib';
import { OverlayLb } from '../../constructs/src/index.js';

/** The VPC of examples/provision.yaml (cluster.cloud.vpcId), with what the construct reads of it. */
export const EXAMPLE_VPC: ec2.VpcAttributes = {
  vpcId: 'vpc-0de30000000000001',
  vpcCidrBlock: '10.0.0.0/16',
  availabilityZones: ['az-a', 'az-b'],
  // One group per tier, one subnet per zone: the LB nodes', the backends' and the clients'.
  privateSubnetIds: ['subnet-8403c28dda82b7052', 'subnet-aa9cc7000dca0fc79', 'subnet-f6b0d82f933cb87c0', 'subnet-4e1da804e98639d4b', 'subnet-7f7b784898993e885', 'subnet-c895c749f186fe37e'],
  privateSubnetNames: ['lb', 'backend', 'client'],
  privateSubnetIpv4CidrBlocks: ['10.0.1.0/24', '10.0.2.0/24', '10.0.11.0/24', '10.0.12.0/24', '10.0.200.0/24', '10.0.201.0/24'],
  privateSubnetRouteTableIds: ['rtb-2a1a102f3ac17badc', 'rtb-6e989b13d3f257eef', 'rtb-de80ee58cf0640717', 'rtb-9bd3ca242c48f361d', 'rtb-e6b57474b18ecc5fb', 'rtb-155a952be0f2211fa'],
};

export interface ExampleStackOptions extends StackProps {
  /** The spec file. */
  readonly specFile: string;
  /** The Debian package the nodes install (scripts/build-deb.sh). */
  readonly packageFile: string;
}

/** The example's stack in `app`. */
export function exampleStack(app: App, id: string, options: ExampleStackOptions): Stack {
  const { specFile, packageFile, ...stackProps } = options;
  const stack = new Stack(app, id, stackProps);
  const vpc = ec2.Vpc.fromVpcAttributes(stack, 'Vpc', EXAMPLE_VPC);
  new OverlayLb(stack, 'Lb', { vpc, spec: { file: specFile }, packageFile });
  return stack;
}
