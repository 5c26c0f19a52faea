// The nodes boot from `overlay-lb up`'s user-data, unchanged, in a real lab (`lab up --bare`, root,
// under the shared lock): up (the library, mode apply) makes the role, instance profile, bucket,
// spec and package (the real .deb of scripts/build-deb.sh), the group, one instance per node
// (launched with `nodeLaunchInput`: its user-data `nodeUserData(spec, node)`) and the VIP routes; each fetches the
// package and the spec from S3 with its role's credentials (issue 18: the role's policy is
// enforced), installs the package with apt in its own view of /etc, /usr, /var (the host
// unchanged), and starts the packaged agent, which elects a master through VRRP and serves clients
// of every AZ through the VIP. A role without ReadRelease fails in its user-data with AccessDenied
// in the console and installs nothing. Terminate and `lab down` leave nothing of an instance.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  DescribeInstanceAttributeCommand, DescribeInstancesCommand, DescribeSecurityGroupsCommand, GetConsoleOutputCommand, RunInstancesCommand, TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { GetRolePolicyCommand } from '@aws-sdk/client-iam';
import { resourceNames, NODE_POLICY_NAME } from '../../src/cloud/aws/provision/names.js';
import { nodeUserData } from '../../src/cloud/aws/provision/user-data.js';
import { labFiles } from '../../src/lab/controller.js';
import { instanceDir, terminatedLogDir } from '../../src/lab/instance-host.js';
import { parseSpec } from '../../src/speclang/parse.js';
import { up } from '../../src/provision/up.js';
import type { AgentStatus } from '../../src/agent-api/contract.js';
import { createInstanceRole, needsRoot as skip, startBareLab, waitFor } from '../helpers/bare-lab.js';
import { debPackage } from '../helpers/package.js';

const EXAMPLE = fileURLToPath(new URL('../../../examples/provision.yaml', import.meta.url));

/** What a boot could change on the host: the dpkg database and the paths the package and the node write. */
const HOST_PATHS = ['/usr/bin/overlay-lb', '/lib/systemd/system/overlay-lb-agent.service', '/etc/overlay-lb', '/run/overlay-lb', '/var/log/overlay-lb', '/var/lib/cloud', '/var/lib/dpkg/info/overlay-lb.list'];
async function hostState(): Promise<{ readonly dpkgStatus: string; readonly present: string[] }> {
  return {
    dpkgStatus: createHash('sha256').update(await readFile('/var/lib/dpkg/status')).digest('hex'),
    present: HOST_PATHS.filter((p) => existsSync(p)),
  };
}

/** Processes whose mount table mentions `path` (an instance's overlays live in its processes' mount namespace). */
async function mountsMentioning(path: string): Promise<string[]> {
  const out: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const table = await readFile(`/proc/${pid}/mountinfo`, 'utf8').catch(() => '');
    if (table.includes(path)) out.push(pid);
  }
  return out;
}

/** Whether `pid` runs (a zombie has ended: it only waits for its parent, here PID 1, to reap it). */
async function running(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  return stat !== null && stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}
async function runningOf(pids: readonly number[]): Promise<number[]> {
  const out: number[] = [];
  for (const pid of pids) if (await running(pid)) out.push(pid);
  return out;
}

void test('instances launched with up\'s user-data install the package from S3 with their role and serve through the VIP; a role without the read fails; nothing remains', { skip, timeout: 900_000 }, async (t) => {
  const signal = AbortSignal.timeout(840_000);
  const deb = await debPackage({ signal });
  const host0 = await hostState();
  const { lab, ec2, iam, ...bare } = await startBareLab(t, { tag: 'olbboot' });
  const labDir = labFiles(bare.stateFile, bare.prefix).dir;

  // The example spec in this lab's VPC, as an operator gives it to up (provider lab: the nodes
  // reach EC2 and S3 at the lab's endpoint 169.254.169.250, IMDS at 169.254.169.254).
  const dir = await bare.tempDir('spec');
  const specFile = join(dir, 'boot.yaml');
  const text = (await readFile(EXAMPLE, 'utf8'))
    .replace('name: demo', 'name: boot')
    .replace('bucket: overlay-lb-demo-releases', 'bucket: boot-releases')
    .replace(/vpcId: vpc-[0-9a-f]+/, `vpcId: ${lab.plan.vpc.id}`);
  await writeFile(specFile, text);
  const parsed = parseSpec(text, { file: specFile });
  assert.ok(parsed.ok);
  const spec = parsed.spec;
  const names = resourceNames(spec);

  const applied = await up({ specFile, packageFile: deb, mode: 'apply', endpoint: lab.apiUrl, credentials: lab.adminCredentials, signal });
  // up made all of it: the role, the bucket, the nodes' group, one instance per node launched with
  // nodeLaunchInput (its user-data nodeUserData(spec, node)), the VIP route in every table.
  assert.ok(applied.applied !== null && applied.plan.steps.every((s) => s.action === 'create'), JSON.stringify(applied.plan.steps.map((s) => `${s.action} ${s.label}`)));
  const group = (await ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: [names.securityGroup] }] }))).SecurityGroups?.[0]?.GroupId;
  assert.ok(group !== undefined);
  const subnetOf = (address: string): string => {
    const subnet = lab.plan.subnets.find((s) => {
      const [base, bits] = s.cidr.split('/') as [string, string];
      const n = (ip: string): number => ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
      const size = 2 ** (32 - Number(bits));
      return Math.floor(n(address) / size) === Math.floor(n(base) / size);
    });
    assert.ok(subnet, `no subnet of the lab holds ${address}`);
    return subnet.id;
  };

  const launched = ((await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:overlay-lb:cluster', Values: ['boot'] }] }))).Reservations ?? []).flatMap((r) => r.Instances ?? []);
  const ids = new Map<string, string>();
  for (const node of spec.cluster.nodes) {
    const instance = launched.find((i) => i.Tags?.some((tag) => tag.Key === 'overlay-lb:node' && tag.Value === node.name));
    assert.ok(instance?.InstanceId !== undefined, `no instance of ${node.name}`);
    ids.set(node.name, instance.InstanceId);
    const userData = (await ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: instance.InstanceId, Attribute: 'userData' }))).UserData?.Value;
    assert.equal(Buffer.from(userData ?? '', 'base64').toString('utf8'), nodeUserData(spec, node.name));
  }

  const consoleOf = async (id: string): Promise<string> => Buffer.from((await ec2.send(new GetConsoleOutputCommand({ InstanceId: id }))).Output ?? '', 'base64').toString('utf8');
  for (const [node, id] of ids) {
    const out = await waitFor(`${node}'s user-data`, () => consoleOf(id), (o) => o.includes('Cloud-init v. lab finished'), 600_000);
    assert.match(out, new RegExp(`overlay-lb user-data: cluster boot, node ${node}\\n`));
    assert.match(out, /overlay-lb user-data: lab instance: no package index update/);
    assert.match(out, /overlay-lb user-data: package fetched from s3:\/\/boot-releases\/demo\/overlay-lb\.deb\n/);
    assert.match(out, /Setting up overlay-lb \(/, 'apt installed the package');
    assert.match(out, /overlay-lb user-data: package installed: overlay-lb /);
    assert.match(out, /overlay-lb user-data: agent started\n/);
    assert.doesNotMatch(out, /Failed to run module scripts-user/, out);
    // Installed in the instance's own view, kept under its lab directory.
    const view = join(instanceDir(labDir, id), 'fs');
    assert.ok(existsSync(join(view, 'usr/upper/bin/overlay-lb')), `${node}: no /usr/bin/overlay-lb in its view`);
    assert.match(await readFile(join(view, 'var/upper/lib/dpkg/status'), 'utf8'), /\nPackage: overlay-lb\nStatus: install ok installed\n/);
    assert.equal(await readFile(join(view, 'etc/upper/overlay-lb/agent.env'), 'utf8'), `OVERLAY_LB_NODE=${node}\nOVERLAY_LB_AGENT_ARGS=--follow-release\n`);
  }
  // The host is unchanged: no file of the package, its dpkg database as it was.
  assert.deepEqual(await hostState(), host0);

  // The packaged agents found their identity through IMDS, elected one master, and serve.
  const status = async (id: string): Promise<AgentStatus | null> => {
    const r = await lab.exec(id, ['curl', '-fsS', '-m', '2', 'http://127.0.0.1:8406/status'], { signal, allowFailure: true });
    return r.code === 0 ? (JSON.parse(r.stdout) as AgentStatus) : null;
  };
  // The identity is looked up in the background (a slow IMDS answer on a busy machine may come
  // after the VRRP election): wait for it rather than read it at the election.
  const statuses = await waitFor('one master, one backup, both knowing their instance', async () => Promise.all([...ids.values()].map(status)),
    (s) => s.every((x) => x?.identity?.instanceId !== undefined) && s.map((x) => x!.vrrp.vrrp).sort().join() === 'BACKUP,MASTER', 300_000);
  for (const [i, [node, id]] of [...ids].entries()) {
    assert.equal(statuses[i]!.node, node);
    assert.equal(statuses[i]!.identity?.instanceId, id, 'identity from the instance\'s IMDS');
    assert.equal(statuses[i]!.haproxy.alive, true);
  }
  for (const az of [...new Set(lab.plan.instances.filter((i) => i.role === 'client').map((i) => i.az))]) {
    const answer = await waitFor(`an answer through the VIP from ${az}`, () => lab.request(az, { signal, timeoutMs: 3000 }).catch((error: unknown) => ({ status: 0, error: String(error) })), (r) => r.status === 200, 120_000);
    assert.equal(answer.status, 200);
  }

  // A role without ReadRelease: the user-data fails at the package's GetObject, nothing installed.
  const policy = JSON.parse(decodeURIComponent((await iam.send(new GetRolePolicyCommand({ RoleName: names.role, PolicyName: NODE_POLICY_NAME }))).PolicyDocument ?? '')) as { Statement: { Sid?: string }[] };
  assert.ok(policy.Statement.some((s) => s.Sid === 'ReadRelease'));
  await createInstanceRole(iam, { name: 'boot-noread', policyName: NODE_POLICY_NAME, policy: { ...policy, Statement: policy.Statement.filter((s) => s.Sid !== 'ReadRelease') } });
  const denied = (await ec2.send(new RunInstancesCommand({
    ImageId: spec.provision!.imageId, InstanceType: 't3.small', MinCount: 1, MaxCount: 1, SubnetId: subnetOf(spec.cluster.nodes[1]!.address), SecurityGroupIds: [group],
    IamInstanceProfile: { Name: 'boot-noread' }, MetadataOptions: { HttpTokens: 'required' }, UserData: Buffer.from(nodeUserData(spec, 'lb-b')).toString('base64'),
  }))).Instances![0]!.InstanceId!;
  const deniedOut = await waitFor('the denied user-data', () => consoleOf(denied), (o) => o.includes('Cloud-init v. lab finished'), 300_000);
  assert.match(deniedOut, /AccessDenied/, deniedOut);
  assert.match(deniedOut, /Failed to run module scripts-user/);
  assert.doesNotMatch(deniedOut, /package fetched|Setting up overlay-lb|agent started/);
  const deniedDir = instanceDir(labDir, denied);
  assert.equal(existsSync(join(deniedDir, 'fs/usr/upper/bin/overlay-lb')), false);
  assert.equal(existsSync(join(deniedDir, 'fs/var/upper/lib/dpkg/info/overlay-lb.list')), false);
  assert.equal(existsSync(join(deniedDir, 'fs/etc/upper/overlay-lb')), false);

  // Terminate: the instance's processes, mounts and files are gone.
  const pidsOf = async (id: string): Promise<number[]> => {
    const s = await status(id);
    assert.ok(s !== null);
    return [s.haproxy.pid ?? 0, s.keepalived.pid].filter((p) => p > 0);
  };
  const masterId = [...ids.values()][statuses.findIndex((s) => s!.vrrp.vrrp === 'MASTER')]!;
  const masterPids = await pidsOf(masterId);
  assert.equal(masterPids.length, 2);
  assert.deepEqual(await runningOf(masterPids), masterPids);
  await ec2.send(new TerminateInstancesCommand({ InstanceIds: [masterId, denied] }));
  const stateOf = async (id: string): Promise<string | undefined> => (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations?.[0]?.Instances?.[0]?.State?.Name;
  for (const id of [masterId, denied]) await waitFor(`${id} terminated`, () => stateOf(id), (s) => s === 'terminated', 120_000);
  await lab.controller.instances.settled();
  for (const id of [masterId, denied]) {
    assert.equal(existsSync(instanceDir(labDir, id)), false, `${id}'s directory remains`);
    assert.deepEqual(await mountsMentioning(instanceDir(labDir, id)), [], `${id}'s mounts remain`);
  }
  // Except its /var/log, kept in the lab's directory until lab down (for a failing test's message).
  assert.match(await readFile(join(terminatedLogDir(labDir, masterId), 'overlay-lb', 'agent.log'), 'utf8'), /"event":"ready"/);
  assert.deepEqual(await runningOf(masterPids), [], 'the terminated master\'s haproxy and keepalived still run');
  // The other node takes over (its agent moves the VIP's routes) and serves.
  const survivor = [...ids.values()].find((id) => id !== masterId)!;
  const survivorPids = await pidsOf(survivor);
  await waitFor('the other node master', () => status(survivor), (s) => s?.vrrp.vrrp === 'MASTER', 120_000);
  await waitFor('an answer through the VIP after the master\'s termination', () => lab.request('az-a', { signal, timeoutMs: 3000 }).catch(() => ({ status: 0 })), (r) => r.status === 200, 120_000);

  // lab down: nothing of any instance remains (namespaces, links, processes, mounts, files).
  await lab.close();
  assert.deepEqual(await bare.leftovers(), bare.before);
  assert.deepEqual(await runningOf(survivorPids), []);
  assert.equal(existsSync(labDir), false);
  assert.deepEqual(await mountsMentioning(labDir), []);
  assert.deepEqual(await hostState(), host0);
});
