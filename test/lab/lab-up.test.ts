// The whole lab brought up programmatically (real kernel, root): the aws CLI from the host, the
// AWS SDK from inside an LB node with IMDS role credentials, IMDS identity through the relay,
// API faults by AZ, source/dest check and Elastic IPs in the data path. Traffic only to
// 127.0.0.1 and to namespaces this test creates.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  AllocateAddressCommand, AssociateAddressCommand, EC2Client, ModifyNetworkInterfaceAttributeCommand,
} from '@aws-sdk/client-ec2';
import { startLab, stopLab, type LabHandle } from '../../src/lab/lab.js';

const AWS = '/usr/bin/aws';
const SPEC = fileURLToPath(new URL('../../../examples/demo.yaml', import.meta.url));
const BACKEND_SERVER = fileURLToPath(new URL('../../src/lab/backend-server.js', import.meta.url));
const SDK_URL = pathToFileURL(createRequire(import.meta.url).resolve('@aws-sdk/client-ec2')).href;
const isRoot = process.getuid?.() === 0;

/** Runs the AWS SDK inside a lab instance with a clean environment: credentials come from IMDS. */
const SDK_SCRIPT = `
const sdk = await import(process.argv[1]);
const [op, region, rtb, eni, vip] = process.argv.slice(2);
const client = new sdk.EC2Client({ region, endpoint: 'http://169.254.169.250', maxAttempts: 1 });
try {
  if (op === 'replace') await client.send(new sdk.ReplaceRouteCommand({ RouteTableId: rtb, DestinationCidrBlock: vip + '/32', NetworkInterfaceId: eni }));
  else if (op === 'delete') await client.send(new sdk.DeleteRouteCommand({ RouteTableId: rtb, DestinationCidrBlock: vip + '/32' }));
  else await client.send(new sdk.DescribeRouteTablesCommand({ RouteTableIds: [rtb] }));
  process.stdout.write(JSON.stringify({ ok: true }));
} catch (error) {
  process.stdout.write(JSON.stringify({ ok: false, name: error.name, code: error.code ?? null }));
}`;

async function sdkInNode(lab: LabHandle, node: string, args: readonly string[]): Promise<{ ok: boolean; name?: string; code?: string }> {
  const { stdout } = await lab.exec(node, [
    'env', '-i', `PATH=${process.env['PATH'] ?? '/usr/bin:/bin'}`, 'HOME=/nonexistent',
    process.execPath, '--input-type=module', '-e', SDK_SCRIPT, SDK_URL, ...args,
  ], { signal: AbortSignal.timeout(60_000), timeoutMs: 50_000 });
  return JSON.parse(stdout) as { ok: boolean; name?: string; code?: string };
}

function run(file: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { env, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
    });
  });
}

async function startTestLab(t: TestContext): Promise<LabHandle> {
  const stateDir = await mkdtemp(join(tmpdir(), 'olbt-lab-'));
  const prefix = `olbt${process.pid}`.slice(0, 12);
  t.after(async () => {
    await stopLab(join(stateDir, `${prefix}state.json`), { signal: AbortSignal.timeout(60_000) });
    await rm(stateDir, { recursive: true, force: true });
  });
  const lab = await startLab({ specFile: SPEC, prefix, nodes: false, stateDir, signal: AbortSignal.timeout(60_000) });
  t.after(() => lab.close());
  // A name server bound to the VIP (and the private address, for Elastic IPs) on each LB node.
  for (const node of lab.plan.instances.filter((i) => i.role === 'lb-node')) {
    await lab.spawn(node.name, [process.execPath, BACKEND_SERVER, `${lab.plan.vip}:80=${node.name}`, `${node.eni.privateIp}:80=${node.name}`], {
      signal: AbortSignal.timeout(20_000), label: `vip-server ${node.name}`, readyLine: 'ready',
    });
  }
  return lab;
}

const node = (lab: LabHandle, name: string) => {
  const found = lab.plan.instances.find((i) => i.name === name);
  assert.ok(found, `no instance ${name}`);
  return found;
};
const tableOf = (lab: LabHandle, subnetName: string): string => {
  const id = lab.plan.subnets.find((s) => s.name === subnetName)?.routeTableId;
  assert.ok(id, `no subnet ${subnetName}`);
  return id;
};
const servedBy = async (lab: LabHandle, az: string): Promise<string> =>
  (await lab.request(az, { path: '/', timeoutMs: 1500, signal: AbortSignal.timeout(20_000) })).body.trim();
const reaches = async (lab: LabHandle, az: string): Promise<string | null> => servedBy(lab, az).catch(() => null);

void test('lab up (programmatic): host aws CLI, SDK with IMDS role credentials inside a node, faults, source/dest check, EIP', { skip: isRoot ? false : 'needs root' }, async (t) => {
  const lab = await startTestLab(t);
  const signal = AbortSignal.timeout(120_000);
  const lbA = node(lab, 'lb-a');
  const lbB = node(lab, 'lb-b');
  const vip = lab.plan.vip;
  const region = lab.plan.region;
  const admin = new EC2Client({
    region, endpoint: lab.apiUrl, maxAttempts: 1,
    credentials: { accessKeyId: lab.adminCredentials.accessKeyId, secretAccessKey: lab.adminCredentials.secretAccessKey },
  });
  t.after(() => admin.destroy());

  // GIVEN every table's VIP route on lb-a (the seed).
  assert.deepEqual(new Set((await lab.routeTargets()).values()), new Set(['lb-a']));
  assert.deepEqual(new Set((await lab.routeTargets({ view: 'api' })).values()), new Set(['lb-a']));
  assert.equal(await servedBy(lab, 'az-a'), 'lb-a');

  await t.test('the aws CLI from the host moves the route of client-az-a to lb-b', { skip: existsSync(AWS) ? false : `${AWS} missing` }, async () => {
    const home = await mkdtemp(join(tmpdir(), 'olbt-aws-'));
    try {
      await writeFile(join(home, 'config'), '');
      await writeFile(join(home, 'credentials'), '');
      const env = {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home, AWS_CONFIG_FILE: join(home, 'config'), AWS_SHARED_CREDENTIALS_FILE: join(home, 'credentials'),
        AWS_EC2_METADATA_DISABLED: 'true', AWS_ACCESS_KEY_ID: lab.adminCredentials.accessKeyId, AWS_SECRET_ACCESS_KEY: lab.adminCredentials.secretAccessKey,
        AWS_DEFAULT_REGION: region,
      };
      const version = await run(AWS, ['--version'], env);
      assert.match(version.stdout + version.stderr, /aws-cli\/2\./);
      const rtb = tableOf(lab, 'client-az-a');
      const result = await run(AWS, ['ec2', 'replace-route', '--route-table-id', rtb, '--destination-cidr-block', `${vip}/32`, '--network-interface-id', lbB.eni.id, '--endpoint-url', lab.apiUrl], env);
      assert.equal(result.code, 0, result.stderr);
      await lab.settled();
      const targets = await lab.routeTargets();
      assert.equal(targets.get(rtb), 'lb-b');
      assert.equal(targets.get(tableOf(lab, 'client-az-b')), 'lb-a');
      assert.equal(await servedBy(lab, 'az-a'), 'lb-b');
      assert.equal(await servedBy(lab, 'az-b'), 'lb-a');
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });

  await t.test('IMDS inside a node answers its own instance id and ENI (identity by source address)', async () => {
    for (const instance of [lbA, lbB]) {
      const token = await lab.exec(instance.name, ['curl', '-sf', '-X', 'PUT', '-H', 'x-aws-ec2-metadata-token-ttl-seconds: 60', 'http://169.254.169.254/latest/api/token'], { signal });
      const get = async (path: string): Promise<string> =>
        (await lab.exec(instance.name, ['curl', '-sf', '-H', `x-aws-ec2-metadata-token: ${token.stdout}`, `http://169.254.169.254/latest/meta-data/${path}`], { signal })).stdout;
      assert.equal(await get('instance-id'), instance.instanceId);
      assert.equal(await get(`network/interfaces/macs/${instance.eni.mac}/interface-id`), instance.eni.id);
      assert.equal(await get('placement/availability-zone'), instance.az);
    }
    // IMDSv1 is refused.
    const v1 = await lab.exec('lb-a', ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', 'http://169.254.169.254/latest/meta-data/instance-id'], { signal });
    assert.equal(v1.stdout, '401');
  });

  await t.test('the SDK inside lb-b (IMDS role credentials) replaces a route in its VPC; a forbidden action is UnauthorizedOperation', async () => {
    const rtb = tableOf(lab, 'client-az-b');
    assert.deepEqual(await sdkInNode(lab, 'lb-b', ['replace', region, rtb, lbB.eni.id, vip]), { ok: true });
    await lab.settled();
    assert.equal((await lab.routeTargets()).get(rtb), 'lb-b');
    assert.equal(await servedBy(lab, 'az-b'), 'lb-b');
    const denied = await sdkInNode(lab, 'lb-b', ['delete', region, rtb, lbB.eni.id, vip]);
    assert.equal(denied.ok, false);
    assert.equal(denied.name, 'UnauthorizedOperation');
    assert.equal((await lab.routeTargets({ view: 'api' })).get(rtb), 'lb-b');
  });

  await t.test('api-unreachable from az-a: calls from lb-a fail, from lb-b succeed; cleared, both succeed', async () => {
    const rtb = tableOf(lab, 'lb-1');
    await lab.faults.inject({ kind: 'api-unreachable', az: 'az-a' });
    assert.equal((await sdkInNode(lab, 'lb-a', ['describe', region, rtb])).ok, false);
    assert.equal((await sdkInNode(lab, 'lb-b', ['describe', region, rtb])).ok, true);
    assert.deepEqual(lab.faults.active(), [{ kind: 'api-unreachable', az: 'az-a' }]);
    await lab.faults.clear({ kind: 'api-unreachable', az: 'az-a' });
    assert.equal((await sdkInNode(lab, 'lb-a', ['describe', region, rtb])).ok, true);
    assert.deepEqual(lab.faults.active(), []);
  });

  await t.test('source/dest check on the target ENI drops VIP traffic; off lets it through', async () => {
    // client-az-a's table targets lb-b (first subtest) or is moved there now.
    await admin.send(new (await import('@aws-sdk/client-ec2')).ReplaceRouteCommand({ RouteTableId: tableOf(lab, 'client-az-a'), DestinationCidrBlock: `${vip}/32`, NetworkInterfaceId: lbB.eni.id }));
    await admin.send(new ModifyNetworkInterfaceAttributeCommand({ NetworkInterfaceId: lbB.eni.id, SourceDestCheck: { Value: true } }));
    await lab.settled();
    assert.equal(await reaches(lab, 'az-a'), null);
    await admin.send(new ModifyNetworkInterfaceAttributeCommand({ NetworkInterfaceId: lbB.eni.id, SourceDestCheck: { Value: false } }));
    await lab.settled();
    assert.equal(await reaches(lab, 'az-a'), 'lb-b');
  });

  await t.test('an Elastic IP associated with lb-a reaches it from the internet namespace', async () => {
    const { AllocationId, PublicIp } = await admin.send(new AllocateAddressCommand({ Domain: 'vpc' }));
    assert.ok(AllocationId !== undefined && PublicIp !== undefined);
    const fetchEip = async (): Promise<string> => {
      const r = await lab.exec('internet', ['curl', '-s', '-m', '2', `http://${PublicIp}/`], { signal, allowFailure: true });
      return r.stdout.trim();
    };
    assert.equal(await fetchEip(), '');
    await admin.send(new AssociateAddressCommand({ AllocationId, NetworkInterfaceId: lbA.eni.id }));
    await lab.settled();
    assert.equal(await fetchEip(), 'lb-a');
  });
});
