/**
 * A valid spec never stops the agent: for every discovery source kind, the real agent (real
 * haproxy and keepalived, one node, provider none) runs a spec whose source cannot start, and
 *
 * THEN the agent keeps running, stays in the election (MASTER: the only node), haproxy answers
 *   through its frontend on the VIP (the static default backend), and the failure is reported:
 *   `/status` `problems` and the source's health name the source and the cause's code,
 *   `/metrics` has `overlay_lb_discovery_source_up{source=...} 0`, and a structured log line
 *   names the source with the cause.
 *
 * The sources fail the way they would on a node: a file that does not exist, a DNS resolver that
 * cannot be reached, etcd and Consul endpoints that refuse connections, and an `ec2-tags` source
 * on a cluster without a cloud (no EC2 API to describe instances with: it cannot even be built;
 * this used to make the agent exit, and systemd restart it into the same error).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SandboxProcess } from '../helpers/netns.js';
import type { AgentStatus } from '../../src/agent-api/contract.js';
import { AGENT_VIP as VIP, agentStatus as status, agentSpecText, spawnAgent, startAgentSandbox } from '../helpers/agent-sandbox.js';

const WAIT_MS = 30_000;

/** One node; `app` (static, default) answers; `pool` takes its servers from the source under test. */
function specWith(source: string): string {
  return agentSpecText({ cluster: 'srcfail', pool: { source: 'broken', discovery: source } });
}

type Status = AgentStatus;

const CASES: readonly { kind: string; source: string; code: string; cause: RegExp }[] = [
  { kind: 'file', source: '{ name: broken, type: file, path: /nonexistent-olb/servers.yaml }', code: 'DISCOVERY_UNAVAILABLE', cause: /nonexistent-olb\/servers\.yaml/ },
  // The namespace has only lo: the system's resolver cannot be reached from it.
  { kind: 'dns', source: '{ name: broken, type: dns, query: app.service.internal, recordType: SRV }', code: 'DISCOVERY_UNAVAILABLE', cause: /app\.service\.internal/ },
  { kind: 'etcd', source: '{ name: broken, type: etcd, endpoints: ["http://127.0.0.1:1"], prefix: /services/app/ }', code: 'DISCOVERY_UNAVAILABLE', cause: /127\.0\.0\.1:1/ },
  { kind: 'consul', source: '{ name: broken, type: consul, address: "http://127.0.0.1:1", service: app }', code: 'DISCOVERY_UNAVAILABLE', cause: /127\.0\.0\.1:1/ },
  { kind: 'ec2-tags', source: '{ name: broken, type: ec2-tags, tags: { role: app }, port: 8080 }', code: 'SPEC_CONFLICT', cause: /cluster\.cloud\.provider is none/ },
];

for (const c of CASES) {
  void test(`a ${c.kind} source that cannot start: the agent keeps serving, stays in the election and reports it`, { timeout: 120_000 }, async (t) => {
    const { sb, ns, specFile, runDir, signal } = await startAgentSandbox(t, { tmpPrefix: 'olb-srcfail-', ns: 'a', peer: 'p', timeoutMs: 110_000, spec: () => specWith(c.source) });

    // WHEN the agent starts with the spec
    const agent: SandboxProcess = spawnAgent(sb, ns, { specFile, node: 'lb-a', runDir });
    const logs = (): string => agent.output().slice(-4000);
    let exited: string | null = null;
    void agent.exited.then((e) => {
      exited = JSON.stringify(e);
    });

    // THEN it reports the source failed with the cause, while MASTER and healthy
    const deadline = Date.now() + WAIT_MS;
    let last: Status | null = null;
    for (;;) {
      assert.equal(exited, null, `the agent exited (${exited}):\n${logs()}`);
      last = await status(sb, ns);
      const problem = last?.problems.find((p) => p.component === 'discovery:broken');
      if (last?.vrrp.vrrp === 'MASTER' && last.haproxy.healthy && problem !== undefined) break;
      if (Date.now() > deadline) assert.fail(`timed out waiting for MASTER, healthy and the source's failure in /status: ${JSON.stringify(last)}\n${logs()}`);
      await sleep(200);
    }
    const problem = last.problems.find((p) => p.component === 'discovery:broken');
    assert.equal(problem?.code, c.code, JSON.stringify(last.problems));
    assert.match(problem.message, c.cause);
    const health = last.apply.sources.find((s) => s.name === 'broken');
    assert.equal(health?.state, 'failed', JSON.stringify(last.apply.sources));
    assert.equal(health.lastError?.code, c.code);

    // AND haproxy answers through its frontend on the VIP (the static default backend)
    const r = await sb.exec(ns, ['curl', '-sS', '--max-time', '5', '-o', '-', '-w', ' %{http_code}', `http://${VIP}/`], { signal, check: false });
    assert.equal(r.stdout, 'app 200', `${r.stdout} ${r.stderr}`);

    // AND /metrics says the source is down and the agent has a discovery problem
    const m = await sb.exec(ns, ['curl', '-fsS', '--max-time', '2', 'http://127.0.0.1:8406/metrics'], { signal });
    assert.match(m.stdout, /^overlay_lb_discovery_source_up\{source="broken"\} 0$/m);
    assert.match(m.stdout, /^overlay_lb_agent_problems\{component="discovery"\} 1$/m);

    // AND a structured log line names the source and the cause
    const lines = agent.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    const line = lines.find((l) => l['source'] === 'broken' && l['code'] === c.code && (l['level'] === 'warn' || l['level'] === 'error'));
    assert.ok(line, `no log line for source broken with code ${c.code}:\n${logs()}`);
    assert.match(String(line['error']), c.cause);

    // AND the agent is still running a while later (sources retry; nothing stops it)
    await sleep(2000);
    assert.equal(exited, null, `the agent exited (${exited}):\n${logs()}`);
    assert.equal((await status(sb, ns))?.vrrp.vrrp, 'MASTER');
  });
}
