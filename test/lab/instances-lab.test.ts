// Instances that boot, in a real lab (`lab up --bare`, root, under the shared lock): a role, its
// policy and instance profile made through IAM, two instances run through the EC2 API whose
// user-data (run once as root in each instance's namespace, as cloud-init does) reads the IMDS,
// writes a marker and starts an HTTP server; a client in another subnet reaches them; the
// instance's IMDS credentials can call exactly what its role allows; a terminate under load cuts
// the open connection and removes the namespace; stop/start; the iam-propagation fault; and
// `lab down` leaves nothing (namespaces, links, processes).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  AuthorizeSecurityGroupIngressCommand, CreateSecurityGroupCommand, DescribeInstancesCommand, DescribeVpcsCommand, EC2Client, GetConsoleOutputCommand, ModifyInstanceAttributeCommand, RunInstancesCommand, StartInstancesCommand,
  StopInstancesCommand, TerminateInstancesCommand, type Instance,
} from '@aws-sdk/client-ec2';
import { LAB_IMAGE_ID } from '../../src/lab/ec2/state.js';
import { apiInstanceNamespace } from '../../src/lab/topology.js';
import { createInstanceRole, needsRoot as skip, processesMentioning, startBareLab, waitFor } from '../helpers/bare-lab.js';
import { rejectsWithSdkError as rejectsWith } from '../helpers/sdk-errors.js';
import { AWS_CLI } from '../helpers/aws-cli.js';

void test('instances launched through the API boot from user-data, serve, use their role, terminate under load; lab down leaves nothing', { skip, timeout: 600_000 }, async (t) => {
  const { lab, ec2, iam, region, before, ...bare } = await startBareLab(t, { tag: 'olbi' });
  const www = await bare.tempDir('www');
  const signal = AbortSignal.timeout(540_000);

  // The role may describe instances, nothing else.
  await createInstanceRole(iam, { name: 'web', policyName: 'describe', policy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'ec2:DescribeInstances', Resource: '*' }] } });

  // IAM propagation: with the fault on, the new profile is unknown to RunInstances (as AWS answers).
  const subnet = lab.plan.subnets.find((s) => s.role === 'lb')!;
  // Their group lets clients reach the server's port (the VPC's default group, which an instance
  // gets without SecurityGroupIds, admits only its own members; test/lab/instances-sg.test.ts).
  const { GroupId: web } = await ec2.send(new CreateSecurityGroupCommand({ GroupName: 'web', Description: 'web servers', VpcId: lab.plan.vpc.id }));
  await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: web, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 8080, ToPort: 8080, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] }));
  const launch = {
    ImageId: LAB_IMAGE_ID, InstanceType: 't3.micro' as const, MinCount: 2, MaxCount: 2, SubnetId: subnet.id, SecurityGroupIds: [web!],
    IamInstanceProfile: { Name: 'web' }, MetadataOptions: { HttpTokens: 'required' as const },
    TagSpecifications: [{ ResourceType: 'instance' as const, Tags: [{ Key: 'Name', Value: 'web' }] }],
    UserData: Buffer.from([
      '#!/bin/sh',
      'set -eu',
      'TOKEN=$(curl -s -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 60" http://169.254.169.254/latest/api/token)',
      'ID=$(curl -s -H "X-aws-ec2-metadata-token: $TOKEN" http://169.254.169.254/latest/meta-data/instance-id)',
      `mkdir -p ${www}/$ID`,
      `echo "served by $ID" > ${www}/$ID/index.html`,
      // Far more than the socket buffers of both ends hold (a few MB each): the server is still
      // sending, its socket established, when the instance is terminated.
      `head -c 64000000 /dev/zero > ${www}/$ID/big`,
      'echo "user-data ran on $ID as $(id -un) lab=${OVERLAY_LB_LAB:-}"',
      `nohup /usr/bin/python3 -m http.server 8080 --directory ${www}/$ID >/dev/null 2>&1 &`,
      'echo "http server started"',
      '',
    ].join('\n')).toString('base64'),
  };
  await lab.faults.inject({ kind: 'iam-propagation', ms: 600_000 });
  await rejectsWith(ec2.send(new RunInstancesCommand(launch)), 'InvalidParameterValue', 400, /Value \(web\) for parameter iamInstanceProfile\.name is invalid\. Invalid IAM Instance Profile name/);
  await lab.faults.clear({ kind: 'iam-propagation', ms: 600_000 });

  const run = await ec2.send(new RunInstancesCommand(launch));
  const ids = run.Instances!.map((i) => i.InstanceId!);
  assert.equal(ids.length, 2);
  assert.deepEqual(run.Instances!.map((i) => i.State?.Name), ['pending', 'pending']);
  const describe = async (): Promise<Instance[]> => ((await ec2.send(new DescribeInstancesCommand({ InstanceIds: ids }))).Reservations ?? []).flatMap((r) => r.Instances ?? []);
  const running = await waitFor('both instances running', describe, (list) => list.every((i) => i.State?.Name === 'running'));
  const [a, b] = running;
  assert.ok(a !== undefined && b !== undefined);

  // User-data ran once as root with the lab marker; its output is the console log (base64 on the wire).
  const consoleOf = async (id: string): Promise<string> => Buffer.from((await ec2.send(new GetConsoleOutputCommand({ InstanceId: id }))).Output ?? '', 'base64').toString('utf8');
  for (const instance of running) {
    const text = await waitFor(`console of ${instance.InstanceId}`, () => consoleOf(instance.InstanceId!), (c) => c.includes('Cloud-init v. lab finished'));
    assert.match(text, new RegExp(`user-data ran on ${instance.InstanceId} as root lab=1`));
    assert.match(text, /http server started/);
    assert.ok(existsSync(join(www, instance.InstanceId!, 'index.html')), 'the marker the user-data wrote');
  }

  // A client in another subnet (another AZ) reaches each instance's server.
  const client = lab.plan.instances.find((i) => i.role === 'client' && i.az !== subnet.az)!;
  const curl = (args: readonly string[]): Promise<{ code: number; stdout: string }> => lab.exec(client.name, ['curl', '-s', '-m', '5', ...args], { signal, allowFailure: true });
  for (const instance of running) {
    const answer = await waitFor(`the server of ${instance.InstanceId}`, () => curl([`http://${instance.PrivateIpAddress!}:8080/`]), (r) => r.code === 0);
    assert.equal(answer.stdout.trim(), `served by ${instance.InstanceId}`);
  }

  // The instance's role, from inside: the aws CLI takes the IMDS credentials (IMDSv2, as HttpTokens requires).
  const awsIn = (id: string, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    lab.exec(id, ['env', '-i', 'PATH=/usr/bin:/bin', `HOME=${www}`, `AWS_DEFAULT_REGION=${region}`, 'AWS_MAX_ATTEMPTS=1', AWS_CLI, ...args, '--endpoint-url', 'http://169.254.169.250'], { signal, allowFailure: true, timeoutMs: 60_000 });
  const allowed = await awsIn(a.InstanceId!, ['ec2', 'describe-instances', '--instance-ids', a.InstanceId!, '--query', 'Reservations[].Instances[].InstanceId', '--output', 'text']);
  assert.equal(allowed.code, 0, allowed.stderr);
  assert.equal(allowed.stdout.trim(), a.InstanceId);
  const denied = await awsIn(a.InstanceId!, ['ec2', 'terminate-instances', '--instance-ids', b.InstanceId!]);
  assert.equal(denied.code, 254);
  assert.match(denied.stderr, /\(UnauthorizedOperation\)/);
  // The same credentials from the host, with the SDK: exactly what the role allows.
  const imds = (path: string, token: string): Promise<{ stdout: string }> => lab.exec(a.InstanceId!, ['curl', '-s', '-H', `X-aws-ec2-metadata-token: ${token}`, `http://169.254.169.254/latest/${path}`], { signal });
  const v1 = await lab.exec(a.InstanceId!, ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', 'http://169.254.169.254/latest/meta-data/instance-id'], { signal });
  assert.equal(v1.stdout, '401', 'HttpTokens=required refuses IMDSv1');
  const token = (await lab.exec(a.InstanceId!, ['curl', '-s', '-X', 'PUT', '-H', 'X-aws-ec2-metadata-token-ttl-seconds: 60', 'http://169.254.169.254/latest/api/token'], { signal })).stdout;
  const creds = JSON.parse((await imds('meta-data/iam/security-credentials/web', token)).stdout) as { AccessKeyId: string; SecretAccessKey: string; Token: string };
  const asRole = new EC2Client({ region, endpoint: lab.apiUrl, maxAttempts: 1, credentials: { accessKeyId: creds.AccessKeyId, secretAccessKey: creds.SecretAccessKey, sessionToken: creds.Token } });
  t.after(() => asRole.destroy());
  assert.equal((await asRole.send(new DescribeInstancesCommand({ InstanceIds: [a.InstanceId!] }))).Reservations?.[0]?.Instances?.[0]?.InstanceId, a.InstanceId);
  await rejectsWith(asRole.send(new DescribeVpcsCommand({})), 'UnauthorizedOperation', 403);
  assert.equal((await imds('user-data', token)).stdout.split('\n')[0], '#!/bin/sh');

  // Terminate under load: a download in progress is cut, the namespace and its processes go.
  const download = curl(['-o', '/dev/null', '--limit-rate', '200k', '-m', '120', '-w', '%{size_download}', `http://${a.PrivateIpAddress!}:8080/big`]);
  await waitFor('the download to be under way', () => lab.exec(a.InstanceId!, ['ss', '-Htn', 'state', 'established', '( sport = :8080 )'], { signal }), (r) => r.stdout.trim() !== '');
  const terminating = await ec2.send(new TerminateInstancesCommand({ InstanceIds: [a.InstanceId!] }));
  assert.deepEqual(terminating.TerminatingInstances?.[0]?.CurrentState, { Code: 32, Name: 'shutting-down' });
  const cut = await download;
  assert.notEqual(cut.code, 0, 'the connection is cut');
  assert.ok(Number(cut.stdout) < 64_000_000, `only part of the download arrived: ${cut.stdout}`);
  const gone = await waitFor('terminated', describe, (list) => list.find((i) => i.InstanceId === a.InstanceId)?.State?.Name === 'terminated');
  assert.deepEqual(gone.find((i) => i.InstanceId === a.InstanceId)?.NetworkInterfaces, []);
  const namespaces = (await lab.exec('router', ['ip', 'netns', 'list'], { signal })).stdout;
  assert.doesNotMatch(namespaces, new RegExp(apiInstanceNamespace(lab.plan, a.InstanceId!)));
  assert.deepEqual(await processesMentioning(join(www, a.InstanceId!)), []);
  assert.notEqual((await curl([`http://${a.PrivateIpAddress!}:8080/`])).code, 0);

  // Its address is free again: a new instance (another ENI, another MAC) gets it and serves on it.
  const reborn = await ec2.send(new RunInstancesCommand({ ...launch, MinCount: 1, MaxCount: 1, PrivateIpAddress: a.PrivateIpAddress! }));
  const rebornId = reborn.Instances![0]!.InstanceId!;
  const served = await waitFor('the new instance on the old address', () => curl([`http://${a.PrivateIpAddress!}:8080/`]), (r) => r.code === 0);
  assert.equal(served.stdout.trim(), `served by ${rebornId}`);

  // The source/destination check of an API instance's ENI is the router's, as for the lab's own nodes.
  const sdcRules = async (): Promise<string> => (await lab.exec('router', ['iptables', '-w', '5', '-S', 'OLB-SDC'], { signal })).stdout;
  const eniB = b.NetworkInterfaces![0]!.NetworkInterfaceId!;
  assert.match(await sdcRules(), new RegExp(`sdc:${eniB}`));
  await ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: b.InstanceId!, SourceDestCheck: { Value: false } }));
  await lab.settled();
  assert.doesNotMatch(await sdcRules(), new RegExp(`sdc:${eniB}`));

  // Stop and start: processes stop, user-data is not run again (cloud-init runs it once).
  await ec2.send(new StopInstancesCommand({ InstanceIds: [b.InstanceId!] }));
  await waitFor('stopped', describe, (list) => list.find((i) => i.InstanceId === b.InstanceId)?.State?.Name === 'stopped');
  assert.deepEqual(await processesMentioning(join(www, b.InstanceId!)), []);
  assert.notEqual((await curl([`http://${b.PrivateIpAddress!}:8080/`])).code, 0);
  await ec2.send(new StartInstancesCommand({ InstanceIds: [b.InstanceId!] }));
  await waitFor('running again', describe, (list) => list.find((i) => i.InstanceId === b.InstanceId)?.State?.Name === 'running');
  // Its link is up again: it reaches its IMDS.
  await waitFor('the restarted instance on its network', () => lab.exec(b.InstanceId!, ['curl', '-s', '-m', '2', '-X', 'PUT', '-H', 'X-aws-ec2-metadata-token-ttl-seconds: 60', 'http://169.254.169.254/latest/api/token'], { signal, allowFailure: true }), (r) => r.code === 0);
  await lab.controller.instances.settled();
  assert.equal((await consoleOf(b.InstanceId!)).match(/user-data ran on/g)?.length, 1);
  // Something started in the running instance (as user-data would) is the instance's: lab down stops it.
  await lab.spawn(b.InstanceId!, ['/usr/bin/python3', '-m', 'http.server', '8080', '--directory', join(www, b.InstanceId!)], { signal, label: 'test server' });
  assert.equal((await processesMentioning(join(www, b.InstanceId!))).length, 1);

  await lab.close();
  assert.deepEqual(await bare.leftovers(), before);
  assert.deepEqual(await processesMentioning(www), []);
});
