// The lab's IMDSv2 endpoint, with plain fetch on 127.0.0.1 (the caller address picks the instance).
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { startLabImds, type LabImds } from '../helpers/lab-imds.js';

const start = (t: TestContext, options: { requireV2: boolean; instance?: 'lb1' | 'multi' | 'none' }): Promise<LabImds> =>
  startLabImds(t, { ...options, startAt: Date.UTC(2026, 0, 1) });

async function token(url: string, ttl = '21600'): Promise<Response> {
  return fetch(`${url}/latest/api/token`, { method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': ttl } });
}

async function get(url: string, path: string, tokenValue?: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`${url}${path}`, tokenValue === undefined ? {} : { headers: { 'X-aws-ec2-metadata-token': tokenValue } });
  return { status: res.status, body: await res.text() };
}

void test('token flow: PUT a token, then every metadata path answers with it', async (t) => {
  const { lab, url } = await start(t, { requireV2: true });
  const res = await token(url);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-aws-ec2-metadata-token-ttl-seconds'), '21600');
  const tok = await res.text();
  assert.ok(tok.length > 20);
  const eni = lab.cloud.view().networkInterfaces[lab.ids.lb1Eni]!;
  const expect: Record<string, string> = {
    '/latest/meta-data/instance-id': lab.ids.lb1,
    '/latest/meta-data/mac': eni.mac,
    '/latest/meta-data/local-ipv4': '10.0.1.10',
    '/latest/meta-data/placement/availability-zone': 'eu-west-1a',
    '/latest/meta-data/placement/region': 'eu-west-1',
    '/latest/meta-data/network/interfaces/macs/': `${eni.mac}/`,
    [`/latest/meta-data/network/interfaces/macs/${eni.mac}/interface-id`]: lab.ids.lb1Eni,
    [`/latest/meta-data/network/interfaces/macs/${eni.mac}/subnet-id`]: lab.ids.subnetA,
    [`/latest/meta-data/network/interfaces/macs/${eni.mac}/vpc-id`]: lab.ids.vpc,
    [`/latest/meta-data/network/interfaces/macs/${eni.mac}/vpc-ipv4-cidr-block`]: '10.0.0.0/16',
    '/latest/meta-data/iam/security-credentials/': 'lb-node',
    '/latest/meta-data/placement/': 'availability-zone\nregion',
  };
  for (const [path, body] of Object.entries(expect)) assert.deepEqual(await get(url, path, tok), { status: 200, body }, path);
  const creds = await get(url, '/latest/meta-data/iam/security-credentials/lb-node', tok);
  assert.equal(creds.status, 200);
  const parsed = JSON.parse(creds.body) as Record<string, string>;
  assert.deepEqual(Object.keys(parsed).sort(), ['AccessKeyId', 'Code', 'Expiration', 'LastUpdated', 'SecretAccessKey', 'Token', 'Type']);
  assert.equal(parsed['Code'], 'Success');
  assert.equal(parsed['Expiration'], '2026-01-01T06:00:00Z');
  // The credentials the IMDS hands out are the ones the EC2 API accepts.
  assert.equal(lab.cloud.findRoleCredential(parsed['AccessKeyId']!)?.sessionToken, parsed['Token']);
  const doc = await get(url, '/latest/dynamic/instance-identity/document', tok);
  const identity = JSON.parse(doc.body) as Record<string, string>;
  assert.deepEqual([identity['instanceId'], identity['region'], identity['availabilityZone'], identity['privateIp'], identity['accountId']],
    [lab.ids.lb1, 'eu-west-1', 'eu-west-1a', '10.0.1.10', '123456789012']);
  assert.equal((await get(url, '/latest/meta-data/no-such-thing', tok)).status, 404);
});

void test('IMDSv1 is refused when v2 is required, allowed otherwise; a bad or expired token is 401', async (t) => {
  const v2 = await start(t, { requireV2: true });
  assert.equal((await get(v2.url, '/latest/meta-data/instance-id')).status, 401);
  assert.equal((await get(v2.url, '/latest/meta-data/instance-id', 'not-a-token')).status, 401);
  const tok = await (await token(v2.url, '60')).text();
  assert.equal((await get(v2.url, '/latest/meta-data/instance-id', tok)).status, 200);
  v2.advance(60_000);
  assert.equal((await get(v2.url, '/latest/meta-data/instance-id', tok)).status, 401);
  const v1 = await start(t, { requireV2: false });
  assert.deepEqual(await get(v1.url, '/latest/meta-data/instance-id'), { status: 200, body: v1.lab.ids.lb1 });
  assert.equal((await get(v1.url, '/latest/meta-data/instance-id', 'not-a-token')).status, 401);
});

void test('token TTL must lie in 1..21600 seconds; GET on the token path is not allowed', async (t) => {
  const { url } = await start(t, { requireV2: true });
  for (const ttl of ['0', '21601', '-1', 'abc', '']) assert.equal((await token(url, ttl)).status, 400, `ttl ${JSON.stringify(ttl)}`);
  for (const ttl of ['1', '21600']) assert.equal((await token(url, ttl)).status, 200, `ttl ${ttl}`);
  assert.equal((await fetch(`${url}/latest/api/token`, { method: 'PUT' })).status, 400);
  assert.equal((await fetch(`${url}/latest/api/token`)).status, 405);
});

void test('an instance with several ENIs lists every MAC; an unknown caller gets 404', async (t) => {
  const multi = await start(t, { requireV2: false, instance: 'multi' });
  const enis = multi.lab.cloud.view().networkInterfaces;
  const macs = (await get(multi.url, '/latest/meta-data/network/interfaces/macs/')).body.split('\n');
  assert.deepEqual(macs, [`${enis[multi.lab.ids.multiEni0]!.mac}/`, `${enis[multi.lab.ids.multiEni1]!.mac}/`]);
  assert.equal((await get(multi.url, `/latest/meta-data/network/interfaces/macs/${enis[multi.lab.ids.multiEni1]!.mac}/interface-id`)).body, multi.lab.ids.multiEni1);
  assert.equal((await get(multi.url, '/latest/meta-data/iam/security-credentials/')).status, 404);
  const none = await start(t, { requireV2: false, instance: 'none' });
  assert.equal((await get(none.url, '/latest/meta-data/instance-id')).status, 404);
});
