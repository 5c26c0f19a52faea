/**
 * The pure derivations of `overlay-lb up` (src/cloud/aws/provision/, iam-policy.ts), table-tested:
 * the nodes' role policy for a spec, the security group's ingress rules, the user-data, the names
 * and ownership tags. The lab enforces the policy: test/lab/ec2-sdk.test.ts and
 * test/provision/up-lab.test.ts.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { parseSpec } from '../../src/speclang/parse.js';
import type { Spec } from '../../src/model/spec.js';
import { EC2_TRUST_POLICY, lbNodePolicy } from '../../src/cloud/aws/iam-policy.js';
import { isAllowed } from '../../src/lab/ec2/policy.js';
import { ownedBy, ownershipTags, resourceNames } from '../../src/cloud/aws/provision/names.js';
import { ingressChanges, type IpPermission, permissionKeys, securityGroupIngress } from '../../src/cloud/aws/provision/security-group-rules.js';
import { classifyVipRoute, type FoundVipRoute } from '../../src/cloud/aws/provision/vip-route-resources.js';
import { nodeUserData, shellQuote } from '../../src/cloud/aws/provision/user-data.js';
import { NODE_TAG, nodeLaunchInput } from '../../src/cloud/aws/provision/instance-launch.js';
import { formatDiagnostic } from '../../src/util/errors.js';

function specOf(o: { provision?: string; admin?: string; cloud?: string; frontends?: string } = {}): Spec {
  const yaml = `cluster:
  name: shop
  vip: 192.168.100.10
  vpcCidrs: [10.0.0.0/16]
  nodes:
    - { name: lb-a, address: 10.0.1.10, zone: az-a }
    - { name: lb-b, address: 10.0.2.10, zone: az-b }
  cloud: ${o.cloud ?? '{ provider: aws, region: eu-west-1, vpcId: vpc-0de30000000000001 }'}
${o.admin ?? ''}
frontends:
${o.frontends ?? `  - name: web
    binds: [{ address: vip, port: 80 }, { address: vip, port: 443 }]
    defaultBackend: app
  - name: api
    binds: [{ address: vip, port: 8443 }]
    defaultBackend: app`}
backends:
  - name: app
    servers: [{ name: s1, address: 10.0.11.11, port: 8080 }]
provision:
${o.provision ?? `  imageId: ami-0123456789abcdef0
  clients: { web: [0.0.0.0/0], api: [10.0.0.0/16, 10.1.0.0/16] }
  bucket: shop-releases`}
`;
  const r = parseSpec(yaml, { file: 's.yaml' });
  assert.ok(r.ok, r.ok ? '' : r.diagnostics.map(formatDiagnostic).join('\n'));
  return r.spec;
}

const ARN = (type: string, id: string): string => `arn:aws:ec2:eu-west-1:123456789012:${type}/${id}`;

void test('names and ownership tags derive from the cluster name, keys from the prefix', () => {
  assert.deepEqual(resourceNames(specOf()), { role: 'overlay-lb-shop', instanceProfile: 'overlay-lb-shop', securityGroup: 'overlay-lb-shop', bucket: 'shop-releases', specKey: 'shop/spec.yaml', packageKey: 'shop/overlay-lb.deb', rollout: { pointers: 'shop/desired/*.json', statuses: 'shop/status/*.json' } });
  assert.deepEqual(resourceNames(specOf({ provision: '  imageId: ami-0123456789abcdef0\n  clients: { web: [0.0.0.0/0], api: [0.0.0.0/0] }\n  bucket: b-1\n  prefix: ""' })).specKey, 'spec.yaml');
  assert.deepEqual(ownershipTags('shop'), [{ Key: 'overlay-lb:cluster', Value: 'shop' }]);
  const cases: [Parameters<typeof ownedBy>[0], boolean][] = [
    [[{ Key: 'overlay-lb:cluster', Value: 'shop' }], true],
    [[{ Key: 'Name', Value: 'x' }, { Key: 'overlay-lb:cluster', Value: 'shop' }], true],
    [[{ Key: 'overlay-lb:cluster', Value: 'shop2' }], false],
    [[{ Key: 'overlay-lb:Cluster', Value: 'shop' }], false],
    [[], false],
    [undefined, false],
  ];
  for (const [tags, owned] of cases) assert.equal(ownedBy(tags, 'shop'), owned, JSON.stringify(tags));
});

void test('the role policy: route writes on the VPC\'s route tables only, describes on *, the heartbeat tag only, exactly the two release objects', () => {
  const spec = specOf();
  const names = resourceNames(spec);
  const policy = lbNodePolicy({ arn: ARN, vpcId: 'vpc-0de30000000000001', eipAllocationId: null, release: { bucket: names.bucket, keys: [names.specKey, names.packageKey], rollout: names.rollout } });
  const vpc = { 'ec2:vpc': ARN('vpc', 'vpc-0de30000000000001') };
  const other = { 'ec2:vpc': ARN('vpc', 'vpc-0000000000000000f') };
  const table: [string, { arn: string; conditions: Record<string, string | string[]> }, boolean][] = [
    ['ec2:DescribeRouteTables', { arn: '*', conditions: {} }, true],
    ['ec2:DescribeInstances', { arn: '*', conditions: {} }, true],
    ['ec2:ReplaceRoute', { arn: ARN('route-table', 'rtb-1'), conditions: vpc }, true],
    ['ec2:CreateRoute', { arn: ARN('route-table', 'rtb-1'), conditions: vpc }, true],
    ['ec2:ReplaceRoute', { arn: ARN('route-table', 'rtb-1'), conditions: other }, false],
    ['ec2:DeleteRoute', { arn: ARN('route-table', 'rtb-1'), conditions: vpc }, false],
    ['ec2:CreateTags', { arn: ARN('network-interface', 'eni-1'), conditions: { ...vpc, 'aws:tagkeys': ['overlay-lb:heartbeat'] } }, true],
    ['ec2:CreateTags', { arn: ARN('network-interface', 'eni-1'), conditions: { ...vpc, 'aws:tagkeys': ['overlay-lb:cluster'] } }, false],
    ['ec2:CreateTags', { arn: ARN('network-interface', 'eni-1'), conditions: { ...other, 'aws:tagkeys': ['overlay-lb:heartbeat'] } }, false],
    ['ec2:CreateTags', { arn: ARN('instance', 'i-1'), conditions: { ...vpc, 'aws:tagkeys': ['overlay-lb:heartbeat'] } }, false],
    ['ec2:AssociateAddress', { arn: ARN('network-interface', 'eni-1'), conditions: vpc }, false],
    ['ec2:ModifyInstanceAttribute', { arn: ARN('instance', 'i-1'), conditions: vpc }, false],
    ['s3:GetObject', { arn: 'arn:aws:s3:::shop-releases/shop/spec.yaml', conditions: {} }, true],
    ['s3:GetObjectVersion', { arn: 'arn:aws:s3:::shop-releases/shop/overlay-lb.deb', conditions: {} }, true],
    ['s3:GetObject', { arn: 'arn:aws:s3:::shop-releases/shop/other.yaml', conditions: {} }, false],
    ['s3:GetObject', { arn: 'arn:aws:s3:::other/shop/spec.yaml', conditions: {} }, false],
    ['s3:PutObject', { arn: 'arn:aws:s3:::shop-releases/shop/spec.yaml', conditions: {} }, false],
    ['s3:ListBucket', { arn: 'arn:aws:s3:::shop-releases', conditions: {} }, false],
    // The rollout: read the desired-version pointers, write the published status; nothing else.
    ['s3:GetObject', { arn: 'arn:aws:s3:::shop-releases/shop/desired/lb-a.json', conditions: {} }, true],
    ['s3:PutObject', { arn: 'arn:aws:s3:::shop-releases/shop/status/lb-a.json', conditions: {} }, true],
    ['s3:PutObject', { arn: 'arn:aws:s3:::shop-releases/shop/desired/lb-a.json', conditions: {} }, false],
    ['s3:GetObject', { arn: 'arn:aws:s3:::shop-releases/shop/status/lb-b.json', conditions: {} }, false],
    ['s3:PutObject', { arn: 'arn:aws:s3:::shop-releases/other/status/lb-a.json', conditions: {} }, false],
    ['s3:DeleteObject', { arn: 'arn:aws:s3:::shop-releases/shop/status/lb-a.json', conditions: {} }, false],
    ['iam:PassRole', { arn: 'arn:aws:iam::123456789012:role/overlay-lb-shop', conditions: {} }, false],
  ];
  for (const [action, resource, allowed] of table) assert.equal(isAllowed(policy, action, [resource]), allowed, `${action} on ${resource.arn} ${JSON.stringify(resource.conditions)}`);
  // No mutation on `*`: the original design's ec2:ReplaceRoute on * is the bug this prevents.
  for (const s of policy.Statement) {
    const actions = typeof s.Action === 'string' ? [s.Action] : s.Action;
    if (s.Resource === '*') assert.deepEqual(actions, ['ec2:Describe*']);
  }
  // Without release objects (nodes installed by hand): no S3 statement at all.
  assert.equal(lbNodePolicy({ arn: ARN, vpcId: 'vpc-0de30000000000001', eipAllocationId: null }).Statement.some((s) => s.Sid === 'ReadRelease'), false);
  assert.deepEqual(EC2_TRUST_POLICY.Statement, [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }]);
});

void test('security group: VRRP and UDP 4789 from the group itself only; each frontend port from its clients; admin from nowhere by default', () => {
  const rules = securityGroupIngress(specOf(), 'sg-0123456789abcdef0');
  assert.deepEqual(rules, [
    { IpProtocol: '112', UserIdGroupPairs: [{ GroupId: 'sg-0123456789abcdef0', Description: 'VRRP between the LB nodes' }] },
    { IpProtocol: 'udp', FromPort: 4789, ToPort: 4789, UserIdGroupPairs: [{ GroupId: 'sg-0123456789abcdef0', Description: 'connection handoff between the LB nodes' }] },
    { IpProtocol: 'tcp', FromPort: 80, ToPort: 80, IpRanges: [{ CidrIp: '0.0.0.0/0', Description: 'frontend web' }] },
    { IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '0.0.0.0/0', Description: 'frontend web' }] },
    { IpProtocol: 'tcp', FromPort: 8443, ToPort: 8443, IpRanges: [{ CidrIp: '10.0.0.0/16', Description: 'frontend api' }, { CidrIp: '10.1.0.0/16', Description: 'frontend api' }] },
  ]);
  // Nothing reaches the admin ports (8404-8406) and nothing but the group reaches 112 and 4789.
  const keys = permissionKeys(rules);
  assert.deepEqual(keys.filter((k) => /:(8404|8405|8406)-/.test(k)), []);
  assert.deepEqual(keys.filter((k) => /^(112|udp:4789-4789) /.test(k)), ['112 from sg-0123456789abcdef0', 'udp:4789-4789 from sg-0123456789abcdef0']);
});

void test('security group table: admin listeners beyond localhost from adminClients; shared ports merge; a port once per rule', () => {
  const cases: { name: string; spec: Spec; tcp: string[] }[] = [
    {
      name: 'stats on node, health on node, agent on localhost',
      spec: specOf({ admin: 'admin:\n  stats: { bind: node, auth: { user: ops, passwordHash: "$6$saltsalt$abcdefghijkl" } }\n  health: { bind: node }', provision: '  imageId: ami-0123456789abcdef0\n  clients: { web: [0.0.0.0/0], api: [0.0.0.0/0] }\n  adminClients: [10.9.0.0/24]\n  bucket: b-1' }),
      tcp: ['tcp:443-443 from 0.0.0.0/0', 'tcp:80-80 from 0.0.0.0/0', 'tcp:8404-8404 from 10.9.0.0/24', 'tcp:8405-8405 from 10.9.0.0/24', 'tcp:8443-8443 from 0.0.0.0/0'],
    },
    {
      name: 'stats disabled: no rule for it',
      spec: specOf({ admin: 'admin:\n  stats: { enabled: false, bind: node }\n  agent: { bind: node, port: 9000 }', provision: '  imageId: ami-0123456789abcdef0\n  clients: { web: [0.0.0.0/0], api: [0.0.0.0/0] }\n  adminClients: [10.9.0.0/24]\n  bucket: b-1' }),
      tcp: ['tcp:443-443 from 0.0.0.0/0', 'tcp:80-80 from 0.0.0.0/0', 'tcp:8443-8443 from 0.0.0.0/0', 'tcp:9000-9000 from 10.9.0.0/24'],
    },
    {
      name: 'two frontends on one port (different addresses) with overlapping clients',
      spec: specOf({ frontends: '  - name: web\n    binds: [{ address: vip, port: 80 }]\n    defaultBackend: app\n  - name: api\n    binds: [{ address: node, port: 80 }]\n    defaultBackend: app', provision: '  imageId: ami-0123456789abcdef0\n  clients: { web: [10.0.0.0/16], api: [10.0.0.0/16, 10.2.0.0/16] }\n  bucket: b-1' }),
      tcp: ['tcp:80-80 from 10.0.0.0/16', 'tcp:80-80 from 10.2.0.0/16'],
    },
  ];
  for (const c of cases) {
    const rules = securityGroupIngress(c.spec, 'sg-1');
    assert.deepEqual(permissionKeys(rules).filter((k) => k.startsWith('tcp')), c.tcp, c.name);
    assert.equal(rules.filter((r) => r.IpProtocol === 'tcp').length, new Set(c.tcp.map((k) => k.split(' ')[0])).size, `${c.name}: one rule per port`);
  }
  // Described rules compare equal whatever their order and descriptions.
  assert.deepEqual(permissionKeys([{ IpProtocol: 'tcp', FromPort: 80, ToPort: 80, IpRanges: [{ CidrIp: '10.2.0.0/16' }, { CidrIp: '10.0.0.0/16', Description: 'x' }] }]), ['tcp:80-80 from 10.0.0.0/16', 'tcp:80-80 from 10.2.0.0/16']);
});

function sh(args: readonly string[], input: string): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(args[0]!, args.slice(1), { timeout: 10_000 }, (error, _stdout, stderr) => resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stderr }));
    child.stdin?.end(input);
  });
}

void test('user-data: values assigned once, single-quoted; syntax checked by sh and bash', async () => {
  const spec = specOf();
  const script = nodeUserData(spec, 'lb-b');
  assert.match(script, /^#!\/bin\/sh\n/);
  for (const line of ["cluster='shop'", "node='lb-b'", "region='eu-west-1'", "bucket='shop-releases'", "spec_key='shop/spec.yaml'", "package_key='shop/overlay-lb.deb'", "endpoint=''"]) {
    assert.ok(script.split('\n').includes(line), `missing ${line}`);
  }
  // Spec values appear nowhere else: every use is through a quoted variable.
  assert.equal(script.split('shop-releases').length, 2);
  assert.match(script, /apt-get install -y -q "\$work\/overlay-lb\.deb"/);
  assert.match(script, /install -m 0640 "\$work\/spec\.yaml" \/etc\/overlay-lb\/spec\.yaml/);
  assert.match(script, /printf 'OVERLAY_LB_NODE=%s\\nOVERLAY_LB_AGENT_ARGS=%s\\n' "\$node" "\$agent_args" > \/etc\/overlay-lb\/agent\.env/);
  // A node of up's release follows its pointers; the CDK construct's (its own release) does not.
  assert.ok(script.split('\n').includes("agent_args='--follow-release'"));
  assert.ok(nodeUserData(spec, 'lb-b', { release: { bucket: 'assets', specKey: 'a.yaml', packageKey: 'b.deb' } }).split('\n').includes("agent_args=''"));
  assert.match(script, /systemctl enable --now overlay-lb-agent/);
  // The lab (OVERLAY_LB_LAB=1) skips only what cannot work there: the index update and awscli
  // (no internet), systemd (the unit's ExecStart, in the background, with agent.env's node).
  assert.match(script, /\nlab=\$\{OVERLAY_LB_LAB:-\}\nif \[ "\$lab" != 1 \]; then\n {2}apt-get update -q\n {2}command -v aws >\/dev\/null 2>&1 \|\| apt-get install -y -q awscli\nelse\n/);
  assert.match(script, /\nif \[ "\$lab" != 1 \]; then\n {2}systemctl enable --now overlay-lb-agent\nelse\n/);
  assert.match(script, /\n {2}agent_node=\$\(sed -n 's\/\^OVERLAY_LB_NODE=\/\/p' \/etc\/overlay-lb\/agent\.env\)\n {2}agent_args=\$\(sed -n 's\/\^OVERLAY_LB_AGENT_ARGS=\/\/p' \/etc\/overlay-lb\/agent\.env\)\n {2}# shellcheck disable=SC2086\n {2}nohup \/usr\/bin\/overlay-lb agent --spec \/etc\/overlay-lb\/spec\.yaml --node "\$agent_node" \$agent_args <\/dev\/null >>\/var\/log\/overlay-lb\/agent\.log 2>&1 &\n/);
  // One GetObject per object (a refusal shows S3's code, AccessDenied), the values quoted.
  assert.equal(script.split('s3api get-object --bucket "$bucket" --key "$s3_key" "$@" "$s3_out" >/dev/null').length, 3);
  // The spec: the version the node's own pointer names (test/cloud/user-data-pointer.test.ts runs
  // it against the lab's S3); a release without pointers (the CDK construct's) reads none.
  assert.ok(script.split('\n').includes("pointer_key='shop/desired/lb-b.json'"));
  assert.ok(nodeUserData(spec, 'lb-b', { release: { bucket: 'assets', specKey: 'a.yaml', packageKey: 'b.deb' } }).split('\n').includes("pointer_key=''"));
  assert.match(script, /\nfetch_spec "\$work"\ninstall -m 0640 "\$work\/spec\.yaml" \/etc\/overlay-lb\/spec\.yaml\n/);
  // The package install and the spec are the same on both.
  assert.equal(script.split('apt-get install -y -q "$work/overlay-lb.deb"').length, 2);
  for (const shell of ['/bin/sh', '/bin/bash']) {
    const r = await sh([shell, '-n'], script);
    assert.equal(r.code, 0, `${shell} -n: ${r.stderr}`);
  }
  // The lab's nodes reach S3 at the lab's endpoint; AWS nodes at AWS's.
  const lab = nodeUserData(specOf({ cloud: '{ provider: lab, region: us-east-1, vpcId: vpc-0de30000000000001 }' }), 'lb-a');
  assert.ok(lab.split('\n').includes("endpoint='http://169.254.169.250'"));
  assert.throws(() => nodeUserData(spec, 'lb-z'), { code: 'SPEC_NODE' });
});

void test('shellQuote refuses every character sh could read, rather than escaping it', () => {
  for (const v of ['a b', "a'b", 'a"b', 'a$b', '$(id)', '`id`', 'a;b', 'a&b', 'a|b', 'a\nb', 'a\\b', 'a*b', 'a?b', 'a[b]', 'a#b', 'a>b', 'a<b', 'a(b', 'a!b', 'é']) {
    assert.throws(() => shellQuote(v, 'the value'), { code: 'SPEC_UNSAFE_VALUE' }, JSON.stringify(v));
  }
  for (const v of ['', 'lb-a', 'http://169.254.169.250:8080/', 'shop/spec.yaml', 'a.b_c~d@e%f+g=h,i']) assert.equal(shellQuote(v, 'the value'), `'${v}'`);
});

void test('the RunInstances input of a node: its subnet and address, the group and profile, IMDSv2 required, its user-data, owned tags, a stable token', () => {
  const spec = specOf();
  const options = { subnetId: 'subnet-0123456789abcdef0', securityGroupId: 'sg-0123456789abcdef0', instanceProfile: 'overlay-lb-shop' };
  const input = nodeLaunchInput(spec, 'lb-b', options);
  const tags = [{ Key: 'overlay-lb:cluster', Value: 'shop' }, { Key: NODE_TAG, Value: 'lb-b' }, { Key: 'Name', Value: 'shop-lb-b' }];
  const { ClientToken, UserData, ...rest } = input;
  assert.deepEqual(rest, {
    ImageId: 'ami-0123456789abcdef0', InstanceType: 't3.small', MinCount: 1, MaxCount: 1,
    SubnetId: 'subnet-0123456789abcdef0', PrivateIpAddress: '10.0.2.10', SecurityGroupIds: ['sg-0123456789abcdef0'],
    IamInstanceProfile: { Name: 'overlay-lb-shop' },
    MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 1 },
    TagSpecifications: [{ ResourceType: 'instance', Tags: tags }, { ResourceType: 'network-interface', Tags: tags }],
  });
  assert.equal(Buffer.from(UserData ?? '', 'base64').toString('utf8'), nodeUserData(spec, 'lb-b'));
  // The token: at most 64 characters, the same for the same launch, another for another node,
  // another launch parameter or a replacement (other terminated instances replaced; their order
  // does not count).
  assert.match(ClientToken ?? '', /^olb-[0-9a-f]{40}$/);
  assert.equal(nodeLaunchInput(spec, 'lb-b', options).ClientToken, ClientToken);
  const others = [
    nodeLaunchInput(spec, 'lb-a', options).ClientToken,
    nodeLaunchInput(spec, 'lb-b', { ...options, subnetId: 'subnet-0123456789abcdef1' }).ClientToken,
    nodeLaunchInput(spec, 'lb-b', { ...options, replaces: ['i-0123456789abcdef0'] }).ClientToken,
    nodeLaunchInput(spec, 'lb-b', { ...options, replaces: ['i-0123456789abcdef0', 'i-0123456789abcdef1'] }).ClientToken,
    nodeLaunchInput(specOf({ provision: '  imageId: ami-0123456789abcdef1\n  clients: { web: [0.0.0.0/0], api: [10.0.0.0/16, 10.1.0.0/16] }\n  bucket: shop-releases' }), 'lb-b', options).ClientToken,
  ];
  assert.equal(new Set([ClientToken, ...others]).size, 6);
  assert.equal(nodeLaunchInput(spec, 'lb-b', { ...options, replaces: ['i-0123456789abcdef1', 'i-0123456789abcdef0'] }).ClientToken, others[3]);
});

void test('ingressChanges: what to authorize and revoke to converge a group, per (protocol, ports, source); descriptions do not count', () => {
  const desired = securityGroupIngress(specOf(), 'sg-1');
  const cases: { name: string; described: IpPermission[]; summary: string[] }[] = [
    { name: 'a new group: everything authorized', described: [], summary: permissionKeys(desired).map((k) => `allow ${k}`).sort() },
    { name: 'as derived: nothing', described: desired, summary: [] },
    { name: 'as derived, other descriptions and CIDRs split over rules: nothing', described: desired.flatMap((r) => (r.IpRanges ?? []).length > 0 ? (r.IpRanges ?? []).map((x) => ({ ...r, IpRanges: [{ CidrIp: x.CidrIp, Description: 'someone' }] })) : [r]), summary: [] },
    {
      name: 'an extra CIDR on a frontend port, an extra port, an IPv6 range, a prefix list and another group: revoked',
      described: [...desired, { IpProtocol: 'tcp', FromPort: 80, ToPort: 80, IpRanges: [{ CidrIp: '198.51.100.0/24' }] }, { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '10.0.0.0/8' }] },
        { IpProtocol: '-1', Ipv6Ranges: [{ CidrIpv6: '::/0' }] }, { IpProtocol: 'tcp', FromPort: 443, ToPort: 443, PrefixListIds: [{ PrefixListId: 'pl-1' }] }, { IpProtocol: '112', UserIdGroupPairs: [{ GroupId: 'sg-2' }] }],
      summary: ['revoke -1 from ::/0', 'revoke 112 from sg-2', 'revoke tcp:22-22 from 10.0.0.0/8', 'revoke tcp:443-443 from pl-1', 'revoke tcp:80-80 from 198.51.100.0/24'],
    },
    {
      name: 'VRRP missing (the original design\'s bug), handoff open to a CIDR instead of the group',
      described: desired.filter((r) => r.IpProtocol === 'tcp').concat([{ IpProtocol: 'udp', FromPort: 4789, ToPort: 4789, IpRanges: [{ CidrIp: '10.0.0.0/16' }] }]),
      summary: ['allow 112 from sg-1', 'allow udp:4789-4789 from sg-1', 'revoke udp:4789-4789 from 10.0.0.0/16'],
    },
    { name: 'ports described as -1 for a protocol without ports (112): the same rule', described: desired.map((r) => (r.IpProtocol === '112' ? { ...r, FromPort: -1, ToPort: -1 } : r)), summary: [] },
  ];
  for (const c of cases) {
    const got = ingressChanges(desired, c.described);
    assert.deepEqual([...got.summary].sort(), [...c.summary].sort(), c.name);
    // Each rule to authorize or revoke has exactly one source, and authorizing keeps the descriptions.
    for (const r of [...got.authorize, ...got.revoke]) {
      assert.equal((r.IpRanges ?? []).length + (r.UserIdGroupPairs ?? []).length + (r.Ipv6Ranges ?? []).length + (r.PrefixListIds ?? []).length, 1, c.name);
    }
    for (const r of got.authorize) assert.ok([...(r.IpRanges ?? []), ...(r.UserIdGroupPairs ?? [])].every((x) => x.Description !== undefined), c.name);
  }
});

void test('classifyVipRoute: absent, the cluster\'s (any node: the agents move it), blackhole left by a node (re-pointed), someone else\'s, blackhole or not (a conflict with its fix)', () => {
  // lb-a's first instance i-old (interface eni-old, recorded in its tag) was terminated; i-gone is described without a recorded interface.
  const owned = { instanceIds: new Set(['i-a', 'i-b']), networkInterfaceIds: new Set(['eni-a', 'eni-b']), former: { instanceIds: new Set(['i-a', 'i-b', 'i-old', 'i-gone']), networkInterfaceIds: new Set(['eni-a', 'eni-b', 'eni-old']) } };
  const where = { table: 'rtb-1', cidr: '192.168.100.10/32' };
  const cases: { name: string; route: FoundVipRoute | null; state: string; changes?: string[]; reason?: RegExp }[] = [
    { name: 'no route', route: null, state: 'absent' },
    { name: 'to the first node', route: { networkInterfaceId: 'eni-a', instanceId: 'i-a', blackhole: false }, state: 'owned', changes: [] },
    { name: 'to the other node (after a failover)', route: { networkInterfaceId: 'eni-b', blackhole: false }, state: 'owned', changes: [] },
    { name: 'by instance id only', route: { instanceId: 'i-b', blackhole: false }, state: 'owned', changes: [] },
    { name: 'blackhole (a terminated node\'s interface, as up recorded it)', route: { networkInterfaceId: 'eni-old', blackhole: true }, state: 'owned', changes: ['blackhole: its target eni-old is gone; point it at a node'] },
    { name: 'blackhole naming a terminated node\'s instance', route: { networkInterfaceId: 'eni-unrecorded', instanceId: 'i-gone', blackhole: true }, state: 'owned', changes: ['blackhole: its target eni-unrecorded is gone; point it at a node'] },
    { name: 'blackhole left by a stopped node: the agents\' to move', route: { networkInterfaceId: 'eni-b', instanceId: 'i-b', blackhole: true }, state: 'owned', changes: [] },
    { name: 'blackhole left by someone else\'s interface', route: { networkInterfaceId: 'eni-x', blackhole: true }, state: 'foreign', reason: /^route table rtb-1 already routes 192\.168\.100\.10\/32 to eni-x, a blackhole \(its target is gone\) that was none of this cluster's nodes$/ },
    { name: 'blackhole left by someone else\'s instance', route: { instanceId: 'i-x', blackhole: true }, state: 'foreign', reason: /to i-x, a blackhole/ },
    { name: 'blackhole to a deleted gateway', route: { otherTarget: 'nat-1', blackhole: true }, state: 'foreign', reason: /to nat-1, a blackhole/ },
    { name: 'to another interface', route: { networkInterfaceId: 'eni-x', instanceId: 'i-x', blackhole: false }, state: 'foreign', reason: /^route table rtb-1 already routes 192\.168\.100\.10\/32 to eni-x, which is none of this cluster's nodes$/ },
    { name: 'to a gateway', route: { otherTarget: 'igw-1', blackhole: false }, state: 'foreign', reason: /to igw-1,/ },
  ];
  for (const c of cases) {
    const got = classifyVipRoute(c.route, owned, where);
    assert.equal(got.state, c.state, c.name);
    if (got.state === 'owned') assert.deepEqual(got.changes, c.changes, c.name);
    if (got.state === 'foreign') {
      assert.match(got.reason, c.reason ?? /./, c.name);
      assert.match(got.fix, /aws ec2 delete-route --route-table-id rtb-1 --destination-cidr-block 192\.168\.100\.10\/32/, c.name);
    }
  }
});
