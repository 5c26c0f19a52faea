/**
 * Benchmark: how long keepalived takes to give up on a dead agent (issue 15), and how long an
 * agent restart takes to attach, on a quiet machine and beside a CPU hog saturating both cores.
 * The guarantee itself (a dead agent is noticed: keepalived goes FAULT, the backup takes over;
 * a restart changes no VRRP state) is asserted by test/e2e/agent-restart-busy.test.ts without a
 * time bound; the figures live here, against the stated bound `AGENT_DEAD_BOUND_MS`
 * (src/render/keepalived.ts).
 *
 * One scenario per process, each holding the shared lab lock only for its own run (bounded at
 * 9.5 min; `--runs` sizes it, default 5: about 3-5 min):
 *
 *   for s in quiet busy; do
 *     sudo flock /tmp/overlay-lb-netns.lock node dist/bench/agent-dead.js --scenario $s [--runs N]
 *   done
 *   node dist/bench/agent-dead.js --report-only   # docs/BENCHMARKS.md section
 *   node dist/bench/plot.js                       # docs/bench/agent-dead.svg
 *
 * Each scenario replaces its own entry in `bench/results/agent-dead.json`.
 *
 * Per scenario: one lab (examples/demo.yaml with preemptDelay 2s, 3 AZs, lb-a master, lb-b
 * backup), then `--runs` times: (1) SIGTERM of lb-a's agent and a new one started at once: the time
 * until it reports MASTER (attached to the running keepalived), and the keepalived state changes
 * meanwhile (the promise: none); (2) SIGKILL of lb-a's agent, not restarted: the time until lb-a's
 * keepalived drops the marker address (it gave up: FAULT), until lb-b's agent reports MASTER, and
 * until every route table points at lb-b; (3) lb-a's agent started again, and the cluster back to
 * lb-a master with every route (not measured). Polls run side by side every 100 ms, each poll a
 * command in the node's namespace (tens of ms, more on the busy machine): the figures are that
 * coarse. The hog (test/helpers/cpu-hog.ts: one busy loop per core, nice 0) starts before the lab
 * and stops after it is down. No traffic leaves the lab's namespaces.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { agentCommandArgv, nodeRunDir, startLab, type LabHandle } from '../src/lab/lab.js';
import { labFiles } from '../src/lab/controller.js';
import { killLabProcess } from '../src/lab/infra-faults.js';
import { loadSpecFile } from '../src/ops/load-spec.js';
import { AGENT_DEAD_BOUND_MS } from '../src/render/keepalived.js';
import { startCpuHog } from '../test/helpers/cpu-hog.js';
import { agentStatus, allOn, routeViews } from '../test/e2e/fixture.js';
import {
  AGENT_DEAD_SCENARIOS, writeAgentDeadReport, type AgentDeadResults, type AgentDeadRun, type AgentDeadScenario,
} from './lib/agent-dead-report.js';

const { values } = parseArgs({
  options: {
    scenario: { type: 'string' },
    runs: { type: 'string', default: '5' },
    out: { type: 'string', default: 'bench/results/agent-dead.json' },
    'report-only': { type: 'boolean', default: false },
  },
});
const log = (msg: string): void => void process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const POLL_MS = 100;

async function readResults(): Promise<AgentDeadResults> {
  const fresh: AgentDeadResults = {
    meta: {
      cpus: cpus().length, node: process.version,
      spec: 'examples/demo.yaml with preemptDelay 2s (lb-a preferred, lb-b backup), 3 AZs in the lab',
      poll: `Each figure is the first of side-by-side polls every ${POLL_MS} ms to see it (a command in the node's namespace each: the figures are that coarse).`,
    },
    scenarios: {},
  };
  const text = await readFile(values.out, 'utf8').catch(() => null);
  return text === null ? fresh : { ...fresh, scenarios: (JSON.parse(text) as AgentDeadResults).scenarios };
}

if (values['report-only'] === true) {
  await writeAgentDeadReport(await readResults(), { docsFile: 'docs/BENCHMARKS.md' });
  process.exit(0);
}

function usage(message: string): never {
  process.stderr.write(`agent-dead: ${message}\n`);
  process.exit(2);
}
const scenario = values.scenario as AgentDeadScenario | undefined;
if (scenario === undefined || !AGENT_DEAD_SCENARIOS.includes(scenario)) usage(`--scenario ${JSON.stringify(values.scenario)} is not one of ${AGENT_DEAD_SCENARIOS.join(', ')} (or use --report-only)`);
const RUNS = Number(values.runs);
if (!Number.isInteger(RUNS) || RUNS < 1 || RUNS > 20) usage(`--runs ${JSON.stringify(values.runs)} is not an integer in 1-20 (a scenario must fit in ~10 min of the shared lock)`);
const HOG = scenario === 'busy';

const interrupted = new AbortController();
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => interrupted.abort(new Error(sig)));
const signal = AbortSignal.any([interrupted.signal, AbortSignal.timeout(570_000)]);
const started = Date.now();
const load0 = loadavg()[0]!;
const commit = (() => {
  try {
    return execFileSync('git', ['log', '-1', '--format=%h', '--', 'src'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
})();

/** Polls `check` every POLL_MS until it holds: the ms since `from`, or null at the limit. */
async function until(from: number, check: () => Promise<boolean>, limitMs: number): Promise<number | null> {
  while (Date.now() - from < limitMs) {
    if (await check().catch(() => false)) return Date.now() - from;
    await sleep(POLL_MS, undefined, { signal });
  }
  return null;
}

const work = await mkdtemp(join(tmpdir(), 'olb-bench-agent-dead-'));
const specFile = join(work, 'spec.yaml');
const source = await readFile('examples/demo.yaml', 'utf8');
if (!/preemptDelay: 10s/.test(source)) throw new Error('examples/demo.yaml no longer has "preemptDelay: 10s": update bench/agent-dead.ts');
await writeFile(specFile, source.replace('preemptDelay: 10s', 'preemptDelay: 2s'));
const { spec } = await loadSpecFile(specFile, { signal });
const [master, backup] = spec.cluster.nodes.map((n) => n.name) as [string, string];
const marker = spec.cluster.vrrp.markerAddress;

const hog = HOG ? startCpuHog({ maxSeconds: 600 }) : null;
if (hog !== null) log(`CPU hog: ${hog.pids.length} busy loops (pids ${hog.pids.join(', ')})`);
let lab: LabHandle | null = null;
try {
  log(`${scenario}: starting the lab`);
  lab = await startLab({ specFile, azs: 3, prefix: `olbad${process.pid % 10000}`, nodes: false, signal });
  const theLab = lab;
  const labDir = labFiles(theLab.stateFile, theLab.plan.prefix).dir;
  const startAgent = async (node: string): Promise<void> => {
    const runDir = nodeRunDir(labDir, node);
    await mkdir(runDir, { recursive: true, mode: 0o700 });
    await theLab.spawn(node, [...agentCommandArgv(), 'agent', '--spec', specFile, '--node', node, '--run-dir', runDir], {
      signal: AbortSignal.timeout(20_000), label: `agent ${node}`, logFile: join(runDir, 'agent.log'),
    });
  };
  const vrrp = async (node: string): Promise<string | null> => (await agentStatus(theLab, node))?.vrrp.vrrp ?? null;
  const hasMarker = async (node: string): Promise<boolean> => {
    const r = await theLab.exec(node, ['ip', '-o', '-4', 'addr', 'show', 'dev', 'lo'], { signal: AbortSignal.timeout(10_000) });
    return r.stdout.includes(` ${marker}/`);
  };
  const stateChanges = async (): Promise<number> => {
    let n = 0;
    for (const node of [master, backup]) {
      const text = await readFile(join(nodeRunDir(labDir, node), 'keepalived.log'), 'utf8').catch(() => '');
      n += text.split('\n').filter((l) => /Entering [A-Z]+ STATE/.test(l)).length;
    }
    return n;
  };
  const settled = async (what: string): Promise<void> => {
    const t0 = Date.now();
    const ok = await until(t0, async () => (await vrrp(master)) === 'MASTER' && (await vrrp(backup)) === 'BACKUP' && allOn(await routeViews(theLab), master), 120_000);
    if (ok === null) throw new Error(`${what}: ${master} MASTER, ${backup} BACKUP and every route on ${master} not reached within 120 s`);
  };

  // lb-a first, so that it is master when lb-b starts (as the e2e fixture does).
  await startAgent(master);
  if ((await until(Date.now(), async () => (await vrrp(master)) === 'MASTER', 90_000)) === null) throw new Error(`${master} did not report MASTER within 90 s`);
  await startAgent(backup);
  await settled('start');
  await sleep(2000, undefined, { signal });

  const runs: AgentDeadRun[] = [];
  for (let i = 0; i < RUNS; i++) {
    // (1) A SIGTERM restart: the new agent attaches to the running keepalived.
    const changes0 = await stateChanges();
    const t0 = Date.now();
    if ((await killLabProcess(theLab.stateFile, { label: `agent ${master}` }, { signal, killSignal: 'SIGTERM' })) !== 'killed') throw new Error(`run ${i + 1}: ${master}'s agent was not running`);
    await startAgent(master);
    const restartAttachMs = await until(t0, async () => (await vrrp(master)) === 'MASTER', 90_000);
    if (restartAttachMs === null) throw new Error(`run ${i + 1}: the restarted agent did not report MASTER within 90 s`);
    await sleep(1000, undefined, { signal });
    const restartTransitions = (await stateChanges()) - changes0;

    // (2) Killed for good: keepalived must give up, the backup take over.
    const t1 = Date.now();
    if ((await killLabProcess(theLab.stateFile, { label: `agent ${master}` }, { signal, killSignal: 'SIGKILL' })) !== 'killed') throw new Error(`run ${i + 1}: ${master}'s agent was not running`);
    const limit = 4 * AGENT_DEAD_BOUND_MS;
    const [gaveUpMs, takeoverMs, routesMovedMs] = await Promise.all([
      until(t1, async () => !(await hasMarker(master)), limit),
      until(t1, async () => (await vrrp(backup)) === 'MASTER', limit),
      until(t1, async () => allOn(await routeViews(theLab), backup), limit + 30_000),
    ]);
    if (gaveUpMs === null || takeoverMs === null) throw new Error(`run ${i + 1}: ${master} did not give up (${gaveUpMs}) or ${backup} did not take over (${takeoverMs}) within ${limit} ms`);
    runs.push({ restartAttachMs, restartTransitions, gaveUpMs, takeoverMs, routesMovedMs });
    log(`${scenario} run ${i + 1}/${RUNS}: restart attached ${restartAttachMs} ms (${restartTransitions} state changes); dead agent given up ${gaveUpMs} ms, ${backup} MASTER ${takeoverMs} ms, routes ${routesMovedMs ?? 'not'} ms`);

    // (3) Back to the start.
    await startAgent(master);
    await settled(`run ${i + 1}: recovery`);
    await sleep(2000, undefined, { signal });
  }

  const results = await readResults();
  results.scenarios[scenario] = {
    date: new Date(started).toISOString(), commit, durationS: Math.round((Date.now() - started) / 1000), hogLoops: hog?.pids.length ?? 0,
    loadavg: { start: load0, end: loadavg()[0]! }, boundMs: AGENT_DEAD_BOUND_MS, runs,
  };
  await writeFile(values.out, `${JSON.stringify(results, null, 2)}\n`);
  log(`${scenario}: done in ${results.scenarios[scenario].durationS} s: ${values.out}`);
} finally {
  await lab?.close();
  await hog?.stop();
  await rm(work, { recursive: true, force: true });
}
