import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { HealthMonitor } from '../../src/agent/health.js';
import { createLogger } from '../../src/util/log.js';

// The health monitor against a loopback HTTP server whose behaviour each step sets: an answer,
// a failing status, a refused connection, an answer that never comes, an answer cut off midway.
// Each case must end in the right track file content and reason, and the probe loop must go on
// after every one of them (a probe that never settles would freeze keepalived's view of the node).

type Behaviour = 'ok' | 'fail' | 'silent' | 'cut';

void test('HealthMonitor: track file and reason follow the health URI through 200, 503, no answer, a cut answer and a refused connection', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'olb-health-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  let behaviour: Behaviour = 'ok';
  let requests = 0;
  let connections = 0;
  const sockets = new Set<Socket>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    requests++;
    if (behaviour === 'ok') res.end('ok\n');
    else if (behaviour === 'fail') {
      res.statusCode = 503;
      res.end('no server\n');
    } else if (behaviour === 'cut') {
      res.writeHead(200, { 'content-length': '100' });
      res.write('partial');
      setTimeout(() => req.socket.destroy(), 20);
    }
    // 'silent': never answers; the probe's own timeout must end it.
  });
  server.on('connection', (s: Socket) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const closeServer = async (): Promise<void> => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  t.after(async () => {
    if (server.listening) await closeServer();
  });
  const port = (server.address() as AddressInfo).port;

  const trackFile = join(dir, 'track');
  const changes: { healthy: boolean; reason: string }[] = [];
  const ac = new AbortController();
  t.after(() => ac.abort());
  const monitor = new HealthMonitor({
    url: `http://127.0.0.1:${port}/healthz`,
    trackFile,
    intervalMs: 20,
    log: createLogger({ write: () => undefined }),
    onChange: (healthy, reason) => changes.push({ healthy, reason }),
  });
  const running = monitor.run(ac.signal);

  const waitFor = async (healthy: boolean, what: string): Promise<string> => {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const last = changes.at(-1);
      if (last?.healthy === healthy) return last.reason;
      await sleep(10);
    }
    assert.fail(`the monitor did not become ${healthy ? 'healthy' : 'unhealthy'} after ${what}; changes: ${JSON.stringify(changes)}`);
  };
  const track = async (): Promise<string> => readFile(trackFile, 'utf8');

  // GIVEN a health URI that answers 200 THEN the node is healthy ("0").
  assert.match(await waitFor(true, 'a 200'), /answers 200/);
  assert.equal(await track(), '0\n');

  // AND the probes share one kept-alive connection (a new one per probe cost most of an idle
  // agent's CPU): ten more probes, no new connection.
  const before = { requests, connections };
  for (const deadline = Date.now() + 10_000; requests < before.requests + 10 && Date.now() < deadline;) await sleep(10);
  assert.ok(requests >= before.requests + 10, `only ${requests - before.requests} probes in 10 s`);
  assert.equal(connections, before.connections, `${requests - before.requests} probes opened ${connections - before.connections} connection(s)`);

  // WHEN it answers 503 THEN unhealthy ("1") with the status in the reason.
  behaviour = 'fail';
  assert.match(await waitFor(false, 'a 503'), /answers 503/);
  assert.equal(await track(), '1\n');

  behaviour = 'ok';
  await waitFor(true, 'the 200 came back');

  // WHEN the server accepts but never answers THEN each probe ends by its own timeout.
  behaviour = 'silent';
  assert.equal(await waitFor(false, 'no answer'), 'haproxy health URI unreachable: no answer within 500 ms');
  behaviour = 'ok';
  await waitFor(true, 'answers after the silence');

  // WHEN the answer is cut off before its end THEN that is a failure too (not a hang, not a 200).
  behaviour = 'cut';
  assert.match(await waitFor(false, 'a cut answer'), /^haproxy health URI unreachable: /);
  behaviour = 'ok';
  await waitFor(true, 'answers after the cut');

  // WHEN nothing listens any more THEN unreachable, naming the refused connection.
  await closeServer();
  assert.match(await waitFor(false, 'the listener closed'), /ECONNREFUSED/);
  assert.equal(await track(), '1\n');
  assert.ok(requests > 0);

  ac.abort();
  await running;
});
