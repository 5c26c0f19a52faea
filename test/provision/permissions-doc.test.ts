/**
 * docs/provisioning.md "Permissions, per command" held equal to the code: every SDK command the
 * operator's side sends (src/cloud/aws/provision/*) is in the table below with the IAM actions AWS
 * checks for it and the CLI commands that send it; the table must name exactly the commands each
 * file sends and every action its guarded calls name; each command's list in the doc must be
 * exactly the union of its actions (so a stale entry fails as a missing one does); and the
 * operator policy in docs/aws-quickstart.md must allow everything up and down call. Pure: reads
 * the sources and the docs.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';

type Cli = 'up' | 'down' | 'doctor' | 'cluster' | 'status' | 'smoke';

/** The doc's bullet for each CLI command (its bold name). */
const BULLETS: Record<Cli, string> = {
  up: 'up', down: 'down', doctor: 'doctor', cluster: 'apply --cluster and rollback --cluster', status: 'status --cluster', smoke: 'the smoke run',
};

/**
 * One SDK command as a file sends it: the IAM actions AWS checks for it (besides the call's own
 * action: the tags it sets at creation, the role it passes) and the CLI commands that send it.
 */
interface Sent { readonly sdk: string; readonly actions: readonly string[]; readonly by: readonly Cli[] }

const PROVISION = 'src/cloud/aws/provision';
const SENT: Record<string, readonly Sent[]> = {
  'session.ts': [{ sdk: 'GetCallerIdentity', actions: ['sts:GetCallerIdentity'], by: ['up', 'down'] }],
  'iam-resources.ts': [
    { sdk: 'GetRole', actions: ['iam:GetRole'], by: ['up', 'down'] },
    // IAM: "you must have permission to tag" at creation (CreateRole/CreateInstanceProfile with Tags).
    { sdk: 'CreateRole', actions: ['iam:CreateRole', 'iam:TagRole'], by: ['up'] },
    { sdk: 'GetRolePolicy', actions: ['iam:GetRolePolicy'], by: ['up', 'down'] },
    { sdk: 'PutRolePolicy', actions: ['iam:PutRolePolicy'], by: ['up'] },
    { sdk: 'GetInstanceProfile', actions: ['iam:GetInstanceProfile'], by: ['up', 'down'] },
    { sdk: 'CreateInstanceProfile', actions: ['iam:CreateInstanceProfile', 'iam:TagInstanceProfile'], by: ['up'] },
    { sdk: 'AddRoleToInstanceProfile', actions: ['iam:AddRoleToInstanceProfile'], by: ['up'] },
    { sdk: 'ListRolePolicies', actions: ['iam:ListRolePolicies'], by: ['down'] },
    { sdk: 'ListInstanceProfilesForRole', actions: ['iam:ListInstanceProfilesForRole'], by: ['down'] },
    { sdk: 'RemoveRoleFromInstanceProfile', actions: ['iam:RemoveRoleFromInstanceProfile'], by: ['down'] },
    { sdk: 'DeleteInstanceProfile', actions: ['iam:DeleteInstanceProfile'], by: ['down'] },
    { sdk: 'DeleteRolePolicy', actions: ['iam:DeleteRolePolicy'], by: ['down'] },
    { sdk: 'DeleteRole', actions: ['iam:DeleteRole'], by: ['down'] },
  ],
  's3-resources.ts': [
    { sdk: 'HeadBucket', actions: ['s3:ListBucket'], by: ['up', 'down'] },
    { sdk: 'GetBucketTagging', actions: ['s3:GetBucketTagging'], by: ['up', 'down'] },
    { sdk: 'GetBucketVersioning', actions: ['s3:GetBucketVersioning'], by: ['up', 'down'] },
    // S3: "You must have the s3:TagResource permission to create a general purpose bucket with tags".
    { sdk: 'CreateBucket', actions: ['s3:CreateBucket', 's3:TagResource'], by: ['up'] },
    { sdk: 'PutBucketVersioning', actions: ['s3:PutBucketVersioning'], by: ['up'] },
    { sdk: 'GetBucketLifecycleConfiguration', actions: ['s3:GetLifecycleConfiguration'], by: ['up', 'down'] },
    { sdk: 'PutBucketLifecycleConfiguration', actions: ['s3:PutLifecycleConfiguration'], by: ['up'] },
    { sdk: 'HeadObject', actions: ['s3:GetObject'], by: ['up'] },
    { sdk: 'HeadObject', actions: ['s3:GetObjectVersion'], by: ['down'] },
    { sdk: 'PutObject', actions: ['s3:PutObject'], by: ['up'] },
    { sdk: 'ListObjectVersions', actions: ['s3:ListBucketVersions'], by: ['down'] },
    { sdk: 'DeleteObjects', actions: ['s3:DeleteObjectVersion'], by: ['down'] },
    { sdk: 'DeleteBucket', actions: ['s3:DeleteBucket'], by: ['down'] },
  ],
  'security-group-resource.ts': [
    // EC2: tags in TagSpecifications need ec2:CreateTags (condition ec2:CreateAction).
    { sdk: 'CreateSecurityGroup', actions: ['ec2:CreateSecurityGroup', 'ec2:CreateTags'], by: ['up'] },
    { sdk: 'AuthorizeSecurityGroupIngress', actions: ['ec2:AuthorizeSecurityGroupIngress'], by: ['up'] },
    { sdk: 'RevokeSecurityGroupIngress', actions: ['ec2:RevokeSecurityGroupIngress'], by: ['up'] },
    { sdk: 'DeleteSecurityGroup', actions: ['ec2:DeleteSecurityGroup'], by: ['down'] },
  ],
  'ec2-common.ts': [
    { sdk: 'DescribeInstances', actions: ['ec2:DescribeInstances'], by: ['up', 'down'] },
    { sdk: 'DescribeSecurityGroups', actions: ['ec2:DescribeSecurityGroups'], by: ['up', 'down'] },
  ],
  'instance-resources.ts': [
    { sdk: 'DescribeSubnets', actions: ['ec2:DescribeSubnets'], by: ['up', 'down'] },
    { sdk: 'DescribeNetworkInterfaces', actions: ['ec2:DescribeNetworkInterfaces'], by: ['up', 'down'] },
    { sdk: 'RunInstances', actions: ['ec2:RunInstances', 'ec2:CreateTags', 'iam:PassRole'], by: ['up'] },
    { sdk: 'ModifyInstanceAttribute', actions: ['ec2:ModifyInstanceAttribute'], by: ['up'] },
    { sdk: 'StartInstances', actions: ['ec2:StartInstances'], by: ['up'] },
    { sdk: 'CreateTags', actions: ['ec2:CreateTags'], by: ['up'] },
    { sdk: 'TerminateInstances', actions: ['ec2:TerminateInstances'], by: ['down'] },
  ],
  'vip-route-resources.ts': [
    { sdk: 'DescribeRouteTables', actions: ['ec2:DescribeRouteTables'], by: ['up', 'down'] },
    { sdk: 'CreateRoute', actions: ['ec2:CreateRoute'], by: ['up'] },
    { sdk: 'ReplaceRoute', actions: ['ec2:ReplaceRoute'], by: ['up'] },
    { sdk: 'DeleteRoute', actions: ['ec2:DeleteRoute'], by: ['down'] },
  ],
  'down-reads.ts': [
    { sdk: 'DescribeNetworkInterfaces', actions: ['ec2:DescribeNetworkInterfaces'], by: ['down'] },
    { sdk: 'DescribeRouteTables', actions: ['ec2:DescribeRouteTables'], by: ['down'] },
    { sdk: 'GetObject', actions: ['s3:GetObject'], by: ['down'] },
  ],
  // Doctor's collector; apply --cluster's and rollback's gate runs its describe (not the DryRuns).
  'doctor-collect.ts': [
    { sdk: 'DescribeVpcs', actions: ['ec2:DescribeVpcs'], by: ['doctor', 'cluster'] },
    { sdk: 'DescribeInstances', actions: ['ec2:DescribeInstances'], by: ['doctor', 'cluster'] },
    { sdk: 'DescribeSecurityGroups', actions: ['ec2:DescribeSecurityGroups'], by: ['doctor', 'cluster'] },
    { sdk: 'DescribeRouteTables', actions: ['ec2:DescribeRouteTables'], by: ['doctor', 'cluster'] },
    { sdk: 'GetObject', actions: ['s3:GetObject'], by: ['doctor', 'cluster'] },
    { sdk: 'CreateRoute', actions: ['ec2:CreateRoute'], by: ['doctor'] },
    { sdk: 'ReplaceRoute', actions: ['ec2:ReplaceRoute'], by: ['doctor'] },
  ],
  'release-rollout.ts': [
    { sdk: 'HeadObject', actions: ['s3:GetObject'], by: ['cluster'] },
    { sdk: 'PutObject', actions: ['s3:PutObject'], by: ['cluster'] },
    { sdk: 'GetObject', actions: ['s3:GetObject'], by: ['cluster', 'status'] },
    { sdk: 'GetObject', actions: ['s3:GetObjectVersion'], by: ['cluster'] },
    { sdk: 'ListObjectVersions', actions: ['s3:ListBucketVersions'], by: ['cluster'] },
  ],
  'smoke-instances.ts': [
    { sdk: 'RunInstances', actions: ['ec2:RunInstances', 'ec2:CreateTags'], by: ['smoke'] },
    { sdk: 'GetConsoleOutput', actions: ['ec2:GetConsoleOutput'], by: ['smoke'] },
    { sdk: 'TerminateInstances', actions: ['ec2:TerminateInstances'], by: ['smoke'] },
    { sdk: 'DescribeRouteTables', actions: ['ec2:DescribeRouteTables'], by: ['smoke'] },
  ],
};

const root = new URL('../../../', import.meta.url);
const read = (path: string): Promise<string> => readFile(new URL(path, root), 'utf8');
const ACTION = /^[a-z0-9]+:[A-Za-z]+$/;

/** The actions (backquoted `svc:Action`) of each command's bullet under "## Permissions, per command". */
function docLists(doc: string): Map<string, Set<string>> {
  const start = doc.indexOf('\n## Permissions, per command\n');
  assert.ok(start >= 0, 'docs/provisioning.md has a "## Permissions, per command" section');
  const section = doc.slice(start + 1, doc.indexOf('\n## ', start + 1));
  const lists = new Map<string, Set<string>>();
  for (const bullet of section.split(/\n(?=- \*\*)/).filter((b) => b.startsWith('- **'))) {
    const name = /^- \*\*([^*]+)\*\*/.exec(bullet)![1]!;
    lists.set(name, new Set([...bullet.matchAll(/`([^`]+)`/g)].map((m) => m[1]!).filter((t) => ACTION.test(t))));
  }
  return lists;
}

void test('the table names exactly the SDK commands each file sends and every action its guarded calls name', async () => {
  for (const [file, sent] of Object.entries(SENT)) {
    const source = await read(`${PROVISION}/${file}`);
    const commands = new Set([...source.matchAll(/new ([A-Z][A-Za-z]+)Command\(/g)].map((m) => m[1]!));
    if (file === 'session.ts') commands.add('GetCallerIdentity');
    assert.deepEqual([...commands].sort(), [...new Set(sent.map((s) => s.sdk))].sort(), `${file}: the SDK commands it sends`);
    const named = new Set([...source.matchAll(/call\(\s*'([a-z0-9]+:[A-Za-z]+)'/g)].map((m) => m[1]!));
    const listed = new Set(sent.flatMap((s) => s.actions));
    for (const action of named) assert.ok(listed.has(action), `${file} calls with ${action}, which its table entries do not name`);
  }
});

void test('every file of src/cloud/aws/provision that sends an SDK command is in the table (or is the node\'s side)', async () => {
  const { readdir } = await import('node:fs/promises');
  // release-follow.ts runs on the nodes with their role: its actions are lbNodePolicy's (node-policy tests).
  const nodeSide = new Set(['release-follow.ts']);
  for (const file of await readdir(new URL(`${PROVISION}/`, root))) {
    if (!file.endsWith('.ts') || nodeSide.has(file)) continue;
    const source = await read(`${PROVISION}/${file}`);
    if (/new [A-Z][A-Za-z]+Command\(/.test(source)) assert.ok(file in SENT, `${file} sends SDK commands: add them to the table`);
  }
});

void test('docs/provisioning.md lists, per command, exactly the actions its calls need', async () => {
  const lists = docLists(await read('docs/provisioning.md'));
  for (const [cli, bullet] of Object.entries(BULLETS) as [Cli, string][]) {
    const expected = new Set(Object.values(SENT).flat().filter((s) => s.by.includes(cli)).flatMap((s) => s.actions));
    const documented = lists.get(bullet);
    assert.ok(documented !== undefined, `no "- **${bullet}**" bullet`);
    const missing = [...expected].filter((a) => !documented.has(a)).sort();
    const stale = [...documented].filter((a) => !expected.has(a)).sort();
    assert.deepEqual({ missing, stale }, { missing: [], stale: [] }, `the "${bullet}" list`);
  }
});

void test('the operator policy of docs/aws-quickstart.md allows every action up and down need', async () => {
  const doc = await read('docs/aws-quickstart.md');
  const json = /```json\n(\{\n {2}"Version"[\s\S]*?)\n```/.exec(doc)?.[1];
  assert.ok(json !== undefined, 'the quickstart has the operator policy');
  const policy = JSON.parse(json) as { Statement: { Action: string | string[] }[] };
  const allowed = new Set(policy.Statement.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action])));
  const needed = new Set(Object.values(SENT).flat().filter((s) => s.by.includes('up') || s.by.includes('down')).flatMap((s) => s.actions));
  needed.delete('sts:GetCallerIdentity'); // AWS checks no permission for it
  assert.deepEqual([...needed].filter((a) => !allowed.has(a)).sort(), []);
  const everything = new Set(Object.values(SENT).flat().flatMap((s) => s.actions));
  assert.deepEqual([...allowed].filter((a) => !everything.has(a)).sort(), [], 'the policy allows nothing no command calls');
});
