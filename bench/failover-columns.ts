/**
 * Benchmark: the failover figures of overlay-lb in four columns, side by side in one run: route
 * mode on a quiet node, route mode beside a CPU hog loading both cores, EIP mode, EIP mode beside
 * the hog. The promises (issue 15) must hold on a busy node, where failover matters; the figures
 * of `bench/failover.ts` were measured without contention and in route mode only.
 *
 * One scenario per process, so that each holds the shared lab lock only for its own run (a few
 * minutes, bounded at 9.5 min) and others can run their lab tests in between:
 *
 *   for s in route route-hog eip eip-hog; do
 *     sudo flock /tmp/overlay-lb-netns.lock node dist/bench/failover-columns.js --scenario $s
 *   done
 *   node dist/bench/failover-columns.js --report-only   # docs/BENCHMARKS.md section
 *   node dist/bench/plot.js                             # docs/bench/failover-columns-*.svg
 *
 * Each scenario replaces its own entry in `bench/results/failover-columns.json` (with its date,
 * commit and the machine's load average), so the four columns come from back-to-back runs of one
 * code version; `--report-only` says so when they do not.
 *
 * Per scenario: one lab (3 AZs, both LB nodes with the agent), `--trials` trials (default 3: a
 * scenario then takes 3-6 min of the lock) of each fault of
 * bench/lib/failover-trials.ts (haproxy killed, keepalived killed, node down, AZ black-holed),
 * then `--switchovers` planned switchovers. Route mode: examples/demo.yaml, the probe in the AZ
 * without an LB node, sending to the VIP; EIP mode: examples/eip.yaml, the probe on the internet
 * side sending to the Elastic IP. Both with preemptDelay 2s (short trials), wrk -t1 -c4 keep-alive
 * load beside the probe. The hog (test/helpers/cpu-hog.ts: one busy loop per core, nice 0) starts
 * before the lab and stops after it is taken down, as in the tests' harness switch.
 * Traffic stays inside the lab's namespaces; every phase is bounded in count and time.
 */
import { execFileSync } from 'node:child_process';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { startLab, nodeRunDir, type LabHandle } from '../src/lab/lab.js';
import { labFiles } from '../src/lab/controller.js';
import { loadSpecFile } from '../src/ops/load-spec.js';
import { agentCall } from '../src/cluster-ops/agent-client.js';
import { runSwitchover } from '../src/cluster-ops/switchover.js';
import { startCpuHog } from '../test/helpers/cpu-hog.js';
import { startNamespaceProbe, startNamespaceWrk, windowStats } from './lib/failover-probe.js';
import { FAULTS, eipMapping, routeMapping, runTrial, summarize, type FaultName, type FaultSummary, type ServiceMapping, type SystemUnderTest, type TrialResult } from './lib/failover-trials.js';
import { SCENARIOS, writeColumnsReport, type ColumnsResults, type ScenarioName, type ScenarioResult } from './lib/failover-columns-report.js';

const { values } = parseArgs({
  options: {
    scenario: { type: 'string' },
    trials: { type: 'string', default: '3' },
    switchovers: { type: 'string', default: '2' },
    out: { type: 'string', default: 'bench/results/failover-columns.json' },
    'report-only': { type: 'boolean', default: false },
  },
});
const log = (msg: string): void => void process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const INTERVAL_MS = 10;

async function readResults(): Promise<ColumnsResults> {
  const fresh: ColumnsResults = {
    meta: {
      cpus: cpus().length, node: process.version,
      probe: `GET / every ${INTERVAL_MS} ms, new connection each, 1 s timeout: route mode from the client of the AZ without an LB node to the VIP, EIP mode from the internet side to the Elastic IP`,
      load: 'wrk -t1 -c4 (keep-alive) beside the probe: route mode from the backup AZ client to the VIP, EIP mode from the internet side',
      spec: 'examples/demo.yaml (route) and examples/eip.yaml (EIP), both with preemptDelay 2s; 3 AZs in the lab',
    },
    scenarios: {},
  };
  const text = await readFile(values.out, 'utf8').catch(() => null);
  return text === null ? fresh : { ...fresh, scenarios: (JSON.parse(text) as ColumnsResults).scenarios };
}

if (values['report-only'] === true) {
  await writeColumnsReport(await readResults(), { docsFile: 'docs/BENCHMARKS.md' });
  process.exit(0);
}

function usage(message: string): never {
  process.stderr.write(`failover-columns: ${message}\n`);
  process.exit(2);
}
const scenario = values.scenario as ScenarioName | undefined;
if (scenario === undefined || !SCENARIOS.includes(scenario)) usage(`--scenario ${JSON.stringify(values.scenario)} is not one of ${SCENARIOS.join(', ')} (or use --report-only)`);
const TRIALS = Number(values.trials);
if (!Number.isInteger(TRIALS) || TRIALS < 1 || TRIALS > 20) usage(`--trials ${JSON.stringify(values.trials)} is not an integer in 1-20 (a scenario must fit in ~10 min of the shared lock)`);
const SWITCHOVERS = 2 * Math.ceil(Number(values.switchovers) / 2);
if (!Number.isInteger(SWITCHOVERS) || SWITCHOVERS < 0 || SWITCHOVERS > 10) usage(`--switchovers ${JSON.stringify(values.switchovers)} is not an integer in 0-10`);
const MODE: 'route' | 'eip' = scenario.startsWith('eip') ? 'eip' : 'route';
const HOG = scenario.endsWith('-hog');

const interrupted = new AbortController();
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => interrupted.abort(new Error(sig)));
// One scenario holds the shared lab lock: bounded well under the ~10 min others may wait.
const signal = AbortSignal.any([interrupted.signal, AbortSignal.timeout(570_000)]);
const started = Date.now();
const load0 = loadavg()[0]!;
const commit = (() => {
  try {
    // The last commit of the product code (src/): what the columns compare.
    return execFileSync('git', ['log', '-1', '--format=%h', '--', 'src'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
})();

const work = await mkdtemp(join(tmpdir(), 'olb-bench-columns-'));
const specFile = join(work, 'spec.yaml');
const source = await readFile(MODE === 'eip' ? 'examples/eip.yaml' : 'examples/demo.yaml', 'utf8');
if (!/preemptDelay: 10s/.test(source)) throw new Error('the example spec no longer has "preemptDelay: 10s": update bench/failover-columns.ts');
await writeFile(specFile, source.replace('preemptDelay: 10s', 'preemptDelay: 2s'));
const { spec } = await loadSpecFile(specFile, { signal });
const [master, backup] = spec.cluster.nodes.map((n) => n.name) as [string, string];
const masterAz = spec.cluster.nodes[0]!.zone;

const hog = HOG ? startCpuHog({ maxSeconds: 600 }) : null;
if (hog !== null) log(`CPU hog: ${hog.pids.length} busy loops (pids ${hog.pids.join(', ')})`);
let lab: LabHandle | null = null;
try {
  log(`${scenario}: starting the lab with agents`);
  lab = await startLab({ specFile, azs: 3, prefix: `olbfc${process.pid % 10000}`, nodes: true, signal });
  const theLab = lab;
  if (theLab.nodesSkipped !== null) throw new Error(`agents not started: ${theLab.nodesSkipped}`);
  const clientNs = (az: string): string => theLab.plan.instances.find((i) => i.role === 'client' && i.az === az)!.namespace;
  let mapping: ServiceMapping;
  let target: { probeNs: string; wrkNs: string; host: string; probeTable?: string };
  if (MODE === 'eip') {
    const address = Object.values(theLab.controller.cloud.view().addresses)[0];
    if (address === undefined) throw new Error('the lab allocated no Elastic IP in eip mode');
    mapping = eipMapping(theLab, address.allocationId);
    target = { probeNs: theLab.plan.internet.namespace, wrkNs: theLab.plan.internet.namespace, host: address.publicIp };
  } else {
    mapping = routeMapping(theLab, spec.cluster.vip);
    const probeAz = theLab.plan.azs.find((az) => !spec.cluster.nodes.some((n) => n.zone === az)) ?? spec.cluster.nodes[1]!.zone;
    const probeClient = theLab.plan.instances.find((i) => i.role === 'client' && i.az === probeAz);
    const probeTable = theLab.plan.subnets.find((s) => s.id === probeClient?.eni.subnetId)?.routeTableId;
    target = { probeNs: clientNs(probeAz), wrkNs: clientNs(spec.cluster.nodes[1]!.zone), host: spec.cluster.vip, ...(probeTable === undefined ? {} : { probeTable }) };
  }
  // Ready: both agents up (haproxy and keepalived running, the preferred node MASTER, the other
  // BACKUP) and the service on the preferred node; the lab's own first routes do not say so.
  const labDir = labFiles(theLab.stateFile, theLab.plan.prefix).dir;
  const endpoints = spec.cluster.nodes.map((n) => ({ node: n.name, socketPath: join(nodeRunDir(labDir, n.name), 'agent.sock') }));
  const ready = async (): Promise<boolean> => {
    for (const [i, endpoint] of endpoints.entries()) {
      const dir = nodeRunDir(labDir, endpoint.node);
      if (!(await Promise.all(['haproxy.pid', 'keepalived.pid'].map((f) => access(join(dir, f)).then(() => true, () => false)))).every(Boolean)) return false;
      const status = await agentCall(endpoint, 'GET /status', undefined, { signal, timeoutMs: 2000 }).catch(() => null);
      if (status?.vrrp?.vrrp !== (i === 0 ? 'MASTER' : 'BACKUP')) return false;
    }
    return (await mapping.wait(master, { timeoutMs: 1, signal })) !== null;
  };
  const readyBy = Date.now() + 120_000;
  while (!(await ready())) {
    if (Date.now() > readyBy) throw new Error(`the cluster was not ready within 120 s (${master} MASTER and serving, ${backup} BACKUP, haproxy and keepalived running on both)`);
    await sleep(200, undefined, { signal });
  }
  await sleep(3000, undefined, { signal });

  const probe = startNamespaceProbe({ namespace: target.probeNs, host: target.host, port: 80, path: '/', intervalMs: INTERVAL_MS, timeoutMs: 1000, maxMs: 560_000, signal });
  const wrk = startNamespaceWrk({ namespace: target.wrkNs, url: `http://${target.host}/`, connections: 4, threads: 1, maxSeconds: 560, signal });
  const sut: SystemUnderTest = {
    name: 'overlay-lb',
    inject: async (fault) => {
      if (fault === 'haproxy-kill') await theLab.faults.kill(master, 'haproxy', { signal });
      else if (fault === 'keepalived-kill') await theLab.faults.kill(master, 'keepalived', { signal });
      else if (fault === 'node-down') await theLab.faults.inject({ kind: 'node-down', node: master });
      else await theLab.faults.inject({ kind: 'az-blackhole', az: masterAz });
    },
    // Kills need nothing: the agent restarts haproxy and keepalived itself.
    clear: async (fault) => {
      if (fault === 'node-down') await theLab.faults.clear({ kind: 'node-down', node: master });
      else if (fault === 'az-blackhole') await theLab.faults.clear({ kind: 'az-blackhole', az: masterAz });
    },
  };
  const trials = {} as Record<FaultName, TrialResult[]>;
  for (const fault of FAULTS) {
    trials[fault] = [];
    for (let i = 0; i < TRIALS; i++) {
      const r = await runTrial({
        lab: theLab, sut, fault, master, backup, vip: spec.cluster.vip, records: probe.records, signal, mapping, probeTable: target.probeTable,
        // A busy node is slower at everything; the limits only end a trial that went wrong.
        moveTimeoutMs: HOG ? 30_000 : 15_000, backTimeoutMs: HOG ? 40_000 : 20_000,
      });
      trials[fault].push(r);
      log(`${scenario} ${fault} #${i + 1}: move ${r.routeMoveMs} ms, outage ${r.outage.outageMs} ms, failed ${r.outage.failed}, failback ${r.failbackMs} ms / ${r.failback.failed} failed${r.forcedBack ? ' (forced back)' : ''}`);
    }
  }

  // Planned switchovers, back and forth, under the same probe and load.
  await mapping.wait(master, { timeoutMs: 30_000, signal });
  await sleep(2000, undefined, { signal });
  const perSwitchover: { ms: number; failed: number; requests: number }[] = [];
  for (let i = 0; i < SWITCHOVERS; i++) {
    const to = i % 2 === 0 ? backup : master;
    const t0 = Date.now();
    await runSwitchover({ spec, to, endpoints, signal });
    if ((await mapping.wait(to, { timeoutMs: 30_000, signal })) === null) throw new Error(`switchover to ${to}: it does not serve 30 s after the switchover returned`);
    const t1 = Date.now();
    await sleep(1100, undefined, { signal });
    const w = windowStats(probe.records, t0, t1 + 1000);
    perSwitchover.push({ ms: t1 - t0, failed: w.failed, requests: w.requests });
    log(`${scenario} switchover ${i + 1}/${SWITCHOVERS} to ${to}: ${t1 - t0} ms, probe ${w.failed} failed of ${w.requests}`);
  }
  await probe.stop();
  const wrkResult = await wrk.stop();

  const result: ScenarioResult = {
    date: new Date(started).toISOString(), commit, durationS: Math.round((Date.now() - started) / 1000), mode: MODE, hogLoops: hog?.pids.length ?? 0,
    loadavg: { start: load0, end: loadavg()[0]! }, trialsPerFault: TRIALS,
    summary: Object.fromEntries(FAULTS.map((f) => [f, summarize(trials[f])])) as Record<FaultName, FaultSummary>,
    trials,
    switchover: {
      count: SWITCHOVERS, failed: perSwitchover.reduce((n, x) => n + x.failed, 0), requests: perSwitchover.reduce((n, x) => n + x.requests, 0),
      msMin: Math.min(...perSwitchover.map((x) => x.ms)), msMax: Math.max(...perSwitchover.map((x) => x.ms)),
    },
    wrk: wrkResult,
  };
  // Read again just before writing: only this scenario's entry changes.
  const results = await readResults();
  results.scenarios[scenario] = result;
  await writeFile(values.out, `${JSON.stringify(results, null, 2)}\n`);
  log(`${scenario}: done in ${result.durationS} s (load average ${load0.toFixed(2)} -> ${result.loadavg.end.toFixed(2)}): ${values.out}`);
} finally {
  await lab?.close();
  await hog?.stop();
  await rm(work, { recursive: true, force: true });
}
