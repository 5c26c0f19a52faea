/**
 * `overlay-lb down` against the lab's bare account (`lab up --bare`): up --yes (IAM, the bucket
 * and its objects, the security group, one instance per node, the VIP route in every selected
 * table), then down --yes leaves the account as it was before up, compared resource by resource
 * through the real AWS SDK (test/helpers/account-snapshot.ts: every IAM role and instance profile
 * with tags, inline policies and members; every bucket with its versioning, tags, object versions
 * and delete markers; every instance not terminated, group, interface and route); a second down
 * makes zero write calls (counted in the lab's own request log); foreign objects, versions and
 * roles are untouched; a down interrupted after N write calls (and a CLI process killed midway)
 * converges on the next run; down refuses while the agents' published status shows traffic, or
 * while the VIP routes to a node without a fresh status, unless --force.
 *
 * The package here is a stand-in (no agent runs on the nodes, so none publishes its status, and
 * up's VIP routes point at lb-a): the round trip publishes idle stand-in statuses for both nodes,
 * as the agents will, so that down proceeds without --force as an operator's would; the tests of
 * convergence and of foreign things give --force (they are not about traffic); the traffic tests
 * publish the statuses they need. test/e2e/up-bare.test.ts does it with the real package.
 * /usr/bin/aws (checked to be aws-cli/2) sees what is gone. Real kernel, root, under the shared lock.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CreateInstanceProfileCommand, CreateRoleCommand, IAMClient, PutRolePolicyCommand, AddRoleToInstanceProfileCommand } from '@aws-sdk/client-iam';
import { DeleteObjectCommand, GetObjectCommand, ListObjectVersionsCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { EC2Client } from '@aws-sdk/client-ec2';
import { startLab, stopLab, type LabHandle } from '../../src/lab/lab.js';
import { up } from '../../src/provision/up.js';
import { CALL_PACE_LAB } from '../../src/cloud/aws/provision/session.js';
import { down, type DownResult } from '../../src/provision/down.js';
import type { Clock } from '../../src/util/clock.js';
import { OverlayError } from '../../src/util/errors.js';
import { leftovers } from '../helpers/lab-leftovers.js';
import { awsCli, awsCliSkip } from '../helpers/aws-cli.js';
import { accountSnapshot } from '../helpers/account-snapshot.js';

const EXAMPLE = fileURLToPath(new URL('../../../examples/provision.yaml', import.meta.url));
const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const skip = process.getuid?.() === 0 ? false : 'needs root';
/** Reads: every other action the lab logs is a write. */
const READ = /^(Get|List|Head|Describe)/;

interface Logged { readonly action: string | undefined; readonly status: number }

let lab: LabHandle;
let dir: string;
let labDir: string;
let stateFile: string;
let prefix: string;
let before0: Awaited<ReturnType<typeof leftovers>>;
const log: Logged[] = [];
let onApiRequest: (entry: Logged) => void = () => undefined;
let iam: IAMClient;
let s3: S3Client;
let ec2: EC2Client;
let packageFile: string;
let env: NodeJS.ProcessEnv;

before(async () => {
  if (skip !== false) return;
  dir = await mkdtemp(join(tmpdir(), 'olbd-'));
  labDir = await mkdtemp(join(tmpdir(), 'olbd-lab-'));
  prefix = `olbd${process.pid}`.slice(0, 12);
  stateFile = join(labDir, `${prefix}state.json`);
  before0 = await leftovers(prefix, labDir);
  lab = await startLab({
    specFile: EXAMPLE, prefix, stateDir: labDir, bare: true, signal: AbortSignal.timeout(180_000),
    log: {
      info: (fields, message) => {
        if (message !== 'lab api request') return;
        const entry = { action: fields['action'] as string | undefined, status: fields['status'] as number };
        log.push(entry);
        onApiRequest(entry);
      },
      error: () => undefined,
    },
  });
  const config = { region: lab.adminCredentials.region, endpoint: lab.apiUrl, maxAttempts: 1, credentials: lab.adminCredentials };
  iam = new IAMClient(config);
  s3 = new S3Client({ ...config, forcePathStyle: true });
  ec2 = new EC2Client(config);
  const root = join(dir, 'pkg');
  await mkdir(join(root, 'DEBIAN'), { recursive: true });
  await writeFile(join(root, 'DEBIAN/control'), 'Package: overlay-lb\nVersion: 0.0.1-test\nArchitecture: all\nMaintainer: tests <t@example.com>\nDescription: a stand-in package for the down test\n');
  packageFile = join(dir, 'overlay-lb_0.0.1-test_all.deb');
  await run('dpkg-deb', ['--build', '--root-owner-group', root, packageFile]);
  env = {
    PATH: process.env.PATH, HOME: dir, AWS_ACCESS_KEY_ID: lab.adminCredentials.accessKeyId, AWS_SECRET_ACCESS_KEY: lab.adminCredentials.secretAccessKey,
    AWS_EC2_METADATA_DISABLED: 'true', AWS_CONFIG_FILE: join(dir, 'none'), AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none'),
  };
});

after(async () => {
  if (skip !== false) return;
  iam?.destroy();
  s3?.destroy();
  ec2?.destroy();
  await lab?.close();
  await stopLab(stateFile, { signal: AbortSignal.timeout(60_000) });
  assert.deepEqual(await leftovers(prefix, labDir), before0);
  await rm(dir, { recursive: true, force: true });
  await rm(labDir, { recursive: true, force: true });
});

function run(cmd: string, args: readonly string[], runEnv?: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, [...args], { timeout: 180_000, ...(runEnv === undefined ? {} : { env: runEnv }) }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
    });
  });
}

/** A spec file for cluster `name` (its own role, bucket `<name>-releases` and prefix demo/), in the lab's VPC. */
async function specFile(name: string): Promise<string> {
  const text = (await readFile(EXAMPLE, 'utf8'))
    .replace('name: demo', `name: ${name}`)
    .replace('virtualRouterId: 51', `virtualRouterId: ${(name.length * 7) % 200 + 1}`)
    .replace('bucket: overlay-lb-demo-releases', `bucket: ${name}-releases`);
  const file = join(dir, `${name}.yaml`);
  await writeFile(file, text);
  return file;
}

const writes = (requests: readonly Logged[]): string[] => requests.filter((r) => !READ.test(r.action ?? '')).map((r) => r.action ?? `(status ${r.status})`);
/** The write calls that succeeded (the group's deletion is retried while the terminated instances' interfaces go). */
const doneWrites = (requests: readonly Logged[]): string[] => writes(requests.filter((r) => r.status < 300));

/** up --yes from nothing: IAM (4), the bucket and its 2 objects, the group, 2 instances, and a VIP route per selected table; returns those tables, in up's order. */
async function upIn(file: string): Promise<string[]> {
  // The lab's pace (here and in downIn): the AWS one would make each run wait on the session's bucket, not on the API (the CLI runs below keep the AWS pace).
  const r = await up({ specFile: file, packageFile, mode: 'apply', endpoint: lab.apiUrl, credentials: lab.adminCredentials, pace: CALL_PACE_LAB, signal: AbortSignal.timeout(300_000) });
  const created = r.applied?.created ?? [];
  const tables = created.flatMap((l) => /^VIP route 192\.168\.100\.10\/32 in route table (rtb-[0-9a-f]+)$/.exec(l)?.[1] ?? []);
  assert.ok(tables.length > 0 && created.length === 10 + tables.length, JSON.stringify(r.applied));
  return tables;
}

/** What down removes before the S3 objects, in its order: the instances, then the VIP routes (up's order reversed; after the instances, so no agent puts them back), the group. */
const ec2Steps = (cluster: string, tables: readonly string[]): string[] => [
  'remove instance of node lb-b (10.0.2.10, az-b)', 'remove instance of node lb-a (10.0.1.10, az-a)',
  ...[...tables].reverse().map((t) => `remove VIP route 192.168.100.10/32 in route table ${t}`), `remove security group overlay-lb-${cluster}`,
];
const EC2_WRITES = (tables: readonly string[]): string[] => ['TerminateInstances', 'TerminateInstances', ...tables.map(() => 'DeleteRoute'), 'DeleteSecurityGroup'];

async function downIn(file: string, options: { mode?: 'plan' | 'apply'; force?: boolean; signal?: AbortSignal; clock?: Clock } = {}): Promise<{ result: DownResult; requests: Logged[] }> {
  const start = log.length;
  const result = await down({
    specFile: file, mode: options.mode ?? 'apply', endpoint: lab.apiUrl, credentials: lab.adminCredentials, trafficRecheckMs: 200, pace: CALL_PACE_LAB,
    signal: options.signal ?? AbortSignal.timeout(120_000), ...(options.force === undefined ? {} : { force: options.force }), ...(options.clock === undefined ? {} : { clock: options.clock }),
  });
  return { result, requests: log.slice(start) };
}

const steps = (r: DownResult): string[] => r.plan.steps.map((s) => `${s.action} ${s.label}`);

/** The whole account as the SDK reads it (test/helpers/account-snapshot.ts): IAM, S3 and EC2 (instances, groups, interfaces, routes). */
const snapshot = (): Promise<Record<string, unknown>> => accountSnapshot({ iam, s3, ec2 });

/** A status object as an agent publishes it beside the spec (PublishedNodeStatus), marked as the cluster's. */
async function publishStatus(cluster: string, node: string, traffic: { currentSessions: number; totalSessions: number }, ageMs = 0): Promise<void> {
  const body = JSON.stringify({ format: 1, publishedAt: Date.now() - ageMs, intervalMs: 10_000, specVersion: null, status: {}, traffic });
  await s3.send(new PutObjectCommand({ Bucket: `${cluster}-releases`, Key: `demo/status/${node}.json`, Body: body, ContentType: 'application/json', Metadata: { 'overlay-lb-cluster': cluster } }));
}

void test('up then down leaves the account as before up, resource by resource; a second down makes zero write calls (CLI, text and JSON)', { skip }, async () => {
  const file = await specFile('round');
  const before1 = await snapshot();
  const tables = await upIn(file);
  assert.notDeepEqual(await snapshot(), before1);
  // Stand-in statuses, as the agents publish them (the stand-in package runs none): both nodes idle.
  const idle = async (): Promise<void> => {
    await publishStatus('round', 'lb-a', { currentSessions: 0, totalSessions: 3 });
    await publishStatus('round', 'lb-b', { currentSessions: 0, totalSessions: 0 });
  };
  await idle();

  // --plan: the removal order, and nothing written.
  const planned = await downIn(file, { mode: 'plan' });
  assert.deepEqual(writes(planned.requests), []);
  assert.deepEqual(steps(planned.result), [
    ...ec2Steps('round', tables),
    'gone S3 object s3://round-releases/demo/desired/lb-b.json (spec version pointer of node lb-b)', 'remove S3 object s3://round-releases/demo/status/lb-b.json (status of node lb-b)',
    'gone S3 object s3://round-releases/demo/desired/lb-a.json (spec version pointer of node lb-a)', 'remove S3 object s3://round-releases/demo/status/lb-a.json (status of node lb-a)',
    'remove S3 object s3://round-releases/demo/overlay-lb.deb (the package)', 'remove S3 object s3://round-releases/demo/spec.yaml (the spec)', 'remove S3 bucket round-releases',
    'remove role overlay-lb-round in instance profile overlay-lb-round', 'remove IAM instance profile overlay-lb-round',
    'remove IAM inline policy overlay-lb-node of role overlay-lb-round', 'remove IAM role overlay-lb-round',
  ]);
  assert.deepEqual(planned.result.context.traffic, { refuse: false, findings: [] });

  // The real CLI: the plan first, then the progress, exit 0.
  await idle();
  const start = log.length;
  const cli = await run(process.execPath, [MAIN, 'down', file, '--yes', '--endpoint-url', lab.apiUrl], env);
  assert.equal(cli.code, 0, cli.stderr);
  const out = cli.stdout.trim().split('\n');
  assert.match(out[0]!, /^overlay-lb down: cluster round, account \d{12}, region us-east-1$/);
  const total = 12 + tables.length;
  const planEnd = out.indexOf(`Plan: ${total} to remove, 2 already gone, 0 left alone.`);
  const firstRemoval = out.indexOf('  removing instance of node lb-b (10.0.2.10, az-b)');
  assert.ok(planEnd > 0 && firstRemoval > planEnd, cli.stdout);
  assert.equal(out.filter((l) => l.startsWith('  removing ')).length, total);
  assert.equal(out.at(-1), `Removed: ${total}.`);
  // Every version: the two statuses were published twice (2 + 2), the package and the spec once: one DeleteObjects per key.
  assert.deepEqual(doneWrites(log.slice(start)), [...EC2_WRITES(tables), ...Array<string>(4).fill('DeleteObjects'), 'DeleteBucket', 'RemoveRoleFromInstanceProfile', 'DeleteInstanceProfile', 'DeleteRolePolicy', 'DeleteRole']);
  assert.deepEqual(await snapshot(), before1);

  // A second down: everything already gone, zero write calls.
  const again = log.length;
  const json = await run(process.execPath, [MAIN, 'down', file, '--yes', '--json', '--endpoint-url', lab.apiUrl], env);
  assert.equal(json.code, 0, json.stderr);
  const parsed = JSON.parse(json.stdout) as { nothingToRemove: boolean; counts: Record<string, number>; traffic: unknown; applied: unknown };
  assert.equal(parsed.nothingToRemove, true);
  assert.deepEqual(parsed.counts, { remove: 0, gone: total + 2, keep: 0, blocked: 0, unsupported: 0 });
  assert.equal(parsed.traffic, null);
  assert.deepEqual(writes(log.slice(again)), []);
  const text = await run(process.execPath, [MAIN, 'down', file, '--endpoint-url', lab.apiUrl], env);
  assert.match(text.stdout, /\nNothing to remove: nothing up made is left \(no write call was made\)\.\n$/);
});

void test('/usr/bin/aws sees nothing of up\'s after down', { skip: skip || awsCliSkip }, async () => {
  const file = await specFile('clidown');
  await upIn(file);
  await downIn(file, { force: true });
  const cli = await awsCli({ region: lab.adminCredentials.region, creds: { key: lab.adminCredentials.accessKeyId, secret: lab.adminCredentials.secretAccessKey } });
  try {
    const version = await cli.run(['--version']);
    assert.match(`${version.stdout}${version.stderr}`, /^aws-cli\/2\.\d+\.\d+ /);
    const e = ['--endpoint-url', lab.apiUrl, '--output', 'json'];
    const role = await cli.run(['iam', 'get-role', '--role-name', 'overlay-lb-clidown', ...e]);
    assert.notEqual(role.code, 0);
    assert.match(role.stderr, /NoSuchEntity/);
    const profile = await cli.run(['iam', 'get-instance-profile', '--instance-profile-name', 'overlay-lb-clidown', ...e]);
    assert.match(profile.stderr, /NoSuchEntity/);
    const bucket = await cli.run(['s3api', 'head-bucket', '--bucket', 'clidown-releases', ...e]);
    assert.notEqual(bucket.code, 0);
    assert.match(bucket.stderr, /404|Not Found/);
    const buckets = JSON.parse((await cli.run(['s3api', 'list-buckets', ...e])).stdout) as { Buckets: { Name: string }[] };
    assert.ok(!buckets.Buckets.some((b) => b.Name === 'clidown-releases'));
    const groups = JSON.parse((await cli.run(['ec2', 'describe-security-groups', '--filters', 'Name=group-name,Values=overlay-lb-clidown', ...e])).stdout) as { SecurityGroups: unknown[] };
    assert.deepEqual(groups.SecurityGroups, []);
    const reservations = JSON.parse((await cli.run(['ec2', 'describe-instances', '--filters', 'Name=tag:overlay-lb:cluster,Values=clidown', ...e])).stdout) as { Reservations: { Instances: { State: { Name: string } }[] }[] };
    const states = reservations.Reservations.flatMap((r) => r.Instances.map((i) => i.State.Name));
    assert.deepEqual(states, ['terminated', 'terminated']);
    const tables = JSON.parse((await cli.run(['ec2', 'describe-route-tables', ...e])).stdout) as { RouteTables: { Routes: { DestinationCidrBlock?: string }[] }[] };
    assert.ok(tables.RouteTables.length > 0 && tables.RouteTables.every((t) => t.Routes.every((r) => r.DestinationCidrBlock !== '192.168.100.10/32')));
  } finally {
    await cli.close();
  }
});

void test('foreign things are left alone: an object and a version up did not write keep the bucket; a role with a similar name, and one with up\'s name but no tag, are untouched', { skip }, async () => {
  const file = await specFile('keep');
  // GIVEN a role with a similar name and a role with the name up would use for cluster "alien", neither tagged.
  const trust = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }] });
  await iam.send(new CreateRoleCommand({ RoleName: 'overlay-lb-keep-old', AssumeRolePolicyDocument: trust }));
  await iam.send(new PutRolePolicyCommand({ RoleName: 'overlay-lb-keep-old', PolicyName: 'overlay-lb-node', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: '*' }] }) }));
  await iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: 'overlay-lb-keep-old' }));
  await iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: 'overlay-lb-keep-old', RoleName: 'overlay-lb-keep-old' }));
  await iam.send(new CreateRoleCommand({ RoleName: 'overlay-lb-alien', AssumeRolePolicyDocument: trust }));
  await iam.send(new PutRolePolicyCommand({ RoleName: 'overlay-lb-alien', PolicyName: 'overlay-lb-node', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'ec2:*', Resource: '*' }] }) }));
  const before1 = await snapshot();
  const tables = await upIn(file);
  // AND someone else's object in up's bucket, and their version written over up's spec.
  const readmeVersion = (await s3.send(new PutObjectCommand({ Bucket: 'keep-releases', Key: 'notes/readme.txt', Body: 'not up\'s\n' }))).VersionId;
  const foreignVersion = (await s3.send(new PutObjectCommand({ Bucket: 'keep-releases', Key: 'demo/spec.yaml', Body: 'theirs\n' }))).VersionId;

  // --force: no agent publishes its status here (stand-in package) and this is not about traffic.
  const { result, requests } = await downIn(file, { force: true });
  assert.deepEqual(steps(result).filter((s) => !s.startsWith('gone ')), [
    ...ec2Steps('keep', tables), 'remove S3 object s3://keep-releases/demo/overlay-lb.deb (the package)', 'remove S3 object s3://keep-releases/demo/spec.yaml (the spec)', 'keep S3 bucket keep-releases',
    'remove role overlay-lb-keep in instance profile overlay-lb-keep', 'remove IAM instance profile overlay-lb-keep',
    'remove IAM inline policy overlay-lb-node of role overlay-lb-keep', 'remove IAM role overlay-lb-keep',
  ]);
  const bucketStep = result.plan.steps.find((s) => s.label === 'S3 bucket keep-releases')!;
  assert.equal(bucketStep.reason, 'S3 bucket keep-releases is this cluster\'s, but holds 2 object versions or delete markers that up did not write (the first: notes/readme.txt), so down keeps the bucket and them');
  assert.deepEqual(result.applied?.leftAlone.map((l) => l.label), ['S3 bucket keep-releases']);
  assert.deepEqual(doneWrites(requests), [...EC2_WRITES(tables), 'DeleteObjects', 'DeleteObjects', 'RemoveRoleFromInstanceProfile', 'DeleteInstanceProfile', 'DeleteRolePolicy', 'DeleteRole']);

  // THEN the account is as before up, but for the bucket, which holds exactly the foreign content.
  const now = await snapshot();
  const { buckets, ...rest } = now as { buckets: Record<string, { versions: string[]; markers: string[] }> };
  const { buckets: bucketsBefore, ...restBefore } = before1 as { buckets: Record<string, unknown> };
  assert.deepEqual(rest, restBefore);
  const { 'keep-releases': kept, ...otherBuckets } = buckets;
  assert.deepEqual(otherBuckets, bucketsBefore);
  assert.deepEqual(kept?.versions.map((v) => v.split(' ').slice(0, 2).join(' ')), [`demo/spec.yaml ${foreignVersion}`, `notes/readme.txt ${readmeVersion}`]);
  assert.deepEqual(kept?.markers, []);
  assert.equal(await (await s3.send(new GetObjectCommand({ Bucket: 'keep-releases', Key: 'demo/spec.yaml' }))).Body?.transformToString(), 'theirs\n');
  assert.equal(await (await s3.send(new GetObjectCommand({ Bucket: 'keep-releases', Key: 'notes/readme.txt' }))).Body?.transformToString(), 'not up\'s\n');

  // A second down changes nothing and says why the bucket stays.
  const again = log.length;
  const cli = await run(process.execPath, [MAIN, 'down', file, '--yes', '--endpoint-url', lab.apiUrl], env);
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, /\n {2}= left alone {2}S3 bucket keep-releases: S3 bucket keep-releases is this cluster's, but holds 2 object versions or delete markers that up did not write \(the first: notes\/readme\.txt\), so down keeps the bucket and them\. delete them if they are no longer needed \(aws s3api list-object-versions --bucket keep-releases\) and run down again, or keep the bucket\n/);
  assert.match(cli.stdout, /\nNothing to remove: nothing up made is left \(what is left alone above was not made by up\) \(no write call was made\)\.\n$/);
  assert.deepEqual(writes(log.slice(again)), []);

  // Once the foreign content is gone, down removes the bucket it made.
  for (const v of kept?.versions ?? []) {
    const [key, versionId] = v.split(' ');
    await s3.send(new DeleteObjectCommand({ Bucket: 'keep-releases', Key: key, VersionId: versionId }));
  }
  const last = await downIn(file);
  assert.deepEqual(last.result.applied?.removed, ['S3 bucket keep-releases']);
  assert.deepEqual(await snapshot(), before1);

  // The role with up's name for cluster "alien" but no tag: left alone, zero writes.
  const alien = await downIn(await specFile('alien'));
  assert.deepEqual(steps(alien.result).filter((s) => !s.startsWith('gone ')), ['keep IAM inline policy overlay-lb-node of role overlay-lb-alien', 'keep IAM role overlay-lb-alien']);
  assert.equal(alien.result.plan.steps.find((s) => s.label === 'IAM role overlay-lb-alien')?.reason, 'not made by up: IAM role overlay-lb-alien has no tag overlay-lb:cluster=alien');
  assert.deepEqual(writes(alien.requests), []);
  assert.deepEqual(await snapshot(), before1);
});

void test('a down interrupted after N write calls converges on the next run (every N), and the run after makes no write call', { skip }, async () => {
  // --force throughout: no agent publishes its status here and this is about convergence. The
  // number of write calls of a whole down: 2 terminations, the routes, the group, 2 objects, the
  // bucket, 4 IAM calls.
  let total = Infinity;
  for (let n = 1; n <= total; n += 1) {
    const name = `dcut${n}`;
    const file = await specFile(name);
    const before1 = await snapshot();
    total = 10 + (await upIn(file)).length;
    const stop = new AbortController();
    let seen = 0;
    onApiRequest = (entry) => {
      if (!READ.test(entry.action ?? '') && (seen += 1) === n) stop.abort(new Error(`interrupted after ${n} write calls`));
    };
    await assert.rejects(downIn(file, { signal: stop.signal, force: true }), () => stop.signal.aborted);
    onApiRequest = () => undefined;
    const rerun = await downIn(file, { force: true });
    assert.equal(doneWrites(rerun.requests).length, total - n, `after ${n}: ${writes(rerun.requests).join(', ')}`);
    assert.deepEqual(writes((await downIn(file, { force: true })).requests), [], `after ${n}, a third run`);
    assert.deepEqual(await snapshot(), before1, `after ${n}`);
  }
});

void test('a down process killed (SIGKILL) in the middle converges on the next run', { skip }, async () => {
  const file = await specFile('dkilled');
  const before1 = await snapshot();
  const total = 10 + (await upIn(file)).length;
  // --force: no agent publishes its status here and this is about convergence.
  const child = spawn(process.execPath, [MAIN, 'down', file, '--yes', '--force', '--endpoint-url', lab.apiUrl], { env, stdio: 'ignore' });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  let seen = 0;
  onApiRequest = (entry) => {
    if (!READ.test(entry.action ?? '') && (seen += 1) === 4) child.kill('SIGKILL');
  };
  assert.equal(await exited, 'SIGKILL');
  onApiRequest = () => undefined;
  const rerun = await downIn(file, { force: true });
  assert.ok(doneWrites(rerun.requests).length <= total - 4, writes(rerun.requests).join(', '));
  assert.deepEqual(writes((await downIn(file, { force: true })).requests), []);
  assert.deepEqual(await snapshot(), before1);
});

void test('down refuses while a node\'s published status shows sessions (or sessions that grew between two reads), removing nothing; --force removes it all, the status objects too', { skip }, async () => {
  const file = await specFile('busy');
  const before1 = await snapshot();
  const tables = await upIn(file);
  // GIVEN the agents publish their status beside the spec, as they will: lb-a idle, lb-b with 2 open sessions.
  await publishStatus('busy', 'lb-a', { currentSessions: 0, totalSessions: 40 });
  await publishStatus('busy', 'lb-b', { currentSessions: 2, totalSessions: 17 });
  const start = log.length;
  await assert.rejects(downIn(file), (err: OverlayError) => {
    assert.equal(err.code, 'DOWN_VIP_IN_USE');
    assert.match(err.message, /^nothing was removed: the VIP 192\.168\.100\.10 may still carry traffic: node lb-b has 2 sessions open \(its status of \d+ s ago\)\. Move the clients off the VIP and run down again, or give --force to remove it anyway$/);
    return true;
  });
  assert.deepEqual(writes(log.slice(start)), []);
  // The CLI: the plan with the traffic finding, then one line with the code, exit 1.
  const cli = await run(process.execPath, [MAIN, 'down', file, '--yes', '--endpoint-url', lab.apiUrl], env);
  assert.equal(cli.code, 1);
  assert.match(cli.stdout, /\nTraffic: node lb-b has 2 sessions open \(its status of \d+ s ago\) \[current-sessions\]\n$/);
  assert.match(cli.stderr, /^overlay-lb down: nothing was removed: the VIP 192\.168\.100\.10 may still carry traffic: .* \[DOWN_VIP_IN_USE\]\n$/);
  assert.deepEqual(writes(log.slice(start)), []);

  // GIVEN every node idle now, but lb-a serves new sessions between down's two reads.
  await publishStatus('busy', 'lb-b', { currentSessions: 0, totalSessions: 17 });
  const growing: Clock = { now: () => Date.now(), sleep: () => publishStatus('busy', 'lb-a', { currentSessions: 0, totalSessions: 43 }) };
  await assert.rejects(downIn(file, { clock: growing }), (err: OverlayError) => err.code === 'DOWN_VIP_IN_USE' && /: node lb-a served 3 new sessions between two reads of its status\./.test(err.message));
  assert.deepEqual(writes(log.slice(start)), ['PutObject', 'PutObject']);

  // --force, while lb-b shows a session again, removes everything up made and the agents' marked
  // status objects: every version of them (spec 1, package 1, lb-a 2, lb-b 3), one DeleteObjects per key.
  await publishStatus('busy', 'lb-b', { currentSessions: 1, totalSessions: 18 });
  const mark = log.length;
  const forced = await run(process.execPath, [MAIN, 'down', file, '--yes', '--force', '--endpoint-url', lab.apiUrl], env);
  assert.equal(forced.code, 0, forced.stderr);
  assert.match(forced.stdout, new RegExp(`\n--force: removed although the VIP may still carry traffic\\.\nRemoved: ${12 + tables.length}\\.\n$`));
  assert.match(forced.stdout, /\nTraffic: node lb-b has 1 session open/);
  assert.deepEqual(writes(log.slice(mark)).filter((w) => w.startsWith('DeleteObject')), Array<string>(4).fill('DeleteObjects'));
  assert.deepEqual(await snapshot(), before1);
});

void test('down cannot tell and refuses when a node it would remove has no fresh status while the VIP route points at it; a fresh idle status or --force lets it proceed', { skip }, async () => {
  const file = await specFile('routed');
  const before1 = await snapshot();
  // GIVEN up's instances (their interfaces tagged with the cluster and the node) and the VIP routed
  // by up to lb-a's, no agent publishing (the stand-in package runs none).
  await upIn(file);
  const start = log.length;
  await assert.rejects(downIn(file), (err: OverlayError) => {
    assert.equal(err.code, 'DOWN_VIP_IN_USE');
    assert.match(err.message, /may still carry traffic: node lb-a has published no status and the VIP route still points at it, so down cannot tell whether it carries traffic\. Move the clients off the VIP and run down again, or give --force to remove it anyway$/);
    return true;
  });
  // A stale status (older than three intervals) is no better.
  await publishStatus('routed', 'lb-a', { currentSessions: 0, totalSessions: 5 }, 45_000);
  await assert.rejects(downIn(file), (err: OverlayError) => err.code === 'DOWN_VIP_IN_USE' && /node lb-a published its status last 4\d s ago \(stale after 3 intervals of 10 s\) and the VIP route still points at it/.test(err.message));
  assert.deepEqual(writes(log.slice(start)), ['PutObject']);
  // A fresh idle status tells: the plan shows no finding (lb-b has no status, but no VIP route points at it).
  await publishStatus('routed', 'lb-a', { currentSessions: 0, totalSessions: 5 });
  assert.deepEqual((await downIn(file, { mode: 'plan' })).result.context.traffic, { refuse: false, findings: [] });
  // Stale again: --force removes everything up made (instances, group and routes too) and the status object.
  await publishStatus('routed', 'lb-a', { currentSessions: 0, totalSessions: 5 }, 45_000);
  const forced = await downIn(file, { force: true });
  assert.equal(forced.result.forced, true);
  assert.deepEqual(forced.result.context.traffic?.findings.map((f) => [f.node, f.reason]), [['lb-a', 'no-fresh-status']]);
  assert.deepEqual(await snapshot(), before1);
});

void test('a status key with thousands of versions goes in batches of 1,000 without a HeadObject per version; a key whose oldest version is someone else\'s is judged version by version', { skip }, async () => {
  const file = await specFile('heap');
  const before1 = await snapshot();
  await upIn(file);
  // GIVEN lb-a's status written 2,101 times, every write marked (as the agents write it), and at
  // lb-b's status key someone else's version first, then two marked ones.
  const put = (key: string, marked: boolean): Promise<unknown> => s3.send(new PutObjectCommand({ Bucket: 'heap-releases', Key: key, Body: '{}', ContentType: 'application/json', ...(marked ? { Metadata: { 'overlay-lb-cluster': 'heap' } } : {}) }));
  for (let i = 0; i < 2101; i += 50) await Promise.all(Array.from({ length: Math.min(50, 2101 - i) }, () => put('demo/status/lb-a.json', true)));
  const foreign = (await s3.send(new PutObjectCommand({ Bucket: 'heap-releases', Key: 'demo/status/lb-b.json', Body: 'theirs' }))).VersionId;
  await put('demo/status/lb-b.json', true);
  await put('demo/status/lb-b.json', true);

  const mark = log.length;
  await downIn(file, { force: true });
  const calls = log.slice(mark);
  // lb-a: 3 DeleteObjects (1,000 + 1,000 + 101); spec, package, lb-b's two marked versions: one each.
  assert.deepEqual(writes(calls).filter((w) => w.startsWith('DeleteObject')), Array<string>(6).fill('DeleteObjects'));
  // Heads: the newest and the oldest of each published key per look (plan, bucket, removal), lb-b's three one by one; never one per version of lb-a's.
  const heads = calls.filter((c) => c.action === 'HeadObject').length;
  assert.ok(heads < 40, `${heads} HeadObject calls`);
  // lb-b's foreign version stays, and with it the bucket.
  const left = await s3.send(new ListObjectVersionsCommand({ Bucket: 'heap-releases' }));
  assert.deepEqual([...(left.Versions ?? []).map((v) => [v.Key, v.VersionId]), ...(left.DeleteMarkers ?? []).map((m) => [m.Key, m.VersionId])], [['demo/status/lb-b.json', foreign]]);
  await s3.send(new DeleteObjectCommand({ Bucket: 'heap-releases', Key: 'demo/status/lb-b.json', VersionId: foreign }));
  await downIn(file, { force: true });
  assert.deepEqual(await snapshot(), before1);
});
