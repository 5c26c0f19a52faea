// The agent's IMDSv2 client (src/cloud/aws/imds.ts) against the lab's IMDS endpoint on 127.0.0.1
// (the caller's address picks the instance): identity, role credentials, a token the endpoint
// no longer accepts, an endpoint that does not answer; and that it does not use fetch (whose
// first use costs a long-running agent about 17 MiB: docs/BENCHMARKS.md, "Agent footprint").
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { test, type TestContext } from 'node:test';
import { ImdsClient } from '../../src/cloud/aws/imds.js';
import { OverlayError } from '../../src/util/errors.js';
import { startLabImds, type LabImds } from '../helpers/lab-imds.js';

// Today's clock: the first test checks that the role credentials expire after now.
const start = (t: TestContext, instance: 'lb1' | 'multi'): Promise<LabImds> => startLabImds(t, { requireV2: true, instance, startAt: Date.now() });

void test('identity and role credentials through IMDSv2; a refused token is renewed', async (t) => {
  const { lab, url, advance } = await start(t, 'lb1');
  const signal = AbortSignal.timeout(30_000);
  const client = new ImdsClient({ endpoint: url });
  assert.deepEqual(await client.identity('10.0.1.10', { signal }), {
    instanceId: lab.ids.lb1, region: 'eu-west-1', availabilityZone: 'eu-west-1a', networkInterfaceId: lab.ids.lb1Eni, privateIp: '10.0.1.10',
  });
  const creds = await client.roleCredentials({ signal })();
  assert.equal(lab.cloud.findRoleCredential(creds.accessKeyId)?.sessionToken, creds.sessionToken);
  assert.ok(creds.secretAccessKey.length > 0);
  assert.ok(creds.expiration.getTime() > Date.now());
  // The endpoint's time moves past the token's lifetime, the client's does not: the GET gets a
  // 401, the client drops its token and the retry asks for a new one.
  advance(7 * 3600_000);
  assert.equal(await client.get('meta-data/instance-id', { signal }), lab.ids.lb1);
});

void test('identity: an address no interface holds, a missing path, an endpoint that does not answer', async (t) => {
  const { lab, url } = await start(t, 'multi');
  const signal = AbortSignal.timeout(30_000);
  const client = new ImdsClient({ endpoint: url });
  assert.equal((await client.identity('10.0.1.21', { signal })).networkInterfaceId, lab.ids.multiEni1, 'the second interface holds it');
  await assert.rejects(client.identity('10.0.1.99', { signal }), (error: unknown) => {
    assert.ok(error instanceof OverlayError);
    assert.equal(error.code, 'CLOUD_NOT_FOUND');
    assert.match(error.message, /no network interface of instance i-\w+ holds 10\.0\.1\.99/);
    return true;
  });
  await assert.rejects(client.get('meta-data/iam/security-credentials/', { signal }), { code: 'CLOUD_NOT_FOUND' });

  // A port that accepts connections and never answers: each request times out, retried until the deadline.
  const sockets = new Set<Socket>();
  const silent = createServer((socket) => sockets.add(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    silent.close();
  });
  const port = (silent.address() as { port: number }).port;
  const slow = new ImdsClient({ endpoint: `http://127.0.0.1:${port}`, timeoutMs: 100 });
  await assert.rejects(slow.get('meta-data/instance-id', { signal, deadlineMs: 500 }), (error: unknown) => {
    assert.ok(error instanceof OverlayError);
    assert.equal(error.code, 'CLOUD_UNAVAILABLE');
    assert.match(error.message, new RegExp(`IMDS at http://127\\.0\\.0\\.1:${port} could not be reached`));
    return true;
  });
});

void test('the IMDS client does not use fetch', async (t) => {
  const { lab, url } = await start(t, 'lb1');
  const fetchBefore = globalThis.fetch;
  const calls: string[] = [];
  globalThis.fetch = (input) => {
    calls.push(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    return Promise.reject(new Error('fetch called'));
  };
  t.after(() => { globalThis.fetch = fetchBefore; });
  const client = new ImdsClient({ endpoint: url });
  assert.equal((await client.identity('10.0.1.10', { signal: AbortSignal.timeout(30_000) })).instanceId, lab.ids.lb1);
  assert.deepEqual(calls, []);
});
