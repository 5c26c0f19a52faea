/**
 * The real-account smoke run (scripts/aws-smoke.sh), proven against the lab (root, under the
 * shared lock): `lab up --bare` (the programmatic equivalent), then the script exactly as a user
 * runs it against an account, with the lab's endpoint and admin credentials in the environment
 * and `--json`. Its report must say: the client instance answered from the VIP, the master's
 * instance was terminated and the other node took every VIP route, the failover was measured (a
 * number; no threshold: the machine is shared), `apply --cluster` passed on every node, and
 * `down` left nothing (a second down finds nothing to remove). Then, checked here apart from the
 * report: the account is as before the run, resource by resource (test/helpers/account-snapshot.ts),
 * and the client instance is terminated.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { S3Client } from '@aws-sdk/client-s3';
import { accountSnapshot } from '../helpers/account-snapshot.js';
import { needsRoot as skip, startBareLab } from '../helpers/bare-lab.js';
import { debPackage } from '../helpers/package.js';
import type { SmokeReport } from '../../src/provision/smoke.js';

const EXAMPLE = fileURLToPath(new URL('../../../examples/provision.yaml', import.meta.url));
const SCRIPT = fileURLToPath(new URL('../../../scripts/aws-smoke.sh', import.meta.url));

function run(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, [...args], { timeout: 1_500_000, env, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
    });
  });
}

void test('scripts/aws-smoke.sh against the lab: up, the client answered from the VIP, master terminated, failover measured, apply --cluster on every node, down left nothing', { skip, timeout: 1_800_000 }, async (t) => {
  const bare = await startBareLab(t, { tag: 'olbsmk' });
  const { lab, ec2 } = bare;
  const deb = await debPackage({ signal: AbortSignal.timeout(900_000) });
  const home = await bare.tempDir('home');
  const s3 = new S3Client({ region: lab.adminCredentials.region, endpoint: lab.apiUrl, maxAttempts: 1, credentials: lab.adminCredentials, forcePathStyle: true });
  t.after(() => s3.destroy());
  // GIVEN the account before the run, and the routing change apply --cluster rolls out.
  const before = await accountSnapshot({ iam: bare.iam, s3, ec2 });
  const change = join(home, 'provision-v2.yaml');
  const text = await readFile(EXAMPLE, 'utf8');
  assert.equal(text.split('        backend: app-canary\n').length, 2, 'the example\'s first route goes to app-canary');
  await writeFile(change, text.replace('        backend: app-canary\n', '        backend: app-stable\n'));
  const env = {
    PATH: process.env.PATH, HOME: home, AWS_ACCESS_KEY_ID: lab.adminCredentials.accessKeyId, AWS_SECRET_ACCESS_KEY: lab.adminCredentials.secretAccessKey,
    AWS_EC2_METADATA_DISABLED: 'true', AWS_CONFIG_FILE: join(home, 'none'), AWS_SHARED_CREDENTIALS_FILE: join(home, 'none'),
  };

  // WHEN the user's script runs against the lab's endpoint.
  const r = await run('bash', [SCRIPT, EXAMPLE, '--package', deb, '--change', change, '--json', '--endpoint-url', lab.apiUrl, '--wait-minutes', '8'], env);
  const context = `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
  if (r.code !== 0) assert.fail(`${context}\n${await bare.instanceLogs()}`);
  const report = JSON.parse(r.stdout) as SmokeReport & { readonly skipped: boolean };
  t.diagnostic(`steps: ${report.steps.map((s) => `${s.step} ${(s.ms / 1000).toFixed(1)} s`).join(', ')}`);

  // THEN the report: every step passed, in the scenario's order.
  assert.equal(report.skipped, false, context);
  assert.equal(report.ok, true, context);
  assert.equal(report.error, null, context);
  assert.deepEqual(report.steps.map((s) => s.step), ['credentials', 'fresh cluster', 'up', 'client launched', 'client answered', 'master found', 'master terminated', 'routes moved', 'client served again', 'up again', 'apply --cluster', 'client after the rollout', 'down'], context);
  // The client (an instance in the VPC) had answers from the VIP.
  assert.ok(report.client !== null && report.client.summary.answered > 0 && report.client.summary.firstAnswerAt !== null, context);
  assert.equal(report.client.url, 'http://192.168.100.10:80/');
  assert.equal(typeof report.client.firstAnswerMs, 'number');
  // The master (lb-a, priority 200) terminated; lb-b took every VIP route; the failover measured.
  assert.ok(report.failover !== null, context);
  assert.equal(report.failover.master, 'lb-a', context);
  assert.equal(report.failover.servedBy, 'lb-b', context);
  assert.equal(typeof report.failover.routesMovedMs, 'number', context);
  assert.ok(report.failover.outage === null || typeof report.failover.outage.ms === 'number', context);
  t.diagnostic(`failover: ${JSON.stringify(report.failover)}`);
  // apply --cluster reached every node (backups first, the master of that moment last: lb-b, or
  // lb-a once it preempted after its preempt delay).
  assert.ok(report.apply !== null, context);
  assert.deepEqual([...report.apply.passed].sort(), ['lb-a', 'lb-b'], context);
  // down removed what up made; a second down finds nothing.
  assert.ok(report.down !== null && report.down.removed > 0, context);
  assert.equal(report.down.leftAfter, 0, context);
  assert.equal(report.kept, false);

  // AND the account is as before the run, and every instance (nodes and client) is terminated.
  assert.deepEqual(await accountSnapshot({ iam: bare.iam, s3, ec2 }), before);
  const all = ((await ec2.send(new DescribeInstancesCommand({}))).Reservations ?? []).flatMap((x) => x.Instances ?? []);
  const client = all.find((i) => i.InstanceId === report.client?.instanceId);
  assert.equal(client?.State?.Name, 'terminated', JSON.stringify(client?.State));
  assert.deepEqual(all.filter((i) => i.Tags?.some((tag) => tag.Key === 'overlay-lb:cluster' || tag.Key === 'overlay-lb:smoke') === true && i.State?.Name !== 'terminated').map((i) => i.InstanceId), []);
});
