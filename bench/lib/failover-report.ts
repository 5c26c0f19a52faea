/**
 * Turns bench/results/failover.json into the `## Failover` section of docs/BENCHMARKS.md and the
 * plots docs/bench/failover-*.svg. Only that section is rewritten; other sections stay.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { barChartSvg } from './svg.js';
import type { WrkResult } from './wrk.js';
import { FAULTS, type FaultName, type FaultSummary, type TrialResult } from './failover-trials.js';
import type { ConvergenceRow } from './failover-convergence.js';

export interface SystemResults {
  readonly summary: Record<FaultName, FaultSummary>;
  readonly trials: Record<FaultName, TrialResult[]>;
  readonly wrk: WrkResult;
}

export interface FailoverResults {
  meta: { date: string; cpus: number; node: string; quick: boolean; trials: number; baselineTrials: number; soakMinutes: number; durationS: number; spec: string; probe: string; load: string };
  systems: { 'overlay-lb'?: SystemResults; baseline?: SystemResults };
  switchover: { status: 'todo' | 'measured'; note: string; failed?: number };
  convergence: ConvergenceRow[];
  agent: {
    idle: { seconds: number; master: { rssKiB: number; cpuMs: number; cpuPercent: number }; backup: { rssKiB: number; cpuMs: number; cpuPercent: number } };
    failover: { window: string; cpuMsP50: number; cpuMsMax: number; rssKiBMax: number; samples: number };
  } | null;
  soak: { minutes: number; busyLoopsPerNode: number; transitions: number; spuriousTransitions: number; routeOffMasterSamples: number; probeFailed: number; probeRequests: number; probeLongestGapMs: number } | null;
}

const LABELS: Record<FaultName, string> = {
  'haproxy-kill': 'haproxy killed on the master',
  'keepalived-kill': 'keepalived killed on the master',
  'node-down': 'master node down (link)',
  'az-blackhole': "master's AZ black-holed",
};

const s = (ms: number): string => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : 'n/a');

export async function writeFailoverReport(r: FailoverResults, options: { readonly docsDir: string }): Promise<void> {
  await mkdir(join(options.docsDir, 'bench'), { recursive: true });
  const ours = r.systems['overlay-lb'];
  const base = r.systems.baseline;
  const bars: { label: string; value: number; note?: string }[] = [];
  for (const f of FAULTS) {
    if (ours) bars.push({ label: `${f}: overlay-lb p50`, value: ours.summary[f].outageMs.p50 / 1000, note: `(p95 ${s(ours.summary[f].outageMs.p95)})` });
    if (base) bars.push({ label: `${f}: baseline p50`, value: base.summary[f].outageMs.p50 / 1000, note: `(p95 ${s(base.summary[f].outageMs.p95)})` });
  }
  await writeFile(join(options.docsDir, 'bench', 'failover-outage.svg'), barChartSvg({ title: 'Unplanned failover: outage p50 (lower is better)', unit: 's', bars }));
  if (r.convergence.length > 0) {
    const cb = r.convergence.flatMap((c) => [
      { label: `${c.tables} tables: overlay-lb`, value: c.ours.ms / 1000, note: c.bucketBoundMs > 0 ? `(bucket bound ${s(c.bucketBoundMs)})` : '(within the burst)' },
      { label: `${c.tables} tables: sequential SDK`, value: c.sequentialSdk.ms / 1000, note: c.sequentialSdk.failed > 0 ? `(${c.sequentialSdk.failed} failed)` : '' },
      ...(c.sequentialCli ? [{ label: `${c.tables} tables: sequential aws CLI`, value: c.sequentialCli.ms / 1000 }] : []),
    ]);
    await writeFile(join(options.docsDir, 'bench', 'failover-convergence.svg'), barChartSvg({ title: 'Route convergence under the EC2 token bucket (throttling on)', unit: 's', bars: cb }));
  }

  const lines: string[] = [];
  lines.push('## Failover', '');
  lines.push(`Measured by \`bench/failover.ts\` (\`sudo node dist/bench/failover.js${r.meta.quick ? ' --quick' : ''} --trials ${r.meta.trials} --baseline-trials ${r.meta.baselineTrials} --soak-minutes ${r.meta.soakMinutes}\`; the defaults, 20 trials / 5 baseline trials / 10 min soak, take about 45 min), results in \`bench/results/failover.json\`.`);
  lines.push(`Run: ${r.meta.date}, ${r.meta.cpus} CPUs, Node ${r.meta.node}, ${r.meta.trials} trials per fault for overlay-lb and ${r.meta.baselineTrials} for the baseline${r.meta.quick ? ' (**--quick**: fewer trials than the full run)' : ''}, soak ${r.meta.soakMinutes} min, ${Math.round(r.meta.durationS / 60)} min in all.`, '');
  lines.push('**How.** One lab per system (3 AZs, two LB nodes from the spec), reused across trials. overlay-lb: the agent on every LB node (VRRPv3 advert 100 ms, haproxy tracked through an event-driven `track_file`, parallel verified claim). ' +
    'Baseline, the original design: the same lab without the agent; haproxy with the config our compiler renders, keepalived from `bench/baseline/keepalived.conf.tmpl` (VRRPv2 advert 1 s, haproxy checked by a script every second, FAULT on failure), ' +
    '`bench/baseline/notify-master.sh` as `notify_master`: `/usr/bin/aws ec2 replace-route --endpoint-url http://169.254.169.250` table by table with the instance role from IMDS, no retry loop, no read-back.');
  lines.push(`Spec: ${r.meta.spec}. Probe: ${r.meta.probe}, from a client subnet. Load: ${r.meta.load}.`);
  lines.push('Each trial: routes on the preferred node, inject the fault, wait for every route table to point at the backup (API view), 1.2 s of traffic, clear the fault (the baseline also gets its killed process restarted by the benchmark; overlay-lb restarts its own), wait for the preferred node to take the routes back after its preempt delay, 1 s. ' +
    '**Outage** = the longest time between two successful answers from the fault to the clear (last success before -> first success after). **Failed** = requests started in that window that failed (error, 1 s timeout, non-2xx).', '');

  if (ours || base) {
    lines.push('### Unplanned failover', '');
    lines.push('| fault | system | outage p50 | p95 | max | failed (total / max per trial) | route move p50 | goal p50 <= 0.5 s, p95 <= 1.0 s |');
    lines.push('|---|---|---|---|---|---|---|---|');
    for (const f of FAULTS) {
      for (const [name, sys] of [['overlay-lb', ours], ['baseline', base]] as const) {
        if (!sys) continue;
        const x = sys.summary[f];
        const goal = name === 'overlay-lb' ? (x.outageMs.p50 <= 500 && x.outageMs.p95 <= 1000 ? 'met' : '**missed**') : '';
        lines.push(`| ${LABELS[f]} | ${name} | ${s(x.outageMs.p50)} | ${s(x.outageMs.p95)} | ${s(x.outageMs.max)} | ${x.failed.total} / ${x.failed.max} | ${s(x.routeMoveMs.p50)}${x.routeMoveMs.timeouts ? ` (${x.routeMoveMs.timeouts} never moved)` : ''} | ${goal} |`);
      }
    }
    lines.push('', '![outage p50 per fault, overlay-lb vs baseline](bench/failover-outage.svg)', '');
    lines.push('The outage is the probe subnet\'s; other subnets recover when their own table moves. "Route move" is the time until every table points at the new node: for the baseline it grows with the number of tables (one aws CLI process per table, about 2-2.5 s each here on 2 busy CPUs), for overlay-lb it is one parallel claim. The demo lab has 8 route tables. The AZ black-hole also takes that AZ\'s backends away: failed requests there include requests HAProxy sent to a dead backend before its health check (2 s x 3) removed it, on both systems.', '');
    if (ours && base) {
      const ratios = FAULTS.map((f) => `${f} ${(base.summary[f].outageMs.p50 / Math.max(1, ours.summary[f].outageMs.p50)).toFixed(1)}x`);
      lines.push(`Baseline outage p50 / overlay-lb outage p50: ${ratios.join(', ')}.`, '');
    }
    lines.push('### Failback (planned return of the preferred node) and switchover', '');
    lines.push('The failback window runs from the moment the fault is gone (the AZ reachable again, the killed process restarted) until 1 s after every route is back on the preferred node; requests sent before that meet the fault and count in the outage above.', '');
    lines.push('| fault before it | system | failed requests (total) | trials with a failure | longest gap | routes not back by themselves |');
    lines.push('|---|---|---|---|---|---|');
    for (const f of FAULTS) {
      for (const [name, sys] of [['overlay-lb', ours], ['baseline', base]] as const) {
        if (!sys) continue;
        const b = sys.summary[f].failback;
        lines.push(`| ${LABELS[f]} | ${name} | ${b.failedTotal} | ${b.trialsWithFailures} of ${sys.summary[f].trials} | ${s(b.outageMaxMs)} | ${b.notBackByItself} |`);
      }
    }
    lines.push('', `Planned switchover: ${r.switchover.status === 'todo' ? `**TODO** — ${r.switchover.note}.` : `${r.switchover.failed ?? 'n/a'} failed requests. ${r.switchover.note}`}`, '');
    const wrkLine = (name: string, w: WrkResult | undefined): string => (w ? `${name}: ${w.requests} requests, ${w.errors} socket errors, ${w.non2xx} non-2xx` : '');
    lines.push(`Background load over the whole series (wrk, keep-alive: an unplanned failover resets its connections; a failback of overlay-lb hands them to the old node): ${[wrkLine('overlay-lb', ours?.wrk), wrkLine('baseline', base?.wrk)].filter(Boolean).join('; ')}.`, '');
  }

  if (r.convergence.length > 0) {
    lines.push('### Route convergence under the EC2 token bucket', '');
    lines.push('From the host against the lab API with throttling on (mutating 50 burst / 5 per s, describe 100 / 20 per s), a full bucket before each run, extra route tables created in the lab cloud. overlay-lb: `claimRoutes` (describe, parallel ReplaceRoute under our own bucket mirror, read back). Baseline: one ReplaceRoute after the other with the SDK\'s defaults (3 attempts), and with the aws CLI for small N (one process per call, as the notify script does).', '');
    lines.push('| route tables | bucket bound | overlay-lb (all read back) | vs bound | sequential SDK | sequential aws CLI |');
    lines.push('|---|---|---|---|---|---|');
    for (const c of r.convergence) {
      const vs = c.bucketBoundMs > 0 ? `${((100 * (c.ours.ms - c.bucketBoundMs)) / c.bucketBoundMs).toFixed(1)}% over${c.ours.ms <= c.bucketBoundMs * 1.1 ? ' (goal 10%: met)' : ' (goal 10%: **missed**)'}` : 'burst: no wait';
      lines.push(`| ${c.tables} | ${s(c.bucketBoundMs)} | ${s(c.ours.ms)}${c.ours.failed ? ` (${c.ours.failed} failed)` : ''} | ${vs} | ${s(c.sequentialSdk.ms)} (${c.sequentialSdk.failed} failed) | ${c.sequentialCli ? `${s(c.sequentialCli.ms)} (${c.sequentialCli.failed} failed)` : '—'} |`);
    }
    lines.push('', '![route convergence](bench/failover-convergence.svg)', '');
    lines.push('Reading it: up to the burst (50) the bucket costs nothing, so both finish in API round trips; the lab API answers in a few ms, where AWS takes tens to hundreds of ms per call, which the sequential baseline pays N times and the parallel claim about once (plus its read-back, 50 ms and up, which the baseline never does). The 1-table row includes the SDK client\'s first connection. Above the burst the bucket sets the pace: the goal is overlay-lb within 10% of (N - 50) / 5 s.', '');
  }

  if (r.agent) {
    lines.push('### Agent resources', '');
    lines.push(`"Idle" over ${r.agent.idle.seconds} s, from 3 s after the routes reached the master (a master that has just taken over still asks its peer twice per advert interval for a minute plus the preempt delay, so this is not the settled idle state, which bench/agent-footprint.ts measures: "Agent footprint" below): master ${(r.agent.idle.master.rssKiB / 1024).toFixed(1)} MiB RSS, ${r.agent.idle.master.cpuPercent.toFixed(2)}% of one CPU; backup ${(r.agent.idle.backup.rssKiB / 1024).toFixed(1)} MiB, ${r.agent.idle.backup.cpuPercent.toFixed(2)}%. ` +
      `During a failover (${r.agent.failover.window}, ${r.agent.failover.samples} samples): CPU time p50 ${r.agent.failover.cpuMsP50} ms, max ${r.agent.failover.cpuMsMax} ms; RSS max ${(r.agent.failover.rssKiBMax / 1024).toFixed(1)} MiB (RSS from /proc/PID/status, CPU from /proc/PID/stat utime+stime, 10 ms ticks).`, '');
  }
  if (r.soak) {
    lines.push('### Soak with saturated CPUs', '');
    lines.push(`${r.soak.minutes} min with ${r.soak.busyLoopsPerNode} busy loops in each LB node's namespace (on ${r.meta.cpus} CPUs: both saturated), probe and no fault: **${r.soak.spuriousTransitions} VRRP transitions** (the agents' \`overlay_lb_vrrp_transitions_total\`), route off the master in ${r.soak.routeOffMasterSamples} of the 2/s samples, probe ${r.soak.probeFailed} failed of ${r.soak.probeRequests} (longest gap ${s(r.soak.probeLongestGapMs)}). Goal 0 spurious transitions: ${r.soak.spuriousTransitions === 0 ? 'met' : '**missed**'}${r.soak.minutes < 10 ? ` (over ${r.soak.minutes} min, not the 10 the goal asks)` : ''}.`, '');
  }
  lines.push('### What this says about the VRRP defaults', '');
  lines.push(...defaultsText(r), '');

  const file = join(options.docsDir, 'BENCHMARKS.md');
  const existing = await readFile(file, 'utf8').catch(() => '# Benchmarks\n\n');
  const section = lines.join('\n');
  const start = existing.indexOf('\n## Failover');
  let next: string;
  if (start === -1) next = `${existing.replace(/\n*$/, '\n\n')}${section}`;
  else {
    const after = existing.indexOf('\n## ', start + 1);
    next = `${existing.slice(0, start + 1)}${section}${after === -1 ? '' : `\n${existing.slice(after + 1)}`}`;
  }
  await writeFile(file, next.endsWith('\n') ? next : `${next}\n`);
}

function defaultsText(r: FailoverResults): string[] {
  const ours = r.systems['overlay-lb'];
  const base = r.systems.baseline;
  const out: string[] = [];
  if (ours && base) {
    const hk = ours.summary['haproxy-kill'];
    const nd = ours.summary['node-down'];
    out.push(`- **Advert interval 100 ms (VRRPv3).** Node loss: ${s(nd.outageMs.p50)} p50 with 100 ms adverts against ${s(base.summary['node-down'].outageMs.p50)} for advert 1 s plus the CLI notify script: detection is 3 adverts plus skew, so the interval sets the floor, and the claim must not add seconds on top.`);
    out.push(`- **haproxy tracked event-driven (agent supervision + \`track_file\`), not by a polled script.** haproxy killed: ${s(hk.outageMs.p50)} p50 (max ${s(hk.outageMs.max)}) against ${s(base.summary['haproxy-kill'].outageMs.p50)} for the 1 s check script (a \`vrrp_script\` cannot run more often than once a second; \`vrrp_track_process\` does not work in a namespace).`);
  }
  if (r.soak) out.push(`- **Fast adverts and a saturated CPU.** ${r.soak.spuriousTransitions === 0 ? 'No' : r.soak.spuriousTransitions} spurious transition(s) in ${r.soak.minutes} min with both nodes' CPUs saturated: keepalived's VRRP process runs SCHED_RR (\`vrrp_rt_priority\`) with locked memory (\`vrrp_no_swap\`), so 100 ms adverts ${r.soak.spuriousTransitions === 0 ? 'did not cost false failovers here' : 'did cost false failovers here: raise the advert interval or check the scheduling settings'}.`);
  if (ours && base) {
    const fbFailed = FAULTS.reduce((n, f) => n + ours.summary[f].failback.failedTotal, 0);
    const fbTrials = FAULTS.reduce((n, f) => n + ours.summary[f].trials, 0);
    out.push(`- **Failback with the connection handoff.** ${fbFailed} failed request(s) over ${fbTrials} failbacks (goal 0${fbFailed === 0 ? ', met' : ', missed: see the per-fault failback column'}). ` +
      'The returning node takes the routes from a lower-priority peer that still answers over the handoff link, so it hands that peer\'s open connections back to it while the old master drains (40 s from when the routes moved); ' +
      'a master that stayed MASTER while its AZ was black-holed retakes only after the preempt delay. ' +
      `The baseline's routes did not come back by themselves after ${base.summary['az-blackhole'].failback.notBackByItself} of ${base.summary['az-blackhole'].trials} AZ black-holes (the benchmark put them back), the known stale-route bug of the notify script.`);
    out.push('- **Where the numbers need care.** ' +
      `(1) keepalived killed: the baseline's outage is small only because the old master's haproxy keeps serving and both nodes serve the VIP; its routes take ${s(base.summary['keepalived-kill'].routeMoveMs.p50)} to move. ` +
      '(2) The keep-alive wrk connections are reset by every unplanned failover on both systems (the old node is gone, or not trusted to answer: no connection state moves between nodes), hence its socket errors. ' +
      `(3) The agent's resident memory (${r.agent ? (r.agent.idle.master.rssKiB / 1024).toFixed(0) : '?'} MiB, Node.js plus the AWS SDK) and CPU in the first 30 s after a takeover (${r.agent ? r.agent.idle.master.cpuPercent.toFixed(1) : '?'}% of one CPU: health probes, fast peer questions, status) are higher than a node daemon should need; the settled idle figures and their goals (issue 17: RSS <= 70 MB, CPU <= 1%) are in "Agent footprint". ` +
      `(4) The soak ran ${r.soak?.minutes ?? 0} min${(r.soak?.minutes ?? 0) < 10 ? ' (the goal asks 10)' : ''}; the baseline ran ${r.meta.baselineTrials} trials per fault against ${r.meta.trials} for overlay-lb (a baseline trial takes about 45 s).`);
  }
  out.push('- **Preempt delay.** The benchmark uses 2 s to keep trials short; the failback columns show whether the returning node waited long enough for its HAProxy to have backends (the example keeps 10 s).');
  return out;
}
