/**
 * Writes the SVG plots of docs/BENCHMARKS.md from the JSON results of the routing and discovery
 * benchmarks and of the failover benchmark's columns (bench/failover-columns.ts: route and EIP
 * mode, quiet and beside a CPU hog), of the agent's footprint (bench/agent-footprint.ts) and of a
 * dead agent and a restart (bench/agent-dead.ts) and of provisioning (bench/provision.ts: up to the
 * first answer, apply --cluster to the last node);
 * bench/failover.ts writes its own.
 * Usage: node dist/bench/plot.js
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { barChartSvg } from './lib/svg.js';
import { columnsOutageBars, type ColumnsResults } from './lib/failover-columns-report.js';
import { footprintRssBars, type FootprintResults } from './lib/agent-footprint-report.js';
import { agentDeadBars, type AgentDeadResults } from './lib/agent-dead-report.js';
import { provisionBars, type ProvisionResults } from './lib/provision-report.js';

interface RoutingResult {
  throughput: Record<string, { label: string; requestsPerSec: number; p99Ms: number }>;
  compile: { rules: number; parseMsMedian: number; renderMsMedian: number; haproxyCheckMsMedian: number };
}
interface DiscoveryPhase { reloads: number; failedRequests: number; rps: number; p99Ms: number }
interface DiscoveryResult {
  membership: { overlayLb: DiscoveryPhase; consulTemplateBaseline: DiscoveryPhase };
  structural: { overlayLb: DiscoveryPhase; consulTemplateBaseline: DiscoveryPhase };
  latency: Record<string, { p50Ms: number; p99Ms: number } | string>;
}

async function readJson<T>(path: string): Promise<T | null> {
  return readFile(path, 'utf8').then((t) => JSON.parse(t) as T, () => null);
}

await mkdir('docs/bench', { recursive: true });
const routing = await readJson<RoutingResult>('bench/results/routing.json');
if (routing) {
  const bars = Object.values(routing.throughput).map((v) => ({ label: v.label, value: v.requestsPerSec }));
  await writeFile('docs/bench/routing-rps.svg', barChartSvg({ title: 'Requests/s through HAProxy by routing config (median, higher is better)', unit: 'req/s', bars }));
  const p99 = Object.values(routing.throughput).map((v) => ({ label: v.label, value: v.p99Ms }));
  await writeFile('docs/bench/routing-p99.svg', barChartSvg({ title: 'p99 latency by routing config (median, lower is better)', unit: 'ms', bars: p99 }));
}
const discovery = await readJson<DiscoveryResult>('bench/results/discovery.json');
if (discovery) {
  await writeFile('docs/bench/discovery-reloads.svg', barChartSvg({
    title: 'Reloads for 1,000 membership changes under load (lower is better)',
    unit: 'reloads',
    bars: [
      { label: 'overlay-lb (Runtime API)', value: discovery.membership.overlayLb.reloads },
      { label: 'consul-template style', value: discovery.membership.consulTemplateBaseline.reloads },
    ],
  }));
  const lat = Object.entries(discovery.latency).filter((e): e is [string, { p50Ms: number; p99Ms: number }] => typeof e[1] !== 'string');
  await writeFile('docs/bench/discovery-latency.svg', barChartSvg({
    title: 'Discovery-to-traffic latency (includes the 200 ms minimum debounce)',
    unit: 'ms',
    bars: lat.flatMap(([k, v]) => [{ label: `${k} p50`, value: v.p50Ms }, { label: `${k} p99`, value: v.p99Ms }]),
  }));
}
const columns = await readJson<ColumnsResults>('bench/results/failover-columns.json');
if (columns) {
  await writeFile('docs/bench/failover-columns-outage.svg', barChartSvg({
    title: 'Unplanned failover: outage p50 by mode, quiet and beside a CPU hog (lower is better)',
    unit: 's',
    bars: columnsOutageBars(columns),
  }));
}
const footprint = await readJson<FootprintResults>('bench/results/agent-footprint.json');
if (footprint) {
  await writeFile('docs/bench/agent-footprint-rss.svg', barChartSvg({
    title: 'Idle RSS on the master LB node: the agent by variant, keepalived and haproxy beside it (lower is better)',
    unit: 'MiB',
    bars: footprintRssBars(footprint),
  }));
}
const agentDead = await readJson<AgentDeadResults>('bench/results/agent-dead.json');
if (agentDead) {
  await writeFile('docs/bench/agent-dead.svg', barChartSvg({
    title: 'A dead agent given up by keepalived, and an agent restart attached: median, quiet and busy (lower is better)',
    unit: 's',
    bars: agentDeadBars(agentDead),
  }));
}
const provision = await readJson<ProvisionResults>('bench/results/provision.json');
if (provision && provision.runs.length > 0) {
  await writeFile('docs/bench/provision.svg', barChartSvg({
    title: 'In the lab: up to the first 200 in every AZ, where it goes, and apply --cluster (median)',
    unit: 's',
    bars: provisionBars(provision),
  }));
}
process.stdout.write('plots written to docs/bench/\n');
