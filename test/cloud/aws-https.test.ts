/**
 * The agent's AWS clients over HTTPS, as they reach AWS (the lab speaks plain HTTP): a local
 * HTTPS server with a certificate from a test CA checks every request's SigV4 signature with the
 * lab's verifier. A client in another process that trusts the CA (NODE_EXTRA_CA_CERTS, read at a
 * process's start) gets its answers over a kept-alive TLS connection; this process, which does
 * not trust it, is refused at the handshake: certificates are verified.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { createEc2Client } from '../../src/cloud/aws/ec2-query.js';
import { Ec2RouteApi } from '../../src/cloud/aws/ec2-routes.js';
import { verifySigV4 } from '../../src/lab/ec2/sigv4.js';
import { ALLOW_ALL_POLICY } from '../../src/lab/ec2/policy.js';
import { OverlayError } from '../../src/util/errors.js';
import { REPO_ROOT } from '../helpers/package.js';
import { makeCa, makeCert } from '../helpers/tls-certs.js';

const run = promisify(execFile);
const KEYS = { accessKeyId: 'AKIAHTTPSTEST000001', secretAccessKey: 'https-secret', sessionToken: 'a-session-token' };
const ANSWER = '<?xml version="1.0" encoding="UTF-8"?>\n<DescribeRouteTablesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r-1</requestId><routeTableSet><item><routeTableId>rtb-1</routeTableId><vpcId>vpc-1</vpcId><routeSet><item><destinationCidrBlock>192.168.100.10/32</destinationCidrBlock><networkInterfaceId>eni-1</networkInterfaceId><state>active</state></item></routeSet><associationSet/><tagSet/></item></routeTableSet></DescribeRouteTablesResponse>';

void test('over HTTPS: signed as the verifier expects, on one kept-alive TLS connection, and only to a server whose certificate is trusted', { timeout: 120_000 }, async (t) => {
  const signal = AbortSignal.timeout(100_000);
  const dir = await mkdtemp(join(tmpdir(), 'olb-aws-https-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const ca = await makeCa(dir, 'aws-https test CA', signal);
  const cert = await makeCert(dir, 'server.pem', { ca, subject: '/CN=localhost', dns: ['localhost'], signal });
  const verified: string[] = [];
  const connections = new Set<Socket>();
  let tlsConnections = 0;
  const server = createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        verifySigV4({
          request: { method: req.method ?? '', rawUrl: req.url ?? '', rawHeaders: req.rawHeaders, body: Buffer.concat(chunks) },
          region: 'eu-west-1', service: 'ec2', findCredential: (id) => (id === KEYS.accessKeyId ? { ...KEYS, principal: 'test', policy: ALLOW_ALL_POLICY } : undefined),
        });
        verified.push(req.headers.host ?? '');
        res.writeHead(200, { 'content-type': 'text/xml' });
        res.end(ANSWER);
      } catch (err) {
        res.writeHead(401, { 'content-type': 'text/xml' });
        res.end(`<?xml version="1.0"?><Response><Errors><Error><Code>AuthFailure</Code><Message>${(err as Error).message}</Message></Error></Errors><RequestID>x</RequestID></Response>`);
      }
    });
  });
  server.keepAliveTimeout = 60_000; // as AWS's endpoints: an idle connection outlives a slow machine's pause
  server.on('secureConnection', (s) => { tlsConnections++; connections.add(s); s.on('close', () => connections.delete(s)); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => { for (const s of connections) s.destroy(); server.close(() => resolve()); }));
  const endpoint = `https://localhost:${(server.address() as AddressInfo).port}`;

  // Another process, trusting the test CA: three calls.
  const script = `
    const { createEc2Client } = await import(${JSON.stringify(join(REPO_ROOT, 'dist/src/cloud/aws/ec2-query.js'))});
    const { Ec2RouteApi } = await import(${JSON.stringify(join(REPO_ROOT, 'dist/src/cloud/aws/ec2-routes.js'))});
    const client = createEc2Client({ region: 'eu-west-1', endpoint: ${JSON.stringify(endpoint)}, credentials: ${JSON.stringify(KEYS)} });
    const routes = new Ec2RouteApi(client);
    const out = [];
    for (let i = 0; i < 3; i++) out.push(await routes.describeRouteTables({ routeTableIds: ['rtb-1'], destinationCidr: '192.168.100.10/32' }, { signal: AbortSignal.timeout(20000) }));
    client.destroy();
    process.stdout.write(JSON.stringify(out[2]));`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, NODE_EXTRA_CA_CERTS: ca.certFile }, signal });
  assert.deepEqual(JSON.parse(stdout), [{ id: 'rtb-1', vpcId: 'vpc-1', main: false, tags: {}, vipRoute: { networkInterfaceId: 'eni-1', state: 'active' } }]);
  assert.deepEqual(verified, [endpoint.slice('https://'.length), endpoint.slice('https://'.length), endpoint.slice('https://'.length)], 'three signatures verified, the host signed with its port');
  assert.equal(tlsConnections, 1, 'the three calls shared one TLS connection');

  // This process does not trust the test CA: the handshake fails, nothing is sent.
  const client = createEc2Client({ region: 'eu-west-1', endpoint, credentials: KEYS });
  t.after(() => client.destroy());
  await assert.rejects(new Ec2RouteApi(client).describeRouteTables({ routeTableIds: ['rtb-1'], destinationCidr: '192.168.100.10/32' }, { signal: AbortSignal.timeout(20_000) }),
    (err: unknown) => err instanceof OverlayError && err.code === 'CLOUD_UNAVAILABLE' && /certificate/i.test(err.message));
  assert.equal(verified.length, 3);
});
