// The lab's security-group actions driven by Debian's aws CLI v2 (/usr/bin/aws), as an operator
// or a provisioning script types them: the CLI's simplified flags (--protocol/--port/--cidr,
// --source-group), --ip-permissions, filters, and the documented errors with the CLI's exit code.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import type { ExampleCloud } from '../../src/lab/ec2/example.js';
import { awsCliSkip as skip, type CliResult } from '../helpers/aws-cli.js';
import { LAB_ADMIN, startCliLabApi } from '../helpers/cli-lab-api.js';

const REGION = 'eu-west-1';
const ADMIN = LAB_ADMIN;

async function start(t: TestContext): Promise<{ lab: ExampleCloud; ec2: (args: readonly string[]) => Promise<CliResult> }> {
  const { lab, api, cli } = await startCliLabApi(t, { region: REGION });
  const ec2 = (args: readonly string[]): Promise<CliResult> =>
    cli.run(['ec2', ...args, '--endpoint-url', api.url, '--output', 'json'], { key: ADMIN.accessKeyId, secret: ADMIN.secretAccessKey });
  return { lab, ec2 };
}

function ok<T>(result: CliResult): T {
  assert.equal(result.code, 0, result.stderr);
  return (result.stdout.trim() === '' ? {} : JSON.parse(result.stdout)) as T;
}

/** The CLI's answer to a service error: exit 254 and `An error occurred (CODE) when calling the ACTION operation: ...`. */
function failed(result: CliResult, code: string, action: string): void {
  assert.equal(result.code, 254, `${result.stdout}${result.stderr}`);
  assert.match(result.stderr, new RegExp(`An error occurred \\(${code.replaceAll('.', '\\.')}\\) when calling the ${action} operation`));
}

interface Group { GroupId: string; GroupName: string; IpPermissions: { IpProtocol: string; FromPort?: number; ToPort?: number; IpRanges: { CidrIp: string }[]; UserIdGroupPairs: { GroupId: string }[] }[] }

void test('aws ec2 create-security-group, authorize with the simplified flags and --ip-permissions, describe, revoke, delete', { skip }, async (t) => {
  const { lab, ec2 } = await start(t);
  const version = await ec2(['--version']);
  assert.match(version.stdout, /^aws-cli\/2\./);
  const created = ok<{ GroupId: string }>(await ec2(['create-security-group', '--group-name', 'lb-nodes', '--description', 'LB nodes', '--vpc-id', lab.ids.vpc,
    '--tag-specifications', 'ResourceType=security-group,Tags=[{Key=Name,Value=lb}]']));
  const lb = created.GroupId;
  assert.match(lb, /^sg-[0-9a-f]{17}$/);
  failed(await ec2(['create-security-group', '--group-name', 'lb-nodes', '--description', 'again', '--vpc-id', lab.ids.vpc]), 'InvalidGroup.Duplicate', 'CreateSecurityGroup');

  // The CLI's simplified flags, as the AWS docs' examples type them.
  const http = ok<{ Return: boolean; SecurityGroupRules: { IpProtocol: string; FromPort: number; CidrIpv4: string }[] }>(
    await ec2(['authorize-security-group-ingress', '--group-id', lb, '--protocol', 'tcp', '--port', '80', '--cidr', '0.0.0.0/0']));
  assert.equal(http.Return, true);
  assert.deepEqual(http.SecurityGroupRules.map((r) => [r.IpProtocol, r.FromPort, r.CidrIpv4]), [['tcp', 80, '0.0.0.0/0']]);
  ok(await ec2(['authorize-security-group-ingress', '--group-id', lb, '--protocol', '112', '--source-group', lb]));
  ok(await ec2(['authorize-security-group-ingress', '--group-id', lb, '--ip-permissions',
    'IpProtocol=tcp,FromPort=8404,ToPort=8405,IpRanges=[{CidrIp=10.0.0.0/16,Description=stats}]', 'IpProtocol=udp,FromPort=514,ToPort=514,IpRanges=[{CidrIp=10.0.1.0/24}]']));
  failed(await ec2(['authorize-security-group-ingress', '--group-id', lb, '--protocol', 'tcp', '--port', '80', '--cidr', '0.0.0.0/0']), 'InvalidPermission.Duplicate', 'AuthorizeSecurityGroupIngress');
  failed(await ec2(['authorize-security-group-ingress', '--group-id', 'sg-0000000000000dead', '--protocol', 'tcp', '--port', '80', '--cidr', '0.0.0.0/0']), 'InvalidGroup.NotFound', 'AuthorizeSecurityGroupIngress');

  const described = ok<{ SecurityGroups: Group[] }>(await ec2(['describe-security-groups', '--group-ids', lb]));
  assert.deepEqual(described.SecurityGroups[0]?.IpPermissions.map((p) => [p.IpProtocol, p.FromPort, p.ToPort, p.IpRanges.map((r) => r.CidrIp), p.UserIdGroupPairs.map((g) => g.GroupId)]), [
    ['tcp', 80, 80, ['0.0.0.0/0'], []],
    ['112', undefined, undefined, [], [lb]],
    ['tcp', 8404, 8405, ['10.0.0.0/16'], []],
    ['udp', 514, 514, ['10.0.1.0/24'], []],
  ]);
  const filtered = ok<{ SecurityGroups: Group[] }>(await ec2(['describe-security-groups', '--filters', `Name=vpc-id,Values=${lab.ids.vpc}`, 'Name=tag:Name,Values=lb']));
  assert.deepEqual(filtered.SecurityGroups.map((g) => g.GroupName), ['lb-nodes']);
  // Automatic pagination: 2 default groups and 1 here, in pages of 5 (the CLI follows NextToken).
  const names = ok<string[]>(await ec2(['describe-security-groups', '--page-size', '5', '--query', 'SecurityGroups[].GroupName']));
  assert.deepEqual(names.sort(), ['default', 'default', 'lb-nodes']);
  const rules = ok<{ SecurityGroupRules: { IsEgress: boolean }[] }>(await ec2(['describe-security-group-rules', '--filters', `Name=group-id,Values=${lb}`]));
  assert.equal(rules.SecurityGroupRules.filter((r) => !r.IsEgress).length, 4);

  // Revoke: the rule goes; a rule the group does not have is InvalidPermission.NotFound (non-default VPC).
  ok(await ec2(['revoke-security-group-ingress', '--group-id', lb, '--protocol', 'tcp', '--port', '80', '--cidr', '0.0.0.0/0']));
  failed(await ec2(['revoke-security-group-ingress', '--group-id', lb, '--protocol', 'tcp', '--port', '80', '--cidr', '0.0.0.0/0']), 'InvalidPermission.NotFound', 'RevokeSecurityGroupIngress');
  ok(await ec2(['authorize-security-group-egress', '--group-id', lb, '--ip-permissions', 'IpProtocol=tcp,FromPort=443,ToPort=443,IpRanges=[{CidrIp=0.0.0.0/0}]']));
  ok(await ec2(['revoke-security-group-egress', '--group-id', lb, '--ip-permissions', 'IpProtocol=-1,IpRanges=[{CidrIp=0.0.0.0/0}]']));
  const egress = ok<{ SecurityGroups: { IpPermissionsEgress: { IpProtocol: string; FromPort: number }[] }[] }>(await ec2(['describe-security-groups', '--group-ids', lb]));
  assert.deepEqual(egress.SecurityGroups[0]?.IpPermissionsEgress.map((p) => [p.IpProtocol, p.FromPort]), [['tcp', 443]]);

  // An ENI in the group: delete is refused until it leaves.
  ok(await ec2(['modify-network-interface-attribute', '--network-interface-id', lab.ids.lb1Eni, '--groups', lb]));
  const eni = ok<{ NetworkInterfaces: { Groups: { GroupId: string; GroupName: string }[] }[] }>(await ec2(['describe-network-interfaces', '--network-interface-ids', lab.ids.lb1Eni]));
  assert.deepEqual(eni.NetworkInterfaces[0]?.Groups, [{ GroupId: lb, GroupName: 'lb-nodes' }]);
  failed(await ec2(['delete-security-group', '--group-id', lb]), 'DependencyViolation', 'DeleteSecurityGroup');
  const defaultGroup = lab.cloud.defaultSecurityGroupId(lab.ids.vpc);
  ok(await ec2(['modify-network-interface-attribute', '--network-interface-id', lab.ids.lb1Eni, '--groups', defaultGroup]));
  failed(await ec2(['delete-security-group', '--group-id', defaultGroup]), 'CannotDelete', 'DeleteSecurityGroup');
  // Debian's CLI (botocore of 2023) predates DeleteSecurityGroup's output shape: it prints nothing.
  ok(await ec2(['delete-security-group', '--group-id', lb]));
  assert.equal(lab.cloud.view().securityGroups[lb], undefined);
  failed(await ec2(['describe-security-groups', '--group-ids', lb]), 'InvalidGroup.NotFound', 'DescribeSecurityGroups');
});
