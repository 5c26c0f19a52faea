/**
 * From an empty account to a serving, failing-over pair with one command, in the lab (root, under
 * the shared lock): `lab up --bare` (the programmatic equivalent), then `overlay-lb up
 * examples/provision.yaml --package DEB --yes` through the CLI with the lab's endpoint and the
 * lab's admin credentials in the environment, as a user runs it. The nodes boot from up's
 * user-data (the real package of scripts/build-deb.sh, or OVERLAY_LB_DEB) -> the VIP answers from a
 * client in every AZ -> the master's instance is terminated through the EC2 API -> the other node
 * serves (the VIP routes move to it; every AZ answers) -> `up` again replaces the terminated node
 * (and only it) while a bounded client loop runs, the new node rejoins (it has the higher
 * priority: the routes come back to it) without a failed request -> a third `up` has nothing to do
 * -> `apply --cluster` rolls a routing change out (backup first, master last) with no failed
 * request in a bounded client loop -> `overlay-lb down` through the CLI refuses while a bounded
 * client loop runs through the VIP (the agents' real published statuses show the sessions) and
 * proceeds once the statuses published after the loop stopped are idle -> the lab's account holds
 * nothing that up made, compared resource by resource with the account before up
 * (test/helpers/account-snapshot.ts: roles, profiles, buckets and every object version, instances
 * not terminated, groups, interfaces, every route); every instance up launched is terminated; a
 * foreign role and group with up's names but a suffix are untouched.
 * Waits are on observable state with generous deadlines, never on time.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CreateSecurityGroupCommand, DescribeInstancesCommand, DescribeRouteTablesCommand, DescribeVpcsCommand, type Instance, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { CreateRoleCommand } from '@aws-sdk/client-iam';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { accountSnapshot } from '../helpers/account-snapshot.js';
import { EC2_TRUST_POLICY } from '../../src/cloud/aws/iam-policy.js';
import { needsRoot as skip, startBareLab, waitFor } from '../helpers/bare-lab.js';
import { startProbe, summarizeProbe } from '../helpers/lab-probe.js';
import { debPackage } from '../helpers/package.js';

const EXAMPLE = fileURLToPath(new URL('../../../examples/provision.yaml', import.meta.url));
const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const VIP = '192.168.100.10/32';

function run(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, [...args], { timeout: 900_000, env, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
    });
  });
}

const nodeOf = (i: Instance | undefined): string | undefined => i?.Tags?.find((t) => t.Key === 'overlay-lb:node')?.Value;

void test('lab up --bare, overlay-lb up: the VIP serves every AZ; the master\'s instance terminated, the other serves; up again replaces it and it rejoins without a failed request; apply --cluster without a failed request; down refuses under traffic, then leaves the account as before up', { skip, timeout: 1_800_000 }, async (t) => {
  const bare = await startBareLab(t, { tag: 'olbup' });
  const { lab, ec2 } = bare;
  const signal = AbortSignal.timeout(1_700_000);
  const deb = await debPackage({ signal });
  const home = await bare.tempDir('home');
  const s3 = new S3Client({ region: lab.adminCredentials.region, endpoint: lab.apiUrl, maxAttempts: 1, credentials: lab.adminCredentials, forcePathStyle: true });
  t.after(() => s3.destroy());
  // GIVEN foreign things with names like up's (never to be touched), and the account as it is before up.
  await bare.iam.send(new CreateRoleCommand({ RoleName: 'overlay-lb-demo-old', AssumeRolePolicyDocument: JSON.stringify(EC2_TRUST_POLICY) }));
  const vpcId = (await ec2.send(new DescribeVpcsCommand({}))).Vpcs?.[0]?.VpcId ?? '';
  await ec2.send(new CreateSecurityGroupCommand({ GroupName: 'overlay-lb-demo-old', Description: 'not up\'s', VpcId: vpcId }));
  const beforeUp = await accountSnapshot({ iam: bare.iam, s3, ec2 });
  // The operator's environment: the lab's admin credentials (as `lab env` prints them), nothing else.
  const env = {
    PATH: process.env.PATH, HOME: home, AWS_ACCESS_KEY_ID: lab.adminCredentials.accessKeyId, AWS_SECRET_ACCESS_KEY: lab.adminCredentials.secretAccessKey,
    AWS_EC2_METADATA_DISABLED: 'true', AWS_CONFIG_FILE: join(home, 'none'), AWS_SHARED_CREDENTIALS_FILE: join(home, 'none'),
  };
  const upCli = async (): Promise<string> => {
    const r = await run(process.execPath, [MAIN, 'up', EXAMPLE, '--package', deb, '--yes', '--endpoint-url', lab.apiUrl], env);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    return r.stdout;
  };
  const instances = async (): Promise<Instance[]> => ((await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:overlay-lb:cluster', Values: ['demo'] }] }))).Reservations ?? []).flatMap((r) => r.Instances ?? []);
  /** Route table -> the node its VIP route points at (by the instances' interfaces), as the API shows it. */
  const routes = async (): Promise<string[]> => {
    const all = await instances();
    const tables = (await ec2.send(new DescribeRouteTablesCommand({}))).RouteTables ?? [];
    return tables.map((tb) => {
      const eni = (tb.Routes ?? []).find((r) => r.DestinationCidrBlock === VIP)?.NetworkInterfaceId;
      const i = all.find((x) => x.NetworkInterfaces?.some((e) => e.NetworkInterfaceId === eni));
      return `${nodeOf(i) ?? eni ?? 'none'}@${i?.InstanceId ?? ''}`;
    });
  };
  const consoles = (): Promise<string> => bare.instanceLogs();
  const everyAzAnswers = async (what: string): Promise<void> => {
    for (const az of lab.plan.azs) {
      await waitFor(`${what}: the VIP from the client in ${az}`, () => lab.request(az, { signal, timeoutMs: 2000 }).catch((err: Error) => ({ status: 0, error: err.message })), (r) => r.status === 200, 600_000)
        .catch(async (err: Error) => assert.fail(`${err.message}\n${await consoles()}`));
    }
  };

  // up from an empty account: everything created; the nodes boot, elect a master, serve every AZ.
  const first = await upCli();
  assert.match(first, /\+ create {3}security group overlay-lb-demo\n/);
  assert.match(first, /\+ create {3}instance of node lb-a \(10\.0\.1\.10, az-a\)\n/);
  assert.match(first, /\nApplied: \d+ created, 0 changed\.\n$/);
  await everyAzAnswers('after the first up');
  const launched = await instances();
  assert.deepEqual(launched.map((i) => [nodeOf(i), i.State?.Name]).sort(), [['lb-a', 'running'], ['lb-b', 'running']]);

  // The master: lb-a, the first node (priority 200). The node whose agent starts first may become
  // master first (lb-b booted sooner); lb-a then takes the routes after the preempt delay (10 s in
  // the example), so the test waits for every VIP route at lb-a.
  const master = launched.find((i) => nodeOf(i) === 'lb-a');
  const other = launched.find((i) => i !== master);
  assert.ok(master?.InstanceId !== undefined && other?.InstanceId !== undefined);
  await waitFor('every VIP route at lb-a (priority 200)', routes, (r) => r.length > 0 && r.every((x) => x === `lb-a@${master.InstanceId ?? ''}`), 600_000)
    .catch(async (err: Error) => assert.fail(`${err.message}\n${await consoles()}`));

  // The master's instance terminated through the API: the other node takes the routes and serves.
  await ec2.send(new TerminateInstancesCommand({ InstanceIds: [master.InstanceId] }));
  await waitFor('every VIP route at the other node', routes, (r) => r.every((x) => x === `${nodeOf(other) ?? ''}@${other.InstanceId ?? ''}`), 600_000);
  await everyAzAnswers('after the master was terminated');

  // up again, while a client loop runs: only the terminated node is replaced; the new one rejoins
  // (higher priority, preempt: the routes come back to it, through the planned handoff).
  const probe = await startProbe(lab, { clientAz: 'az-b', signal, intervalMs: 50, timeoutMs: 2000, maxDurationMs: 1_200_000 });
  await probe.firstSuccess({ timeoutMs: 60_000 });
  const second = await upCli();
  assert.match(second, /\+ create {3}instance of node lb-a \(10\.0\.1\.10, az-a\)\n/);
  assert.match(second, /= leave {4}instance of node lb-b \(10\.0\.2\.10, az-b\)\n/);
  assert.match(second, /\nPlan: 1 to create, 0 to change, \d+ left alone\.\n/);
  const replaced = (await instances()).find((i) => nodeOf(i) === 'lb-a' && i.State?.Name === 'running');
  assert.ok(replaced?.InstanceId !== undefined && replaced.InstanceId !== master.InstanceId);
  await waitFor('every VIP route back at the new lb-a', routes, (r) => r.every((x) => x === `lb-a@${replaced.InstanceId ?? ''}`), 600_000)
    .catch(async (err: Error) => assert.fail(`${err.message}\n${await consoles()}`));
  await probe.streak(100, { timeoutMs: 120_000 });
  const report = await probe.stop();
  assert.equal(report.failed, 0, summarizeProbe(report));
  assert.ok(report.succeeded > 100, summarizeProbe(report));
  await everyAzAnswers('after the replaced node rejoined');

  // A third up: nothing to do.
  assert.match(await upCli(), /Nothing to do: everything up provisions is up to date \(no write call was made\)\.\n$/);

  // The agents publish their status beside the spec (src/agent/spec-follow.ts), with their role.
  const published = async (node: string): Promise<{ publishedAt: number; traffic: { totalSessions: number } } | null> => {
    const got = await s3.send(new GetObjectCommand({ Bucket: 'overlay-lb-demo-releases', Key: `demo/status/${node}.json` })).catch(() => null);
    return got === null ? null : JSON.parse(await got.Body?.transformToString('utf8') ?? 'null') as { publishedAt: number; traffic: { totalSessions: number } };
  };
  const publishedAfter = (at: number) => waitFor(`both nodes publish a status after ${new Date(at).toISOString()}`, async () => [await published('lb-a'), await published('lb-b')], (r) => r.every((x) => x !== null && x.publishedAt > at), 120_000);
  await publishedAfter(Date.now());

  // apply --cluster: a routing change (X-Canary: 1 to app-stable instead of app-canary), backup
  // first, master last, while a bounded client loop goes through the VIP: no failed request.
  const canary = await lab.request('az-a', { headers: { 'X-Canary': '1' }, signal, timeoutMs: 5000 })
    .catch(async (err: Error) => assert.fail(`${err.message}\n${await consoles()}`));
  assert.equal(canary.headers['x-served-by'], 'c1');
  const v2 = join(home, 'provision-v2.yaml');
  const text = await readFile(EXAMPLE, 'utf8');
  assert.equal(text.split('        backend: app-canary\n').length, 2, 'the example\'s first route goes to app-canary');
  await writeFile(v2, text.replace('        backend: app-canary\n', '        backend: app-stable\n'));
  const rolloutProbe = await startProbe(lab, { clientAz: 'az-a', signal, intervalMs: 50, timeoutMs: 2000, maxDurationMs: 600_000 });
  await rolloutProbe.firstSuccess({ timeoutMs: 60_000 });
  const applied = await run(process.execPath, [MAIN, 'apply', v2, '--cluster', '--node-timeout', '180', '--endpoint-url', lab.apiUrl], env);
  await rolloutProbe.streak(20, { timeoutMs: 120_000 });
  const rolled = await rolloutProbe.stop();
  if (applied.code !== 0) assert.fail(`apply --cluster: exit ${applied.code}\n${applied.stdout}\n${applied.stderr}\n${await consoles()}`);
  assert.match(applied.stdout, /order: lb-b, lb-a \(master lb-a last\)/);
  assert.ok(applied.stdout.indexOf('lb-b: on version') < applied.stdout.indexOf('lb-a: asked'), applied.stdout);
  assert.equal(rolled.failed, 0, `failed requests during the rollout: ${summarizeProbe(rolled)}`);
  for (const az of lab.plan.azs) {
    const r = await lab.request(az, { headers: { 'X-Canary': '1' }, signal, timeoutMs: 5000 });
    assert.match(r.headers['x-served-by'] ?? '', /^s[12]$/, `${az}: the rolled-out route`);
  }

  // down refuses while a bounded client loop runs through the VIP: the published statuses show it.
  const busyProbe = await startProbe(lab, { clientAz: 'az-b', signal, intervalMs: 50, timeoutMs: 2000, maxDurationMs: 300_000 });
  await busyProbe.firstSuccess({ timeoutMs: 60_000 });
  const refused = await run(process.execPath, [MAIN, 'down', EXAMPLE, '--yes', '--endpoint-url', lab.apiUrl], env);
  const stoppedAt = Date.now();
  const busy = await busyProbe.stop();
  assert.equal(refused.code, 1, `${refused.stdout}\n${refused.stderr}`);
  // The master (lb-a) serves the loop: its sessions show (open now, or grown between down's two reads).
  assert.match(refused.stdout, /\nTraffic: node lb-a (has \d+ sessions? open|served \d+ new sessions? between two reads of its status)/);
  assert.match(refused.stderr, /^overlay-lb down: nothing was removed: the VIP 192\.168\.100\.10 may still carry traffic: .* \[DOWN_VIP_IN_USE\]\n$/);
  assert.equal(busy.failed, 0, summarizeProbe(busy));
  assert.equal((await instances()).filter((i) => i.State?.Name === 'running').length, 2, 'the refused down removed nothing');

  // Once the loop stopped and both agents published after it: down removes everything up made.
  await publishedAfter(stoppedAt + 1000);
  const running = (await instances()).filter((i) => i.State?.Name === 'running').map((i) => i.InstanceId ?? '');
  const removed = await run(process.execPath, [MAIN, 'down', EXAMPLE, '--yes', '--endpoint-url', lab.apiUrl], env);
  assert.equal(removed.code, 0, `${removed.stdout}\n${removed.stderr}`);
  assert.match(removed.stdout, /\nPlan: \d+ to remove, 0 already gone, 0 left alone\.\nTraffic: no node shows sessions through the VIP\.\n/);
  assert.match(removed.stdout, /\nRemoved: \d+\.\n$/);
  assert.doesNotMatch(removed.stdout, /--force/);

  // THEN the account holds nothing that up made: as before up, resource by resource, and every
  // instance up launched (the terminated master's and its replacement's too) terminated.
  assert.deepEqual(await accountSnapshot({ iam: bare.iam, s3, ec2 }), beforeUp);
  const after = await instances();
  assert.ok(running.length === 2 && running.every((id) => after.some((i) => i.InstanceId === id)), JSON.stringify(after.map((i) => i.InstanceId)));
  assert.deepEqual(after.filter((i) => i.State?.Name !== 'terminated').map((i) => i.InstanceId), []);
  assert.match((await run(process.execPath, [MAIN, 'down', EXAMPLE, '--endpoint-url', lab.apiUrl], env)).stdout, /\nNothing to remove: nothing up made is left \(no write call was made\)\.\n$/);
});
