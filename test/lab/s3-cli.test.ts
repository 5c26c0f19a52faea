// The lab's S3 driven by Debian's aws CLI v2 with --endpoint-url (path-style): s3api and the
// high-level `aws s3` commands, as an operator types them.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { Ec2Api } from '../../src/lab/ec2/server.js';
import { awsCliSkip as skip, type AwsCli, type CliResult } from '../helpers/aws-cli.js';
import { startCliLabApi } from '../helpers/cli-lab-api.js';

const REGION = 'eu-west-1';
const ERROR = (code: string, operation: string): RegExp => new RegExp(`An error occurred \\(${code}\\) when calling the ${operation} operation`);

async function start(t: TestContext): Promise<{ api: Ec2Api; cli: AwsCli; aws: (args: readonly string[]) => Promise<CliResult> }> {
  const { api, cli } = await startCliLabApi(t, { region: REGION });
  return { api, cli, aws: (args) => cli.run([...args, '--endpoint-url', api.url]) };
}

void test('aws s3api and aws s3: buckets, objects, versions, and S3\'s errors', { skip }, async (t) => {
  const { api, cli, aws } = await start(t);
  assert.match((await cli.run(['--version'])).stdout, /^aws-cli\/2\./);
  const ok = async (args: readonly string[]): Promise<string> => {
    const r = await aws(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  const none = await aws(['s3api', 'create-bucket', '--bucket', 'releases']);
  assert.match(none.stderr, ERROR('IllegalLocationConstraintException', 'CreateBucket'));
  assert.deepEqual(api.s3.listBuckets(), []);
  await ok(['s3api', 'create-bucket', '--bucket', 'releases', '--create-bucket-configuration', `LocationConstraint=${REGION}`]);
  assert.match((await aws(['s3api', 'create-bucket', '--bucket', 'releases', '--create-bucket-configuration', `LocationConstraint=${REGION}`])).stderr,
    ERROR('BucketAlreadyOwnedByYou', 'CreateBucket'));
  await ok(['s3api', 'put-bucket-versioning', '--bucket', 'releases', '--versioning-configuration', 'Status=Enabled']);
  assert.deepEqual(JSON.parse(await ok(['s3api', 'get-bucket-versioning', '--bucket', 'releases', '--output', 'json'])), { Status: 'Enabled' });

  // s3api put-object: signed SHA-256 payload with Content-MD5, behind Expect: 100-continue.
  const file = join(cli.home, 'spec.yaml');
  await writeFile(file, 'vip: 192.168.100.10\n');
  const v1 = JSON.parse(await ok(['s3api', 'put-object', '--bucket', 'releases', '--key', 'specs/a b+c.yaml', '--body', file, '--output', 'json'])) as { ETag: string; VersionId: string };
  assert.equal(v1.ETag, `"${createHash('md5').update('vip: 192.168.100.10\n').digest('hex')}"`);
  await writeFile(file, 'vip: 192.168.100.20\n');
  const v2 = JSON.parse(await ok(['s3api', 'put-object', '--bucket', 'releases', '--key', 'specs/a b+c.yaml', '--body', file, '--output', 'json'])) as { VersionId: string };
  assert.notEqual(v1.VersionId, v2.VersionId);
  const head = JSON.parse(await ok(['s3api', 'head-object', '--bucket', 'releases', '--key', 'specs/a b+c.yaml', '--output', 'json'])) as { ContentLength: number; VersionId: string };
  assert.deepEqual([head.ContentLength, head.VersionId], [20, v2.VersionId]);
  const out = join(cli.home, 'old.yaml');
  await ok(['s3api', 'get-object', '--bucket', 'releases', '--key', 'specs/a b+c.yaml', '--version-id', v1.VersionId, out]);
  assert.equal(await readFile(out, 'utf8'), 'vip: 192.168.100.10\n');
  assert.match((await aws(['s3api', 'get-object', '--bucket', 'releases', '--key', 'nope', out])).stderr, ERROR('NoSuchKey', 'GetObject'));
  assert.match((await aws(['s3api', 'head-object', '--bucket', 'releases', '--key', 'nope'])).stderr, /\(404\) when calling the HeadObject operation( \(reached max retries: \d+\))?: Not Found/);

  // The high-level commands: cp up and down, ls (ListObjectsV2 with encoding-type=url).
  await ok(['s3', 'cp', file, 's3://releases/pkg/overlay-lb.deb']);
  await ok(['s3', 'cp', 's3://releases/pkg/overlay-lb.deb', join(cli.home, 'down.deb')]);
  assert.equal(await readFile(join(cli.home, 'down.deb'), 'utf8'), 'vip: 192.168.100.20\n');
  const listing = await ok(['s3', 'ls', 's3://releases/specs/']);
  assert.match(listing, / 20 a b\+c\.yaml\n$/);

  // Versions (the CLI asks for encoding-type=url and decodes the keys).
  await ok(['s3api', 'delete-object', '--bucket', 'releases', '--key', 'specs/a b+c.yaml']);
  const versions = JSON.parse(await ok(['s3api', 'list-object-versions', '--bucket', 'releases', '--prefix', 'specs/', '--output', 'json'])) as {
    Versions: { Key: string; VersionId: string; IsLatest: boolean }[]; DeleteMarkers: { Key: string; VersionId: string; IsLatest: boolean }[];
  };
  assert.deepEqual(versions.Versions.map((v) => [v.Key, v.VersionId, v.IsLatest]), [['specs/a b+c.yaml', v2.VersionId, false], ['specs/a b+c.yaml', v1.VersionId, false]]);
  assert.equal(versions.DeleteMarkers.length, 1);
  assert.equal(versions.DeleteMarkers[0]?.IsLatest, true);

  assert.match((await aws(['s3api', 'delete-bucket', '--bucket', 'releases'])).stderr, ERROR('BucketNotEmpty', 'DeleteBucket'));
  // Every version and the marker in one DeleteObjects call (the CLI sends its checksum header).
  const entries = [...versions.Versions, ...versions.DeleteMarkers];
  const batch = JSON.parse(await ok(['s3api', 'delete-objects', '--bucket', 'releases', '--output', 'json', '--delete', JSON.stringify({ Objects: entries.map((v) => ({ Key: v.Key, VersionId: v.VersionId })) })])) as {
    Deleted: { Key: string; VersionId: string; DeleteMarker?: boolean }[];
  };
  assert.deepEqual(batch.Deleted.map((d) => [d.Key, d.VersionId, d.DeleteMarker ?? false]), entries.map((v, i) => [v.Key, v.VersionId, i === entries.length - 1]));
  assert.equal(api.s3.allVersions(api.s3.bucket('releases')).filter(({ version }) => version.key.startsWith('specs/')).length, 0);
  assert.match((await aws(['s3api', 'delete-objects', '--bucket', 'releases', '--delete', JSON.stringify({ Objects: Array.from({ length: 1001 }, (_, i) => ({ Key: `k${i}` })) })])).stderr, ERROR('MalformedXML', 'DeleteObjects'));
  await ok(['s3', 'rm', 's3://releases/pkg/overlay-lb.deb']);
  const pkg = api.s3.allVersions(api.s3.bucket('releases'));
  for (const { version } of pkg) await ok(['s3api', 'delete-object', '--bucket', 'releases', '--key', version.key, '--version-id', version.versionId]);
  await ok(['s3api', 'delete-bucket', '--bucket', 'releases']);
  assert.match((await aws(['s3api', 'delete-bucket', '--bucket', 'releases'])).stderr, ERROR('NoSuchBucket', 'DeleteBucket'));
  assert.deepEqual(api.s3.listBuckets(), []);
});
