/**
 * What an operator reads from a running agent (real haproxy and keepalived, one node, provider
 * none, in a network namespace), started the way systemd starts it: stdout is a stream whose
 * device and inode `JOURNAL_STREAM` names.
 *
 * THEN every line the agent prints (stdout and stderr) is `<N>` + one JSON object, N the syslog
 *   priority of its level (journald strips it): no stray text, process warnings included, and no
 *   MaxListenersExceededWarning (it was in every agent log);
 * AND a scrape of /metrics passes `promtool check metrics`, every metric has the one prefix
 *   `overlay_lb_`, and docs/metrics.md lists exactly the metrics the agent exposes;
 * AND the VRRP state gauge says MASTER, build_info names the runtime, the process metrics are
 *   there, the last reload and the last discovery read have timestamps;
 * AND a gauge of something that changes without an event (a discovery source's age) moves
 *   between two scrapes with no event in between.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseMetricsDoc, scrapeNames } from '../helpers/metrics-doc.js';
import { AGENT_CLI as CLI, agentGet, agentSpecText, startAgentSandbox } from '../helpers/agent-sandbox.js';

const WAIT_MS = 30_000;

function specText(serversFile: string): string {
  return agentSpecText({ cluster: 'obs', pool: { source: 'files', discovery: `{ name: files, type: file, path: ${serversFile} }` } });
}

/** The sample value of the one series matching `re` (anchored at line start), or null. */
function sample(text: string, re: RegExp): number | null {
  const line = text.split('\n').find((l) => re.test(l));
  return line === undefined ? null : Number(line.slice(line.lastIndexOf(' ') + 1));
}

function promtoolCheck(text: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('exit', (code) => resolve({ code, out }));
    p.stdin.end(text);
  });
}

void test('agent observability: journald-ready JSON logs, a promtool-clean scrape, documented metrics', { timeout: 150_000 }, async (t) => {
  const { sb, ns, specFile, runDir } = await startAgentSandbox(t, {
    tmpPrefix: 'olb-obs-', ns: 'obs', peer: 'obsp', timeoutMs: 140_000,
    spec: async (dir) => {
      const serversFile = join(dir, 'servers.json');
      await writeFile(serversFile, JSON.stringify([{ address: '127.0.0.1', port: 8080 }]));
      return specText(serversFile);
    },
  });

  // WHEN the agent starts as systemd would start it: JOURNAL_STREAM names its stdout
  const agent = sb.spawn(ns, ['sh', '-c', 'JOURNAL_STREAM=$(stat -L -c %d:%i /proc/$$/fd/1) exec node "$0" agent --spec "$1" --node lb-a --run-dir "$2"', CLI, specFile, runDir]);
  const logs = (): string => agent.output().slice(-4000);
  let exited: string | null = null;
  void agent.exited.then((e) => {
    exited = JSON.stringify(e);
  });
  const deadline = Date.now() + WAIT_MS;
  let metrics = '';
  for (;;) {
    assert.equal(exited, null, `the agent exited (${exited}):\n${logs()}`);
    metrics = (await agentGet(sb, ns, '/metrics')) ?? '';
    if (/^overlay_lb_vrrp_state\{.*state="MASTER".*\} 1$/m.test(metrics) && /^overlay_lb_node_healthy 1$/m.test(metrics) && /^overlay_lb_discovery_last_success_timestamp_seconds\{source="files"\}/m.test(metrics)
      && /^overlay_lb_reload_last_success_timestamp_seconds /m.test(metrics)) break;
    if (Date.now() > deadline) assert.fail(`timed out waiting for MASTER, healthy, a discovery read and the initial reload in /metrics:\n${metrics}\n${logs()}`);
    await sleep(200);
  }

  // THEN promtool accepts the scrape
  const check = await promtoolCheck(metrics);
  assert.equal(check.code, 0, `promtool check metrics: ${check.out}\n${metrics}`);
  assert.equal(check.out.trim(), '', `promtool check metrics found problems:\n${check.out}`);

  // AND one prefix, and docs/metrics.md lists exactly what is exposed
  const names = scrapeNames(metrics);
  assert.ok(names.length > 30, names.join(' '));
  assert.deepEqual(names.filter((n) => !n.startsWith('overlay_lb_')), [], 'every metric has the prefix overlay_lb_');
  const documented = parseMetricsDoc(await readFile(join(process.cwd(), 'docs/metrics.md'), 'utf8'));
  assert.deepEqual([...documented.keys()].sort(), [...names].sort(), 'docs/metrics.md lists exactly the metrics /metrics exposes');
  for (const n of names) {
    const type = new RegExp(`^# TYPE ${n} (\\w+)$`, 'm').exec(metrics)?.[1];
    assert.equal(documented.get(n), type, `docs/metrics.md gives ${n} the type ${type}`);
  }

  // AND the series operators alert on are there
  assert.equal(sample(metrics, /^overlay_lb_vrrp_state\{cluster="obs",state="MASTER",vrrp_instance="OLB_OBS"\}/), 1, metrics);
  assert.equal(sample(metrics, /^overlay_lb_vrrp_state\{cluster="obs",state="BACKUP",vrrp_instance="OLB_OBS"\}/), 0, metrics);
  assert.equal(sample(metrics, new RegExp(`^overlay_lb_build_info\\{commit="[^"]+",runtime="${process.version.replace(/\./g, '\\.')}",version="[^"]+"\\}`)), 1, metrics);
  assert.equal(sample(metrics, /^overlay_lb_spec_info\{cluster="obs",spec_hash="[0-9a-f]+"\}/), 1, metrics);
  assert.ok((sample(metrics, /^overlay_lb_process_resident_memory_bytes /) ?? 0) > 10_000_000, metrics);
  assert.ok((sample(metrics, /^overlay_lb_process_cpu_seconds_total /) ?? 0) > 0, metrics);
  assert.ok((sample(metrics, /^overlay_lb_process_open_fds /) ?? 0) > 5, metrics);
  assert.ok((sample(metrics, /^overlay_lb_process_max_fds /) ?? 0) > 0, metrics);
  assert.notEqual(sample(metrics, /^overlay_lb_eventloop_lag_max_seconds /), null, metrics);
  const nowS = Date.now() / 1000;
  const reloadAt = sample(metrics, /^overlay_lb_reload_last_success_timestamp_seconds /) ?? 0;
  assert.ok(reloadAt > nowS - 120 && reloadAt <= nowS + 1, `the initial reload's timestamp: ${reloadAt}`);

  // AND an age moves between two scrapes, with no event in between
  const age1 = sample(metrics, /^overlay_lb_discovery_source_staleness_seconds\{source="files"\}/);
  await sleep(1500);
  const again = (await agentGet(sb, ns, '/metrics')) ?? '';
  const age2 = sample(again, /^overlay_lb_discovery_source_staleness_seconds\{source="files"\}/);
  assert.ok(age1 !== null && age2 !== null && age2 > age1, `the source's staleness moved: ${age1} -> ${age2}`);
  assert.ok((sample(again, /^overlay_lb_process_cpu_seconds_total /) ?? 0) >= (sample(metrics, /^overlay_lb_process_cpu_seconds_total /) ?? 0));

  // AND every line the agent printed is <priority> + JSON; warnings too
  const lines = agent.output().split('\n').filter((l) => l !== '');
  assert.ok(lines.length > 5, logs());
  const priorities: Record<string, string> = { debug: '<7>', info: '<6>', warn: '<4>', error: '<3>' };
  for (const l of lines) {
    const m = /^(<[0-7]>)(\{.*\})$/.exec(l);
    assert.ok(m, `a line that is not <N>JSON: ${JSON.stringify(l)}`);
    const obj = JSON.parse(m[2] ?? '') as { level: string };
    assert.equal(m[1], priorities[obj.level], l);
  }
  // AND no warning about abort listeners (a dozen long-lived tasks each hold one on the agent's signal)
  assert.doesNotMatch(agent.output(), /MaxListenersExceededWarning/);
  assert.equal(exited, null, `the agent exited (${exited}):\n${logs()}`);
});
