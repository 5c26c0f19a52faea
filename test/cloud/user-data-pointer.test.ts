// The user-data's spec fetch (SPEC_FETCH_SH, the part of nodeUserData that chooses which spec a
// booting node installs) run by /bin/sh with Debian's aws CLI against the lab's S3 on loopback,
// signing with a credential that has exactly the S3 statements of the policy `up` gives the
// nodes (lbNodePolicy: ReadRelease, FollowRollout), and this checkout's `overlay-lb validate`. A
// node replaced while a rollout is stopped midway installs the version its desired-version
// pointer names, not the newest object; without a pointer, the newest.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { lbNodePolicy } from '../../src/cloud/aws/iam-policy.js';
import { desiredKey, resourceNames, type ReleaseLocation } from '../../src/cloud/aws/provision/names.js';
import { nodeUserData, shellQuote, SPEC_FETCH_SH } from '../../src/cloud/aws/provision/user-data.js';
import type { LabCredential } from '../../src/lab/ec2/policy.js';
import { parseSpec } from '../../src/speclang/parse.js';
import { awsCliSkip as skip } from '../helpers/aws-cli.js';
import { startCliLabApi } from '../helpers/cli-lab-api.js';

const REGION = 'eu-west-1';
const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function specText(server: string): string {
  return `cluster:
  name: shop
  vip: 192.168.100.10
  vpcCidrs: [10.0.0.0/16]
  nodes:
    - { name: lb-a, address: 10.0.1.10, zone: az-a }
    - { name: lb-b, address: 10.0.2.10, zone: az-b }
  cloud: { provider: aws, region: ${REGION}, vpcId: vpc-0de30000000000001 }
frontends:
  - name: web
    binds: [{ address: vip, port: 80 }]
    defaultBackend: app
backends:
  - name: app
    servers: [{ name: s1, address: ${server}, port: 8080 }]
provision:
  imageId: ami-0123456789abcdef0
  clients: { web: [0.0.0.0/0] }
  bucket: shop-releases
`;
}

function hashOf(text: string): string {
  const r = parseSpec(text, { file: 's.yaml' });
  assert.ok(r.ok);
  return r.hash;
}

interface Run { readonly code: number; readonly stdout: string; readonly stderr: string }

void test('user-data: a node installs the spec version its pointer names (hash checked), else the newest; no pointers: the newest', { skip, timeout: 600_000 }, async (t) => {
  const v1Text = specText('10.0.11.11');
  const v2Text = specText('10.0.11.22');
  const parsed = parseSpec(v1Text, { file: 's.yaml' });
  assert.ok(parsed.ok);
  const spec = parsed.spec;
  const names = resourceNames(spec);
  // The node's credential: the S3 statements of up's node policy, nothing else.
  const nodePolicy = lbNodePolicy({ arn: (type, id) => `arn:aws:ec2:${REGION}:123456789012:${type}/${id}`, vpcId: 'vpc-0de30000000000001', eipAllocationId: null, release: { bucket: names.bucket, keys: [names.specKey, names.packageKey], rollout: names.rollout } });
  const node: LabCredential = { accessKeyId: 'AKIALABNODE00000001', secretAccessKey: 'node-secret', principal: 'role/lb-node', policy: { ...nodePolicy, Statement: nodePolicy.Statement.filter((s) => s.Sid === 'ReadRelease' || s.Sid === 'FollowRollout') } };
  const { api, cli } = await startCliLabApi(t, { region: REGION, credentials: [node] });
  assert.match((await cli.run(['--version'])).stdout, /^aws-cli\/2\./);
  const dir = await mkdtemp(join(tmpdir(), 'olb-gate-ud-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  // `overlay-lb` on the node's PATH: this checkout's CLI.
  await writeFile(join(dir, 'overlay-lb'), `#!/bin/sh\nexec ${shellQuote(process.execPath, 'node')} ${shellQuote(MAIN, 'main')} "$@"\n`);
  await chmod(join(dir, 'overlay-lb'), 0o755);

  const ok = async (args: readonly string[]): Promise<string> => {
    const r = await cli.run([...args, '--endpoint-url', api.url]);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  await ok(['s3api', 'create-bucket', '--bucket', names.bucket, '--create-bucket-configuration', `LocationConstraint=${REGION}`]);
  await ok(['s3api', 'put-bucket-versioning', '--bucket', names.bucket, '--versioning-configuration', 'Status=Enabled']);
  const put = async (key: string, body: string): Promise<string> => {
    const file = join(cli.home, 'body');
    await writeFile(file, body);
    return (JSON.parse(await ok(['s3api', 'put-object', '--bucket', names.bucket, '--key', key, '--body', file, '--output', 'json'])) as { VersionId: string }).VersionId;
  };
  const v1 = await put(names.specKey, v1Text);
  await put(names.specKey, v2Text); // the newest object: a rollout that stopped after lb-a

  /** SPEC_FETCH_SH's fetch_spec as nodeUserData runs it (its variable lines), as the node's role. */
  const fetch = async (nodeName: string, release?: ReleaseLocation): Promise<Run & { readonly spec: string | null }> => {
    const lines = nodeUserData(spec, nodeName, release === undefined ? {} : { release }).split('\n');
    const vars = lines.filter((l) => /^(cluster|node|region|bucket|spec_key|package_key|pointer_key)='/.test(l));
    assert.equal(vars.length, 7);
    const work = await mkdtemp(join(dir, 'work-'));
    const script = `set -eu\n${vars.join('\n')}\nendpoint=${shellQuote(api.url, 'the endpoint')}\nlog() { printf 'user-data: %s\\n' "$*"; }\n${SPEC_FETCH_SH}fetch_spec ${shellQuote(work, 'work')}\n`;
    assert.ok(nodeUserData(spec, nodeName).includes(SPEC_FETCH_SH));
    const r = await new Promise<Run>((resolve) => {
      const child = execFile('/bin/sh', ['-s'], {
        timeout: 60_000,
        env: { PATH: `${dir}:/usr/bin:/bin`, HOME: cli.home, AWS_CONFIG_FILE: join(cli.home, 'config'), AWS_SHARED_CREDENTIALS_FILE: join(cli.home, 'credentials'), AWS_ACCESS_KEY_ID: node.accessKeyId, AWS_SECRET_ACCESS_KEY: node.secretAccessKey, AWS_EC2_METADATA_DISABLED: 'true', AWS_MAX_ATTEMPTS: '1', AWS_PAGER: '' },
      }, (error, stdout, stderr) => resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr }));
      child.stdin?.end(script);
    });
    return { ...r, spec: await readFile(join(work, 'spec.yaml'), 'utf8').catch(() => null) };
  };

  // No pointer yet (S3 answers NoSuchKey or, without ListBucket, AccessDenied): the newest.
  const fresh = await fetch('lb-b');
  assert.equal(fresh.code, 0, fresh.stderr);
  assert.equal(fresh.spec, v2Text);
  assert.match(fresh.stdout, /no desired-version pointer s3:\/\/shop-releases\/shop\/desired\/lb-b\.json: installing the newest spec/);

  // lb-b's pointer names v1 (the rollout to v2 stopped at lb-a): lb-b's new instance installs v1.
  await put(desiredKey('shop/', 'lb-b'), JSON.stringify({ format: 1, specVersion: v1, specHash: hashOf(v1Text), writtenAt: 1 }));
  const held = await fetch('lb-b');
  assert.equal(held.code, 0, held.stderr);
  assert.equal(held.spec, v1Text);
  assert.match(held.stdout, new RegExp(`spec fetched from s3://shop-releases/shop/spec\\.yaml version ${v1} \\(the pointer of node lb-b\\)`));
  // lb-a has its own pointer (or none): another node's pointer is not read.
  assert.equal((await fetch('lb-a')).spec, v2Text);

  // A pointer whose hash is not its version's: the boot stops, naming both hashes.
  await put(desiredKey('shop/', 'lb-b'), JSON.stringify({ format: 1, specVersion: v1, specHash: hashOf(v2Text), writtenAt: 2 }));
  const mismatch = await fetch('lb-b');
  assert.notEqual(mismatch.code, 0);
  assert.match(mismatch.stdout, new RegExp(`version ${v1} has spec hash ${hashOf(v1Text)}, its pointer s3://shop-releases/shop/desired/lb-b\\.json says ${hashOf(v2Text)}`));
  // A version id that begins with "-" (S3's version ids are opaque; the lab's are base64url, one in
  // 64 begins so) reaches S3 as a version id, not as an option: S3 answers that it has no such version.
  await put(desiredKey('shop/', 'lb-b'), JSON.stringify({ format: 1, specVersion: '-no-such-version', specHash: hashOf(v1Text), writtenAt: 3 }));
  const dashed = await fetch('lb-b');
  assert.notEqual(dashed.code, 0);
  assert.doesNotMatch(dashed.stderr, /expected one argument/);
  assert.match(dashed.stderr, /An error occurred \((NoSuchVersion|InvalidArgument)\) when calling the GetObject operation/);
  // A pointer without a version: stops, with the fix.
  await put(desiredKey('shop/', 'lb-b'), '{"format":1}');
  const broken = await fetch('lb-b');
  assert.notEqual(broken.code, 0);
  assert.match(broken.stdout, /names no spec version: write it again with overlay-lb apply --cluster/);

  // A release without pointers (the CDK construct's assets): the newest, no pointer read.
  const assets = await fetch('lb-b', { bucket: names.bucket, specKey: names.specKey, packageKey: names.packageKey });
  assert.equal(assets.code, 0, assets.stderr);
  assert.equal(assets.spec, v2Text);
  assert.doesNotMatch(assets.stdout, /pointer/);
});
