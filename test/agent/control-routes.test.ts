// The agent's control routes behind the real control server (a unix socket, mode 0600), called
// through the CLI's client (`agentCall`): both sides of the wire contract
// (src/agent-api/contract.ts). A node without a cloud (nothing is claimed) and without a running
// handoff: only operations that need neither haproxy nor namespaces.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { PriorityPreference, controlRoutes } from '../../src/agent/control-routes.js';
import { startControlServer } from '../../src/agent/control-server.js';
import { HaproxyReloads } from '../../src/agent/drain-reload.js';
import type { AgentStatus } from '../../src/agent-api/contract.js';
import { FailoverController } from '../../src/failover/controller.js';
import { NO_CLAIMER } from '../../src/failover/types.js';
import { MasterCli } from '../../src/haproxy/master-cli.js';
import type { ClusterNode } from '../../src/model/spec.js';
import { HandoffManager } from '../../src/handoff/handoff-manager.js';
import { agentCall } from '../../src/cluster-ops/agent-client.js';
import { OverlayError } from '../../src/util/errors.js';
import { silentLogger } from '../../src/util/log.js';

const nodes: ClusterNode[] = [
  { name: 'lb-a', address: '10.0.1.10', zone: 'az-a', priority: 150, interface: 'eth0' },
  { name: 'lb-b', address: '10.0.2.10', zone: 'az-b', priority: 100, interface: 'eth0' },
];

void test('control routes: status, routes, yield, claim and priority through the socket; bad values are the caller\'s mistake', { timeout: 60_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'olb-thin-control-'));
  const stop = new AbortController();
  try {
    const self = nodes[0]!;
    const controller = new FailoverController({ instance: 'VI_test', claimer: NO_CLAIMER, priority: self.priority, log: silentLogger });
    const handoff = new HandoffManager({ runDir: dir, vip: '192.168.200.1', self, nodes, log: silentLogger, advertIntervalMs: 1000, peerPort: 8406, view: () => ({ node: self.name, vrrp: 'INIT', healthy: false }) });
    const masterCli = new MasterCli({ socketPath: join(dir, 'no-haproxy.sock') });
    const priorityFile = join(dir, 'priority');
    await writeFile(priorityFile, '0\n');
    const priority = await PriorityPreference.read(priorityFile);
    assert.equal(priority.adjust, 0);
    const statusSeen = { node: self.name } as AgentStatus;
    const socketPath = join(dir, 'agent.sock');
    await startControlServer({
      socketPath, signal: stop.signal,
      routes: controlRoutes({
        node: self, nodes: () => nodes, claimer: NO_CLAIMER, controller, handoff, priority, masterCli, log: silentLogger,
        reloads: new HaproxyReloads({ dir, reloader: masterCli, log: silentLogger }),
        status: () => Promise.resolve(statusSeen),
      }),
    });
    assert.equal((await stat(socketPath)).mode & 0o777, 0o600);
    const ep = { node: self.name, socketPath };
    const signal = AbortSignal.timeout(30_000);

    assert.deepEqual(await agentCall(ep, 'GET /status', undefined, { signal }), statusSeen);
    assert.deepEqual(await agentCall(ep, 'GET /routes', undefined, { signal }), { resources: [] });
    assert.deepEqual(await agentCall(ep, 'POST /switchover/claim', undefined, { signal }), { outcomes: [] });

    assert.deepEqual(await agentCall(ep, 'POST /switchover/yield', { to: 'lb-b', ttlMs: 5000 }, { signal }), { yieldingTo: 'lb-b' });
    assert.equal(controller.status().yieldingTo, 'lb-b');
    assert.deepEqual(await agentCall(ep, 'POST /switchover/yield', { to: null }, { signal }), { yieldingTo: null });
    assert.equal(controller.status().yieldingTo ?? null, null);

    assert.deepEqual(await agentCall(ep, 'POST /switchover/priority', { mode: 'preferred' }, { signal }), { priorityAdjust: 254 - self.priority });
    assert.equal(await readFile(priorityFile, 'utf8'), `${254 - self.priority}\n`);
    assert.equal(priority.adjust, 254 - self.priority);
    assert.deepEqual(await agentCall(ep, 'POST /switchover/priority', { mode: 'fault' }, { signal }), { priorityAdjust: -254 });

    const refused = async (call: Promise<unknown>, message: RegExp): Promise<void> => {
      await assert.rejects(call, (err: unknown) => err instanceof OverlayError && err.code === 'SWITCHOVER_INVALID' && err.fault === 'user' && message.test(err.message));
    };
    await refused(agentCall(ep, 'POST /switchover/yield', { to: 'lb-a' }, { signal }), /peer "lb-a" is not another node of the spec; nodes: lb-a, lb-b/);
    await refused(agentCall(ep, 'POST /switchover/yield', { to: 'nobody' }, { signal }), /peer "nobody"/);
    await refused(agentCall(ep, 'POST /switchover/handoff', { role: 'sideways' as 'target', peer: 'lb-b' }, { signal }), /handoff role "sideways" is not target or origin/);
    await refused(agentCall(ep, 'POST /switchover/priority', { mode: 'loud' as 'fault' }, { signal }), /priority mode "loud" is not preferred, neutral or fault/);
    assert.equal(await readFile(priorityFile, 'utf8'), '-254\n', 'a refused mode writes nothing');
    // Nothing listens on the master socket: the drain fails as the switchover's step, not as the caller's mistake.
    await assert.rejects(agentCall(ep, 'POST /switchover/drain', undefined, { signal }), (err: unknown) => err instanceof OverlayError && err.fault !== 'user');
  } finally {
    stop.abort();
    await rm(dir, { recursive: true, force: true });
  }
});
