/**
 * A small example cloud (two AZs, per-subnet route tables, two LB nodes, a VIP route, a second
 * VPC, a multi-ENI instance) for tests of the API and of components that talk to it.
 */
import { LabCloud } from './state.js';

export interface ExampleCloud {
  readonly cloud: LabCloud;
  readonly vip: string;
  readonly ids: {
    readonly vpc: string; readonly mainRouteTable: string; readonly subnetA: string; readonly subnetB: string;
    readonly routeTableA: string; readonly routeTableB: string;
    readonly lb1: string; readonly lb1Eni: string; readonly lb2: string; readonly lb2Eni: string;
    readonly multi: string; readonly multiEni0: string; readonly multiEni1: string;
    readonly otherVpc: string; readonly otherRouteTable: string; readonly otherInstance: string; readonly otherEni: string;
  };
}

/** Build the example cloud in `region` (default eu-west-1) with an optional clock. */
export function buildExampleCloud(options: { region?: string; clock?: () => number } = {}): ExampleCloud {
  const region = options.region ?? 'eu-west-1';
  const cloud = new LabCloud({ region, ...(options.clock === undefined ? {} : { clock: options.clock }) });
  const vip = '192.168.100.10/32';
  const { vpcId: vpc, mainRouteTableId } = cloud.createVpc({ cidr: '10.0.0.0/16', tags: { Name: 'lab' } });
  const { subnetId: subnetA } = cloud.createSubnet({ vpcId: vpc, cidr: '10.0.1.0/24', availabilityZone: `${region}a`, tags: { Name: 'a' } });
  const { subnetId: subnetB } = cloud.createSubnet({ vpcId: vpc, cidr: '10.0.2.0/24', availabilityZone: `${region}b`, tags: { Name: 'b' } });
  const { routeTableId: routeTableA } = cloud.createRouteTable({ vpcId: vpc, tags: { Name: 'rt-a', 'overlay-lb': 'owned' } });
  const { routeTableId: routeTableB } = cloud.createRouteTable({ vpcId: vpc, tags: { Name: 'rt-b', 'overlay-lb': 'owned' } });
  cloud.associateRouteTable({ routeTableId: routeTableA, subnetId: subnetA });
  cloud.associateRouteTable({ routeTableId: routeTableB, subnetId: subnetB });
  const lb1 = cloud.createInstance({ subnetId: subnetA, privateIp: '10.0.1.10', tags: { Name: 'lb1' }, roleName: 'lb-node' });
  const lb2 = cloud.createInstance({ subnetId: subnetB, privateIp: '10.0.2.10', tags: { Name: 'lb2' }, roleName: 'lb-node' });
  const multi = cloud.createInstance({ subnetId: subnetA, privateIp: '10.0.1.20', tags: { Name: 'multi' } });
  const second = cloud.createNetworkInterface({ subnetId: subnetA, privateIp: '10.0.1.21' });
  cloud.attachNetworkInterface({ networkInterfaceId: second.networkInterfaceId, instanceId: multi.instanceId });
  for (const routeTableId of [mainRouteTableId!, routeTableA, routeTableB]) {
    cloud.createRoute({ routeTableId, destinationCidrBlock: vip, target: { networkInterfaceId: lb1.networkInterfaceId } });
  }
  const other = cloud.createVpc({ cidr: '10.1.0.0/16', tags: { Name: 'other' } });
  const { subnetId: otherSubnet } = cloud.createSubnet({ vpcId: other.vpcId, cidr: '10.1.1.0/24', availabilityZone: `${region}a` });
  const otherInstance = cloud.createInstance({ subnetId: otherSubnet, privateIp: '10.1.1.10', tags: { Name: 'other' } });
  cloud.createRoute({ routeTableId: other.mainRouteTableId!, destinationCidrBlock: vip, target: { networkInterfaceId: otherInstance.networkInterfaceId } });
  return {
    cloud, vip,
    ids: {
      vpc, mainRouteTable: mainRouteTableId!, subnetA, subnetB, routeTableA, routeTableB,
      lb1: lb1.instanceId, lb1Eni: lb1.networkInterfaceId, lb2: lb2.instanceId, lb2Eni: lb2.networkInterfaceId,
      multi: multi.instanceId, multiEni0: multi.networkInterfaceId, multiEni1: second.networkInterfaceId,
      otherVpc: other.vpcId, otherRouteTable: other.mainRouteTableId!, otherInstance: otherInstance.instanceId, otherEni: otherInstance.networkInterfaceId,
    },
  };
}
