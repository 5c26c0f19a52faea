/**
 * The EC2 actions the lab serves: parameters in, the model called, XML out (no I/O).
 * Shapes follow the EC2 API reference (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/);
 * docs/lab-ec2-api.md lists what is supported and where the lab differs.
 */
import { Ec2ApiError, ec2Errors } from './errors.js';
import type { AuthorizedResource } from './policy.js';
import { applyFilters, paginate, type FilterFields, type QueryParams } from './query.js';
import {
  lookup, lookupGroup, resourceTypeOf, routeState, INSTANCE_STATE_CODES, DEBIAN_OWNER_ID, LAB_IMAGE_ID, LAB_IMAGE_NAME, LAB_INSTANCE_TYPE,
  type AddressData, type InstanceData, type LabCloud, type NetworkInterfaceData, type RouteTableData,
  type RouteTargetInput, type SubnetData, type VpcData, type World,
} from './state.js';
import { itemSet, tagSet, type XmlNode } from './xml.js';
import { SECURITY_GROUP_ACTIONS } from './security-group-actions.js';
import { VPN_GATEWAY_ACTIONS } from './vpn-gateway-actions.js';
import { inVpc, type ActionContext, type ActionHandler } from './action-context.js';

export type { ActionContext, ActionHandler } from './action-context.js';

const iso = (ms: number): string => new Date(ms).toISOString();

/** Explicit ids first (each must exist, as EC2 answers .NotFound for any missing one), else all. */
function selectByIds<T>(world: Readonly<World>, prefix: string, ids: readonly string[], all: Readonly<Record<string, T>>): T[] {
  if (ids.length > 0) return ids.map((id) => lookup<T>(world as World, prefix, id));
  return Object.keys(all).sort().map((id) => all[id]!);
}

function describe<T extends { tags: Record<string, string> }>(ctx: ActionContext, options: {
  prefix: string; idParam: string; all: Readonly<Record<string, T>>; fields: FilterFields<T>; page?: { min: number; max: number };
}): { page: T[]; nextToken: string | undefined } {
  ctx.authorize([]);
  const ids = ctx.params.list(options.idParam);
  if (ids.length > 0 && options.page !== undefined && ctx.params.get('MaxResults') !== undefined) {
    throw ec2Errors.invalidParameterCombination(`The parameter ${options.idParam}s cannot be used with the parameter maxResults`);
  }
  const items = applyFilters({
    items: selectByIds(ctx.view, options.prefix, ids, options.all), filters: ctx.params.filters(), fields: options.fields, tags: (i) => i.tags,
  });
  if (options.page === undefined) return { page: items, nextToken: undefined };
  return paginate({ items, params: ctx.params, ...options.page });
}

// ---- rendering ----------------------------------------------------------------------------------

function vpcXml(cloud: LabCloud, v: VpcData): XmlNode {
  return {
    vpcId: v.vpcId, ownerId: cloud.accountId, state: 'available', cidrBlock: v.cidrBlock,
    cidrBlockAssociationSet: itemSet([{ cidrBlock: v.cidrBlock, associationId: v.vpcId.replace('vpc-', 'vpc-cidr-assoc-'), cidrBlockState: { state: 'associated' } }]),
    dhcpOptionsId: 'default', instanceTenancy: 'default', isDefault: false, tagSet: tagSet(v.tags),
  };
}

function subnetXml(cloud: LabCloud, world: Readonly<World>, s: SubnetData): XmlNode {
  const prefix = Number(s.cidrBlock.split('/')[1]);
  const used = Object.values(world.networkInterfaces).filter((e) => e.subnetId === s.subnetId).length;
  return {
    subnetId: s.subnetId, subnetArn: cloud.arn('subnet', s.subnetId), ownerId: cloud.accountId, state: 'available', vpcId: s.vpcId,
    cidrBlock: s.cidrBlock, availableIpAddressCount: Math.max(0, 2 ** (32 - prefix) - 5 - used),
    availabilityZone: s.availabilityZone, availabilityZoneId: availabilityZones(cloud, world).find((z) => z.zoneName === s.availabilityZone)?.zoneId,
    defaultForAz: false, mapPublicIpOnLaunch: false, tagSet: tagSet(s.tags),
  };
}

function routeTableXml(cloud: LabCloud, world: Readonly<World>, t: RouteTableData): XmlNode {
  return {
    routeTableId: t.routeTableId, vpcId: t.vpcId, ownerId: cloud.accountId,
    routeSet: itemSet(t.routes.map((r) => {
      const target = r.target;
      const eni = target.kind === 'eni' ? world.networkInterfaces[target.networkInterfaceId] : undefined;
      return {
        destinationCidrBlock: r.destinationCidrBlock,
        gatewayId: target.kind === 'local' ? 'local' : target.kind === 'gateway' ? target.gatewayId : undefined,
        instanceId: eni?.attachment?.instanceId,
        instanceOwnerId: eni?.attachment === null || eni === undefined ? undefined : cloud.accountId,
        networkInterfaceId: target.kind === 'eni' ? target.networkInterfaceId : undefined,
        state: routeState(world, r, t), origin: r.origin,
      };
    })),
    associationSet: itemSet(t.associations.map((a) => ({
      routeTableAssociationId: a.associationId, routeTableId: t.routeTableId, subnetId: a.subnetId ?? undefined, main: a.main,
      associationState: { state: 'associated' },
    }))),
    propagatingVgwSet: itemSet([]), tagSet: tagSet(t.tags),
  };
}

/** `groupSet` of an ENI or instance: `{ groupId, groupName }` per group. */
function groupSetXml(world: Readonly<World>, groupIds: readonly string[]): XmlNode {
  return itemSet(groupIds.map((groupId) => ({ groupId, groupName: world.securityGroups[groupId]?.groupName })));
}

function addressOf(world: Readonly<World>, eni: NetworkInterfaceData): AddressData | undefined {
  return Object.values(world.addresses).find((a) => a.association?.networkInterfaceId === eni.networkInterfaceId);
}

function eniXml(cloud: LabCloud, world: Readonly<World>, e: NetworkInterfaceData, options: { inInstance: boolean }): XmlNode {
  const address = addressOf(world, e);
  const association = address === undefined ? undefined : {
    publicIp: address.publicIp, publicDnsName: '', ipOwnerId: cloud.accountId,
    allocationId: options.inInstance ? undefined : address.allocationId, associationId: options.inInstance ? undefined : address.association?.associationId,
  };
  return {
    networkInterfaceId: e.networkInterfaceId, subnetId: e.subnetId, vpcId: e.vpcId,
    availabilityZone: options.inInstance ? undefined : world.subnets[e.subnetId]?.availabilityZone,
    description: e.description, ownerId: cloud.accountId, requesterManaged: options.inInstance ? undefined : false,
    status: e.attachment === null ? 'available' : 'in-use', macAddress: e.mac, privateIpAddress: e.privateIp,
    privateDnsName: `ip-${e.privateIp.replaceAll('.', '-')}.${cloud.region}.compute.internal`,
    sourceDestCheck: e.sourceDestCheck, groupSet: groupSetXml(world, e.groups),
    attachment: e.attachment === null ? undefined : {
      attachmentId: e.attachment.attachmentId, instanceId: options.inInstance ? undefined : e.attachment.instanceId,
      instanceOwnerId: options.inInstance ? undefined : cloud.accountId, deviceIndex: e.attachment.deviceIndex, status: 'attached',
      deleteOnTermination: e.attachment.deviceIndex === 0, networkCardIndex: 0,
    },
    association,
    tagSet: options.inInstance ? undefined : tagSet(e.tags),
    privateIpAddressesSet: itemSet([{ privateIpAddress: e.privateIp, primary: true, association }]),
    interfaceType: 'interface',
  };
}

/** The instance profile of an instance (`iamInstanceProfile`): the API-given one, or the seeded role's profile of the same name. */
function instanceProfileOf(cloud: LabCloud, world: Readonly<World>, i: InstanceData): { arn: string; id: string } | undefined {
  const name = i.instanceProfileName === undefined ? i.roleName : i.instanceProfileName;
  if (name === null) return undefined;
  const profile = world.instanceProfiles[name];
  return {
    arn: profile === undefined ? `arn:aws:iam::${cloud.accountId}:instance-profile/${name}` : cloud.iam.instanceProfileArn(profile),
    id: profile?.instanceProfileId ?? `AIPA${i.instanceId.slice(2).toUpperCase()}`,
  };
}

export function instanceXml(cloud: LabCloud, world: Readonly<World>, i: InstanceData): XmlNode {
  const enis = Object.values(world.networkInterfaces)
    .filter((e) => e.attachment?.instanceId === i.instanceId)
    .sort((a, b) => a.attachment!.deviceIndex - b.attachment!.deviceIndex);
  const primary = enis[0];
  const publicIp = primary === undefined ? undefined : addressOf(world, primary)?.publicIp;
  const groups = groupSetXml(world, instanceGroups(world, i));
  const gone = i.state === 'terminated';
  const profile = instanceProfileOf(cloud, world, i);
  return {
    instanceId: i.instanceId, imageId: i.imageId ?? LAB_IMAGE_ID, instanceState: { code: INSTANCE_STATE_CODES[i.state], name: i.state },
    privateDnsName: primary === undefined ? '' : `ip-${primary.privateIp.replaceAll('.', '-')}.${cloud.region}.compute.internal`,
    dnsName: '', reason: i.stateTransitionReason ?? '', amiLaunchIndex: i.amiLaunchIndex ?? 0, productCodes: itemSet([]),
    instanceType: i.instanceType ?? LAB_INSTANCE_TYPE, launchTime: iso(i.launchTime),
    placement: { availabilityZone: world.subnets[i.subnetId]?.availabilityZone, groupName: '', tenancy: 'default' },
    monitoring: { state: 'disabled' }, subnetId: gone ? undefined : i.subnetId, vpcId: gone ? undefined : i.vpcId,
    privateIpAddress: primary?.privateIp, ipAddress: publicIp,
    sourceDestCheck: primary?.sourceDestCheck, groupSet: groups, architecture: 'x86_64', rootDeviceType: 'ebs', rootDeviceName: '/dev/xvda',
    blockDeviceMapping: itemSet([]), virtualizationType: 'hvm', clientToken: i.clientToken ?? '', tagSet: tagSet(i.tags), hypervisor: 'xen',
    networkInterfaceSet: itemSet(enis.map((e) => ({ ...eniXml(cloud, world, e, { inInstance: true }), groupSet: groups }))),
    iamInstanceProfile: profile,
    ebsOptimized: false, enaSupport: true,
    stateReason: i.stateReason === undefined || i.stateReason === null ? undefined : { code: i.stateReason.code, message: i.stateReason.message },
    metadataOptions: i.metadataOptions === undefined ? undefined : {
      state: i.state === 'pending' ? 'pending' : 'applied', httpTokens: i.metadataOptions.httpTokens,
      httpPutResponseHopLimit: i.metadataOptions.httpPutResponseHopLimit, httpEndpoint: i.metadataOptions.httpEndpoint,
      httpProtocolIpv6: i.metadataOptions.httpProtocolIpv6, instanceMetadataTags: i.metadataOptions.instanceMetadataTags,
    },
    platformDetails: 'Linux/UNIX', usageOperation: 'RunInstances', bootMode: 'uefi-preferred', currentInstanceBootMode: 'legacy-bios',
  };
}

function addressXml(cloud: LabCloud, world: Readonly<World>, a: AddressData): XmlNode {
  const eni = a.association === null ? undefined : world.networkInterfaces[a.association.networkInterfaceId];
  return {
    publicIp: a.publicIp, allocationId: a.allocationId, domain: 'vpc',
    associationId: a.association?.associationId, instanceId: eni?.attachment?.instanceId,
    networkInterfaceId: a.association?.networkInterfaceId, networkInterfaceOwnerId: a.association === null ? undefined : cloud.accountId,
    privateIpAddress: a.association?.privateIp, tagSet: tagSet(a.tags), publicIpv4Pool: 'amazon', networkBorderGroup: cloud.region,
  };
}

// ---- filters ------------------------------------------------------------------------------------

const vpcFields = (cloud: LabCloud): FilterFields<VpcData> => ({
  'vpc-id': (v) => [v.vpcId], cidr: (v) => [v.cidrBlock], 'cidr-block-association.cidr-block': (v) => [v.cidrBlock],
  state: () => ['available'], 'is-default': () => ['false'], 'owner-id': () => [cloud.accountId],
});
const subnetFields = (cloud: LabCloud): FilterFields<SubnetData> => ({
  'subnet-id': (s) => [s.subnetId], 'vpc-id': (s) => [s.vpcId], 'cidr-block': (s) => [s.cidrBlock], cidr: (s) => [s.cidrBlock],
  cidrBlock: (s) => [s.cidrBlock], 'availability-zone': (s) => [s.availabilityZone], availabilityZone: (s) => [s.availabilityZone],
  state: () => ['available'], 'default-for-az': () => ['false'], 'owner-id': () => [cloud.accountId], 'subnet-arn': (s) => [cloud.arn('subnet', s.subnetId)],
});
const routeTableFields = (cloud: LabCloud, world: Readonly<World>): FilterFields<RouteTableData> => ({
  'route-table-id': (t) => [t.routeTableId], 'vpc-id': (t) => [t.vpcId], 'owner-id': () => [cloud.accountId],
  'association.subnet-id': (t) => t.associations.map((a) => a.subnetId ?? undefined),
  'association.route-table-association-id': (t) => t.associations.map((a) => a.associationId),
  'association.route-table-id': (t) => (t.associations.length > 0 ? [t.routeTableId] : []),
  'association.main': (t) => [String(t.associations.some((a) => a.main))],
  'route.destination-cidr-block': (t) => t.routes.map((r) => r.destinationCidrBlock),
  'route.network-interface-id': (t) => t.routes.map((r) => (r.target.kind === 'eni' ? r.target.networkInterfaceId : undefined)),
  'route.instance-id': (t) => t.routes.map((r) => (r.target.kind === 'eni' ? world.networkInterfaces[r.target.networkInterfaceId]?.attachment?.instanceId : undefined)),
  'route.gateway-id': (t) => t.routes.map((r) => (r.target.kind === 'local' ? 'local' : r.target.kind === 'gateway' ? r.target.gatewayId : undefined)),
  'route.origin': (t) => t.routes.map((r) => r.origin),
  'route.state': (t) => t.routes.map((r) => routeState(world as World, r, t)),
});
const instanceEnis = (world: Readonly<World>, i: InstanceData): NetworkInterfaceData[] =>
  Object.values(world.networkInterfaces).filter((e) => e.attachment?.instanceId === i.instanceId);
/** An instance's security groups: its primary ENI's, or (terminated, the ENI gone) those it was launched with. */
const instanceGroups = (world: Readonly<World>, i: InstanceData): readonly string[] =>
  instanceEnis(world, i).find((e) => e.attachment?.deviceIndex === 0)?.groups ?? i.securityGroupIds ?? [];
const instanceFields = (cloud: LabCloud, world: Readonly<World>): FilterFields<InstanceData> => ({
  'instance-id': (i) => [i.instanceId], 'vpc-id': (i) => [i.vpcId], 'subnet-id': (i) => [i.subnetId],
  'availability-zone': (i) => [world.subnets[i.subnetId]?.availabilityZone], 'instance-state-name': (i) => [i.state],
  'instance-state-code': (i) => [String(INSTANCE_STATE_CODES[i.state])],
  'private-ip-address': (i) => [instanceEnis(world, i).find((e) => e.attachment?.deviceIndex === 0)?.privateIp],
  'network-interface.network-interface-id': (i) => instanceEnis(world, i).map((e) => e.networkInterfaceId),
  'network-interface.mac-address': (i) => instanceEnis(world, i).map((e) => e.mac),
  'network-interface.addresses.private-ip-address': (i) => instanceEnis(world, i).map((e) => e.privateIp),
  'reservation-id': (i) => [i.reservationId], 'owner-id': () => [cloud.accountId], 'instance-type': (i) => [i.instanceType ?? LAB_INSTANCE_TYPE],
  'image-id': (i) => [i.imageId ?? LAB_IMAGE_ID], 'client-token': (i) => [i.clientToken], 'launch-time': (i) => [iso(i.launchTime)],
  'instance.group-id': (i) => instanceGroups(world, i), 'instance.group-name': (i) => instanceGroups(world, i).map((id) => world.securityGroups[id]?.groupName),
  'ami-launch-index': (i) => [String(i.amiLaunchIndex ?? 0)],
  'metadata-options.http-tokens': (i) => [i.metadataOptions?.httpTokens], 'metadata-options.http-endpoint': (i) => [i.metadataOptions?.httpEndpoint],
  'state-reason-code': (i) => [i.stateReason?.code], 'source-dest-check': (i) => [String(instanceEnis(world, i).find((e) => e.attachment?.deviceIndex === 0)?.sourceDestCheck)],
  'iam-instance-profile.arn': (i) => [instanceProfileOf(cloud, world, i)?.arn],
});
const eniFields = (cloud: LabCloud, world: Readonly<World>): FilterFields<NetworkInterfaceData> => ({
  'network-interface-id': (e) => [e.networkInterfaceId], 'vpc-id': (e) => [e.vpcId], 'subnet-id': (e) => [e.subnetId],
  'availability-zone': (e) => [world.subnets[e.subnetId]?.availabilityZone], description: (e) => [e.description],
  'attachment.instance-id': (e) => [e.attachment?.instanceId], 'attachment.attachment-id': (e) => [e.attachment?.attachmentId],
  'attachment.device-index': (e) => [e.attachment === null ? undefined : String(e.attachment.deviceIndex)],
  'attachment.status': (e) => [e.attachment === null ? undefined : 'attached'],
  'private-ip-address': (e) => [e.privateIp], 'addresses.private-ip-address': (e) => [e.privateIp], 'mac-address': (e) => [e.mac],
  status: (e) => [e.attachment === null ? 'available' : 'in-use'], 'source-dest-check': (e) => [String(e.sourceDestCheck)],
  'owner-id': () => [cloud.accountId], 'association.public-ip': (e) => [addressOf(world, e)?.publicIp],
  'association.allocation-id': (e) => [addressOf(world, e)?.allocationId], 'interface-type': () => ['interface'],
  'group-id': (e) => e.groups, 'group-name': (e) => e.groups.map((id) => world.securityGroups[id]?.groupName),
});
const addressFields = (cloud: LabCloud, world: Readonly<World>): FilterFields<AddressData> => ({
  'allocation-id': (a) => [a.allocationId], 'public-ip': (a) => [a.publicIp], 'association-id': (a) => [a.association?.associationId],
  'network-interface-id': (a) => [a.association?.networkInterfaceId], 'private-ip-address': (a) => [a.association?.privateIp],
  'instance-id': (a) => [a.association === null ? undefined : world.networkInterfaces[a.association.networkInterfaceId]?.attachment?.instanceId],
  'network-interface-owner-id': (a) => [a.association === null ? undefined : cloud.accountId], domain: () => ['vpc'],
  'network-border-group': () => [cloud.region], 'public-ipv4-pool': () => ['amazon'],
});

// ---- mutating helpers ---------------------------------------------------------------------------

function routeTarget(params: QueryParams): RouteTargetInput {
  const given: RouteTargetInput[] = [];
  const eni = params.get('NetworkInterfaceId');
  const instance = params.get('InstanceId');
  const gateway = params.get('GatewayId');
  if (eni !== undefined) given.push({ networkInterfaceId: eni });
  if (instance !== undefined) given.push({ instanceId: instance });
  if (gateway !== undefined) given.push({ gatewayId: gateway });
  for (const other of ['NatGatewayId', 'TransitGatewayId', 'VpcPeeringConnectionId', 'LocalGatewayId', 'CarrierGatewayId', 'EgressOnlyInternetGatewayId', 'VpcEndpointId', 'CoreNetworkArn']) {
    if (params.get(other) !== undefined) throw ec2Errors.invalidParameterValue(`The lab does not model the route target ${other}; use NetworkInterfaceId, InstanceId or GatewayId.`);
  }
  if (given.length === 0) {
    throw ec2Errors.missingParameter('target (one of gatewayId, instanceId, networkInterfaceId, natGatewayId, transitGatewayId, vpcPeeringConnectionId)');
  }
  if (given.length > 1) throw ec2Errors.invalidParameterCombination('More than one target specified. Please specify exactly one target for the route.');
  return given[0]!;
}

function routeTableResource(ctx: ActionContext): { routeTableId: string; destinationCidrBlock: string } {
  const routeTableId = ctx.params.require('RouteTableId');
  const destinationCidrBlock = ctx.params.get('DestinationCidrBlock');
  if (destinationCidrBlock === undefined) {
    if (ctx.params.get('DestinationIpv6CidrBlock') !== undefined || ctx.params.get('DestinationPrefixListId') !== undefined) {
      throw ec2Errors.invalidParameterValue('The lab models IPv4 routes only (DestinationCidrBlock).');
    }
    throw ec2Errors.missingParameter('destinationCidrBlock');
  }
  const table = lookup<RouteTableData>(ctx.cloud.view(), 'rtb', routeTableId);
  ctx.authorize([inVpc(ctx.cloud, 'route-table', table.routeTableId, table.vpcId)]);
  return { routeTableId, destinationCidrBlock };
}

function sourceDestCheckValue(params: QueryParams): boolean {
  const direct = params.bool('SourceDestCheck.Value');
  if (direct !== undefined) return direct;
  const attribute = params.get('Attribute');
  const value = params.get('Value');
  if (attribute === 'sourceDestCheck' && (value === 'true' || value === 'false')) return value === 'true';
  if (attribute !== undefined || params.get('SourceDestCheck.Value') === undefined) {
    throw ec2Errors.invalidParameterValue('The lab supports the sourceDestCheck and groupSet attributes (SourceDestCheck.Value=true|false, or SecurityGroupId.N).');
  }
  throw ec2Errors.missingParameter('sourceDestCheck');
}

const ok = (): XmlNode => ({ return: true });

/**
 * A resource CreateTags or DeleteTags names: it must exist and be of a kind the lab tags; its
 * policy resource (ARN, `ec2:Vpc`) and its tags.
 */
function taggedResource(ctx: ActionContext, world: World, id: string): { authorized: AuthorizedResource; tags: Record<string, string> } {
  const type = resourceTypeOf(id);
  if (type === undefined) throw ec2Errors.invalidParameterValue(`Value (${id}) for parameter resourceId is invalid. The resource type cannot be tagged.`);
  const resource = type === 'security-group' ? lookupGroup(world, id) : lookup<{ vpcId?: string; tags: Record<string, string> }>(world, id.slice(0, id.indexOf('-')), id);
  return { authorized: inVpc(ctx.cloud, type, id, resource.vpcId ?? (type === 'vpc' ? id : null)), tags: resource.tags };
}

/** The one image: Debian 12 (bookworm) for amd64, as Debian publishes its AMIs. */
interface ImageData { readonly imageId: string; readonly name: string; readonly tags: Record<string, string> }
const LAB_IMAGE: ImageData = { imageId: LAB_IMAGE_ID, name: LAB_IMAGE_NAME, tags: {} };

function imageXml(image: ImageData): XmlNode {
  return {
    imageId: image.imageId, imageLocation: `${DEBIAN_OWNER_ID}/${image.name}`, imageState: 'available', imageOwnerId: DEBIAN_OWNER_ID,
    creationDate: '2024-07-17T18:14:39.000Z', isPublic: true, architecture: 'x86_64', imageType: 'machine', name: image.name,
    description: 'Debian 12 (20240717-1811)', rootDeviceType: 'ebs', rootDeviceName: '/dev/xvda',
    blockDeviceMapping: itemSet([{ deviceName: '/dev/xvda', ebs: { deleteOnTermination: true, snapshotId: 'snap-0deb12a0000000001', volumeSize: 8, volumeType: 'gp2', encrypted: false } }]),
    virtualizationType: 'hvm', hypervisor: 'xen', enaSupport: true, sriovNetSupport: 'simple', platformDetails: 'Linux/UNIX', usageOperation: 'RunInstances',
    bootMode: 'uefi-preferred', deprecationTime: '2026-07-17T18:14:39.000Z', tagSet: tagSet(image.tags),
  };
}

const imageFields: FilterFields<ImageData> = {
  'image-id': (i) => [i.imageId], name: (i) => [i.name], 'owner-id': () => [DEBIAN_OWNER_ID], architecture: () => ['x86_64'],
  state: () => ['available'], 'root-device-type': () => ['ebs'], 'virtualization-type': () => ['hvm'], 'is-public': () => ['true'],
  'image-type': () => ['machine'], hypervisor: () => ['xen'], 'ena-support': () => ['true'], description: () => ['Debian 12 (20240717-1811)'],
  'platform-details': () => ['Linux/UNIX'],
};

/**
 * The AZs of the account: those of the VPCs' subnets (the lab's region has no others), with zone
 * ids as AWS forms them (`euw1-az1` in eu-west-1), numbered in name order.
 */
function availabilityZones(cloud: LabCloud, world: Readonly<World>): { zoneName: string; zoneId: string }[] {
  const names = [...new Set(Object.values(world.subnets).map((s) => s.availabilityZone))].sort();
  const parts = cloud.region.split('-');
  const short = `${parts[0] ?? ''}${parts.slice(1, -1).map((p) => p.charAt(0)).join('')}${parts.at(-1) ?? ''}`;
  return names.map((zoneName, i) => ({ zoneName, zoneId: `${short}-az${i + 1}` }));
}

/** DescribeInstanceAttribute: the attributes the lab knows, each in EC2's shape. */
function instanceAttributeXml(world: Readonly<World>, instance: InstanceData, attribute: string): XmlNode {
  const primary = Object.values(world.networkInterfaces).find((e) => e.attachment?.instanceId === instance.instanceId && e.attachment.deviceIndex === 0);
  const values: Record<string, XmlNode> = {
    instanceType: { instanceType: { value: instance.instanceType ?? LAB_INSTANCE_TYPE } },
    sourceDestCheck: { sourceDestCheck: { value: primary?.sourceDestCheck ?? true } },
    disableApiTermination: { disableApiTermination: { value: false } },
    disableApiStop: { disableApiStop: { value: false } },
    instanceInitiatedShutdownBehavior: { instanceInitiatedShutdownBehavior: { value: 'stop' } },
    rootDeviceName: { rootDeviceName: { value: '/dev/xvda' } },
    blockDeviceMapping: { blockDeviceMapping: itemSet([]) },
    ebsOptimized: { ebsOptimized: { value: false } },
    enaSupport: { enaSupport: { value: true } },
    sriovNetSupport: { sriovNetSupport: { value: 'simple' } },
    kernel: { kernel: {} },
    ramdisk: { ramdisk: {} },
    productCodes: { productCodes: itemSet([]) },
    groupSet: { groupSet: groupSetXml(world, instanceGroups(world, instance)) },
    userData: { userData: instance.userData === undefined || instance.userData === null ? {} : { value: instance.userData } },
  };
  const value = Object.hasOwn(values, attribute) ? values[attribute] : undefined;
  if (value === undefined) {
    throw ec2Errors.invalidParameterValue(`Value (${attribute}) for parameter attribute is invalid. Allowed: ${Object.keys(values).join(', ')}.`);
  }
  return { instanceId: instance.instanceId, ...value };
}

/** Every supported action by name. */
export const ACTIONS: Readonly<Record<string, ActionHandler>> = {
  DescribeVpcs: {
    mutating: false,
    run: (ctx) => {
      const { page, nextToken } = describe(ctx, { prefix: 'vpc', idParam: 'VpcId', all: ctx.view.vpcs, fields: vpcFields(ctx.cloud), page: { min: 5, max: 1000 } });
      return { vpcSet: itemSet(page.map((v) => vpcXml(ctx.cloud, v))), nextToken };
    },
  },
  DescribeSubnets: {
    mutating: false,
    run: (ctx) => {
      const { page, nextToken } = describe(ctx, { prefix: 'subnet', idParam: 'SubnetId', all: ctx.view.subnets, fields: subnetFields(ctx.cloud), page: { min: 5, max: 1000 } });
      return { subnetSet: itemSet(page.map((s) => subnetXml(ctx.cloud, ctx.view, s))), nextToken };
    },
  },
  DescribeRouteTables: {
    mutating: false,
    run: (ctx) => {
      const { page, nextToken } = describe(ctx, {
        prefix: 'rtb', idParam: 'RouteTableId', all: ctx.view.routeTables, fields: routeTableFields(ctx.cloud, ctx.view), page: { min: 5, max: 100 },
      });
      return { routeTableSet: itemSet(page.map((t) => routeTableXml(ctx.cloud, ctx.view, t))), nextToken };
    },
  },
  DescribeInstances: {
    mutating: false,
    run: (ctx) => {
      const { page, nextToken } = describe(ctx, {
        prefix: 'i', idParam: 'InstanceId', all: ctx.view.instances, fields: instanceFields(ctx.cloud, ctx.view), page: { min: 5, max: 1000 },
      });
      // Instances of one RunInstances share a reservation (in page order, as EC2 groups them).
      const reservations = new Map<string, InstanceData[]>();
      for (const i of page) reservations.set(i.reservationId, [...(reservations.get(i.reservationId) ?? []), i]);
      return {
        reservationSet: itemSet([...reservations].map(([reservationId, members]) => ({
          reservationId, ownerId: ctx.cloud.accountId, groupSet: itemSet([]), instancesSet: itemSet(members.map((i) => instanceXml(ctx.cloud, ctx.view, i))),
        }))),
        nextToken,
      };
    },
  },
  DescribeAvailabilityZones: {
    mutating: false,
    run: (ctx) => {
      ctx.authorize([]);
      const zones = availabilityZones(ctx.cloud, ctx.view);
      const byName = ctx.params.list('ZoneName');
      const byId = ctx.params.list('ZoneId');
      for (const name of byName) {
        if (!zones.some((z) => z.zoneName === name)) throw ec2Errors.invalidParameterValue(`The zone '${name}' does not exist in the region ${ctx.cloud.region}.`);
      }
      for (const id of byId) {
        if (!zones.some((z) => z.zoneId === id)) throw ec2Errors.invalidParameterValue(`The zone ID '${id}' does not exist in the region ${ctx.cloud.region}.`);
      }
      const selected = zones.filter((z) => (byName.length === 0 && byId.length === 0) || byName.includes(z.zoneName) || byId.includes(z.zoneId));
      const filtered = applyFilters({
        items: selected, filters: ctx.params.filters(), tags: () => ({}),
        fields: {
          'zone-name': (z) => [z.zoneName], 'zone-id': (z) => [z.zoneId], state: () => ['available'], 'region-name': () => [ctx.cloud.region],
          'group-name': () => [ctx.cloud.region], 'network-border-group': () => [ctx.cloud.region], 'zone-type': () => ['availability-zone'],
          'opt-in-status': () => ['opt-in-not-required'],
        },
      });
      return {
        availabilityZoneInfo: itemSet(filtered.map((z) => ({
          zoneName: z.zoneName, zoneId: z.zoneId, zoneState: 'available', regionName: ctx.cloud.region, groupName: ctx.cloud.region,
          networkBorderGroup: ctx.cloud.region, zoneType: 'availability-zone', optInStatus: 'opt-in-not-required', messageSet: itemSet([]),
        }))),
      };
    },
  },
  DescribeImages: {
    mutating: false,
    run: (ctx) => {
      ctx.authorize([]);
      const ids = ctx.params.list('ImageId');
      for (const id of ids) {
        if (!/^ami-[0-9a-f]{8,17}$/.test(id)) throw ec2Errors.malformed('InvalidAMIID.Malformed', id);
        if (id !== LAB_IMAGE.imageId) throw new Ec2ApiError({ code: 'InvalidAMIID.NotFound', message: `The image id '[${id}]' does not exist` });
      }
      const owners = ctx.params.list('Owner');
      const ownerOk = owners.length === 0 || owners.some((o) => o === DEBIAN_OWNER_ID);
      const items = ownerOk ? applyFilters({ items: [LAB_IMAGE], filters: ctx.params.filters(), fields: imageFields, tags: (i) => i.tags }) : [];
      const { page, nextToken } = paginate({ items, params: ctx.params, min: 1, max: 1000 });
      return { imagesSet: itemSet(page.map(imageXml)), nextToken };
    },
  },
  DescribeInstanceAttribute: {
    mutating: false,
    run: (ctx) => {
      const instance = lookup<InstanceData>(ctx.view, 'i', ctx.params.require('InstanceId'));
      const attribute = ctx.params.require('Attribute');
      ctx.authorize([]);
      return instanceAttributeXml(ctx.view, instance, attribute);
    },
  },
  DescribeNetworkInterfaces: {
    mutating: false,
    run: (ctx) => {
      const { page, nextToken } = describe(ctx, {
        prefix: 'eni', idParam: 'NetworkInterfaceId', all: ctx.view.networkInterfaces, fields: eniFields(ctx.cloud, ctx.view), page: { min: 5, max: 1000 },
      });
      return { networkInterfaceSet: itemSet(page.map((e) => eniXml(ctx.cloud, ctx.view, e, { inInstance: false }))), nextToken };
    },
  },
  DescribeAddresses: {
    mutating: false,
    run: (ctx) => {
      ctx.authorize([]);
      const byIp = ctx.params.list('PublicIp');
      let items = selectByIds(ctx.view, 'eipalloc', ctx.params.list('AllocationId'), ctx.view.addresses);
      if (byIp.length > 0) {
        items = byIp.map((ip) => {
          const found = items.find((a) => a.publicIp === ip);
          if (found === undefined) throw new Ec2ApiError({ code: 'InvalidAddress.NotFound', message: `Address '${ip}' not found.` });
          return found;
        });
      }
      const filtered = applyFilters({ items, filters: ctx.params.filters(), fields: addressFields(ctx.cloud, ctx.view), tags: (a) => a.tags });
      return { addressesSet: itemSet(filtered.map((a) => addressXml(ctx.cloud, ctx.view, a))) };
    },
  },
  DescribeTags: {
    mutating: false,
    run: (ctx) => {
      ctx.authorize([]);
      const w = ctx.view;
      type TagRow = { resourceId: string; resourceType: string; key: string; value: string; tags: Record<string, string> };
      const rows: TagRow[] = [];
      for (const collection of [w.vpcs, w.subnets, w.internetGateways, w.vpnGateways, w.routeTables, w.instances, w.networkInterfaces, w.addresses, w.securityGroups]) {
        for (const [id, resource] of Object.entries(collection as Record<string, { tags: Record<string, string> }>).sort(([a], [b]) => a.localeCompare(b))) {
          for (const [key, value] of Object.entries(resource.tags)) rows.push({ resourceId: id, resourceType: resourceTypeOf(id) ?? '', key, value, tags: {} });
        }
      }
      const filtered = applyFilters({
        items: rows, filters: ctx.params.filters(), tags: (r) => r.tags,
        fields: { key: (r) => [r.key], value: (r) => [r.value], 'resource-id': (r) => [r.resourceId], 'resource-type': (r) => [r.resourceType] },
      });
      const { page, nextToken } = paginate({ items: filtered, params: ctx.params, min: 5, max: 1000 });
      return { tagSet: itemSet(page.map((r) => ({ resourceId: r.resourceId, resourceType: r.resourceType, key: r.key, value: r.value }))), nextToken };
    },
  },
  CreateRoute: {
    mutating: true,
    run: (ctx) => {
      const target = routeTarget(ctx.params);
      const { routeTableId, destinationCidrBlock } = routeTableResource(ctx);
      ctx.cloud.createRoute({ routeTableId, destinationCidrBlock, target });
      return ok();
    },
  },
  ReplaceRoute: {
    mutating: true,
    run: (ctx) => {
      const target = routeTarget(ctx.params);
      const { routeTableId, destinationCidrBlock } = routeTableResource(ctx);
      ctx.cloud.replaceRoute({ routeTableId, destinationCidrBlock, target });
      return ok();
    },
  },
  DeleteRoute: {
    mutating: true,
    run: (ctx) => {
      const { routeTableId, destinationCidrBlock } = routeTableResource(ctx);
      ctx.cloud.deleteRoute({ routeTableId, destinationCidrBlock });
      return ok();
    },
  },
  ModifyInstanceAttribute: {
    mutating: true,
    run: (ctx) => {
      const instance = lookup<InstanceData>(ctx.cloud.view(), 'i', ctx.params.require('InstanceId'));
      const enabled = sourceDestCheckValue(ctx.params);
      ctx.authorize([inVpc(ctx.cloud, 'instance', instance.instanceId, instance.vpcId)]);
      ctx.cloud.setSourceDestCheck({ instanceId: instance.instanceId, enabled });
      return ok();
    },
  },
  ModifyNetworkInterfaceAttribute: {
    mutating: true,
    run: (ctx) => {
      const world = ctx.cloud.view() as World;
      const eni = lookup<NetworkInterfaceData>(world, 'eni', ctx.params.require('NetworkInterfaceId'));
      const groupIds = ctx.params.list('SecurityGroupId');
      if (groupIds.length > 0) {
        // One attribute per call, as EC2 wants.
        if (ctx.params.get('SourceDestCheck.Value') !== undefined || ctx.params.get('Description.Value') !== undefined) {
          throw ec2Errors.invalidParameterCombination('Fields for multiple attribute types specified: groupSet, sourceDestCheck');
        }
        const groups = groupIds.map((id) => lookupGroup(world, id));
        ctx.authorize([
          inVpc(ctx.cloud, 'network-interface', eni.networkInterfaceId, eni.vpcId),
          ...groups.map((g) => inVpc(ctx.cloud, 'security-group', g.groupId, g.vpcId)),
        ]);
        ctx.cloud.setNetworkInterfaceGroups({ networkInterfaceId: eni.networkInterfaceId, groupIds });
        return ok();
      }
      const enabled = sourceDestCheckValue(ctx.params);
      ctx.authorize([inVpc(ctx.cloud, 'network-interface', eni.networkInterfaceId, eni.vpcId)]);
      ctx.cloud.setSourceDestCheck({ networkInterfaceId: eni.networkInterfaceId, enabled });
      return ok();
    },
  },
  AllocateAddress: {
    mutating: true,
    run: (ctx) => {
      const domain = ctx.params.get('Domain') ?? 'vpc';
      if (domain !== 'vpc') throw ec2Errors.invalidParameterValue(`Value (${domain}) for parameter domain is invalid. The lab allocates VPC addresses only.`);
      ctx.authorize([{ arn: ctx.cloud.arn('elastic-ip', '*'), conditions: {} }]);
      const address = ctx.params.get('Address');
      const { allocationId, publicIp } = ctx.cloud.allocateAddress(address === undefined ? {} : { publicIp: address });
      return { publicIp, domain: 'vpc', allocationId, publicIpv4Pool: 'amazon', networkBorderGroup: ctx.cloud.region };
    },
  },
  AssociateAddress: {
    mutating: true,
    run: (ctx) => {
      const allocationId = ctx.params.get('AllocationId');
      if (allocationId === undefined) throw ec2Errors.missingParameter('allocationId');
      const world = ctx.cloud.view() as World;
      const address = lookup<AddressData>(world, 'eipalloc', allocationId);
      const eniId = ctx.params.get('NetworkInterfaceId');
      const instanceId = ctx.params.get('InstanceId');
      if ((eniId === undefined) === (instanceId === undefined)) {
        throw ec2Errors.invalidParameterCombination('Exactly one of instanceId and networkInterfaceId must be specified.');
      }
      const resources: AuthorizedResource[] = [{ arn: ctx.cloud.arn('elastic-ip', address.allocationId), conditions: {} }];
      if (eniId !== undefined) {
        const eni = lookup<NetworkInterfaceData>(world, 'eni', eniId);
        resources.push(inVpc(ctx.cloud, 'network-interface', eni.networkInterfaceId, eni.vpcId));
      } else {
        const instance = lookup<InstanceData>(world, 'i', instanceId!);
        resources.push(inVpc(ctx.cloud, 'instance', instance.instanceId, instance.vpcId));
      }
      ctx.authorize(resources);
      const privateIp = ctx.params.get('PrivateIpAddress');
      const { associationId } = ctx.cloud.associateAddress({
        allocationId: address.allocationId,
        target: eniId !== undefined ? { networkInterfaceId: eniId } : { instanceId: instanceId! },
        ...(privateIp === undefined ? {} : { privateIp }),
        allowReassociation: ctx.params.bool('AllowReassociation') === true,
      });
      return { return: true, associationId };
    },
  },
  DisassociateAddress: {
    mutating: true,
    run: (ctx) => {
      const associationId = ctx.params.get('AssociationId');
      const publicIp = ctx.params.get('PublicIp');
      if (associationId === undefined && publicIp === undefined) throw ec2Errors.missingParameter('associationId');
      const address = Object.values(ctx.cloud.view().addresses).find((a) => (associationId !== undefined
        ? a.association?.associationId === associationId : a.publicIp === publicIp));
      ctx.authorize([{ arn: ctx.cloud.arn('elastic-ip', address?.allocationId ?? '*'), conditions: {} }]);
      ctx.cloud.disassociateAddress(associationId !== undefined ? { associationId } : { publicIp: publicIp! });
      return ok();
    },
  },
  CreateTags: {
    mutating: true,
    run: (ctx) => {
      const resourceIds = ctx.params.list('ResourceId');
      if (resourceIds.length === 0) throw ec2Errors.missingParameter('resourceIdSet');
      const tags: Record<string, string> = {};
      for (const t of ctx.params.structs('Tag')) {
        if (t['Key'] === undefined) throw ec2Errors.missingParameter('tag.key');
        tags[t['Key']] = t['Value'] ?? '';
      }
      const world = ctx.cloud.view() as World;
      const tagKeys = Object.keys(tags);
      ctx.authorize(resourceIds.map((id) => {
        const r = taggedResource(ctx, world, id).authorized;
        return { ...r, conditions: { ...r.conditions, 'aws:tagkeys': tagKeys } };
      }));
      ctx.cloud.createTags({ resourceIds, tags });
      return ok();
    },
  },
  DeleteTags: {
    mutating: true,
    run: (ctx) => {
      const resourceIds = ctx.params.list('ResourceId');
      if (resourceIds.length === 0) throw ec2Errors.missingParameter('resourceIdSet');
      if (resourceIds.length > 1000) throw ec2Errors.invalidParameterValue(`At most 1000 resource ids per call; got ${resourceIds.length}.`);
      // Tag.N.Key alone deletes the key whatever its value; with Tag.N.Value (also empty) only while
      // the value matches; no Tag.N at all deletes every tag not prefixed `aws:`.
      const given = ctx.params.structs('Tag');
      const tags = given.map((t) => {
        const key = t['Key'];
        if (key === undefined) throw ec2Errors.missingParameter('tag.key');
        if (key.toLowerCase().startsWith('aws:')) throw ec2Errors.invalidParameterValue(`Value (${key}) for parameter key is invalid. Tag keys starting with 'aws:' are reserved for internal use`);
        return t['Value'] === undefined ? { key } : { key, value: t['Value'] };
      });
      const world = ctx.cloud.view() as World;
      const resources = resourceIds.map((id) => taggedResource(ctx, world, id));
      // Without Tag.N every user tag of the resources goes: aws:TagKeys lists them.
      const tagKeys = given.length > 0 ? tags.map((t) => t.key) : [...new Set(resources.flatMap((r) => Object.keys(r.tags).filter((k) => !k.toLowerCase().startsWith('aws:'))))];
      ctx.authorize(resources.map((r) => ({ ...r.authorized, conditions: { ...r.authorized.conditions, 'aws:tagkeys': tagKeys } })));
      ctx.cloud.deleteTags({ resourceIds, ...(given.length > 0 ? { tags } : {}) });
      return ok();
    },
  },
  ...SECURITY_GROUP_ACTIONS,
  ...VPN_GATEWAY_ACTIONS,
};
