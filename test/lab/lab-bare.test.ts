// A bare account (`lab up --bare` and startLab({ bare: true })): VPC, subnets in three AZs, route
// tables with the internet gateway, clients and backends, no LB nodes and no LB role; what the API
// creates afterwards goes with `lab down`. Real kernel, root, under the shared lock.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DescribeInstancesCommand, DescribeRouteTablesCommand, DescribeSubnetsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { AddRoleToInstanceProfileCommand, CreateInstanceProfileCommand, CreateRoleCommand, GetRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { startLab, stopLab } from '../../src/lab/lab.js';
import { leftovers } from '../helpers/lab-leftovers.js';

const SPEC = fileURLToPath(new URL('../../../examples/demo.yaml', import.meta.url));
const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const skip = process.getuid?.() === 0 ? false : 'needs root';
const TRUST = JSON.stringify({ Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }] });

function cli(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
    });
  });
}

void test('startLab({ bare: true }): three AZs, the internet gateway, clients and backends, no LB nodes; lab down removes what the API made too', { skip }, async (t) => {
  const stateDir = await mkdtemp(join(tmpdir(), 'olbb-lab-'));
  const prefix = `olbb${process.pid}`.slice(0, 12);
  const stateFile = join(stateDir, `${prefix}state.json`);
  t.after(async () => {
    await stopLab(stateFile, { signal: AbortSignal.timeout(60_000) });
    await rm(stateDir, { recursive: true, force: true });
  });
  const before = await leftovers(prefix, stateDir);
  const lab = await startLab({ specFile: SPEC, prefix, stateDir, bare: true, signal: AbortSignal.timeout(120_000) });
  const signal = AbortSignal.timeout(120_000);

  assert.equal(lab.plan.bare, true);
  assert.deepEqual(lab.plan.instances.filter((i) => i.role === 'lb-node'), []);
  assert.equal(lab.plan.azs.length, 3);
  const config = { region: lab.adminCredentials.region, endpoint: lab.apiUrl, maxAttempts: 1, credentials: lab.adminCredentials };
  const ec2 = new EC2Client(config);
  const iam = new IAMClient(config);
  const s3 = new S3Client({ ...config, forcePathStyle: true });
  t.after(() => {
    ec2.destroy();
    iam.destroy();
    s3.destroy();
  });
  const subnets = (await ec2.send(new DescribeSubnetsCommand({}))).Subnets ?? [];
  assert.equal(new Set(subnets.map((s) => s.AvailabilityZone)).size, 3);
  // The LB subnets are there (from the spec's nodes), empty, for the provisioner to launch into.
  assert.deepEqual(subnets.filter((s) => s.Tags?.some((tag) => tag.Key === 'Name' && tag.Value?.startsWith('lb-'))).map((s) => s.CidrBlock).sort(), ['10.0.1.0/24', '10.0.2.0/24']);
  const tables = (await ec2.send(new DescribeRouteTablesCommand({}))).RouteTables ?? [];
  assert.equal(tables.length, lab.plan.routeTables.length);
  for (const table of tables) {
    const defaultRoute = table.Routes?.find((r) => r.DestinationCidrBlock === '0.0.0.0/0');
    assert.match(defaultRoute?.GatewayId ?? '', /^igw-/, JSON.stringify(table.Routes));
    assert.equal(table.Routes?.some((r) => r.DestinationCidrBlock === `${lab.plan.vip}/32`), false);
  }
  const instances = ((await ec2.send(new DescribeInstancesCommand({}))).Reservations ?? []).flatMap((r) => r.Instances ?? []);
  const roles = instances.map((i) => i.Tags?.find((tag) => tag.Key === 'overlay-lb:role')?.Value).sort();
  assert.deepEqual([...new Set(roles)], ['backend', 'client']);
  assert.equal(roles.filter((r) => r === 'client').length, 3);
  await assert.rejects(iam.send(new GetRoleCommand({ RoleName: 'overlay-lb-node' })), { name: 'NoSuchEntityException' });

  // Clients reach backends across subnets (the VPC routes), and the kernel has no VIP route.
  const backend = lab.plan.instances.find((i) => i.role === 'backend')!;
  const listener = backend.listeners[0]!;
  const client = lab.plan.instances.find((i) => i.role === 'client' && i.az !== backend.az)!;
  const answer = await lab.exec(client.name, ['curl', '-s', '-m', '5', `http://${listener.address}:${listener.port}/`], { signal });
  assert.match(answer.stdout, new RegExp(listener.name));
  const routes = await lab.exec('router', ['ip', 'route', 'show', 'table', String(lab.plan.routeTables[0]!.tableNumber)], { signal });
  assert.doesNotMatch(routes.stdout, new RegExp(lab.plan.vip.replaceAll('.', '\\.')));

  // What a provisioner makes through the API.
  await iam.send(new CreateRoleCommand({ RoleName: 'overlay-lb-node', AssumeRolePolicyDocument: TRUST }));
  await iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: 'overlay-lb-node' }));
  await iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: 'overlay-lb-node', RoleName: 'overlay-lb-node' }));
  await s3.send(new CreateBucketCommand({ Bucket: 'overlay-lb-releases' }));
  await s3.send(new PutObjectCommand({ Bucket: 'overlay-lb-releases', Key: 'spec.yaml', Body: 'cluster: {}\n' }));

  await lab.close();
  assert.deepEqual(await leftovers(prefix, stateDir), before);
});

void test('overlay-lb lab up --bare and lab down through the CLI; --bare with --azs 2 is refused', { skip }, async (t) => {
  const stateDir = await mkdtemp(join(tmpdir(), 'olbb-cli-'));
  const prefix = `olbk${process.pid}`.slice(0, 12);
  const common = ['--prefix', prefix, '--state-dir', stateDir];
  t.after(async () => {
    await stopLab(join(stateDir, `${prefix}state.json`), { signal: AbortSignal.timeout(60_000) });
    await rm(stateDir, { recursive: true, force: true });
  });
  const before = await leftovers(prefix, stateDir);
  const two = await cli(['lab', 'up', '--bare', '--azs', '2', '--spec', SPEC, ...common]);
  assert.equal(two.code, 1);
  assert.match(two.stderr, /a bare account has subnets in three AZs: drop --azs 2.*\[LAB_PLAN_INVALID\]/);
  assert.deepEqual(await leftovers(prefix, stateDir), before);

  const up = await cli(['lab', 'up', '--bare', '--spec', SPEC, ...common]);
  assert.equal(up.code, 0, up.stderr);
  assert.match(up.stdout, /EC2 API \(host\): http:\/\/127\.0\.0\.1:\d+\//);
  const status = JSON.parse((await cli(['lab', 'status', '--json', ...common])).stdout) as { controller: { alive: boolean }; namespaces: { name: string; exists: boolean }[] };
  assert.equal(status.controller.alive, true);
  assert.ok(status.namespaces.every((n) => n.exists));
  assert.deepEqual(status.namespaces.filter((n) => n.name.startsWith(`${prefix}lb-`)), []);
  const down = await cli(['lab', 'down', ...common]);
  assert.equal(down.code, 0, down.stderr);
  assert.deepEqual(await leftovers(prefix, stateDir), before);
});
