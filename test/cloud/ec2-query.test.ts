/**
 * The agent's own EC2 client (src/cloud/aws/ec2-query.ts, aws-http.ts) against the lab's API,
 * which verifies every signature, and against plain HTTP servers for what the lab never does
 * (close a kept-alive connection under a request, answer something that is not EC2's).
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { test, type TestContext } from 'node:test';
import { serviceEndpoint, AwsApiError } from '../../src/cloud/aws/aws-http.js';
import { Ec2HeartbeatApi } from '../../src/cloud/aws/ec2-heartbeat.js';
import { createEc2Client, filterParams, listParams, type Ec2QueryClient } from '../../src/cloud/aws/ec2-query.js';
import { Ec2RouteApi } from '../../src/cloud/aws/ec2-routes.js';
import type { AwsCredentials } from '../../src/cloud/aws/sigv4-sign.js';
import { buildExampleCloud, type ExampleCloud } from '../../src/lab/ec2/example.js';
import { ALLOW_ALL_POLICY } from '../../src/lab/ec2/policy.js';
import { startEc2Api } from '../../src/lab/ec2/server.js';
import { OverlayError } from '../../src/util/errors.js';
import { xmlItems, xmlText } from '../../src/util/xml.js';

const REGION = 'eu-west-1';
const ADMIN = { accessKeyId: 'AKIALABADMIN0000001', secretAccessKey: 'admin-secret' };

async function startLab(t: TestContext): Promise<{ lab: ExampleCloud; url: string; client: (credentials?: AwsCredentials | (() => Promise<AwsCredentials>)) => Ec2QueryClient }> {
  const lab = buildExampleCloud({ region: REGION });
  const controller = new AbortController();
  const api = await startEc2Api({ cloud: lab.cloud, host: '127.0.0.1', port: 0, signal: controller.signal, credentials: [{ ...ADMIN, principal: 'admin', policy: ALLOW_ALL_POLICY }] });
  const clients: Ec2QueryClient[] = [];
  t.after(async () => {
    for (const c of clients) c.destroy();
    controller.abort();
    await api.close();
  });
  return {
    lab, url: api.url,
    client: (credentials = ADMIN) => {
      const c = createEc2Client({ region: REGION, endpoint: api.url, credentials });
      clients.push(c);
      return c;
    },
  };
}

async function startServer(t: TestContext, handler: Parameters<typeof createServer>[1]): Promise<{ url: string; server: Server }> {
  const server = createServer(handler);
  server.keepAliveTimeout = 60_000; // the connection counts must not depend on how fast a busy machine runs
  const sockets = new Set<Socket>();
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy();
    server.close(() => resolve());
  }));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

const signal = (): AbortSignal => AbortSignal.timeout(30_000);

/** `20261207T031542Z` as epoch ms. */
const parseAmzDate = (text: string): number => Date.parse(text.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'));

void test('ec2-query: list parameters as EC2 numbers them', () => {
  assert.deepEqual(filterParams([{ Name: 'vpc-id', Values: ['vpc-1'] }, { Name: 'tag:Name', Values: ['a', 'b'] }]), {
    'Filter.1.Name': 'vpc-id', 'Filter.1.Value.1': 'vpc-1', 'Filter.2.Name': 'tag:Name', 'Filter.2.Value.1': 'a', 'Filter.2.Value.2': 'b',
  });
  assert.deepEqual(listParams('ResourceId', ['eni-1', 'eni-2']), { 'ResourceId.1': 'eni-1', 'ResourceId.2': 'eni-2' });
});

void test('ec2-query: the endpoint is the given one, else AWS_ENDPOINT_URL_EC2, else AWS_ENDPOINT_URL, else AWS\'s regional one; a bad one is named', () => {
  assert.equal(serviceEndpoint('ec2', 'eu-west-1', 'http://169.254.169.250', { AWS_ENDPOINT_URL_EC2: 'http://x' }).href, 'http://169.254.169.250/');
  assert.equal(serviceEndpoint('ec2', 'eu-west-1', undefined, { AWS_ENDPOINT_URL_EC2: 'http://x:81', AWS_ENDPOINT_URL: 'http://y' }).href, 'http://x:81/');
  assert.equal(serviceEndpoint('s3', 'eu-west-1', undefined, { AWS_ENDPOINT_URL_EC2: 'http://x', AWS_ENDPOINT_URL: 'http://y' }).href, 'http://y/');
  assert.equal(serviceEndpoint('ec2', 'eu-west-1', undefined, {}).href, 'https://ec2.eu-west-1.amazonaws.com/');
  assert.equal(serviceEndpoint('s3', 'cn-north-1', undefined, {}).href, 'https://s3.cn-north-1.amazonaws.com.cn/');
  assert.throws(() => serviceEndpoint('ec2', 'eu-west-1', 'ec2.example', {}), /the ec2 endpoint "ec2\.example" is not a URL; give an http:\/\/ or https:\/\/ URL/);
  assert.throws(() => serviceEndpoint('ec2', 'eu-west-1', 'ftp://x', {}), /is not http:\/\/ or https:\/\//);
});

void test('ec2-query: calls signed for the lab\'s API; tag values with spaces, "&", "=" and non-ASCII go and come back unchanged', async (t) => {
  const { lab, client } = await startLab(t);
  const c = client();
  const root = await c.call('DescribeRouteTables', filterParams([{ Name: 'vpc-id', Values: [lab.ids.vpc] }]), signal());
  assert.equal(root.name, 'DescribeRouteTablesResponse');
  assert.ok(xmlItems(root, 'routeTableSet').some((r) => xmlText(r, 'routeTableId') === lab.ids.routeTableA));
  const heartbeat = new Ec2HeartbeatApi(c);
  const value = 'a b&c=d/e+f%20\u00e9\u263a';
  await heartbeat.tagNetworkInterface({ networkInterfaceId: lab.ids.lb1Eni, key: 'overlay-lb:beat', value }, { signal: signal() });
  assert.deepEqual(await heartbeat.networkInterfaceTags({ networkInterfaceIds: [lab.ids.lb1Eni, 'eni-00000000000000000'], key: 'overlay-lb:beat' }, { signal: signal() }), new Map([[lab.ids.lb1Eni, value]]));
});

void test('ec2-query: EC2\'s error answers become the error code, message, status and request id; wrapAwsError names them as before', async (t) => {
  const { lab, client } = await startLab(t);
  const routes = new Ec2RouteApi(client());
  await assert.rejects(routes.replaceRoute({ routeTableId: 'rtb-00000000000000000', destinationCidr: lab.vip, networkInterfaceId: lab.ids.lb1Eni }, { signal: signal() }), (err: unknown) => {
    assert.ok(err instanceof OverlayError);
    assert.equal(err.code, 'CLOUD_NOT_FOUND');
    assert.match(err.message, /^ReplaceRoute: InvalidRouteTableID\.NotFound: The routeTable ID 'rtb-00000000000000000' does not exist/);
    assert.equal(err.details.awsCode, 'InvalidRouteTableID.NotFound');
    assert.equal(err.details.httpStatus, 400);
    assert.match(String(err.details.requestId), /^[0-9a-f-]{36}$/);
    assert.ok(err.cause instanceof AwsApiError);
    return true;
  });
  // A route that is not there: the claim's "route-missing" outcome, from EC2's message.
  const other = lab.cloud.createRouteTable({ vpcId: lab.ids.vpc }).routeTableId;
  await assert.rejects(routes.replaceRoute({ routeTableId: other, destinationCidr: lab.vip, networkInterfaceId: lab.ids.lb1Eni }, { signal: signal() }),
    (err: unknown) => err instanceof OverlayError && err.details.outcome === 'route-missing');
  // A wrong secret: the lab checks the signature.
  await assert.rejects(new Ec2RouteApi(client({ ...ADMIN, secretAccessKey: 'wrong' })).listRouteTables({ vpcId: lab.ids.vpc, destinationCidr: lab.vip }, { signal: signal() }),
    (err: unknown) => err instanceof OverlayError && err.code === 'CLOUD_AUTH_FAILURE' && err.details.awsCode === 'AuthFailure' && err.details.httpStatus === 401);
});

void test('ec2-query: a credential provider is asked once, again only near expiry, and again after it failed', async (t) => {
  const { lab, client } = await startLab(t);
  let calls = 0;
  let expiration = new Date(Date.now() + 60 * 60_000);
  let failNext = false;
  const c = client(() => {
    calls++;
    if (failNext) {
      failNext = false;
      return Promise.reject(new OverlayError('CLOUD_AUTH_FAILURE', 'no role'));
    }
    return Promise.resolve({ ...ADMIN, expiration });
  });
  const routes = new Ec2RouteApi(c);
  const list = (): Promise<unknown> => routes.listRouteTables({ vpcId: lab.ids.vpc, destinationCidr: lab.vip }, { signal: signal() });
  await Promise.all([list(), list(), list()]);
  await list();
  assert.equal(calls, 1, 'concurrent and later calls share one lookup');
  expiration = new Date(Date.now() + 4 * 60_000); // the next lookup's keys expire within the refresh window
  c.destroy();
  const c2 = client(() => { calls++; return Promise.resolve({ ...ADMIN, expiration }); });
  const routes2 = new Ec2RouteApi(c2);
  await routes2.listRouteTables({ vpcId: lab.ids.vpc, destinationCidr: lab.vip }, { signal: signal() });
  await routes2.listRouteTables({ vpcId: lab.ids.vpc, destinationCidr: lab.vip }, { signal: signal() });
  assert.equal(calls, 3, 'keys within five minutes of expiry are fetched again on each call');
  const c3 = client(() => {
    calls++;
    if (failNext) {
      failNext = false;
      return Promise.reject(new OverlayError('CLOUD_AUTH_FAILURE', 'no role'));
    }
    return Promise.resolve({ ...ADMIN });
  });
  failNext = true;
  await assert.rejects(new Ec2RouteApi(c3).listRouteTables({ vpcId: lab.ids.vpc, destinationCidr: lab.vip }, { signal: signal() }), /no role/);
  await new Ec2RouteApi(c3).listRouteTables({ vpcId: lab.ids.vpc, destinationCidr: lab.vip }, { signal: signal() });
  assert.equal(calls, 5, 'a failed lookup is not kept');
  // A lookup that hangs (IMDS unreachable) is bounded by the call's own signal.
  const hung = new Ec2RouteApi(client(() => new Promise<AwsCredentials>(() => undefined)));
  await assert.rejects(hung.listRouteTables({ vpcId: lab.ids.vpc, destinationCidr: lab.vip }, { signal: AbortSignal.timeout(200) }),
    (err: unknown) => err instanceof OverlayError && err.code === 'CLOUD_UNAVAILABLE' && /^ec2: no credentials before the call was aborted \(.*\): the credential source/.test(err.message));
});

void test('ec2-query: calls share a kept-alive connection; one the server closes under a request is sent once more on a new one', async (t) => {
  let connections = 0;
  let requests = 0;
  const answer = '<?xml version="1.0" encoding="UTF-8"?>\n<DescribeVpcsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><vpcSet/></DescribeVpcsResponse>';
  const perSocket = new WeakMap<Socket, number>();
  const { url, server } = await startServer(t, (req, res) => {
    requests++;
    const n = (perSocket.get(req.socket) ?? 0) + 1;
    perSocket.set(req.socket, n);
    req.resume();
    // The third request on a connection: closed without an answer, as a server whose idle timer fired.
    if (n === 3) { req.socket.destroy(); return; }
    req.on('end', () => { res.writeHead(200, { 'content-type': 'text/xml' }); res.end(answer); });
  });
  server.on('connection', () => { connections++; });
  const c = createEc2Client({ region: REGION, endpoint: url, credentials: ADMIN });
  t.after(() => c.destroy());
  for (let i = 0; i < 4; i++) assert.equal((await c.call('DescribeVpcs', {}, signal())).name, 'DescribeVpcsResponse');
  assert.equal(requests, 5, 'four calls, one of them sent twice');
  assert.equal(connections, 2, 'the first connection served two calls; the retry opened the second');
});

void test('ec2-query: a node whose clock is 10 minutes behind signs with the API\'s time after the first refusal, which is sent again; 2 minutes off changes nothing', async (t) => {
  let aheadMs = 10 * 60_000;
  const seen: { amzDate: string; status: number }[] = [];
  const answer = '<?xml version="1.0" encoding="UTF-8"?>\n<DescribeVpcsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><vpcSet/></DescribeVpcsResponse>';
  const { url } = await startServer(t, (req, res) => {
    req.resume();
    req.on('end', () => {
      // The API's clock: `aheadMs` ahead of this machine's. It refuses a signature 5 minutes off it, as EC2 does.
      const serverNow = Date.now() + aheadMs;
      const amzDate = String(req.headers['x-amz-date'] ?? '');
      const signedAt = parseAmzDate(amzDate);
      const ok = Math.abs(serverNow - signedAt) < 5 * 60_000;
      seen.push({ amzDate, status: ok ? 200 : 400 });
      res.writeHead(ok ? 200 : 400, { 'content-type': 'text/xml', date: new Date(serverNow).toUTCString() });
      res.end(ok ? answer : '<?xml version="1.0"?><Response><Errors><Error><Code>RequestExpired</Code><Message>Request has expired.</Message></Error></Errors><RequestID>x</RequestID></Response>');
    });
  });
  const c = createEc2Client({ region: REGION, endpoint: url, credentials: ADMIN });
  t.after(() => c.destroy());
  assert.equal((await c.call('DescribeVpcs', {}, signal())).name, 'DescribeVpcsResponse');
  assert.equal((await c.call('DescribeVpcs', {}, signal())).name, 'DescribeVpcsResponse');
  assert.deepEqual(seen.map((s) => s.status), [400, 200, 200], 'refused once, then signed with the API\'s time');
  aheadMs = 2 * 60_000; // within AWS's tolerance: a fresh client keeps its own clock
  seen.length = 0;
  const c2 = createEc2Client({ region: REGION, endpoint: url, credentials: ADMIN });
  t.after(() => c2.destroy());
  await c2.call('DescribeVpcs', {}, signal());
  assert.deepEqual(seen.map((s) => s.status), [200]);
  const signedAt = parseAmzDate(seen[0]!.amzDate);
  assert.ok(Math.abs(signedAt - Date.now()) < 60_000, `signed at ${seen[0]!.amzDate}, this machine's time`);
});

void test('ec2-query: an answer that is not EC2\'s (a proxy\'s HTML, a 200 that is not XML) is an error that says so', async (t) => {
  let mode: 'html503' | 'text200' | 'xml403' = 'html503';
  const { url } = await startServer(t, (req, res) => {
    req.resume();
    req.on('end', () => {
      if (mode === 'html503') { res.writeHead(503, { 'content-type': 'text/html' }); res.end('<html><body>Service   Unavailable</body></html>'); }
      else if (mode === 'text200') { res.writeHead(200); res.end('hello'); }
      else { res.writeHead(403); res.end('<?xml version="1.0"?><Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized.</Message></Error></Errors><RequestID>req-9</RequestID></Response>'); }
    });
  });
  const routes = new Ec2RouteApi(createEc2Client({ region: REGION, endpoint: url, credentials: ADMIN }));
  const list = (): Promise<unknown> => routes.listRouteTables({ vpcId: 'vpc-1', destinationCidr: '192.168.100.10/32' }, { signal: signal() });
  await assert.rejects(list(), (err: unknown) => err instanceof OverlayError && err.code === 'CLOUD_UNAVAILABLE' && err.details.httpStatus === 503
    && err.message === 'DescribeRouteTables: InternalError: DescribeRouteTables answered HTTP 503 without an EC2 error document: <html><body>Service Unavailable</body></html>');
  mode = 'text200';
  await assert.rejects(list(), (err: unknown) => err instanceof OverlayError && err.code === 'CLOUD_UNAVAILABLE' && /answered HTTP 200 with a body that is not XML \(malformed XML at offset 0: text outside the root element\)/.test(err.message));
  mode = 'xml403';
  await assert.rejects(list(), (err: unknown) => err instanceof OverlayError && err.code === 'CLOUD_UNAUTHORIZED' && err.details.requestId === 'req-9' && err.message === 'DescribeRouteTables: UnauthorizedOperation: You are not authorized.');
});
