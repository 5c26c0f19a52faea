// The IMDS hop limit (MetadataOptions.HttpPutResponseHopLimit) in a real lab (`lab up --bare`,
// root, under the shared lock), as EC2 enforces it: the IP TTL of the answer to the token PUT.
// A namespace routed behind an instance and NATed by it (as a container on the instance is)
// gets no token at hop limit 1 while the instance does, and gets one at 2 after
// ModifyInstanceMetadataOptions (SDK, then back to 1 with the aws CLI v2); IMDSv1 GETs from
// behind the instance are not limited, as on EC2. Pure part: the chain's iptables-restore text.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DescribeInstancesCommand, ModifyInstanceMetadataOptionsCommand, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { LAB_IMAGE_ID } from '../../src/lab/ec2/state.js';
import { IMDS_HOP_LIMIT_CHAIN, imdsHopLimitRestore } from '../../src/lab/imds/hop-limit.js';
import { execIn, runCommand } from '../../src/lab/netns.js';
import { apiInstanceNamespace } from '../../src/lab/topology.js';
import { needsRoot as skip, startBareLab, waitFor } from '../helpers/bare-lab.js';
import { awsCli } from '../helpers/aws-cli.js';
import { rejectsWithSdkError as rejectsWith } from '../helpers/sdk-errors.js';

void test('imdsHopLimitRestore: one TTL rule per instance on the token answer\'s header line; bad entries refused', () => {
  assert.equal(imdsHopLimitRestore([{ privateIp: '10.0.1.5', hopLimit: 2 }]), [
    '*mangle', `:${IMDS_HOP_LIMIT_CHAIN} - [0:0]`,
    `-A ${IMDS_HOP_LIMIT_CHAIN} -d 10.0.1.5/32 -m string --algo bm --hex-string "|0d0a|x-aws-ec2-metadata-token-ttl-seconds:" -j TTL --ttl-set 2`,
    'COMMIT', '',
  ].join('\n'));
  assert.equal(imdsHopLimitRestore([]), `*mangle\n:${IMDS_HOP_LIMIT_CHAIN} - [0:0]\nCOMMIT\n`);
  assert.throws(() => imdsHopLimitRestore([{ privateIp: '10.0.1.5; x', hopLimit: 1 }]));
  assert.throws(() => imdsHopLimitRestore([{ privateIp: '10.0.1.5', hopLimit: 0 }]));
});

void test('hop limit 1: the instance gets a token, a namespace behind it does not; 2: it does; IMDSv1 is not limited', { skip, timeout: 600_000 }, async (t) => {
  // The namespace behind the instance: a name of this test's own, removed also when it fails.
  const behind = `l18hop${process.pid}`.slice(0, 14);
  const [inner, outer] = [`l18h${process.pid}a`.slice(0, 15), `l18h${process.pid}b`.slice(0, 15)];
  const signal = AbortSignal.timeout(540_000);
  t.after(() => runCommand(['ip', 'netns', 'del', behind], { signal: AbortSignal.timeout(30_000), allowFailure: true }));
  const { lab, ec2, region } = await startBareLab(t, { tag: 'l18h' });
  const subnet = lab.plan.subnets.find((s) => s.role === 'lb')!;
  const run = await ec2.send(new RunInstancesCommand({ ImageId: LAB_IMAGE_ID, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1, SubnetId: subnet.id }));
  const id = run.Instances![0]!.InstanceId!;
  // EC2's default hop limit is 1.
  assert.equal(run.Instances![0]!.MetadataOptions?.HttpPutResponseHopLimit, 1);
  await waitFor('the instance running', async () => (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations?.[0]?.Instances?.[0]?.State?.Name, (s) => s === 'running');
  const instance = apiInstanceNamespace(lab.plan, id);

  // A "container": a namespace on a veth behind the instance, NATed to the instance's address.
  const sh = (ns: string, argv: readonly string[]): Promise<unknown> => runCommand(execIn(ns, argv), { signal });
  await runCommand(['ip', 'netns', 'add', behind], { signal });
  await runCommand(['ip', 'link', 'add', inner, 'type', 'veth', 'peer', 'name', outer], { signal });
  await runCommand(['ip', 'link', 'set', inner, 'netns', instance], { signal });
  await runCommand(['ip', 'link', 'set', outer, 'netns', behind], { signal });
  await sh(instance, ['ip', 'addr', 'add', '192.168.231.1/30', 'dev', inner]);
  await sh(instance, ['ip', 'link', 'set', inner, 'up']);
  await sh(instance, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
  await sh(instance, ['iptables', '-w', '5', '-t', 'nat', '-A', 'POSTROUTING', '-s', '192.168.231.0/30', '-j', 'MASQUERADE']);
  await sh(behind, ['ip', 'link', 'set', 'lo', 'up']);
  await sh(behind, ['ip', 'addr', 'add', '192.168.231.2/30', 'dev', outer]);
  await sh(behind, ['ip', 'link', 'set', outer, 'up']);
  await sh(behind, ['ip', 'route', 'add', 'default', 'via', '192.168.231.1']);

  const curl = (ns: string, args: readonly string[], seconds: number): Promise<{ code: number; stdout: string }> =>
    runCommand(execIn(ns, ['curl', '-s', '-m', String(seconds), ...args]), { signal, allowFailure: true });
  const token = (ns: string, seconds: number): Promise<{ code: number; stdout: string }> =>
    curl(ns, ['-X', 'PUT', '-H', 'X-aws-ec2-metadata-token-ttl-seconds: 60', 'http://169.254.169.254/latest/api/token'], seconds);
  /** The instance's count of packets it could not forward for their TTL (IP InHdrErrors, /proc/net/snmp). */
  const ttlDrops = async (): Promise<number> => {
    const { stdout } = await runCommand(execIn(instance, ['cat', '/proc/net/snmp']), { signal });
    const [names, values] = stdout.split('\n').filter((l) => l.startsWith('Ip:'));
    return Number(values!.split(/\s+/)[names!.split(/\s+/).indexOf('InHdrErrors')]);
  };

  // Hop limit 1: the instance gets its token.
  const own = await token(instance, 30);
  assert.equal(own.code, 0);
  assert.match(own.stdout, /^[A-Za-z0-9_-]{20,}$/);
  // From behind: the path works (IMDSv1 GET answers, with the instance's identity: it is NATed)...
  const v1 = await curl(behind, ['http://169.254.169.254/latest/meta-data/instance-id'], 30);
  assert.deepEqual(v1, { code: 0, stdout: id, stderr: '' });
  // ...but the token's answer dies at the instance's forwarding hop: curl times out (28), and the
  // instance counted the TTL drops.
  const dropsBefore = await ttlDrops();
  const denied = await token(behind, 10);
  assert.equal(denied.code, 28, `expected a timeout, got ${JSON.stringify(denied)}`);
  assert.ok(await ttlDrops() > dropsBefore, 'the instance dropped the token answer for its TTL');

  // Hop limit 2 (SDK): from behind the instance, the token comes.
  const modified = await ec2.send(new ModifyInstanceMetadataOptionsCommand({ InstanceId: id, HttpPutResponseHopLimit: 2 }));
  assert.equal(modified.InstanceId, id);
  assert.deepEqual({ ...modified.InstanceMetadataOptions }, {
    State: 'pending', HttpTokens: 'optional', HttpPutResponseHopLimit: 2, HttpEndpoint: 'enabled', HttpProtocolIpv6: 'disabled', InstanceMetadataTags: 'disabled',
  });
  const allowed = await waitFor('a token from behind the instance', () => token(behind, 30), (r) => r.code === 0);
  assert.match(allowed.stdout, /^[A-Za-z0-9_-]{20,}$/);
  const described = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
  assert.equal(described.Reservations?.[0]?.Instances?.[0]?.MetadataOptions?.HttpPutResponseHopLimit, 2);
  assert.equal(described.Reservations?.[0]?.Instances?.[0]?.MetadataOptions?.State, 'applied');

  // Back to 1 with the aws CLI v2: denied again.
  const cli = await awsCli({ region, creds: { key: lab.adminCredentials.accessKeyId, secret: lab.adminCredentials.secretAccessKey } });
  t.after(() => cli.close());
  assert.match((await cli.run(['--version'])).stdout, /^aws-cli\/2\./);
  const back = await cli.run(['ec2', 'modify-instance-metadata-options', '--instance-id', id, '--http-put-response-hop-limit', '1', '--endpoint-url', lab.apiUrl, '--output', 'json']);
  assert.equal(back.code, 0, back.stderr);
  assert.equal((JSON.parse(back.stdout) as { InstanceMetadataOptions: { HttpPutResponseHopLimit: number } }).InstanceMetadataOptions.HttpPutResponseHopLimit, 1);
  await waitFor('the token denied again from behind the instance', () => token(behind, 10), (r) => r.code === 28);
  assert.equal((await token(instance, 30)).code, 0);

  // Errors: out of range, unknown instance, a bad choice; nothing changes.
  await rejectsWith(ec2.send(new ModifyInstanceMetadataOptionsCommand({ InstanceId: id, HttpPutResponseHopLimit: 65 })), 'InvalidParameterValue', 400, /HttpPutResponseHopLimit is invalid\. Allowed: 1 to 64/);
  await rejectsWith(ec2.send(new ModifyInstanceMetadataOptionsCommand({ InstanceId: 'i-00000000000000999', HttpPutResponseHopLimit: 2 })), 'InvalidInstanceID.NotFound', 400);
  const badTokens = await cli.run(['ec2', 'modify-instance-metadata-options', '--instance-id', id, '--http-tokens', 'sometimes', '--endpoint-url', lab.apiUrl]);
  assert.notEqual(badTokens.code, 0);
  assert.equal((await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations?.[0]?.Instances?.[0]?.MetadataOptions?.HttpPutResponseHopLimit, 1);
});
