// The lab account as the real AWS SDK reads it, resource by resource, for tests that check that
// `overlay-lb down` leaves it as it was before `up`: every IAM role (trust, tags, inline policies,
// profiles) and instance profile; every bucket (versioning, tags, every object version and delete
// marker); every instance that is not terminated (terminated ones stay visible for a while, as in
// AWS; a test checks up's are terminated separately); every security group with its rules and
// tags; every network interface; every route of every route table.
import { DescribeInstancesCommand, DescribeNetworkInterfacesCommand, DescribeRouteTablesCommand, DescribeSecurityGroupsCommand, type EC2Client } from '@aws-sdk/client-ec2';
import {
  GetRolePolicyCommand, type IAMClient, ListInstanceProfilesCommand, ListInstanceProfilesForRoleCommand, ListInstanceProfileTagsCommand, ListRolePoliciesCommand, ListRolesCommand, ListRoleTagsCommand,
} from '@aws-sdk/client-iam';
import { GetBucketTaggingCommand, GetBucketVersioningCommand, ListBucketsCommand, ListObjectVersionsCommand, type S3Client } from '@aws-sdk/client-s3';

export interface AccountClients { readonly iam: IAMClient; readonly s3: S3Client; readonly ec2: EC2Client }

type Tagged = { readonly Key?: string | undefined; readonly Value?: string | undefined };
const tagsOf = (tags: readonly Tagged[] | undefined): string[] => (tags ?? []).map((t) => `${t.Key ?? ''}=${t.Value ?? ''}`).sort();

async function iamPart(iam: IAMClient): Promise<Record<string, unknown>> {
  const roles: Record<string, unknown> = {};
  for (const r of (await iam.send(new ListRolesCommand({ MaxItems: 1000 }))).Roles ?? []) {
    const name = r.RoleName ?? '';
    const policyNames = (await iam.send(new ListRolePoliciesCommand({ RoleName: name }))).PolicyNames ?? [];
    const policies: Record<string, unknown> = {};
    for (const p of policyNames) policies[p] = decodeURIComponent((await iam.send(new GetRolePolicyCommand({ RoleName: name, PolicyName: p }))).PolicyDocument ?? '');
    roles[name] = {
      id: r.RoleId, trust: r.AssumeRolePolicyDocument, tags: (await iam.send(new ListRoleTagsCommand({ RoleName: name }))).Tags, policies,
      profiles: ((await iam.send(new ListInstanceProfilesForRoleCommand({ RoleName: name }))).InstanceProfiles ?? []).map((p) => p.InstanceProfileName),
    };
  }
  const profiles: Record<string, unknown> = {};
  for (const p of (await iam.send(new ListInstanceProfilesCommand({ MaxItems: 1000 }))).InstanceProfiles ?? []) {
    const name = p.InstanceProfileName ?? '';
    profiles[name] = { id: p.InstanceProfileId, roles: (p.Roles ?? []).map((r) => r.RoleName), tags: (await iam.send(new ListInstanceProfileTagsCommand({ InstanceProfileName: name }))).Tags };
  }
  return { roles, profiles };
}

async function s3Part(s3: S3Client): Promise<Record<string, unknown>> {
  const buckets: Record<string, unknown> = {};
  for (const b of (await s3.send(new ListBucketsCommand({}))).Buckets ?? []) {
    const name = b.Name ?? '';
    const versions = await s3.send(new ListObjectVersionsCommand({ Bucket: name }));
    buckets[name] = {
      versioning: (await s3.send(new GetBucketVersioningCommand({ Bucket: name }))).Status ?? null,
      tags: await s3.send(new GetBucketTaggingCommand({ Bucket: name })).then((t) => t.TagSet, () => []),
      versions: (versions.Versions ?? []).map((v) => `${v.Key} ${v.VersionId} ${v.ETag} latest=${v.IsLatest}`).sort(),
      markers: (versions.DeleteMarkers ?? []).map((m) => `${m.Key} ${m.VersionId} latest=${m.IsLatest}`).sort(),
    };
  }
  return { buckets };
}

async function ec2Part(ec2: EC2Client): Promise<Record<string, unknown>> {
  const instances: Record<string, unknown> = {};
  for (const i of ((await ec2.send(new DescribeInstancesCommand({ MaxResults: 1000 }))).Reservations ?? []).flatMap((r) => r.Instances ?? [])) {
    if (i.State?.Name === 'terminated') continue;
    instances[i.InstanceId ?? ''] = { state: i.State?.Name, subnet: i.SubnetId, address: i.PrivateIpAddress, tags: tagsOf(i.Tags), groups: (i.SecurityGroups ?? []).map((g) => g.GroupId).sort() };
  }
  const groups: Record<string, unknown> = {};
  for (const g of (await ec2.send(new DescribeSecurityGroupsCommand({ MaxResults: 1000 }))).SecurityGroups ?? []) {
    groups[g.GroupId ?? ''] = { name: g.GroupName, vpc: g.VpcId, tags: tagsOf(g.Tags), ingress: JSON.stringify(g.IpPermissions ?? []), egress: JSON.stringify(g.IpPermissionsEgress ?? []) };
  }
  const interfaces: Record<string, unknown> = {};
  for (const e of (await ec2.send(new DescribeNetworkInterfacesCommand({ MaxResults: 1000 }))).NetworkInterfaces ?? []) {
    interfaces[e.NetworkInterfaceId ?? ''] = { subnet: e.SubnetId, address: e.PrivateIpAddress, tags: tagsOf(e.TagSet), sourceDestCheck: e.SourceDestCheck, instance: e.Attachment?.InstanceId ?? null };
  }
  const routes: Record<string, string[]> = {};
  for (const t of (await ec2.send(new DescribeRouteTablesCommand({ MaxResults: 100 }))).RouteTables ?? []) {
    routes[t.RouteTableId ?? ''] = (t.Routes ?? []).map((r) => `${r.DestinationCidrBlock ?? r.DestinationIpv6CidrBlock ?? r.DestinationPrefixListId ?? ''} -> ${r.NetworkInterfaceId ?? r.GatewayId ?? r.NatGatewayId ?? r.InstanceId ?? r.VpcPeeringConnectionId ?? '?'} ${r.State ?? ''}`).sort();
  }
  return { instances, groups, interfaces, routes };
}

/** The whole account, comparable with `assert.deepEqual` (sorted where the API's order is not a fact). */
export async function accountSnapshot(clients: AccountClients): Promise<Record<string, unknown>> {
  return { ...await iamPart(clients.iam), ...await s3Part(clients.s3), ...await ec2Part(clients.ec2) };
}
