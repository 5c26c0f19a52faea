/**
 * The instance lifecycle of the lab's EC2 API (no I/O): RunInstances, TerminateInstances,
 * StopInstances, StartInstances, ModifyInstanceMetadataOptions and GetConsoleOutput. The model (state.ts) keeps the instances;
 * the lab controller's instance host (src/lab/instance-host.ts) makes each one a network namespace
 * and completes its transitions (pending -> running, shutting-down -> terminated...).
 *
 * Shapes and error codes follow the EC2 API reference
 * (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_RunInstances.html and the service
 * model in aws-sdk-js-v3's codegen/sdk-codegen/aws-models/ec2.json); docs/lab-ec2-api.md lists
 * what is supported and where the lab differs.
 */
import { createHash } from 'node:crypto';
import { inVpc, type ActionContext, type ActionHandler } from './action-context.js';
import { instanceXml } from './actions.js';
import { Ec2ApiError, ec2Errors } from './errors.js';
import type { AuthorizedResource } from './policy.js';
import {
  INSTANCE_STATE_CODES, LAB_IMAGE_ID, lookup,
  type InstanceData, type InstanceMetadataOptions, type InstanceStateName, type SubnetData, type World,
} from './state.js';
import { itemSet, type XmlNode } from './xml.js';

/**
 * The instance types RunInstances accepts: the current general-purpose and compute families a
 * load balancer would run on. Every lab instance is a namespace of the host whatever its type.
 */
export const LAB_INSTANCE_TYPES: readonly string[] = [
  'm1.small',
  ...['nano', 'micro', 'small', 'medium', 'large', 'xlarge', '2xlarge'].flatMap((size) => ['t3', 't3a', 't4g'].map((f) => `${f}.${size}`)),
  ...['large', 'xlarge', '2xlarge', '4xlarge'].flatMap((size) => ['m5', 'm6i', 'm7i', 'c5', 'c6i', 'c7i', 'm6g', 'm7g', 'c6g', 'c7g', 'c6gn'].map((f) => `${f}.${size}`)),
];

/** RunInstances' user data limit: 16 KB before base64 encoding. */
const USER_DATA_MAX_BYTES = 16 * 1024;
const TAGGABLE_ON_LAUNCH = ['instance', 'network-interface', 'volume', 'spot-instances-request', 'elastic-gpu'];

const STATE = (name: InstanceStateName): XmlNode => ({ code: INSTANCE_STATE_CODES[name], name });

/** An instance resource for the policy: its ARN, `ec2:Vpc` and `ec2:ResourceTag/KEY` for its tags. */
function instanceResource(ctx: ActionContext, instance: InstanceData): AuthorizedResource {
  const base = inVpc(ctx.cloud, 'instance', instance.instanceId, instance.vpcId);
  const tags = Object.fromEntries(Object.entries(instance.tags).map(([k, v]) => [`ec2:resourcetag/${k.toLowerCase()}`, v]));
  return { arn: base.arn, conditions: { ...base.conditions, ...tags } };
}

function parseCount(ctx: ActionContext, name: 'MinCount' | 'MaxCount'): number {
  const text = ctx.params.require(name);
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < 1) {
    throw ec2Errors.invalidParameterValue(`Value (${text}) for parameter ${name.charAt(0).toLowerCase()}${name.slice(1)} is invalid. Expected a positive integer.`);
  }
  return value;
}

function choice<T extends string>(ctx: ActionContext, name: string, allowed: readonly T[], fallback: T): T {
  const value = ctx.params.get(name);
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value)) {
    throw ec2Errors.invalidParameterValue(`Value (${value}) for parameter ${name} is invalid. Allowed: ${allowed.join(', ')}.`);
  }
  return value as T;
}

/** EC2's defaults for an instance of the lab's image (Debian's AMIs do not set ImdsSupport v2.0, so tokens are `optional`). */
const DEFAULT_METADATA_OPTIONS: InstanceMetadataOptions = {
  httpTokens: 'optional', httpPutResponseHopLimit: 1, httpEndpoint: 'enabled', httpProtocolIpv6: 'disabled', instanceMetadataTags: 'disabled',
};

/**
 * The metadata options of RunInstances (`MetadataOptions.X`, prefix `MetadataOptions.`) or of
 * ModifyInstanceMetadataOptions (`X`, prefix ''): each one given replaces the one in `base`.
 */
function metadataOptions(ctx: ActionContext, prefix: string, base: InstanceMetadataOptions): InstanceMetadataOptions {
  const hopName = `${prefix}HttpPutResponseHopLimit`;
  const hopText = ctx.params.get(hopName);
  const hop = hopText === undefined ? base.httpPutResponseHopLimit : Number(hopText);
  if (hopText !== undefined && (!/^\d+$/.test(hopText) || hop < 1 || hop > 64)) {
    throw ec2Errors.invalidParameterValue(`Value (${hopText}) for parameter ${hopName} is invalid. Allowed: 1 to 64.`);
  }
  return {
    httpTokens: choice(ctx, `${prefix}HttpTokens`, ['optional', 'required'], base.httpTokens),
    httpPutResponseHopLimit: hop,
    httpEndpoint: choice(ctx, `${prefix}HttpEndpoint`, ['enabled', 'disabled'], base.httpEndpoint),
    httpProtocolIpv6: choice(ctx, `${prefix}HttpProtocolIpv6`, ['enabled', 'disabled'], base.httpProtocolIpv6),
    instanceMetadataTags: choice(ctx, `${prefix}InstanceMetadataTags`, ['enabled', 'disabled'], base.instanceMetadataTags),
  };
}

function userData(ctx: ActionContext): string | null {
  const text = ctx.params.get('UserData');
  if (text === undefined || text === '') return null;
  const compact = text.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 !== 0) throw ec2Errors.invalidParameterValue('Invalid BASE64 encoding of user data.');
  if (Buffer.from(compact, 'base64').length > USER_DATA_MAX_BYTES) {
    throw ec2Errors.invalidParameterValue(`User data is limited to ${USER_DATA_MAX_BYTES} bytes.`);
  }
  return compact;
}

/** TagSpecification.N.ResourceType with TagSpecification.N.Tag.M.Key/Value: the instance's and the ENI's tags. */
function launchTags(ctx: ActionContext): { instance: Record<string, string>; networkInterface: Record<string, string> } {
  const out = { instance: {} as Record<string, string>, networkInterface: {} as Record<string, string> };
  const seen = new Set<string>();
  for (const spec of ctx.params.structs('TagSpecification')) {
    const type = spec['ResourceType'];
    if (type === undefined) throw ec2Errors.missingParameter('tagSpecification.resourceType');
    if (!TAGGABLE_ON_LAUNCH.includes(type)) throw ec2Errors.invalidParameterValue(`'${type}' is not a valid taggable resource type for this operation.`);
    if (seen.has(type)) throw ec2Errors.invalidParameterValue(`The same resource type may not be specified more than once in tag specifications: ${type}`);
    seen.add(type);
    const tags: Record<string, string> = {};
    const indices = new Set(Object.keys(spec).map((k) => /^Tag\.(\d+)\./.exec(k)?.[1]).filter((n): n is string => n !== undefined));
    for (const n of [...indices].sort((a, b) => Number(a) - Number(b))) {
      const key = spec[`Tag.${n}.Key`];
      if (key === undefined || key === '') throw ec2Errors.missingParameter('tag.key');
      if (key.toLowerCase().startsWith('aws:')) throw ec2Errors.invalidParameterValue(`Tag keys starting with 'aws:' are reserved for internal use: ${key}`);
      if (key.length > 128 || (spec[`Tag.${n}.Value`] ?? '').length > 256) throw ec2Errors.invalidParameterValue(`Tag ${key} is too long: keys up to 128, values up to 256 characters.`);
      tags[key] = spec[`Tag.${n}.Value`] ?? '';
    }
    if (Object.keys(tags).length > 50) throw new Ec2ApiError({ code: 'TagLimitExceeded', message: 'The maximum number of Tags for a resource is 50.' });
    if (type === 'instance') out.instance = tags;
    if (type === 'network-interface') out.networkInterface = tags;
  }
  return out;
}

/**
 * Security groups (`SecurityGroupId.N`), checked against the lab's groups as EC2 answers
 * RunInstances: InvalidGroupId.Malformed, InvalidGroup.NotFound, InvalidParameter for a group of
 * another VPC than the subnet's; none given: the VPC's `default` group. Group names are refused,
 * as EC2 does in a VPC.
 */
function securityGroups(ctx: ActionContext, subnet: SubnetData): string[] {
  if (ctx.params.list('SecurityGroup').length > 0) {
    throw ec2Errors.invalidParameterCombination('The parameter groupName cannot be used with the parameter subnet');
  }
  const ids = [...new Set(ctx.params.list('SecurityGroupId'))];
  const groups = ctx.cloud.view().securityGroups;
  for (const id of ids) {
    if (!/^sg-[0-9a-f]{8,17}$/.test(id)) throw new Ec2ApiError({ code: 'InvalidGroupId.Malformed', message: `Invalid id: "${id}" (expecting "sg-...")` });
    const group = groups[id];
    if (group === undefined) throw new Ec2ApiError({ code: 'InvalidGroup.NotFound', message: `The security group '${id}' does not exist in VPC '${subnet.vpcId}'` });
    if (group.vpcId !== subnet.vpcId) throw new Ec2ApiError({ code: 'InvalidParameter', message: `Security group ${id} and subnet ${subnet.subnetId} belong to different networks.` });
  }
  return ids.length === 0 ? [ctx.cloud.defaultSecurityGroupId(subnet.vpcId)] : ids;
}

/** IamInstanceProfile.Arn or .Name: the profile's name, after iam:PassRole of its role is checked. */
function instanceProfile(ctx: ActionContext): { name: string; roleArn: string | null } | null {
  const arn = ctx.params.get('IamInstanceProfile.Arn');
  const name = ctx.params.get('IamInstanceProfile.Name');
  if (arn === undefined && name === undefined) return null;
  if (arn !== undefined && name !== undefined) {
    throw ec2Errors.invalidParameterCombination("The parameter 'iamInstanceProfile.name' may not be used in combination with 'iamInstanceProfile.arn'");
  }
  const world = ctx.cloud.view();
  const now = ctx.cloud.clock();
  // IAM is eventually consistent: under the iam-propagation fault a young profile is not known yet.
  const visible = (p: { createDate: number } | undefined): boolean => p !== undefined && now - p.createDate >= ctx.cloud.iamPropagationDelayMs;
  const profile = arn !== undefined
    ? Object.values(world.instanceProfiles).find((p) => ctx.cloud.iam.instanceProfileArn(p) === arn)
    : Object.values(world.instanceProfiles).find((p) => p.instanceProfileName.toLowerCase() === name!.toLowerCase());
  if (!visible(profile)) {
    throw arn !== undefined
      ? ec2Errors.invalidParameterValue(`Value (${arn}) for parameter iamInstanceProfile.arn is invalid. Invalid IAM Instance Profile ARN`)
      : ec2Errors.invalidParameterValue(`Value (${name!}) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name`);
  }
  const roleName = profile!.roleNames[0];
  const role = roleName === undefined ? undefined : world.roles[roleName];
  return { name: profile!.instanceProfileName, roleArn: role === undefined ? null : ctx.cloud.iam.roleArn(role) };
}

function reservationXml(ctx: ActionContext, reservationId: string, instanceIds: readonly string[]): XmlNode {
  const world = ctx.cloud.view();
  const instances = instanceIds.map((id) => world.instances[id]).filter((i): i is InstanceData => i !== undefined);
  return {
    reservationId, ownerId: ctx.cloud.accountId, groupSet: itemSet([]),
    instancesSet: itemSet(instances.map((i) => instanceXml(ctx.cloud, world, i))),
  };
}

function changeStates(ctx: ActionContext, action: 'terminate' | 'stop' | 'start'): XmlNode {
  const ids = ctx.params.list('InstanceId');
  if (ids.length === 0) throw ec2Errors.missingParameter('instanceId');
  if (ids.length > 1000) throw ec2Errors.invalidParameterValue(`At most 1000 instance ids per call; got ${ids.length}.`);
  const world = ctx.cloud.view() as World;
  const instances = ids.map((id) => lookup<InstanceData>(world, 'i', id));
  ctx.authorize(instances.map((i) => instanceResource(ctx, i)));
  const changes = ctx.cloud.changeInstanceStates({ instanceIds: ids, action });
  return {
    instancesSet: itemSet(changes.map((c) => ({ instanceId: c.instanceId, currentState: STATE(c.current), previousState: STATE(c.previous) }))),
  };
}

/** The instance lifecycle actions, merged into the endpoint's action table by server.ts. */
export const INSTANCE_ACTIONS: Readonly<Record<string, ActionHandler>> = {
  RunInstances: {
    mutating: true,
    run: (ctx) => {
      const imageId = ctx.params.require('ImageId');
      if (!/^ami-[0-9a-f]{8,17}$/.test(imageId)) throw ec2Errors.malformed('InvalidAMIID.Malformed', imageId);
      if (imageId !== LAB_IMAGE_ID) throw new Ec2ApiError({ code: 'InvalidAMIID.NotFound', message: `The image id '[${imageId}]' does not exist` });
      const minCount = parseCount(ctx, 'MinCount');
      const maxCount = parseCount(ctx, 'MaxCount');
      if (minCount > maxCount) {
        throw ec2Errors.invalidParameterValue(`Value (${minCount}) for parameter minCount is invalid. minCount must be less than or equal to maxCount (${maxCount}).`);
      }
      const instanceType = ctx.params.get('InstanceType') ?? 'm1.small';
      if (!LAB_INSTANCE_TYPES.includes(instanceType)) throw ec2Errors.invalidParameterValue(`Invalid value '${instanceType}' for InstanceType.`);
      for (const unsupported of ['NetworkInterface.1.DeviceIndex', 'NetworkInterface.1.NetworkInterfaceId', 'NetworkInterface.1.SubnetId', 'LaunchTemplate.LaunchTemplateId', 'LaunchTemplate.LaunchTemplateName']) {
        if (ctx.params.get(unsupported) !== undefined) {
          throw ec2Errors.invalidParameterValue(`The lab does not support ${unsupported.split('.')[0]!} in RunInstances: give SubnetId, PrivateIpAddress and SecurityGroupId.N.`);
        }
      }
      const keyName = ctx.params.get('KeyName');
      if (keyName !== undefined) throw new Ec2ApiError({ code: 'InvalidKeyPair.NotFound', message: `The key pair '${keyName}' does not exist` });
      const subnetId = ctx.params.get('SubnetId');
      if (subnetId === undefined) throw new Ec2ApiError({ code: 'VPCIdNotSpecified', message: 'No default VPC for this user. GroupName is only supported for EC2-Classic and default VPC.' });
      const subnet = lookup<SubnetData>(ctx.cloud.view(), 'subnet', subnetId);
      const privateIp = ctx.params.get('PrivateIpAddress');
      if (privateIp !== undefined && maxCount > 1) {
        throw ec2Errors.invalidParameterCombination('Cannot specify a private IP address when launching more than one instance (maxCount > 1).');
      }
      const clientToken = ctx.params.get('ClientToken');
      if (clientToken !== undefined && (clientToken.length > 64 || !/^[\x20-\x7e]*$/.test(clientToken))) {
        throw ec2Errors.invalidParameterValue(`Value (${clientToken}) for parameter clientToken is invalid. Up to 64 ASCII characters.`);
      }
      const groups = securityGroups(ctx, subnet);
      const data = userData(ctx);
      const metadata = metadataOptions(ctx, 'MetadataOptions.', DEFAULT_METADATA_OPTIONS);
      const tags = launchTags(ctx);
      const profile = instanceProfile(ctx);
      // Passing a role to an instance needs iam:PassRole on it, as in AWS.
      if (profile?.roleArn !== null && profile !== null && !ctx.allows('iam:PassRole', [{ arn: profile.roleArn, conditions: { 'iam:passedtoservice': 'ec2.amazonaws.com' } }])) {
        throw new Ec2ApiError({
          code: 'UnauthorizedOperation', status: 403,
          message: `You are not authorized to perform this operation. The caller is not authorized to perform: iam:PassRole on resource: ${profile.roleArn}`,
        });
      }
      // Tag-on-create needs ec2:CreateTags too (with ec2:CreateAction = RunInstances).
      const tagging = Object.keys(tags.instance).length + Object.keys(tags.networkInterface).length > 0;
      if (tagging && !ctx.allows('ec2:CreateTags', [{ arn: ctx.cloud.arn('instance', '*'), conditions: { 'ec2:createaction': 'RunInstances', 'aws:tagkeys': Object.keys(tags.instance) } }])) {
        throw ec2Errors.unauthorized();
      }
      const vpc = inVpc(ctx.cloud, 'subnet', subnet.subnetId, subnet.vpcId);
      ctx.authorize([
        { arn: ctx.cloud.arn('instance', '*'), conditions: { 'ec2:vpc': ctx.cloud.arn('vpc', subnet.vpcId), 'ec2:instancetype': instanceType } },
        { arn: `arn:aws:ec2:${ctx.cloud.region}::image/${imageId}`, conditions: {} },
        vpc,
        { arn: ctx.cloud.arn('network-interface', '*'), conditions: { 'ec2:vpc': ctx.cloud.arn('vpc', subnet.vpcId) } },
        ...groups.map((g) => inVpc(ctx.cloud, 'security-group', g, subnet.vpcId)),
      ]);
      // The same token with the same parameters is the same request (DryRun aside).
      const fingerprint = createHash('sha256')
        .update(JSON.stringify(ctx.params.entries().filter(([k]) => k !== 'ClientToken' && k !== 'DryRun' && k !== 'Action' && k !== 'Version')))
        .digest('hex');
      const { reservationId, instanceIds } = ctx.cloud.runInstances({
        subnetId: subnet.subnetId, minCount, maxCount, imageId, instanceType, instanceProfileName: profile?.name ?? null, userData: data,
        metadataOptions: metadata, securityGroupIds: groups, instanceTags: tags.instance, networkInterfaceTags: tags.networkInterface,
        ...(privateIp === undefined ? {} : { privateIp }), ...(clientToken === undefined ? {} : { clientToken, fingerprint }),
      });
      return reservationXml(ctx, reservationId, instanceIds);
    },
  },
  TerminateInstances: { mutating: true, run: (ctx) => changeStates(ctx, 'terminate') },
  StopInstances: {
    mutating: true,
    run: (ctx) => {
      ctx.params.bool('Force');
      ctx.params.bool('Hibernate');
      if (ctx.params.get('Hibernate') === 'true') {
        throw new Ec2ApiError({ code: 'UnsupportedHibernationConfiguration', message: 'The instance is not configured for hibernation (the lab does not hibernate).' });
      }
      return changeStates(ctx, 'stop');
    },
  },
  StartInstances: { mutating: true, run: (ctx) => changeStates(ctx, 'start') },
  ModifyInstanceMetadataOptions: {
    mutating: true,
    run: (ctx) => {
      const instance = lookup<InstanceData>(ctx.cloud.view(), 'i', ctx.params.require('InstanceId'));
      const options = metadataOptions(ctx, '', instance.metadataOptions ?? DEFAULT_METADATA_OPTIONS);
      ctx.authorize([instanceResource(ctx, instance)]);
      if (instance.state === 'terminated' || instance.state === 'shutting-down') {
        throw new Ec2ApiError({ code: 'IncorrectInstanceState', message: `The instance '${instance.instanceId}' is not in a state from which it can be modified.` });
      }
      ctx.cloud.setInstanceMetadataOptions({ instanceId: instance.instanceId, metadataOptions: options });
      return {
        instanceId: instance.instanceId,
        // EC2 answers `pending` until the running instance has the new options (the lab applies them at once).
        instanceMetadataOptions: {
          state: 'pending', httpTokens: options.httpTokens, httpPutResponseHopLimit: options.httpPutResponseHopLimit,
          httpEndpoint: options.httpEndpoint, httpProtocolIpv6: options.httpProtocolIpv6, instanceMetadataTags: options.instanceMetadataTags,
        },
      };
    },
  },
  GetConsoleOutput: {
    mutating: false,
    run: (ctx) => {
      const instance = lookup<InstanceData>(ctx.view, 'i', ctx.params.require('InstanceId'));
      ctx.params.bool('Latest');
      ctx.authorize([instanceResource(ctx, instance)]);
      const text = instance.consoleOutput ?? '';
      return {
        instanceId: instance.instanceId,
        timestamp: new Date(instance.consoleTime ?? instance.launchTime).toISOString(),
        output: text === '' ? undefined : Buffer.from(text, 'utf8').toString('base64'),
      };
    },
  },
};

