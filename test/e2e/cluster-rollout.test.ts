// Issue 19 item 4: the spec rolled out to every node through the release bucket. A lab whose LB
// nodes run the agent with a provision section in their spec: each agent follows its
// desired-version pointer in the lab's S3 with the instance role's credentials (IMDSv2), under the
// exact policy `up` grants the nodes (lbNodePolicy with release and rollout, put on the lab's LB
// role through IAM), and publishes its status there. The operator's side is the CLI as a real
// process with the lab's admin credentials and --endpoint-url: no SSH, no route to the nodes.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join, dirname } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { IAMClient, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import { CreateBucketCommand, GetObjectCommand, ListObjectVersionsCommand, PutBucketVersioningCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { AgentStatus, PublishedNodeStatus } from '../../src/agent-api/contract.js';
import { lbNodePolicy } from '../../src/cloud/aws/iam-policy.js';
import { desiredKey, DIGEST_METADATA, OWNER_METADATA, resourceNames, statusKey } from '../../src/cloud/aws/provision/names.js';
import { LB_NODE_ROLE } from '../../src/lab/controller.js';
import type { LabHandle } from '../../src/lab/lab.js';
import { loadSpecFile } from '../../src/ops/load-spec.js';
import { AWS_CLI, awsCli } from '../helpers/aws-cli.js';
import { startProbe, summarizeProbe } from '../helpers/lab-probe.js';
import { agentStatus, isRoot, startE2eLab, waitFor, type E2eLab } from './fixture.js';
import { createHash } from 'node:crypto';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const BUCKET = `olbt-rollout-${process.pid}`;
const PREFIX = 'demo/';
/** Agents poll and publish every second here (10 s by default), so stale is 3 s. */
const FOLLOW_MS = 1000;

interface CliRun { readonly code: number; readonly stdout: string; readonly stderr: string }

/** `overlay-lb ARGS` as an operator runs it: the lab's admin credentials, the lab's endpoint. */
function cli(lab: LabHandle, args: readonly string[]): Promise<CliRun> {
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/root', AWS_ACCESS_KEY_ID: lab.adminCredentials.accessKeyId, AWS_SECRET_ACCESS_KEY: lab.adminCredentials.secretAccessKey, AWS_EC2_METADATA_DISABLED: 'true' };
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args, '--endpoint-url', lab.apiUrl], { env, timeout: 300_000, maxBuffer: 8 << 20 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

interface Ctx {
  readonly e2e: E2eLab;
  readonly lab: LabHandle;
  readonly s3: S3Client;
  readonly dir: string;
}

async function text(s3: S3Client, key: string): Promise<string | null> {
  const r = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key })).catch(() => null);
  return r === null ? null : ((await r.Body?.transformToString('utf8')) ?? null);
}

async function pointerOf(s3: S3Client, node: string): Promise<string | null> {
  const t = await text(s3, desiredKey(PREFIX, node));
  return t === null ? null : (JSON.parse(t) as { specVersion: string }).specVersion;
}

async function specVersions(s3: S3Client): Promise<string[]> {
  const r = await s3.send(new ListObjectVersionsCommand({ Bucket: BUCKET, Prefix: `${PREFIX}spec.yaml` }));
  return (r.Versions ?? []).map((v) => v.VersionId ?? '');
}

async function published(s3: S3Client, node: string): Promise<PublishedNodeStatus | null> {
  const t = await text(s3, statusKey(PREFIX, node));
  try {
    const v = t === null ? null : (JSON.parse(t) as Partial<PublishedNodeStatus>);
    // Not the empty object the policy check below writes, until the agent's next write (its refresh).
    return v?.format === 1 ? v as PublishedNodeStatus : null;
  } catch {
    return null;
  }
}

/** A copy of the spec with `edit` applied to its YAML document. */
async function variant(ctx: Ctx, name: string, edit: (doc: ReturnType<typeof parseDocument>) => void): Promise<string> {
  const doc = parseDocument(await readFile(ctx.e2e.specFile, 'utf8'));
  edit(doc);
  const file = join(ctx.dir, `${name}.yaml`);
  await writeFile(file, doc.toString());
  return file;
}

async function hashes(lab: LabHandle): Promise<Record<string, string | undefined>> {
  const [a, b] = [await agentStatus(lab, 'lb-a'), await agentStatus(lab, 'lb-b')];
  return { 'lb-a': a?.specHash, 'lb-b': b?.specHash };
}

void test('apply --cluster, rollback and status --cluster through the release bucket', { skip: !isRoot && 'needs root (network namespaces)', timeout: 540_000 }, async (t) => {
  let s3: S3Client | undefined;
  const e2e = await startE2eLab(t, {
    agentArgs: ['--follow-release', '--follow-interval', String(FOLLOW_MS)],
    editSpec: (spec) => {
      spec['provision'] = { imageId: 'ami-0deb12a0000000001', clients: { web: ['10.0.0.0/16'] }, bucket: BUCKET, prefix: PREFIX };
    },
  }, {
    // What `up` leaves in the account before the agents start: the versioned bucket, the spec object
    // with its ownership metadata, and the nodes' role with the policy up writes.
    beforeAgents: async (lab) => {
      const config = { region: lab.adminCredentials.region, endpoint: lab.apiUrl, maxAttempts: 1, credentials: lab.adminCredentials };
      s3 = new S3Client({ ...config, forcePathStyle: true });
      const iam = new IAMClient(config);
      t.after(() => iam.destroy());
      // startE2eLab's spec file: beside the lab's state dir.
      const e2eSpecFile = join(dirname(dirname(lab.stateFile)), 'spec.yaml');
      await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
      await s3.send(new PutBucketVersioningCommand({ Bucket: BUCKET, VersioningConfiguration: { Status: 'Enabled' } }));
      const loaded = await loadSpecFile(e2eSpecFile, { signal: AbortSignal.timeout(10_000) });
      const names = resourceNames(loaded.spec);
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: names.specKey, Body: loaded.text, Metadata: { [OWNER_METADATA]: loaded.spec.cluster.name, [DIGEST_METADATA]: createHash('sha256').update(loaded.text).digest('hex') } }));
      const policy = lbNodePolicy({ arn: (type, id) => lab.controller.cloud.arn(type, id), vpcId: lab.plan.vpc.id, eipAllocationId: null, release: { bucket: names.bucket, keys: [names.specKey, names.packageKey], rollout: names.rollout } });
      await iam.send(new PutRolePolicyCommand({ RoleName: LB_NODE_ROLE, PolicyName: 'overlay-lb-node', PolicyDocument: JSON.stringify(policy) }));
    },
  });
  const { lab } = e2e;
  assert.ok(s3 !== undefined);
  t.after(() => s3?.destroy());
  const ctx: Ctx = { e2e, lab, s3, dir: dirname(e2e.specFile) };
  const v1Hash = (await agentStatus(lab, 'lb-a'))?.specHash;
  assert.ok(v1Hash !== undefined);

  // The lab enforces that role's policy on a node's own calls (/usr/bin/aws in lb-a's namespace,
  // the instance profile's credentials from the lab's IMDS): a node may write its status, never a pointer or the spec.
  const nodeAws = (args: readonly string[]): ReturnType<LabHandle['exec']> => lab.exec('lb-a', ['env', 'HOME=/tmp', 'AWS_REGION=us-east-1', AWS_CLI, '--endpoint-url', 'http://169.254.169.250', ...args], { signal: AbortSignal.timeout(60_000), allowFailure: true, timeoutMs: 50_000 });
  const body = join(ctx.dir, 'body.json');
  await writeFile(body, '{}');
  const version = await nodeAws(['--version']);
  assert.match(version.stdout + version.stderr, /^aws-cli\/2\./, 'the lab tests run the aws CLI v2');
  const own = await nodeAws(['s3api', 'put-object', '--bucket', BUCKET, '--key', statusKey(PREFIX, 'lb-a'), '--body', body]);
  assert.equal(own.code, 0, own.stderr);
  for (const denied of [['s3api', 'put-object', '--bucket', BUCKET, '--key', desiredKey(PREFIX, 'lb-a'), '--body', body], ['s3api', 'put-object', '--bucket', BUCKET, '--key', `${PREFIX}spec.yaml`, '--body', body], ['s3api', 'list-objects-v2', '--bucket', BUCKET]]) {
    const r = await nodeAws(denied);
    assert.ok(r.code !== 0 && /AccessDenied/.test(r.stderr), `${denied.join(' ')} was not refused: ${r.code} ${r.stderr}`);
  }
  // GIVEN every agent publishes its status in the bucket (its role may write status/ only)
  await waitFor(e2e, 'both nodes publish their status', async () => (await published(s3!, 'lb-a')) !== null && (await published(s3!, 'lb-b')) !== null, { timeoutMs: 60_000 });
  const statusOk = await cli(lab, ['status', e2e.specFile, '--cluster']);
  t.diagnostic(statusOk.stdout);
  assert.equal(statusOk.code, 0, `${statusOk.stdout}\n${statusOk.stderr}`);
  assert.match(statusOk.stdout, /lb-a\s+-\s+-\s+MASTER\s+yes/);
  assert.match(statusOk.stdout, /lb-b\s+-\s+-\s+BACKUP\s+yes/);

  // 1. A routing change (requests with X-Canary: 1 go to app-stable instead of app-canary), rolled
  // out backup first, master last, while a bounded client loop goes through the VIP.
  const before = await lab.request('az-a', { headers: { 'X-Canary': '1' }, signal: AbortSignal.timeout(10_000) });
  assert.equal(before.headers['x-served-by'], 'c1');
  const v2 = await variant(ctx, 'v2', (doc) => doc.setIn(['frontends', 0, 'routes', 0, 'backend'], 'app-stable'));
  const probe = await startProbe(lab, { clientAz: 'az-a', signal: AbortSignal.timeout(10_000), maxDurationMs: 240_000 });
  t.after(() => probe.stop().then(() => undefined, () => undefined));
  await probe.firstSuccess();
  const applied = await cli(lab, ['apply', v2, '--cluster', '--node-timeout', '90']);
  await probe.streak(20);
  const report = await probe.stop();
  t.diagnostic(applied.stdout);
  t.diagnostic(`probe: ${summarizeProbe(report)}`);
  assert.equal(applied.code, 0, `${applied.stdout}\n${applied.stderr}\n${await e2e.logs()}`);
  assert.match(applied.stdout, /order: lb-b, lb-a \(master lb-a last\)/);
  assert.ok(applied.stdout.indexOf('lb-b: on version') < applied.stdout.indexOf('lb-a: asked'), applied.stdout);
  assert.equal(report.failed, 0, `failed requests during the rollout: ${summarizeProbe(report)}`);
  const v2Version = await pointerOf(s3, 'lb-a');
  assert.ok(v2Version !== null);
  assert.equal(await pointerOf(s3, 'lb-b'), v2Version);
  const v2Hash = (await loadSpecFile(v2, { signal: AbortSignal.timeout(10_000) })).hash;
  assert.deepEqual(await hashes(lab), { 'lb-a': v2Hash, 'lb-b': v2Hash });
  const afterV2 = await lab.request('az-a', { headers: { 'X-Canary': '1' }, signal: AbortSignal.timeout(10_000) });
  assert.match(afterV2.headers['x-served-by'] ?? '', /^s[12]$/);

  // 2. A spec that fails validation: refused here, nothing uploaded, no pointer and no node changed.
  const versionsBefore = await specVersions(s3);
  const bad = await variant(ctx, 'bad', (doc) => doc.setIn(['frontends', 0, 'routes', 0, 'backend'], 'no-such-backend'));
  const refused = await cli(lab, ['apply', bad, '--cluster']);
  assert.equal(refused.code, 2, `${refused.stdout}\n${refused.stderr}`);
  assert.match(refused.stderr, /no-such-backend/);
  assert.deepEqual(await specVersions(s3), versionsBefore);
  assert.deepEqual([await pointerOf(s3, 'lb-a'), await pointerOf(s3, 'lb-b')], [v2Version, v2Version]);
  assert.deepEqual(await hashes(lab), { 'lb-a': v2Hash, 'lb-b': v2Hash });

  // 3. A spec that validates but that the first node refuses at apply (its admin section changed:
  // that takes an agent restart, never a live rollout): the rollout stops at lb-b, lb-a untouched.
  const v3 = await variant(ctx, 'v3', (doc) => doc.setIn(['admin', 'stats', 'port'], 8414));
  const stopped = await cli(lab, ['apply', v3, '--cluster', '--node-timeout', '60']);
  t.diagnostic(`${stopped.stdout}\n${stopped.stderr}`);
  assert.equal(stopped.code, 1, `${stopped.stdout}\n${stopped.stderr}`);
  assert.match(stopped.stderr, /node lb-b failed its gate .*SPEC_CONFLICT.*lb-a stays on its previous version/s);
  assert.equal(await pointerOf(s3, 'lb-a'), v2Version, 'the master was asked to take the failed version');
  assert.notEqual(await pointerOf(s3, 'lb-b'), v2Version);
  assert.deepEqual(await hashes(lab), { 'lb-a': v2Hash, 'lb-b': v2Hash });

  // 4. rollback: every node back to the version before the newest asked for (v2), then once more (v1).
  const back = await cli(lab, ['rollback', e2e.specFile, '--cluster', '--node-timeout', '60']);
  t.diagnostic(back.stdout);
  assert.equal(back.code, 0, `${back.stdout}\n${back.stderr}\n${await e2e.logs()}`);
  assert.deepEqual([await pointerOf(s3, 'lb-a'), await pointerOf(s3, 'lb-b')], [v2Version, v2Version]);
  const lbB = await agentStatus(lab, 'lb-b');
  assert.deepEqual(lbB?.problems, [], 'the refused change is still reported after rolling back to what runs');
  const back2 = await cli(lab, ['rollback', e2e.specFile, '--cluster', '--node-timeout', '60']);
  assert.equal(back2.code, 0, `${back2.stdout}\n${back2.stderr}\n${await e2e.logs()}`);
  assert.deepEqual(await hashes(lab), { 'lb-a': v1Hash, 'lb-b': v1Hash });
  const afterBack = await lab.request('az-a', { headers: { 'X-Canary': '1' }, signal: AbortSignal.timeout(10_000) });
  assert.equal(afterBack.headers['x-served-by'], 'c1');

  // 4b. The gate's doctor checks: lb-b's source/destination check turned on through the EC2 API
  // (an operator's mistake the agent cannot see). The same spec rolled out again: lb-b takes it
  // and is healthy, but doctor's source-dest-check about it fails, so the rollout stops there with
  // the check and its fix, and the master is not asked. The fix, run as printed, lets it through.
  const operator = await awsCli({ region: lab.adminCredentials.region, creds: { key: lab.adminCredentials.accessKeyId, secret: lab.adminCredentials.secretAccessKey } });
  t.after(() => operator.close());
  const ec2 = async (args: readonly string[]): Promise<string> => {
    const r = await operator.run(['ec2', ...args, '--endpoint-url', lab.apiUrl, '--output', 'json']);
    assert.equal(r.code, 0, `aws ec2 ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const lbBAddress = (await loadSpecFile(e2e.specFile, { signal: AbortSignal.timeout(10_000) })).spec.cluster.nodes.find((n) => n.name === 'lb-b')?.address ?? '';
  const described = JSON.parse(await ec2(['describe-instances', '--filters', `Name=private-ip-address,Values=${lbBAddress}`, 'Name=instance-state-name,Values=running'])) as { Reservations: { Instances: { InstanceId: string }[] }[] };
  const lbBInstance = described.Reservations.flatMap((r) => r.Instances)[0]?.InstanceId ?? '';
  assert.match(lbBInstance, /^i-/);
  await ec2(['modify-instance-attribute', '--instance-id', lbBInstance, '--source-dest-check']);
  const lbAPointer = await pointerOf(s3, 'lb-a');
  const gated = await cli(lab, ['apply', e2e.specFile, '--cluster', '--node-timeout', '60']);
  t.diagnostic(`${gated.stdout}\n${gated.stderr}`);
  assert.equal(gated.code, 1, `${gated.stdout}\n${gated.stderr}`);
  assert.match(gated.stderr, new RegExp(`node lb-b failed its gate .*doctor check source-dest-check \\(lb-b\\) fails: .*fix: aws ec2 modify-instance-attribute --instance-id ${lbBInstance} --no-source-dest-check.*lb-a stays on its previous version`, 's'));
  assert.equal(await pointerOf(s3, 'lb-a'), lbAPointer, 'the master was asked after lb-b failed its doctor checks');
  const fix = /fix: aws ec2 (modify-instance-attribute --instance-id i-[0-9a-f]+ --no-source-dest-check)/.exec(gated.stderr)?.[1] ?? '';
  await ec2(fix.split(' '));
  const fixed = await cli(lab, ['apply', e2e.specFile, '--cluster', '--node-timeout', '60']);
  t.diagnostic(fixed.stdout);
  assert.equal(fixed.code, 0, `${fixed.stdout}\n${fixed.stderr}\n${await e2e.logs()}`);
  assert.match(fixed.stdout, /lb-b: on version .*doctor checks pass \(instance, source-dest-check, sg-vrrp, sg-handoff\)/);
  assert.deepEqual(await hashes(lab), { 'lb-a': v1Hash, 'lb-b': v1Hash });

  // 5. S3 unreachable: the agents keep serving what they run and say so (problem + metric).
  await lab.faults.inject({ kind: 's3-unreachable' });
  const reported = await waitFor(e2e, 'lb-a reports the bucket unreachable', async () => {
    const s = await agentStatus(lab, 'lb-a');
    return s?.problems.find((p) => p.component === 'spec-source') ?? null;
  }, { timeoutMs: 60_000 });
  assert.match(reported.message, /keeps running spec version/);
  const served = await lab.request('az-a', { headers: { 'X-Canary': '1' }, signal: AbortSignal.timeout(10_000) });
  assert.equal(served.headers['x-served-by'], 'c1');
  const metrics = await lab.exec('lb-a', ['curl', '-fsS', '--max-time', '2', 'http://127.0.0.1:8406/metrics'], { signal: AbortSignal.timeout(10_000) });
  assert.match(metrics.stdout, /overlay_lb_spec_source_polls_total\{result="unreachable"\} [1-9]/);
  assert.deepEqual(await hashes(lab), { 'lb-a': v1Hash, 'lb-b': v1Hash });
  await lab.faults.clear({ kind: 's3-unreachable' });
  await waitFor(e2e, 'the problem clears once S3 answers again', async () => {
    const s: AgentStatus | null = await agentStatus(lab, 'lb-a');
    return s !== null && !s.problems.some((p) => p.component === 'spec-source');
  }, { timeoutMs: 60_000 });

  // 6. status --cluster from outside flags a stale node: lb-b's agent stops publishing.
  assert.equal(await lab.faults.kill('lb-b', 'agent', { signal: AbortSignal.timeout(10_000) }), 'killed');
  let last: CliRun = { code: -1, stdout: '', stderr: '' };
  await waitFor(e2e, () => `status --cluster flags lb-b stale (last: ${last.stdout}${last.stderr})`, async () => {
    last = await cli(lab, ['status', e2e.specFile, '--cluster']);
    return last.code === 1 && /^lb-b .*STALE$/m.test(last.stdout);
  }, { timeoutMs: 60_000, intervalMs: 1000 });
  t.diagnostic(last.stdout);
  assert.match(last.stdout, /^lb-a .*MASTER\s+yes\s+\d+s$/m);
  assert.match(last.stdout, /lb-b: stale: published \d+ s ago/);
  // And a rollout is refused untouched while a node cannot be gated.
  const versionsNow = await specVersions(s3);
  const blocked = await cli(lab, ['apply', v2, '--cluster']);
  assert.equal(blocked.code, 1, `${blocked.stdout}\n${blocked.stderr}`);
  assert.match(blocked.stderr, /lb-b's published status is \d+ s old.*nothing was changed \[ROLLOUT_REFUSED\]/s);
  assert.deepEqual(await specVersions(s3), versionsNow);
});
