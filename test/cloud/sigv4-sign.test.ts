import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SignatureV4 } from '@smithy/signature-v4';
import { amzDate, canonicalQueryString, EMPTY_SHA256, sha256Hex, signRequest, type AwsCredentials } from '../../src/cloud/aws/sigv4-sign.js';
import { NodeSha256 } from '../helpers/node-sha256.js';

const NOW = new Date('2026-12-07T03:15:42.123Z');
const KEYS: AwsCredentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const SESSION: AwsCredentials = { ...KEYS, sessionToken: 'IQoJb3JpZ2luX2VjEXAMPLE//token+with/odd=chars' };

interface Case {
  readonly name: string;
  readonly service: string;
  readonly s3: boolean;
  readonly method: string;
  readonly host: string;
  readonly path: string;
  readonly query?: Record<string, string>;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly credentials: AwsCredentials;
}

const CASES: Case[] = [
  {
    name: 'EC2 Query POST, with a session token', service: 'ec2', s3: false, method: 'POST', host: 'ec2.eu-west-1.amazonaws.com', path: '/',
    headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
    body: 'Action=DescribeRouteTables&Version=2016-11-15&Filter.1.Name=vpc-id&Filter.1.Value.1=vpc-0a1b2c', credentials: SESSION,
  },
  {
    name: 'a plain-HTTP endpoint with a port and a path to encode twice (not S3)', service: 'ec2', s3: false, method: 'POST', host: '169.254.169.250:8080', path: '/a%20b/c',
    headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', 'x-custom': '  two   spaces  ' }, body: 'Action=DescribeVpcs&Version=2016-11-15', credentials: KEYS,
  },
  {
    name: 'S3 GET of a version, If-None-Match, a key with spaces and non-ASCII (signed as sent)', service: 's3', s3: true, method: 'GET', host: 'bucket.s3.eu-west-1.amazonaws.com',
    path: '/prefix/spec%20v1/%E2%98%BA.yaml', query: { versionId: 'a+b/c=', 'x-id': 'GetObject' },
    headers: { 'x-amz-content-sha256': EMPTY_SHA256, 'if-none-match': '"0123abcd"' }, body: '', credentials: SESSION,
  },
  {
    name: 'S3 PUT with user metadata, path-style', service: 's3', s3: true, method: 'PUT', host: '10.0.0.5:9000', path: '/bucket/status/lb-a.json',
    headers: { 'content-type': 'application/json', 'x-amz-meta-overlay-lb-cluster': 'prod', 'x-amz-content-sha256': sha256Hex('{"ok":true}') }, body: '{"ok":true}', credentials: KEYS,
  },
];

void test('sigv4: every case signs exactly as the AWS SDK\'s own signer (@smithy/signature-v4) signs it', async () => {
  for (const c of CASES) {
    const signer = new SignatureV4({ service: c.service, region: 'eu-west-1', sha256: NodeSha256, credentials: c.credentials, uriEscapePath: !c.s3, applyChecksum: false });
    const [hostname, port] = c.host.split(':');
    const theirs = await signer.sign({
      method: c.method, protocol: 'https:', hostname: hostname!, ...(port === undefined ? {} : { port: Number(port) }), path: c.path, query: c.query ?? {},
      headers: { ...c.headers, host: c.host }, body: c.body,
    }, { signingDate: NOW });
    const ours = signRequest({
      method: c.method, path: c.path, ...(c.query === undefined ? {} : { query: c.query }), headers: { ...c.headers, host: c.host }, payloadHash: c.s3 ? c.headers['x-amz-content-sha256']! : sha256Hex(c.body),
      service: c.service, region: 'eu-west-1', credentials: c.credentials, now: NOW, s3: c.s3,
    });
    assert.equal(ours.authorization, theirs.headers.authorization, c.name);
    assert.equal(ours['x-amz-date'], '20261207T031542Z', c.name);
    assert.equal(ours['x-amz-security-token'], c.credentials.sessionToken, c.name);
  }
});

void test('sigv4: dates, query canonicalization (RFC 3986, sorted by name then value)', () => {
  assert.equal(amzDate(new Date('2026-01-02T03:04:05.999Z')), '20260102T030405Z');
  assert.equal(canonicalQueryString({ b: 'x y', a: "it's*", 'c~d': '-_.~' }), "a=it%27s%2A&b=x%20y&c~d=-_.~");
  assert.equal(canonicalQueryString(undefined), '');
  assert.equal(sha256Hex(''), EMPTY_SHA256);
});
