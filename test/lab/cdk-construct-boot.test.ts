// The OverlayLb CDK construct's deployment boots in a real lab (`lab up --bare`, root, under the
// shared lock): the packaged agents run, elect a master and answer on the VIP. The template is the reviewed one (constructs/test/golden/, which the
// construct's own tests hold equal to a fresh synth); here it is deployed by hand, as
// CloudFormation would, with every token resolved to the lab's values: the account (STS), the
// region, the lab's subnet and route table ids (the template's are those of the lab planned with
// the prefix `olb-`; this lab has its own), the ids of what this test creates. The role gets the
// template's policy document as it is (so the lab enforces exactly the construct's policy), the
// group the template's ingress rules (VRRP, UDP 4789, port 80 from the clients, nothing else), and
// each node is launched with its launch template's data, user-data included, byte for byte.
// The objects are put at the template's asset keys: the spec fixture, and the real package
// (scripts/build-deb.sh, or OVERLAY_LB_DEB) in place of the stand-in the template was hashed from.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  AuthorizeSecurityGroupIngressCommand, CreateRouteCommand, CreateSecurityGroupCommand, DescribeInstancesCommand, DescribeRouteTablesCommand, GetConsoleOutputCommand, ModifyInstanceAttributeCommand, RunInstancesCommand,
  type IpPermission, type RunInstancesCommandInput,
} from '@aws-sdk/client-ec2';
import { AddRoleToInstanceProfileCommand, CreateInstanceProfileCommand, CreateRoleCommand, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import type { AgentStatus } from '../../src/agent-api/contract.js';
import { labFiles } from '../../src/lab/controller.js';
import { instanceDir } from '../../src/lab/instance-host.js';
import { planLab } from '../../src/lab/plan.js';
import { parseSpec } from '../../src/speclang/parse.js';
import { AWS_CLI } from '../helpers/aws-cli.js';
import { resolveCfn, resourcesOfType, type CfnTemplate } from '../helpers/cfn-resolve.js';
import { buildPackage } from '../helpers/package.js';
import { needsRoot as skip, startBareLab, waitFor } from '../helpers/bare-lab.js';

const CONSTRUCTS = fileURLToPath(new URL('../../../constructs/', import.meta.url));
const GOLDEN = `${CONSTRUCTS}test/golden/overlay-lb-example.template.json`;
const FIXTURE_SPEC = `${CONSTRUCTS}test/fixtures/spec.yaml`;

/** `value` with every string equal to a key of `ids` replaced by its value (the lab's own ids). */
function remap(value: unknown, ids: ReadonlyMap<string, string>): unknown {
  if (typeof value === 'string') return ids.get(value) ?? value;
  if (Array.isArray(value)) return value.map((v) => remap(v, ids));
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, remap(v, ids)]));
  return value;
}

void test('the construct\'s template, deployed in the lab: its user-data installs the package from S3 with its role, the agents elect a master that holds the VIP routes and serves a client in every AZ through the VIP', { skip, timeout: 900_000 }, async (t) => {
  const signal = AbortSignal.timeout(840_000);
  // The package: OVERLAY_LB_DEB, else built before the lab starts (minutes on a busy machine).
  const given = process.env['OVERLAY_LB_DEB'];
  let packageFile = given ?? '';
  if (packageFile === '') {
    const out = await mkdtemp(join(tmpdir(), 'olb-cdk-deb-'));
    t.after(() => rm(out, { recursive: true, force: true }));
    packageFile = await buildPackage({ outDir: out, signal });
  }
  const bare = await startBareLab(t, { tag: 'olbcdk' });
  const { lab, ec2, iam, region } = bare;
  const config = { region, endpoint: lab.apiUrl, maxAttempts: 1, credentials: lab.adminCredentials };
  const s3 = new S3Client({ ...config, forcePathStyle: true });
  const sts = new STSClient(config);
  t.after(() => {
    s3.destroy();
    sts.destroy();
  });
  const template = JSON.parse(await readFile(GOLDEN, 'utf8')) as CfnTemplate;
  const specText = await readFile(FIXTURE_SPEC, 'utf8');
  const parsed = parseSpec(specText, { file: FIXTURE_SPEC });
  assert.ok(parsed.ok);
  const spec = parsed.spec;

  // GIVEN the lab's values for the template's tokens and ids.
  const account = (await sts.send(new GetCallerIdentityCommand({}))).Account!;
  const values: Record<string, string> = { 'AWS::AccountId': account, 'AWS::Region': region, 'AWS::Partition': 'aws' };
  const planned = planLab(spec, { prefix: 'olb-', azs: 3, bare: true, lbSourceDestCheck: false });
  const ids = new Map<string, string>();
  for (const subnet of planned.subnets) {
    const mine = lab.plan.subnets.find((s) => s.name === subnet.name)!;
    ids.set(subnet.id, mine.id);
    ids.set(subnet.routeTableId, mine.routeTableId);
  }
  assert.equal(lab.plan.vpc.id, spec.cluster.cloud.vpcId);
  const resolve = (value: unknown): unknown => remap(resolveCfn(value, values), ids);

  // The assets, where the template says they are: the bootstrap bucket, the content-hash keys.
  const outputs = Object.values(template.Outputs ?? {});
  const output = (description: string): string => resolve(outputs.find((o) => o.Description === description)!.Value) as string;
  const bucket = output('The bucket of the spec and the package the nodes read');
  assert.equal(bucket, `cdk-hnb659fds-assets-${account}-${region}`);
  const specKey = output('The spec\'s key in the bucket');
  const packageKey = output('The package\'s key in the bucket');
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: specKey, Body: specText }));
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: packageKey, Body: await readFile(packageFile) }));
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'another-stack.yaml', Body: 'not for the nodes' }));

  // The role with the template's trust and inline policy as they are, and its instance profile.
  const [[roleId, role]] = resourcesOfType(template, 'AWS::IAM::Role') as [[string, { AssumeRolePolicyDocument: unknown; Policies: { PolicyName: string; PolicyDocument: unknown }[] }]];
  const [[profileId, profile]] = resourcesOfType(template, 'AWS::IAM::InstanceProfile') as [[string, { Roles: unknown[] }]];
  values[roleId] = 'olbcdk-node-role';
  values[profileId] = 'olbcdk-node-profile';
  await iam.send(new CreateRoleCommand({ RoleName: values[roleId], AssumeRolePolicyDocument: JSON.stringify(resolve(role.AssumeRolePolicyDocument)) }));
  for (const p of role.Policies) await iam.send(new PutRolePolicyCommand({ RoleName: values[roleId], PolicyName: p.PolicyName, PolicyDocument: JSON.stringify(resolve(p.PolicyDocument)) }));
  await iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: values[profileId] }));
  for (const r of profile.Roles) await iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: values[profileId], RoleName: resolve(r) as string }));

  // The group and exactly the template's ingress rules.
  const [[groupLogical, group]] = resourcesOfType(template, 'AWS::EC2::SecurityGroup') as [[string, { GroupDescription: string; VpcId: string }]];
  const created = await ec2.send(new CreateSecurityGroupCommand({ GroupName: 'olbcdk-nodes', Description: group.GroupDescription, VpcId: resolve(group.VpcId) as string }));
  values[`${groupLogical}.GroupId`] = created.GroupId!;
  for (const [, rule] of resourcesOfType(template, 'AWS::EC2::SecurityGroupIngress')) {
    const r = resolve(rule) as { GroupId: string; IpProtocol: string; FromPort?: number; ToPort?: number; CidrIp?: string; SourceSecurityGroupId?: string; Description?: string };
    const permission: IpPermission = {
      IpProtocol: r.IpProtocol, FromPort: r.FromPort, ToPort: r.ToPort,
      ...(r.CidrIp === undefined ? {} : { IpRanges: [{ CidrIp: r.CidrIp, Description: r.Description }] }),
      ...(r.SourceSecurityGroupId === undefined ? {} : { UserIdGroupPairs: [{ GroupId: r.SourceSecurityGroupId, Description: r.Description }] }),
    };
    await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: r.GroupId, IpPermissions: [permission] }));
  }

  // WHEN each node is launched as CloudFormation launches it: its launch template's data (the
  // lab's RunInstances takes no launch template: the same values, given directly) and the
  // instance's subnet, address and group; source/dest check as the instance says.
  const templates = new Map(resourcesOfType(template, 'AWS::EC2::LaunchTemplate'));
  const instances = new Map<string, string>();
  for (const [logical, instance] of resourcesOfType(template, 'AWS::EC2::Instance')) {
    const launchRef = (instance['LaunchTemplate'] as { LaunchTemplateId: { Ref: string } }).LaunchTemplateId.Ref;
    const data = resolve(templates.get(launchRef)!['LaunchTemplateData']) as RunInstancesCommandInput;
    const { LaunchTemplate: _template, Tags: _tags, ...launchedWith } = instance;
    const own = resolve(launchedWith) as { SubnetId: string; PrivateIpAddress: string; SecurityGroupIds: string[]; SourceDestCheck: boolean };
    const run = await ec2.send(new RunInstancesCommand({ ...data, MinCount: 1, MaxCount: 1, SubnetId: own.SubnetId, PrivateIpAddress: own.PrivateIpAddress, SecurityGroupIds: own.SecurityGroupIds }));
    const id = run.Instances![0]!.InstanceId!;
    values[logical] = id;
    const node = spec.cluster.nodes.find((n) => n.address === own.PrivateIpAddress)!;
    instances.set(node.name, id);
    assert.equal(own.SourceDestCheck, false);
    await ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: id, SourceDestCheck: { Value: own.SourceDestCheck } }));
  }
  // The VIP routes of the template, to the preferred node's instance, once the instances run:
  // CloudFormation creates a resource that refers to an instance after the instance is created
  // (running).
  const states = async (): Promise<(string | undefined)[]> => ((await ec2.send(new DescribeInstancesCommand({ InstanceIds: [...instances.values()] }))).Reservations ?? []).flatMap((r) => r.Instances ?? []).map((i) => i.State?.Name);
  await waitFor('the instances running', states, (s) => s.length === instances.size && s.every((x) => x === 'running'), 300_000);
  const routes = resourcesOfType(template, 'AWS::EC2::Route');
  assert.equal(routes.length, 6);
  for (const [, route] of routes) {
    const r = resolve(route) as { RouteTableId: string; DestinationCidrBlock: string; InstanceId: string };
    assert.equal(r.InstanceId, instances.get('lb-a'));
    await ec2.send(new CreateRouteCommand(r));
  }

  // THEN each node's user-data (the construct's, unchanged) fetches the package with the role, installs it and starts the agent.
  const consoleOf = async (id: string): Promise<string> => Buffer.from((await ec2.send(new GetConsoleOutputCommand({ InstanceId: id }))).Output ?? '', 'base64').toString('utf8');
  for (const [node, id] of instances) {
    const out = await waitFor(`${node}'s user-data`, () => consoleOf(id), (o) => o.includes('Cloud-init v. lab finished'), 600_000);
    assert.match(out, new RegExp(`overlay-lb user-data: cluster demo, node ${node}\\n`));
    assert.match(out, new RegExp(`overlay-lb user-data: package fetched from s3://${bucket}/${packageKey}\\n`));
    assert.match(out, /overlay-lb user-data: package installed: overlay-lb /);
    assert.match(out, /overlay-lb user-data: agent started\n/);
    assert.doesNotMatch(out, /Failed to run module scripts-user/, out);
  }
  // The role reads exactly the two assets: another object of the same bucket is denied.
  const [firstId] = [...instances.values()];
  const awsIn = (args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    lab.exec(firstId!, ['env', '-i', 'PATH=/usr/bin:/bin', 'HOME=/tmp', `AWS_DEFAULT_REGION=${region}`, 'AWS_MAX_ATTEMPTS=1', AWS_CLI, '--endpoint-url', 'http://169.254.169.250', ...args], { signal, allowFailure: true, timeoutMs: 60_000 });
  const allowed = await awsIn(['s3', 'cp', `s3://${bucket}/${specKey}`, '-']);
  assert.equal(allowed.code, 0, allowed.stderr);
  assert.equal(allowed.stdout, specText);
  const denied = await awsIn(['s3', 'cp', `s3://${bucket}/another-stack.yaml`, '-']);
  assert.notEqual(denied.code, 0);
  assert.match(denied.stderr, /403|AccessDenied|Forbidden/);

  // The packaged agents found their identity through IMDS, elected one master, and serve the VIP in every AZ.
  const status = async (id: string): Promise<AgentStatus | null> => {
    const r = await lab.exec(id, ['curl', '-fsS', '-m', '2', 'http://127.0.0.1:8406/status'], { signal, allowFailure: true });
    return r.code === 0 ? (JSON.parse(r.stdout) as AgentStatus) : null;
  };
  const statuses = await waitFor('one master, one backup', () => Promise.all([...instances.values()].map(status)), (s) => s.every((x) => x !== null) && s.map((x) => x.vrrp.vrrp).sort().join() === 'BACKUP,MASTER', 300_000);
  for (const [i, [node, id]] of [...instances].entries()) {
    assert.equal(statuses[i]!.node, node);
    assert.equal(statuses[i]!.identity?.instanceId, id);
    // The construct's nodes do not follow up's release bucket (their role may read only their
    // own assets): no --follow-release in agent.env, so no poll and no spec-source problem.
    const view = join(instanceDir(labFiles(bare.stateFile, bare.prefix).dir, id), 'fs');
    assert.equal(await readFile(join(view, 'etc/upper/overlay-lb/agent.env'), 'utf8'), `OVERLAY_LB_NODE=${node}\nOVERLAY_LB_AGENT_ARGS=\n`);
    assert.doesNotMatch(await readFile(join(view, 'var/upper/log/overlay-lb/agent.log'), 'utf8'), /"event":"spec-follow"/);
    assert.deepEqual(statuses[i]!.problems.filter((p) => p.component.includes('spec')), []);
  }
  // The template's routes are in the API, active, to the master's interface (the agent of the
  // master holds them: the preferred node's from the start, or taken back from the other node if
  // that one was master first), and a client in every AZ gets its answer through the VIP: the
  // template's routes, source/dest check and group carry the traffic to the master's haproxy.
  const masterOf = (list: readonly (AgentStatus | null)[]): AgentStatus | undefined => list.find((x) => x?.vrrp.vrrp === 'MASTER') ?? undefined;
  const tableIds = routes.map(([, route]) => ids.get(route['RouteTableId'] as string));
  const vipRoutes = async (): Promise<{ master: AgentStatus | undefined; targets: { table: string | undefined; eni: string | undefined; state: string | undefined }[] }> => {
    const master = masterOf(await Promise.all([...instances.values()].map(status)));
    const tables = (await ec2.send(new DescribeRouteTablesCommand({ Filters: [{ Name: 'vpc-id', Values: [lab.plan.vpc.id] }] }))).RouteTables ?? [];
    return {
      master,
      targets: tableIds.map((id) => {
        const vip = tables.find((rt) => rt.RouteTableId === id)?.Routes?.find((r) => r.DestinationCidrBlock === `${spec.cluster.vip}/32`);
        return { table: id, eni: vip?.NetworkInterfaceId, state: vip?.State };
      }),
    };
  };
  const held = await waitFor('the template\'s routes active to the master', vipRoutes, (v) => v.master !== undefined && v.targets.every((r) => r.eni === v.master!.identity?.networkInterfaceId && r.state === 'active'), 120_000);
  assert.equal(held.targets.length, 6);
  const masterId = held.master!.identity!.instanceId;
  const onNode = await lab.exec(masterId, ['curl', '-sS', '-m', '5', '-o', '/dev/null', '-w', '%{http_code}', `http://${spec.cluster.vip}/`], { signal, allowFailure: true });
  assert.equal(onNode.stdout, '200', `the master's haproxy on the VIP: ${onNode.stderr}`);
  for (const az of lab.plan.azs) {
    const answer = await waitFor(`the VIP from the client in ${az}`, () => lab.request(az, { signal, timeoutMs: 2000 }).catch((err: Error) => ({ status: 0, error: err.message })), (r) => r.status === 200, 300_000);
    assert.equal(answer.status, 200);
  }
});
