// Issue 18 item 3: security groups in the lab's data path, driven through the lab's EC2 API with
// the AWS SDK, on the LB nodes `lab up` builds from the spec (haproxy and keepalived run by the
// agent). A group without the frontend port refuses clients by dropping (a connect timeout, as
// AWS, not a reset); with it they connect. A rule revoked while serving: the open connection keeps
// working (a tracked flow, as AWS), new ones time out. A group without protocol 112 between the
// two LB nodes gives two VRRP masters; authorizing 112 from the group gives one.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import {
  AuthorizeSecurityGroupIngressCommand, CreateSecurityGroupCommand, EC2Client, ModifyNetworkInterfaceAttributeCommand,
  RevokeSecurityGroupIngressCommand, type IpPermission,
} from '@aws-sdk/client-ec2';
import type { LabHandle } from '../../src/lab/lab.js';
import { agentStatus, isRoot, lbNodes, startE2eLab, waitFor, type E2eLab } from './fixture.js';

const ANYWHERE_HTTP: IpPermission = { IpProtocol: 'tcp', FromPort: 80, ToPort: 80, IpRanges: [{ CidrIp: '0.0.0.0/0' }] };

function ec2Client(t: TestContext, lab: LabHandle): EC2Client {
  const { accessKeyId, secretAccessKey, region } = lab.adminCredentials;
  const client = new EC2Client({ endpoint: lab.apiUrl, region, credentials: { accessKeyId, secretAccessKey }, maxAttempts: 1 });
  t.after(() => client.destroy());
  return client;
}

/** A group in the lab's VPC with these ingress rules (and EC2's default all-egress rule). */
async function createGroup(ec2: EC2Client, lab: LabHandle, name: string, ingress: (groupId: string) => IpPermission[]): Promise<string> {
  const { GroupId } = await ec2.send(new CreateSecurityGroupCommand({ GroupName: name, Description: `test ${name}`, VpcId: lab.plan.vpc.id }));
  assert.ok(GroupId !== undefined);
  const permissions = ingress(GroupId);
  if (permissions.length > 0) await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId, IpPermissions: permissions }));
  return GroupId;
}

/** Puts both LB nodes' ENIs in exactly this group. */
async function setLbGroups(ec2: EC2Client, lab: LabHandle, groupId: string): Promise<void> {
  for (const node of lbNodes(lab)) {
    const eni = lab.plan.instances.find((i) => i.name === node)!.eni.id;
    await ec2.send(new ModifyNetworkInterfaceAttributeCommand({ NetworkInterfaceId: eni, Groups: [groupId] }));
  }
  await lab.settled();
}

/** One new HTTP connection from az-a's client to the service: curl's exit code (28: timed out, 7: refused, 56: reset) and status. */
async function connect(e2e: E2eLab): Promise<{ code: number; status: string; stderr: string }> {
  const r = await e2e.lab.exec(`client-${e2e.lab.plan.azs[0]!}`, [
    'curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', '--connect-timeout', '2', '--max-time', '4', `http://${e2e.serviceHost}/`,
  ], { signal: AbortSignal.timeout(20_000), allowFailure: true, timeoutMs: 15_000 });
  return { code: r.code, status: r.stdout.trim(), stderr: r.stderr.trim() };
}

void test('a group without the frontend port drops new clients (timeout, no reset); with it they connect; a revoke keeps the open connection', { skip: !isRoot && 'needs root (network namespaces)', timeout: 240_000 }, async (t) => {
  const e2e = await startE2eLab(t);
  const { lab } = e2e;
  const ec2 = ec2Client(t, lab);
  // GIVEN the LB nodes in a group that allows VRRP between them but not the frontend port
  const groupId = await createGroup(ec2, lab, 'lb-no-frontend', (self) => [{ IpProtocol: '112', UserIdGroupPairs: [{ GroupId: self }] }]);
  await setLbGroups(ec2, lab, groupId);
  // THEN a new client connection is dropped: curl times out connecting (28), it is not refused or reset
  const refused = await connect(e2e);
  assert.equal(refused.code, 28, `expected a connect timeout (28), got exit ${refused.code} status ${refused.status}: ${refused.stderr}`);

  // WHEN the frontend port is authorized THEN clients connect
  await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: [ANYWHERE_HTTP] }));
  await lab.settled();
  const served = await connect(e2e);
  assert.deepEqual([served.code, served.status], [0, '200'], served.stderr);

  // GIVEN a client on one keep-alive connection, a request every 200 ms (bounded: 300 requests)
  const logFile = join(e2e.runDir('lb-a'), '..', 'keepalive-client.log');
  const script = [
    "const net = require('node:net');",
    `const s = net.connect(80, ${JSON.stringify(e2e.serviceHost)});`,
    "let sent = 0; let buffered = '';",
    "s.on('data', (d) => { buffered += d; const m = buffered.match(/HTTP\\/1\\.1 200/g) ?? []; buffered = buffered.slice(buffered.lastIndexOf('HTTP/1.1 200') + 1); for (const _ of m) console.log('reply'); });",
    "s.on('close', () => { console.log('closed'); process.exit(0); });",
    "const timer = setInterval(() => { if (++sent > 300) { clearInterval(timer); s.end(); return; } s.write('GET / HTTP/1.1\\r\\nHost: t\\r\\n\\r\\n'); }, 200);",
  ].join('\n');
  // Recorded in the lab's state file: the lab's teardown stops it.
  await lab.spawn(`client-${lab.plan.azs[0]!}`, [process.execPath, '-e', script], { signal: AbortSignal.timeout(20_000), label: 'keepalive-client', logFile });
  const replies = async (): Promise<number> => (await readFile(logFile, 'utf8').catch(() => '')).split('\n').filter((l) => l === 'reply').length;
  await waitFor(e2e, 'the keep-alive client got replies', async () => (await replies()) >= 3);
  // WHEN the frontend rule is revoked while it is served
  await ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: [ANYWHERE_HTTP] }));
  await lab.settled();
  const atRevoke = await replies();
  // THEN the open (tracked) connection keeps getting answers
  await waitFor(e2e, 'replies on the open connection after the revoke', async () => (await replies()) >= atRevoke + 5);
  assert.ok(!(await readFile(logFile, 'utf8')).includes('closed'), 'the keep-alive connection was closed by the revoke');
  // AND a new connection is dropped again
  const after = await connect(e2e);
  assert.equal(after.code, 28, `expected a connect timeout (28) after the revoke, got exit ${after.code} status ${after.status}: ${after.stderr}`);
});

void test('LB nodes whose group lacks protocol 112 both become VRRP master; authorizing 112 from the group leaves one', { skip: !isRoot && 'needs root (network namespaces)', timeout: 240_000 }, async (t) => {
  let groupId = '';
  let ec2: EC2Client | undefined;
  // GIVEN both LB nodes start (keepalived by the agent) in a group with the frontend port but no VRRP
  const e2e = await startE2eLab(t, {}, {
    converge: false,
    beforeAgents: async (lab) => {
      ec2 = ec2Client(t, lab);
      groupId = await createGroup(ec2, lab, 'lb-no-vrrp', () => [ANYWHERE_HTTP]);
      await setLbGroups(ec2, lab, groupId);
    },
  });
  const { lab } = e2e;
  assert.ok(ec2 !== undefined);
  // THEN both are master (each one's adverts are dropped at the other's ENI)
  await waitFor(e2e, 'lb-a and lb-b both MASTER', async () => {
    const [a, b] = [await agentStatus(lab, 'lb-a'), await agentStatus(lab, 'lb-b')];
    return a?.vrrp.vrrp === 'MASTER' && b?.vrrp.vrrp === 'MASTER';
  }, { timeoutMs: 60_000 });
  // WHEN VRRP (protocol 112) from the group itself is authorized
  await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: [{ IpProtocol: '112', UserIdGroupPairs: [{ GroupId: groupId }] }] }));
  await lab.settled();
  // THEN lb-b (lower priority) hears lb-a and goes back to BACKUP: one master
  await waitFor(e2e, 'lb-a MASTER, lb-b BACKUP', async () => {
    const [a, b] = [await agentStatus(lab, 'lb-a'), await agentStatus(lab, 'lb-b')];
    return a?.vrrp.vrrp === 'MASTER' && b?.vrrp.vrrp === 'BACKUP';
  }, { timeoutMs: 60_000 });
});
