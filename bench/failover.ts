/**
 * Benchmark: failover in the lab, overlay-lb (the agent: VRRPv3 advert 100 ms, haproxy tracked
 * through an event-driven track_file, parallel verified claim) side by side with the ORIGINAL
 * design (keepalived VRRPv2 advert 1 s, polled haproxy check, notify_master shell script running
 * `aws ec2 replace-route` table by table), same lab topology, same faults, same probe, same load.
 *
 *   faults:      haproxy killed on the master, keepalived killed on the master, the master's link
 *                down, its AZ black-holed; TRIALS each; outage = last success before -> first
 *                success after for a client sending a GET every 10 ms on a new connection, while
 *                wrk keeps load on the VIP from another client namespace; failback (the preferred
 *                node returning after its preempt delay) measured in every trial
 *   convergence: claim for 1, 10, 50, 200 route tables under the AWS-sized token buckets
 *   resources:   the agent's RSS and CPU at idle and during failovers
 *   soak:        SOAK minutes with both LB nodes' CPUs saturated: spurious VRRP transitions
 *
 * The spec is examples/demo.yaml with preemptDelay 2s (instead of 10s) to keep trials short.
 * Usage (root): node dist/bench/failover.js [--quick] [--trials N] [--baseline-trials N] [--soak-minutes N] [--out FILE] [--report-only] [--skip ours,baseline,convergence] [--faults a,b] [--agent-exec PATH]
 * (--faults runs only those faults, e.g. az-blackhole, to look into one: the JSON is written, docs/BENCHMARKS.md is not;
 * likewise with --skip or another --out: only the full run writes the Failover section and its plots.)
 * Defaults: full 20 trials (baseline 5), soak 10 min, about 45 min; --quick 3 (baseline 1), soak 1 min, about 8 min.
 * Traffic stays inside the lab's namespaces; every phase is bounded in count and time.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { apiRouteTargets, startLab, nodeRunDir, type LabHandle } from '../src/lab/lab.js';
import { labFiles } from '../src/lab/controller.js';
import { runSwitchover } from '../src/cluster-ops/switchover.js';
import { readLabState } from '../src/lab/state-file.js';
import { loadSpecFile } from '../src/ops/load-spec.js';
import { startNamespaceProbe, startNamespaceWrk, windowStats, type ProbeRecord } from './lib/failover-probe.js';
import { startBaseline } from './lib/failover-baseline.js';
import { measureConvergence } from './lib/failover-convergence.js';
import { FAULTS, runTrial, summarize, waitRoutes, type FaultName, type SystemUnderTest, type TrialResult } from './lib/failover-trials.js';
import { writeFailoverReport, type FailoverResults } from './lib/failover-report.js';
import type { WrkResult } from './lib/wrk.js';

const DEFAULT_OUT = 'bench/results/failover.json';
const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    trials: { type: 'string' },
    'baseline-trials': { type: 'string' },
    'soak-minutes': { type: 'string' },
    switchovers: { type: 'string' },
    out: { type: 'string', default: DEFAULT_OUT },
    'report-only': { type: 'boolean', default: false },
    skip: { type: 'string', default: '' },
    faults: { type: 'string' },
    'agent-exec': { type: 'string' },
  },
});
const QUICK = values.quick === true;
const TRIALS = Number(values.trials ?? (QUICK ? 3 : 20));
// A baseline trial takes ~50 s (advert 1 s detection, then one ~2.3 s aws CLI process per route
// table, twice: failover and failback), ten times ours: 20 of them per fault would be 70 min alone.
const BASELINE_TRIALS = Number(values['baseline-trials'] ?? (QUICK ? 1 : 5));
const SOAK_MINUTES = Math.max(0.05, Number(values['soak-minutes'] ?? (QUICK ? 1 : 10)));
// Planned switchovers, back and forth (an even number ends on the preferred node).
const SWITCHOVERS = 2 * Math.ceil(Number(values.switchovers ?? (QUICK ? 2 : 6)) / 2);
const SKIP = new Set((values.skip ?? '').split(',').filter(Boolean));
const ONLY = values.faults === undefined ? FAULTS : values.faults.split(',').filter(Boolean);
for (const f of ONLY) if (!FAULTS.includes(f as FaultName)) throw new Error(`--faults: ${JSON.stringify(f)} is not one of ${FAULTS.join(', ')}`);
const PREFIX = `olbfo${process.pid % 10000}`;
// --agent-exec PATH: the LB nodes run this executable as the agent (the packaged overlay-lb, as in
// `lab up --agent-exec`), e.g. to compare two builds' outage figures side by side.
const AGENT_COMMAND = values['agent-exec'] === undefined ? undefined : { executable: resolve(values['agent-exec']), restricted: false };
const INTERVAL_MS = 10;
const log = (msg: string): void => void process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

if (values['report-only'] === true) {
  // The section and its plots are the full run's (the default --out): another file is a side run's.
  if (values.out !== DEFAULT_OUT) {
    log(`--report-only writes docs/BENCHMARKS.md's Failover section from the full run's ${DEFAULT_OUT} only; ${values.out} is a side run's: nothing written`);
    process.exit(2);
  }
  const results = JSON.parse(await readFile(values.out, 'utf8')) as FailoverResults;
  await writeFailoverReport(results, { docsDir: 'docs' });
  process.exit(0);
}

const started = Date.now();
// The whole run is bounded: ~25-30 min full, ~5 min quick, plus the soak.
// SIGINT/SIGTERM abort the run so that every lab is still taken down (the finally blocks).
const interrupted = new AbortController();
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => interrupted.abort(new Error(`${sig}`)));
const signal = AbortSignal.any([interrupted.signal, AbortSignal.timeout((QUICK ? 20 : 90) * 60_000 + SOAK_MINUTES * 60_000)]);
const work = await mkdtemp(join(tmpdir(), 'olb-bench-failover-'));
const specFile = join(work, 'spec.yaml');
const demo = await readFile('examples/demo.yaml', 'utf8');
if (!/preemptDelay: 10s/.test(demo)) throw new Error('examples/demo.yaml no longer has "preemptDelay: 10s": update bench/failover.ts');
await writeFile(specFile, demo.replace('preemptDelay: 10s', 'preemptDelay: 2s'));
const loaded = await loadSpecFile(specFile, { signal });
const spec = loaded.spec;
const [master, backup] = spec.cluster.nodes.map((n) => n.name) as [string, string];
const masterAz = spec.cluster.nodes[0]!.zone;

function clientNamespace(lab: LabHandle, az: string): string {
  return lab.plan.instances.find((i) => i.role === 'client' && i.az === az)!.namespace;
}

/** The probe from the AZ without an LB node; wrk from the backup's AZ (never black-holed here). */
function startTrafficNamespace(lab: LabHandle): string {
  const probeAz = lab.plan.azs.find((az) => !spec.cluster.nodes.some((n) => n.zone === az)) ?? spec.cluster.nodes[1]!.zone;
  return clientNamespace(lab, probeAz);
}

function startTraffic(lab: LabHandle, maxMs: number): { records: readonly ProbeRecord[]; stop(): Promise<WrkResult> } {
  const probe = startNamespaceProbe({ namespace: startTrafficNamespace(lab), host: spec.cluster.vip, port: 80, path: '/', intervalMs: INTERVAL_MS, timeoutMs: 1000, maxMs, signal });
  const wrk = startNamespaceWrk({ namespace: clientNamespace(lab, spec.cluster.nodes[1]!.zone), url: `http://${spec.cluster.vip}/`, connections: 4, threads: 1, maxSeconds: Math.ceil(maxMs / 1000), signal });
  return { records: probe.records, stop: async () => { await probe.stop(); return wrk.stop(); } };
}

async function agentPid(lab: LabHandle, node: string): Promise<number> {
  const state = await readLabState(lab.stateFile, { signal });
  const r = state?.resources.find((x) => x.kind === 'process' && 'label' in x && x.label === `agent ${node}`) as { pid?: number | null } | undefined;
  if (typeof r?.pid !== 'number') throw new Error(`no agent process recorded for ${node}`);
  return r.pid;
}

/** RSS (KiB) and user+system CPU time (ms) of a process, from /proc. */
async function procUsage(pid: number): Promise<{ rssKiB: number; cpuMs: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 (1-based) of /proc/PID/stat, in clock ticks (100 Hz here).
  return { rssKiB: Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0), cpuMs: (Number(fields[11]) + Number(fields[12])) * 10 };
}

async function transitionsTotal(lab: LabHandle, node: string): Promise<number> {
  const r = await lab.exec(node, ['curl', '-s', '--max-time', '2', `http://127.0.0.1:${spec.admin.agent.port}/metrics`], { signal, allowFailure: true });
  return r.stdout.split('\n').filter((l) => l.startsWith('overlay_lb_vrrp_transitions_total')).reduce((a, l) => a + Number(l.split(' ').at(-1)), 0);
}

async function runFaults(lab: LabHandle, sut: SystemUnderTest, records: readonly ProbeRecord[], onMoved?: (fault: FaultName) => Promise<void>): Promise<Record<FaultName, TrialResult[]>> {
  const out = {} as Record<FaultName, TrialResult[]>;
  for (const fault of FAULTS) {
    out[fault] = [];
    if (!ONLY.includes(fault)) continue;
    for (let i = 0; i < (sut.name === 'baseline' ? BASELINE_TRIALS : TRIALS); i++) {
      const r = await runTrial({
        lab, sut, fault, master, backup, vip: spec.cluster.vip, records, signal, probeTable: probeTable(lab),
        moveTimeoutMs: sut.name === 'baseline' ? 30_000 : 15_000, backTimeoutMs: sut.name === 'baseline' ? 30_000 : 20_000,
        ...(onMoved ? { onMoved: () => onMoved(fault) } : {}),
      });
      out[fault].push(r);
      log(`${sut.name} ${fault} #${i + 1}: move ${r.routeMoveMs} ms, outage ${r.outage.outageMs} ms, failed ${r.outage.failed}, failback ${r.failbackMs} ms / ${r.failback.failed} failed${r.forcedBack ? ' (forced back)' : ''}` +
        (r.failback.failed > 0 ? ` ${JSON.stringify(r.failback.failures)}, probe table back at ${r.failbackProbeTableMs} ms` : ''));
      if (r.failback.failed > 0 && sut.name === 'overlay-lb') await saveAgentLogs(lab, `${fault}-${i + 1}`, r.at.clear - 1000, r.at.clear + (r.failbackMs ?? 20_000) + 2000);
    }
  }
  return out;
}

const results: FailoverResults = {
  meta: {
    date: new Date().toISOString(), cpus: cpus().length, node: process.version, quick: QUICK, trials: TRIALS, baselineTrials: BASELINE_TRIALS, soakMinutes: SOAK_MINUTES, durationS: 0,
    spec: 'examples/demo.yaml with preemptDelay 2s (10s in the example), 3 AZs in the lab (the probe client in the AZ without an LB node)',
    probe: `GET / through the VIP every ${INTERVAL_MS} ms, new connection each, 1 s timeout`, load: 'wrk -t1 -c4 (keep-alive) on the VIP from the backup AZ client',
  },
  systems: {},
  switchover: { status: 'todo', note: 'not measured in this run (the overlay-lb part was skipped)' },
  convergence: [],
  agent: null,
  soak: null,
};

// ---- overlay-lb ---------------------------------------------------------------------------
if (!SKIP.has('ours')) {
  log('overlay-lb: starting lab with agents');
  const lab = await startLab({ specFile, azs: 3, prefix: PREFIX, nodes: true, signal, ...(AGENT_COMMAND === undefined ? {} : { agentCommand: AGENT_COMMAND }) });
  try {
    if (lab.nodesSkipped !== null) throw new Error(`agents not started: ${lab.nodesSkipped}`);
    if ((await waitRoutes(lab, master, { timeoutMs: 60_000, signal })) === null) throw new Error('routes never reached the master');
    await sleep(3000, undefined, { signal });
    const pidA = await agentPid(lab, master);
    const pidB = await agentPid(lab, backup);
    const idleSeconds = QUICK ? 10 : 30;
    log(`overlay-lb: agent idle usage over ${idleSeconds} s`);
    const a0 = await procUsage(pidA);
    const b0 = await procUsage(pidB);
    await sleep(idleSeconds * 1000, undefined, { signal });
    const a1 = await procUsage(pidA);
    const b1 = await procUsage(pidB);

    const traffic = startTraffic(lab, 40 * 60_000);
    const failoverSamples: { fault: FaultName; cpuMs: number; rssKiB: number }[] = [];
    const sut: SystemUnderTest = {
      name: 'overlay-lb',
      inject: async (fault) => {
        if (fault === 'haproxy-kill') await lab.faults.kill(master, 'haproxy', { signal });
        else if (fault === 'keepalived-kill') await lab.faults.kill(master, 'keepalived', { signal });
        else if (fault === 'node-down') await lab.faults.inject({ kind: 'node-down', node: master });
        else await lab.faults.inject({ kind: 'az-blackhole', az: masterAz });
      },
      // Kills need nothing: the agent restarts haproxy and keepalived itself.
      clear: async (fault) => {
        if (fault === 'node-down') await lab.faults.clear({ kind: 'node-down', node: master });
        else if (fault === 'az-blackhole') await lab.faults.clear({ kind: 'az-blackhole', az: masterAz });
      },
    };
    // The new master's agent during the failover (from just before the fault to 1.2 s after the move).
    let before = await procUsage(pidB);
    const trialsOurs = await runFaults(lab, { ...sut, inject: async (f) => { before = await procUsage(pidB); await sut.inject(f); } }, traffic.records, async (fault) => {
      const after = await procUsage(pidB);
      failoverSamples.push({ fault, cpuMs: after.cpuMs - before.cpuMs, rssKiB: after.rssKiB });
    });

    // Planned switchover, back and forth, under the same probe and load (zero failed requests is the goal).
    {
      await waitRoutes(lab, master, { timeoutMs: 30_000, signal });
      await sleep(2000, undefined, { signal });
      const labDir = labFiles(lab.stateFile, lab.plan.prefix).dir;
      const endpoints = spec.cluster.nodes.map((n) => ({ node: n.name, socketPath: join(nodeRunDir(labDir, n.name), 'agent.sock') }));
      const perSwitchover: { to: string; ms: number; failed: number; requests: number }[] = [];
      for (let i = 0; i < SWITCHOVERS; i++) {
        const to = i % 2 === 0 ? backup : master;
        const t0 = Date.now();
        await runSwitchover({ spec, to, endpoints, signal });
        const t1 = Date.now();
        await sleep(1000, undefined, { signal });
        const w = windowStats(traffic.records, t0, t1 + 1000);
        perSwitchover.push({ to, ms: t1 - t0, failed: w.failed, requests: w.requests });
        log(`switchover ${i + 1}/${SWITCHOVERS} to ${to}: ${t1 - t0} ms, probe ${w.failed} failed of ${w.requests}`);
      }
      const failed = perSwitchover.reduce((n, x) => n + x.failed, 0);
      const requests = perSwitchover.reduce((n, x) => n + x.requests, 0);
      results.switchover = {
        status: 'measured',
        failed,
        note: `${SWITCHOVERS} switchovers (${master} -> ${backup} -> ${master} ...), probe requests during them: ${requests}; each took ${Math.min(...perSwitchover.map((x) => x.ms))}-${Math.max(...perSwitchover.map((x) => x.ms))} ms (the VRRP step waits for the preempt delay). wrk's keep-alive load ran through them; its socket errors are counted over the whole run in the wrk line`,
      };
      await checkpoint();
    }

    // Soak: both LB nodes' CPUs saturated (two busy loops per node on this 2-core machine).
    log(`overlay-lb: soak ${SOAK_MINUTES} min with busy loops on both LB nodes`);
    await waitRoutes(lab, master, { timeoutMs: 20_000, signal });
    await sleep(3000, undefined, { signal });
    const soakSeconds = Math.round(SOAK_MINUTES * 60);
    const tr0 = (await transitionsTotal(lab, master)) + (await transitionsTotal(lab, backup));
    const soakStart = Date.now();
    const loops = Math.max(1, cpus().length);
    for (const node of [master, backup]) {
      for (let i = 0; i < loops; i++) await lab.spawn(node, ['timeout', String(soakSeconds), 'sh', '-c', 'while :; do :; done'], { signal, label: `bench busy ${node} ${i}` });
    }
    let routeChanges = 0;
    const soakEnd = soakStart + soakSeconds * 1000;
    while (Date.now() < soakEnd) {
      await sleep(500, undefined, { signal });
      const t = [...apiRouteTargets(lab.plan, lab.controller.cloud.view()).values()];
      if (t.some((x) => x !== master)) routeChanges++;
    }
    await sleep(1500, undefined, { signal });
    const tr1 = (await transitionsTotal(lab, master)) + (await transitionsTotal(lab, backup));
    const soakWindow = windowStats(traffic.records, soakStart, soakEnd);
    results.soak = { minutes: SOAK_MINUTES, busyLoopsPerNode: loops, transitions: tr1 - tr0, spuriousTransitions: tr1 - tr0, routeOffMasterSamples: routeChanges, probeFailed: soakWindow.failed, probeRequests: soakWindow.requests, probeLongestGapMs: soakWindow.outageMs };
    log(`soak: ${JSON.stringify(results.soak)}`);

    const wrk = await traffic.stop();
    results.systems['overlay-lb'] = { summary: Object.fromEntries(FAULTS.map((f) => [f, summarize(trialsOurs[f])])) as Record<FaultName, ReturnType<typeof summarize>>, trials: trialsOurs, wrk };
    const ms = (x: { cpuMs: number }, y: { cpuMs: number }): number => y.cpuMs - x.cpuMs;
    results.agent = {
      idle: { seconds: idleSeconds, master: { rssKiB: a1.rssKiB, cpuMs: ms(a0, a1), cpuPercent: (100 * ms(a0, a1)) / (idleSeconds * 1000) }, backup: { rssKiB: b1.rssKiB, cpuMs: ms(b0, b1), cpuPercent: (100 * ms(b0, b1)) / (idleSeconds * 1000) } },
      failover: {
        window: 'the new master\'s agent, from just before the fault to 1.2 s after every route moved',
        cpuMsP50: percentilePick(failoverSamples.map((s) => s.cpuMs), 50), cpuMsMax: Math.max(...failoverSamples.map((s) => s.cpuMs)),
        rssKiBMax: Math.max(...failoverSamples.map((s) => s.rssKiB)), samples: failoverSamples.length,
      },
    };
    await checkpoint();
  } finally {
    await lab.close();
  }
}

// ---- baseline -----------------------------------------------------------------------------
if (!SKIP.has('baseline') || !SKIP.has('convergence')) {
  log('baseline: starting lab without agents');
  const lab = await startLab({ specFile, azs: 3, prefix: PREFIX, nodes: false, signal });
  try {
    if (!SKIP.has('baseline')) {
      const baseline = await startBaseline(lab, { spec, specHash: loaded.hash, dir: join(work, 'baseline'), signal });
      await sleep(4000, undefined, { signal });
      const traffic = startTraffic(lab, 60 * 60_000);
      const sut: SystemUnderTest = {
        name: 'baseline',
        inject: async (fault) => {
          if (fault === 'haproxy-kill') await baseline.kill(master, 'haproxy');
          else if (fault === 'keepalived-kill') await baseline.kill(master, 'keepalived');
          else if (fault === 'node-down') await lab.faults.inject({ kind: 'node-down', node: master });
          else await lab.faults.inject({ kind: 'az-blackhole', az: masterAz });
        },
        // Nothing restarts the original design's processes: the operator (here, the benchmark) does.
        clear: async (fault) => {
          if (fault === 'node-down') await lab.faults.clear({ kind: 'node-down', node: master });
          else if (fault === 'az-blackhole') await lab.faults.clear({ kind: 'az-blackhole', az: masterAz });
          else await baseline.ensureRunning(master);
        },
      };
      const trialsBase = await runFaults(lab, sut, traffic.records);
      const wrk = await traffic.stop();
      results.systems.baseline = { summary: Object.fromEntries(FAULTS.map((f) => [f, summarize(trialsBase[f])])) as Record<FaultName, ReturnType<typeof summarize>>, trials: trialsBase, wrk };
      await baseline.kill(master, 'keepalived');
      await baseline.kill(backup, 'keepalived');
      await checkpoint();
    }
    if (!SKIP.has('convergence')) {
      const eni = (n: string): string => lab.plan.instances.find((i) => i.name === n)!.eni.id;
      results.convergence = await measureConvergence(lab, { counts: QUICK ? [1, 10, 50] : [1, 10, 50, 200], vip: spec.cluster.vip, fromEni: eni(backup), toEni: eni(master), cliMaxTables: QUICK ? 1 : 10, signal, log });
    }
  } finally {
    await lab.close();
  }
}

/** The route table of the probe's subnet. */
function probeTable(lab: LabHandle): string | undefined {
  const ns = startTrafficNamespace(lab);
  const client = lab.plan.instances.find((i) => i.namespace === ns);
  return lab.plan.subnets.find((s) => s.id === client?.eni.subnetId)?.routeTableId;
}

/** A failed failback comes with its evidence: both agents' log lines of that window, next to the JSON. */
async function saveAgentLogs(lab: LabHandle, name: string, from: number, to: number): Promise<void> {
  for (const node of [master, backup]) {
    const text = await readFile(join(nodeRunDir(labFiles(lab.stateFile, lab.plan.prefix).dir, node), 'agent.log'), 'utf8').catch(() => '');
    const lines = text.split('\n').filter((l) => {
      const at = Date.parse(/"time":"([^"]+)"/.exec(l)?.[1] ?? '');
      return at >= from && at <= to;
    });
    const file = `${values.out.replace(/\.json$/, '')}.${name}.${node}.log`;
    await writeFile(file, `${lines.join('\n')}\n`);
    log(`saved ${lines.length} log lines of ${node} to ${file}`);
  }
}

async function checkpoint(): Promise<void> {
  results.meta.durationS = Math.round((Date.now() - started) / 1000);
  await writeFile(values.out, `${JSON.stringify(results, null, 2)}\n`);
}

function percentilePick(v: readonly number[], p: number): number {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? Number.NaN;
}

results.meta.durationS = Math.round((Date.now() - started) / 1000);
await writeFile(values.out, `${JSON.stringify(results, null, 2)}\n`);
// The Failover section of docs/BENCHMARKS.md (and its plots) is the full run's: a run with some
// faults, a part skipped or its JSON elsewhere is a side run and leaves them as they are.
if (ONLY.length === FAULTS.length && SKIP.size === 0 && values.out === DEFAULT_OUT) await writeFailoverReport(results, { docsDir: 'docs' });
else log('docs/BENCHMARKS.md not written: a partial run (--faults, --skip or --out)');
await rm(work, { recursive: true, force: true });
log(`done in ${results.meta.durationS} s: ${values.out}`);
