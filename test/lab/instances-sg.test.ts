// An instance launched through the API is filtered by its security groups from boot, in a real lab
// (`lab up --bare`, root, under the shared lock): its user-data starts an HTTP server on a port its
// group does not allow, so a client in another subnet times out connecting, to the instance's
// address and to a VIP routed to its ENI (the route's realm is the instance's); the server answers
// inside the instance all along. AuthorizeSecurityGroupIngress of the port lets the client in.
// DeleteSecurityGroup is DependencyViolation while the instance's ENI is in the group (also through
// /usr/bin/aws) and succeeds once the instance is terminated. `lab down` leaves nothing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AuthorizeSecurityGroupIngressCommand, CreateRouteCommand, CreateSecurityGroupCommand, DeleteSecurityGroupCommand, DescribeInstancesCommand,
  GetConsoleOutputCommand, ModifyInstanceAttributeCommand, ReplaceRouteCommand, RunInstancesCommand, TerminateInstancesCommand,
  type Instance,
} from '@aws-sdk/client-ec2';
import { LAB_IMAGE_ID } from '../../src/lab/ec2/state.js';
import { needsRoot as skip, startBareLab, waitFor } from '../helpers/bare-lab.js';
import { rejectsWithSdkError as rejectsWith } from '../helpers/sdk-errors.js';
import { awsCli } from '../helpers/aws-cli.js';

const PORT = 8080;

void test('a RunInstances instance is filtered by its security group: no port, no connection; authorized, served; the group is in use until terminate', { skip, timeout: 600_000 }, async (t) => {
  const { lab, ec2, region, before, ...bare } = await startBareLab(t, { tag: 'olbs' });
  const www = await bare.tempDir('www');
  const signal = AbortSignal.timeout(540_000);

  // A group without the server's port (CreateSecurityGroup gives all egress, no ingress).
  const { GroupId: groupId } = await ec2.send(new CreateSecurityGroupCommand({ GroupName: 'web', Description: 'web servers', VpcId: lab.plan.vpc.id }));
  assert.ok(groupId !== undefined);
  const subnet = lab.plan.subnets.find((s) => s.role === 'lb')!;
  const vip = lab.plan.vip;
  const run = await ec2.send(new RunInstancesCommand({
    ImageId: LAB_IMAGE_ID, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1, SubnetId: subnet.id, SecurityGroupIds: [groupId],
    UserData: Buffer.from([
      '#!/bin/sh',
      'set -eu',
      `mkdir -p ${www}/site && echo "served by $OVERLAY_LB_LAB_INSTANCE_ID" > ${www}/site/index.html`,
      // The VIP as an LB node holds it: on lo, so traffic routed to this ENI for it is accepted.
      `ip addr add ${vip}/32 dev lo`,
      `nohup /usr/bin/python3 -m http.server ${PORT} --directory ${www}/site >/dev/null 2>&1 &`,
      'echo "http server started"',
      '',
    ].join('\n')).toString('base64'),
  }));
  const instanceId = run.Instances![0]!.InstanceId!;
  assert.deepEqual(run.Instances![0]!.SecurityGroups, [{ GroupId: groupId, GroupName: 'web' }]);
  const describe = async (): Promise<Instance | undefined> => (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }))).Reservations?.[0]?.Instances?.[0];
  const instance = (await waitFor('running', describe, (i) => i?.State?.Name === 'running'))!;
  assert.deepEqual(instance.NetworkInterfaces?.[0]?.Groups, [{ GroupId: groupId, GroupName: 'web' }]);
  const address = instance.PrivateIpAddress!;
  await waitFor('the user-data to finish', async () => Buffer.from((await ec2.send(new GetConsoleOutputCommand({ InstanceId: instanceId }))).Output ?? '', 'base64').toString('utf8'),
    (text) => text.includes('Cloud-init v. lab finished'));
  // The server answers inside the instance (nothing filters that): the refusals below are the group's.
  const local = await waitFor('the server inside the instance', () => lab.exec(instanceId, ['curl', '-s', '-m', '5', `http://127.0.0.1:${PORT}/`], { signal, allowFailure: true }), (r) => r.code === 0);
  assert.equal(local.stdout.trim(), `served by ${instanceId}`);

  // The VIP routed to the instance's ENI from the client's route table, as a failover claim does.
  await ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: instanceId, SourceDestCheck: { Value: false } }));
  const client = lab.plan.instances.find((i) => i.role === 'client' && i.az !== subnet.az)!;
  const routeTableId = lab.plan.subnets.find((s) => s.id === client.eni.subnetId)!.routeTableId;
  const eniId = instance.NetworkInterfaces[0].NetworkInterfaceId!;
  const route = { RouteTableId: routeTableId, DestinationCidrBlock: `${vip}/32`, NetworkInterfaceId: eniId };
  await ec2.send(new CreateRouteCommand(route)).catch(async (error: unknown) => {
    if ((error as { name?: string }).name !== 'RouteAlreadyExists') throw error;
    await ec2.send(new ReplaceRouteCommand(route));
  });
  await lab.settled();

  // From a client in another subnet: the SYN is dropped, curl gives up connecting (exit 28), to the
  // instance's address and to the VIP alike.
  const curl = (target: string): Promise<{ code: number; stdout: string; stderr: string }> =>
    lab.exec(client.name, ['curl', '-s', '--connect-timeout', '3', '-m', '10', `http://${target}:${PORT}/`], { signal, allowFailure: true });
  for (const target of [address, vip]) {
    const refused = await curl(target);
    assert.equal(refused.code, 28, `${target}: a connect timeout, not a reset or an answer: ${JSON.stringify(refused)}`);
  }

  // The group is in use: DeleteSecurityGroup is refused, with the SDK and with the aws CLI.
  await rejectsWith(ec2.send(new DeleteSecurityGroupCommand({ GroupId: groupId })), 'DependencyViolation', 400, new RegExp(`resource ${groupId} has a dependent object`));
  const aws = await awsCli({ region, creds: { key: lab.adminCredentials.accessKeyId, secret: lab.adminCredentials.secretAccessKey } });
  t.after(() => aws.close());
  assert.match((await aws.run(['--version'])).stdout, /^aws-cli\/2\./);
  const cli = await aws.run(['ec2', 'delete-security-group', '--group-id', groupId, '--endpoint-url', lab.apiUrl]);
  assert.equal(cli.code, 254, cli.stderr);
  assert.match(cli.stderr, /\(DependencyViolation\).*has a dependent object/);

  // The port authorized: the client connects, to the address and to the VIP.
  await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: PORT, ToPort: PORT, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] }));
  await lab.settled();
  for (const target of [address, vip]) {
    const served = await waitFor(`${target} after the authorize`, () => curl(target), (r) => r.code === 0);
    assert.equal(served.stdout.trim(), `served by ${instanceId}`);
  }

  // Terminated, the ENI leaves the group: it can be deleted.
  await ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
  await waitFor('terminated', describe, (i) => i?.State?.Name === 'terminated');
  await lab.settled();
  await ec2.send(new DeleteSecurityGroupCommand({ GroupId: groupId }));

  await lab.close();
  assert.deepEqual(await bare.leftovers(), before);
});
