/**
 * Shared set-up of the end-to-end failover tests: a lab from a copy of examples/demo.yaml (with
 * shorter recheck interval / preempt delay where that keeps a test fast), real haproxy,
 * keepalived and the agent on lb-a and lb-b, and helpers that wait on observable state (agent
 * /status, route targets in the API and the kernel) instead of sleeping.
 *
 * Every lab gets a prefix unique to the test process (`olbt<pid>`), a temp state dir, and is
 * removed in t.after even when the test fails.
 */
import assert from 'node:assert/strict';
import { createWriteStream } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseDocument, stringify } from 'yaml';
import { mkdir } from 'node:fs/promises';
import { agentAvailable, agentCommandArgv, nodeRunDir, startLab, stopLab, type AgentCommand, type LabHandle } from '../../src/lab/lab.js';
import type { RecordedProcess } from '../../src/lab/netns.js';
import { labFiles } from '../../src/lab/controller.js';
import { startProbe, summarizeProbe, type ProbeReport } from '../helpers/lab-probe.js';
import { startCpuHogIfRequested } from '../helpers/cpu-hog.js';
import type { AgentStatus } from '../../src/agent-api/contract.js';

export const DEMO_SPEC = fileURLToPath(new URL('../../../examples/demo.yaml', import.meta.url));
/** The internet-facing example: failover `eip`, the frontend bound to the node address. */
export const EIP_SPEC = fileURLToPath(new URL('../../../examples/eip.yaml', import.meta.url));
export const isRoot = process.getuid?.() === 0;
/** The one generous deadline of these tests: a fault must be repaired within it. */
export const CONVERGE_MS = 30_000;

/** Edits applied to the copy of the demo spec (YAML paths under `cluster`). */
export interface SpecEdits {
  /** The spec to copy: `EIP_SPEC` for Elastic IP mode. @default DEMO_SPEC */
  readonly spec?: string;
  /** `cluster.cloud.recheckInterval`, e.g. `2s`. */
  readonly recheckInterval?: string;
  /** `cluster.vrrp.preemptDelay`, e.g. `3s`. */
  readonly preemptDelay?: string;
  /**
   * What the LB nodes run as the agent: the packaged executable (test/helpers/package.ts), maybe
   * under the unit's restrictions. @default this build on the test's Node.js
   */
  readonly agentCommand?: AgentCommand;
  /** More arguments of `overlay-lb agent` on every node (for example `--follow-interval 1000`). */
  readonly agentArgs?: readonly string[];
  /** Any other change, on the spec as plain data (for example a discovery source and its backend). */
  readonly editSpec?: (spec: Record<string, unknown>) => void;
}

/** Steps of `startE2eLab` a test changes (not spec edits). */
export interface E2eSetup {
  /** Runs after the lab is up and before any agent starts (e.g. to put the LB nodes' ENIs in security groups). */
  readonly beforeAgents?: (lab: LabHandle) => Promise<void>;
  /**
   * Wait for the usual start (lb-a master, lb-b backup, every route on lb-a). false: return once
   * lb-a is master and healthy and lb-b's agent is started. @default true
   */
  readonly converge?: boolean;
}

export interface E2eLab {
  readonly lab: LabHandle;
  readonly specFile: string;
  /** The agent command of the edits (undefined: this build). */
  readonly agentCommand: AgentCommand | undefined;
  /** The edits' extra agent arguments. */
  readonly agentArgs?: readonly string[];
  /**
   * Elastic IP mode (`cluster.cloud.failover: eip`): the address and its allocation, reached
   * from the lab's `internet` namespace. Null in route mode (the VIP's routes move).
   */
  readonly eip: { readonly publicIp: string; readonly allocationId: string } | null;
  /** Where test clients stand: an AZ's client in route mode, `internet` in EIP mode. */
  readonly clientSide: (az: string) => string;
  /** Where their requests go: the VIP, or the Elastic IP. */
  readonly serviceHost: string;
  /** The agent's run dir of a node (agent.log, haproxy.log, keepalived.log...). */
  runDir(node: string): string;
  /** The last lines of every node's agent log, for failure messages. */
  logs(lines?: number): Promise<string>;
}

/**
 * Brings up a lab with nodes from an edited copy of the demo spec and waits until lb-a is master,
 * both nodes' haproxy are healthy and every route table points at lb-a (API and kernel).
 * Skips nothing: the caller skips when not root.
 */
export async function startE2eLab(t: TestContext, edits: SpecEdits = {}, setup: E2eSetup = {}): Promise<E2eLab> {
  const dir = await mkdtemp(join(tmpdir(), 'olbt-e2e-'));
  const prefix = `olbt${process.pid}`.slice(0, 12);
  const stateDir = join(dir, 'state');
  const specFile = join(dir, 'spec.yaml');
  const doc = parseDocument(await readFile(edits.spec ?? DEMO_SPEC, 'utf8'));
  const eipMode = doc.getIn(['cluster', 'cloud', 'failover']) === 'eip';
  if (edits.recheckInterval !== undefined) doc.setIn(['cluster', 'cloud', 'recheckInterval'], edits.recheckInterval);
  if (edits.preemptDelay !== undefined) doc.setIn(['cluster', 'vrrp', 'preemptDelay'], edits.preemptDelay);
  await writeFile(specFile, edits.editSpec === undefined ? doc.toString() : (() => {
    const spec = doc.toJS() as Record<string, unknown>;
    edits.editSpec(spec);
    return stringify(spec);
  })());
  // The harness switch OVERLAY_LB_TEST_CPU_HOG=1: every core saturated from before the lab starts
  // until it is taken down (stopped in the teardown hook, also when the test fails).
  const hog = startCpuHogIfRequested(t);
  const labLog = createWriteStream(join(dir, 'lab.log'), { flags: 'a' });
  const writeLog = (level: string) => (fields: Readonly<Record<string, unknown>>, message: string): void => {
    labLog.write(`${JSON.stringify({ at: new Date().toISOString(), level, msg: message, ...fields })}\n`);
  };
  t.after(async () => {
    try {
      await keepLogs(t, dir, labFiles(join(stateDir, `${prefix}state.json`), prefix).dir).catch(() => undefined);
      await new Promise((resolve) => labLog.end(resolve));
      await stopLab(join(stateDir, `${prefix}state.json`), { signal: AbortSignal.timeout(60_000) }).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    } finally {
      await hog?.stop();
    }
  });
  // Nodes are started here one by one (not by startLab): lb-a first, so that it is master when
  // lb-b starts. Started together, whichever node's HAProxy is healthy first wins, and lb-a then
  // waits for the preempt delay.
  const lab = await startLab({ specFile, prefix, nodes: false, stateDir, signal: AbortSignal.timeout(60_000), log: { info: writeLog('info'), error: writeLog('error') } });
  t.after(() => lab.close());
  assert.ok(agentAvailable(edits.agentCommand), `the agent is not built (dist/src/cli/commands/agent.js) or not executable (${edits.agentCommand?.executable ?? ''})`);
  const labDir = labFiles(lab.stateFile, lab.plan.prefix).dir;
  const address = eipMode ? Object.values(lab.controller.cloud.view().addresses)[0] : undefined;
  assert.ok(!eipMode || address !== undefined, 'the lab allocated no Elastic IP in eip mode');
  const eip = address === undefined ? null : { publicIp: address.publicIp, allocationId: address.allocationId };
  const e2e: E2eLab = {
    lab,
    specFile,
    agentCommand: edits.agentCommand,
    ...(edits.agentArgs === undefined ? {} : { agentArgs: edits.agentArgs }),
    eip,
    clientSide: (az) => (eip === null ? az : 'internet'),
    serviceHost: eip?.publicIp ?? lab.plan.vip,
    runDir: (node) => nodeRunDir(labDir, node),
    logs: async (lines = 30) => {
      const parts: string[] = [];
      for (const node of lbNodes(lab)) {
        for (const file of ['agent.log', 'keepalived.log']) {
          const text = await readFile(join(nodeRunDir(labDir, node), file), 'utf8').catch(() => '(missing)');
          parts.push(`--- ${node} ${file}\n${text.split('\n').slice(-lines).join('\n')}`);
        }
        // Which node reset connections, and what the handoff marked: the namespace's own counters.
        const counters = await lab.exec(node, ['nstat', '-az', ...TCP_COUNTERS], { signal: AbortSignal.timeout(10_000), allowFailure: true }).catch((err: Error) => ({ stdout: `(nstat: ${err.message})` }));
        const mangle = await lab.exec(node, ['iptables', '-w', '5', '-t', 'mangle', '-L', '-v', '-n', '-x'], { signal: AbortSignal.timeout(10_000), allowFailure: true }).catch((err: Error) => ({ stdout: `(iptables: ${err.message})` }));
        parts.push(`--- ${node} TCP counters since the lab started\n${counters.stdout.trim()}`, `--- ${node} iptables -t mangle\n${mangle.stdout.trim()}`);
      }
      return parts.join('\n');
    },
  };
  await setup.beforeAgents?.(lab);
  await startAgent(e2e, 'lb-a');
  await waitFor(e2e, 'lb-a master and healthy', async () => {
    const a = await agentStatus(lab, 'lb-a');
    return a?.vrrp.vrrp === 'MASTER' && a.haproxy.healthy;
  }, { timeoutMs: 60_000 });
  await startAgent(e2e, 'lb-b');
  if (setup.converge === false) return e2e;
  await waitFor(e2e, 'lb-a master, lb-b backup, both healthy', async () => {
    const [a, b] = [await agentStatus(lab, 'lb-a'), await agentStatus(lab, 'lb-b')];
    return a?.vrrp.vrrp === 'MASTER' && b?.vrrp.vrrp === 'BACKUP' && a.haproxy.healthy && b.haproxy.healthy;
  }, { timeoutMs: 60_000 });
  await waitServedBy(e2e, 'lb-a');
  await waitFor(e2e, `a request to ${e2e.serviceHost} answered by lb-a`, async () => (await answeredBy(e2e, 'az-a')) === 'lb-a');
  return e2e;
}

/** The kernel's TCP counters a failure dump shows per LB node (`nstat`: RSTs sent and why). */
const TCP_COUNTERS = ['TcpOutRsts', 'TcpExtTCPAbortOnData', 'TcpExtTCPAbortOnClose', 'TcpExtTCPAbortOnTimeout', 'TcpExtTCPAbortOnLinger', 'TcpExtTCPAbortFailed', 'TcpExtTCPChallengeACK', 'TcpExtTW', 'TcpExtTCPTimeWaitOverflow', 'TcpExtListenDrops'];

/** Where `OVERLAY_LB_TEST_KEEP_LOGS=DIR` keeps each lab test's logs (unset: nothing kept). */
export const KEEP_LOGS_ENV = 'OVERLAY_LB_TEST_KEEP_LOGS';

/**
 * With `OVERLAY_LB_TEST_KEEP_LOGS=DIR`, copies a test's logs before its lab is removed: the lab
 * controller's log (`lab.log`: every EC2 API request with its status and server time) and each
 * node's agent, keepalived and haproxy logs, into DIR/<time>-<test name>/.
 */
async function keepLogs(t: TestContext, dir: string, labDir: string): Promise<void> {
  const keep = process.env[KEEP_LOGS_ENV];
  if (keep === undefined || keep === '') return;
  const into = join(keep, `${new Date().toISOString().replaceAll(':', '')}-${t.name.replace(/[^A-Za-z0-9]+/g, '-').slice(0, 80)}`);
  await mkdir(into, { recursive: true });
  await cp(join(dir, 'lab.log'), join(into, 'lab.log')).catch(() => undefined);
  await cp(join(labDir, 'nodes'), join(into, 'nodes'), { recursive: true, filter: (src) => !/\.(sock|fifo)$/.test(src) && !src.endsWith('keepalived.fifo') }).catch(() => undefined);
  t.diagnostic(`logs kept in ${into}`);
}

/**
 * Starts the agent on one LB node as `lab up` does (label `agent NODE`, so `lab.faults.kill` and
 * `lab.close()` find it; its log is the run dir's agent.log).
 */
export async function startAgent(e2e: E2eLab, node: string): Promise<RecordedProcess> {
  const runDir = e2e.runDir(node);
  await mkdir(runDir, { recursive: true, mode: 0o700 });
  return e2e.lab.spawn(node, [...agentCommandArgv(e2e.agentCommand), 'agent', '--spec', e2e.specFile, '--node', node, '--run-dir', runDir, ...(e2e.agentArgs ?? [])], {
    signal: AbortSignal.timeout(20_000), label: `agent ${node}`, logFile: join(runDir, 'agent.log'),
  });
}

/**
 * lb-a dies completely (agent first, so that nothing restarts the others; then keepalived and
 * haproxy) and lb-b takes every route and reports MASTER: the start of every failback test.
 */
export async function killPreferredNode(e2e: E2eLab): Promise<void> {
  const { lab } = e2e;
  const signal = AbortSignal.timeout(10_000);
  assert.equal(await lab.faults.kill('lb-a', 'agent', { signal }), 'killed');
  await lab.faults.kill('lb-a', 'keepalived', { signal });
  await lab.faults.kill('lb-a', 'haproxy', { signal });
  await waitServedBy(e2e, 'lb-b');
  await waitFor(e2e, 'lb-b master', async () => (await agentStatus(lab, 'lb-b'))?.vrrp.vrrp === 'MASTER');
}

/**
 * Which LB node answers one request from `az`'s side (route mode: that AZ's client to the VIP;
 * EIP mode: the internet client to the Elastic IP), by the backends' `x-remote-address`; null
 * when the request fails.
 */
export async function answeredBy(e2e: E2eLab, az: string): Promise<string | null> {
  const { lab } = e2e;
  let remote: string | undefined;
  if (e2e.eip === null) {
    const r = await lab.request(az, { signal: AbortSignal.timeout(10_000), timeoutMs: 1000 }).catch(() => null);
    if (r?.status !== 200) return null;
    remote = r.headers['x-remote-address'];
  } else {
    const r = await lab.exec('internet', ['curl', '-sS', '-o', '/dev/null', '-D', '-', '--max-time', '1', `http://${e2e.eip.publicIp}/`], { signal: AbortSignal.timeout(10_000), allowFailure: true, timeoutMs: 5000 }).catch(() => null);
    if (r === null || r.code !== 0 || !/^HTTP\/\S+ 200/.test(r.stdout)) return null;
    remote = /^x-remote-address:\s*(\S+)/im.exec(r.stdout)?.[1];
  }
  return lab.plan.instances.find((i) => i.role === 'lb-node' && i.eni.privateIp === remote)?.name ?? null;
}

/**
 * The LB node the Elastic IP maps to, in the API (its association) and in the kernel (the
 * router's DNAT rule); null where it maps to none.
 */
export async function eipViews(e2e: E2eLab): Promise<{ api: string | null; kernel: string | null }> {
  const { lab, eip } = e2e;
  assert.ok(eip !== null, 'not an Elastic IP lab');
  const nodeOf = (address: string | undefined): string | null => lab.plan.instances.find((i) => i.role === 'lb-node' && i.eni.privateIp === address)?.name ?? null;
  const association = lab.controller.cloud.view().addresses[eip.allocationId]?.association ?? null;
  await lab.settled();
  const rules = (await lab.exec('router', ['iptables', '-w', '5', '-t', 'nat', '-S', 'OLB-EIP-PRE'], { signal: AbortSignal.timeout(10_000) })).stdout;
  const dnat = rules.split('\n').find((l) => l.includes(`-d ${eip.publicIp}/32`) && l.includes('--to-destination'));
  return { api: nodeOf(association?.privateIp), kernel: nodeOf(/--to-destination (\S+)/.exec(dnat ?? '')?.[1]) };
}

/**
 * Waits until `node` serves the cluster's address: every route table points at it (route mode),
 * or the Elastic IP maps to it (EIP mode), in the API and in the kernel. Returns when (ms epoch).
 */
export async function waitServedBy(e2e: E2eLab, node: string, options: { readonly timeoutMs?: number } = {}): Promise<number> {
  if (e2e.eip === null) return waitRoutesOn(e2e, node, options);
  let last = '';
  await waitFor(e2e, () => `the Elastic IP on ${node} (last seen: ${last})`, async () => {
    const views = await eipViews(e2e);
    last = JSON.stringify(views);
    return views.api === node && views.kernel === node;
  }, options);
  return Date.now();
}

/**
 * How many packets a node has handed off so far (its handoff MARK rule's counter), with
 * `iptables -L` for failure messages; count null when no handoff rule is in place.
 */
export async function handedOffPackets(lab: LabHandle, node: string): Promise<{ count: number | null; listing: string }> {
  const listing = (await lab.exec(node, ['iptables', '-w', '5', '-t', 'mangle', '-L', 'PREROUTING', '-v', '-x', '-n'], { signal: AbortSignal.timeout(10_000) })).stdout;
  const m = /^\s*(\d+)\s+\d+\s+MARK\b.*olb-handoff/m.exec(listing);
  return { count: m === null ? null : Number(m[1]), listing };
}

/** The LB nodes of the lab, by name. */
export function lbNodes(lab: LabHandle): string[] {
  return lab.plan.instances.filter((i) => i.role === 'lb-node').map((i) => i.name);
}

/** The ENI address of an instance. */
export function nodeAddress(lab: LabHandle, node: string): string {
  const found = lab.plan.instances.find((i) => i.name === node);
  assert.ok(found, `no instance ${node}`);
  return found.eni.privateIp;
}

/** The agent's /status (its wire contract). */
export type { AgentStatus } from '../../src/agent-api/contract.js';

/** The agent's /status on a node, or null when it does not answer. */
export async function agentStatus(lab: LabHandle, node: string): Promise<AgentStatus | null> {
  const r = await lab.exec(node, ['curl', '-fsS', '--max-time', '2', 'http://127.0.0.1:8406/status'], { signal: AbortSignal.timeout(10_000), allowFailure: true, timeoutMs: 5000 }).catch(() => null);
  if (r === null || r.code !== 0) return null;
  return JSON.parse(r.stdout) as AgentStatus;
}

/** Polls `fn` until it returns something truthy; fails with the nodes' logs after `timeoutMs`. */
export async function waitFor<T>(e2e: E2eLab, what: string | (() => string), fn: () => Promise<T | null | undefined | false>, options: { readonly timeoutMs?: number; readonly intervalMs?: number } = {}): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? CONVERGE_MS);
  for (let i = 0; i < 100_000; i++) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) break;
    await sleep(options.intervalMs ?? 100);
  }
  assert.fail(`timed out after ${options.timeoutMs ?? CONVERGE_MS} ms waiting for ${typeof what === 'string' ? what : what()}\n${await e2e.logs()}`);
}

/** Every route table's VIP route, in the API's and the kernel's view. */
export async function routeViews(lab: LabHandle): Promise<{ api: Map<string, string | null>; kernel: Map<string, string | null> }> {
  const api = await lab.routeTargets({ view: 'api' });
  const kernel = await lab.routeTargets({ view: 'kernel', signal: AbortSignal.timeout(10_000) });
  return { api, kernel };
}

/** Whether every route table points at `node` in both views. */
export function allOn(views: { api: Map<string, string | null>; kernel: Map<string, string | null> }, node: string): boolean {
  return views.api.size > 0 && [...views.api.values(), ...views.kernel.values()].every((n) => n === node);
}

/** Waits until every route table points at `node` in the API and in the kernel; returns when (ms epoch). */
export async function waitRoutesOn(e2e: E2eLab, node: string, options: { readonly timeoutMs?: number } = {}): Promise<number> {
  let last = '';
  await waitFor(e2e, () => `every route table on ${node} (last seen: ${last})`, async () => {
    const views = await routeViews(e2e.lab);
    last = JSON.stringify({ api: Object.fromEntries(views.api), kernel: Object.fromEntries(views.kernel) });
    return allOn(views, node);
  }, options);
  return Date.now();
}

/** Formats route views for messages. */
export function formatViews(views: { api: Map<string, string | null>; kernel: Map<string, string | null> }): string {
  return JSON.stringify({ api: Object.fromEntries(views.api), kernel: Object.fromEntries(views.kernel) });
}

/** What an unplanned-failover scenario measured. */
export interface UnplannedResult {
  readonly e2e: E2eLab;
  readonly report: ProbeReport;
  /** When the fault was injected and when every table showed lb-b (ms epoch). */
  readonly faultAt: number;
  readonly convergedAt: number;
}

/**
 * The common shape of the unplanned faults (scenarios 1-4): lb-a master with every route, a
 * probe from `clientAz`; inject the fault; then every route table must end on lb-b in the API
 * and in the kernel, lb-b's agent must report MASTER holding every table, and the probe must see
 * service restored by lb-b. In EIP mode (`edits.spec: EIP_SPEC`) the same with the Elastic IP in
 * place of the route tables and the probe on the internet side, sending to the Elastic IP. The outage is only recorded (t.diagnostic), never bounded beyond the
 * generous CONVERGE_MS deadline.
 */
export async function runUnplannedFailover(
  t: TestContext,
  options: { readonly clientAz: string; readonly edits?: SpecEdits; readonly fault: (e2e: E2eLab) => Promise<void>; readonly during?: (e2e: E2eLab) => Promise<void> },
): Promise<UnplannedResult> {
  // A long preempt delay: lb-a must not take the routes back while the test looks at lb-b.
  const e2e = await startE2eLab(t, { preemptDelay: '120s', ...options.edits });
  const { lab } = e2e;
  const probe = await startProbe(lab, { clientAz: e2e.clientSide(options.clientAz), host: e2e.serviceHost, signal: AbortSignal.timeout(10_000) });
  t.after(() => probe.stop().then(() => undefined, () => undefined));
  await probe.firstSuccess();
  const faultAt = Date.now();
  await options.fault(e2e);
  await options.during?.(e2e);
  const convergedAt = await waitServedBy(e2e, 'lb-b');
  const resources = e2e.eip === null ? lab.plan.routeTables.length : 1;
  await waitFor(e2e, `lb-b master and holding every resource (${resources})`, async () => {
    const s = await agentStatus(lab, 'lb-b');
    return s?.vrrp.vrrp === 'MASTER' && s.vrrp.resources.length === resources && s.vrrp.resources.every((r) => r.holder?.kind === 'us');
  });
  await waitFor(e2e, `a request from ${e2e.clientSide(options.clientAz)} answered by lb-b`, async () => (await answeredBy(e2e, options.clientAz)) === 'lb-b');
  // Service fully back: 1 s of requests in a row answered (backends in a lost AZ may take their
  // health checks' fall time to be marked down).
  await probe.streak(100, { timeoutMs: CONVERGE_MS });
  const report = await probe.stop();
  const b = await agentStatus(lab, 'lb-b');
  t.diagnostic(`fault -> ${e2e.eip === null ? 'routes' : 'Elastic IP'} on lb-b (API and kernel, as polled): ${convergedAt - faultAt} ms; lb-b detect-to-claimed: ${b?.vrrp.lastDetectToClaimedMs ?? '?'} ms`);
  t.diagnostic(`probe: ${summarizeProbe(report)}`);

  // THEN the probe saw lb-a before, lb-b after, and every outage ended with a success.
  assert.ok((report.answeredBy['lb-a'] ?? 0) > 0, `the probe never reached lb-a before the fault: ${summarizeProbe(report)}`);
  assert.ok(report.samples.some((s) => s.ok && s.node === 'lb-b' && s.sentAt > faultAt), `the probe never reached lb-b after the fault: ${summarizeProbe(report)}`);
  assert.equal(report.lastNode, 'lb-b', `the last answer did not come from lb-b: ${summarizeProbe(report)}`);
  assert.ok(report.outages.every((o) => o.to !== null), `service was not restored (an outage never ended): ${summarizeProbe(report)}`);
  return { e2e, report, faultAt, convergedAt };
}

/** A route change seen by the lab's cloud (any writer), with the time it happened. */
export interface RouteChange {
  readonly at: number;
  readonly table: string;
  /** The ENI of the new target (null: deleted or not an ENI). */
  readonly eni: string | null;
  /** The LB node of that ENI (null: not an LB node). */
  readonly node: string | null;
}

/**
 * Records every change of the VIP route in the lab's cloud from now on (ReplaceRoute/CreateRoute
 * by anyone, even to the same target). Stops in t.after.
 */
export function recordRouteChanges(t: TestContext, lab: LabHandle): { readonly changes: RouteChange[] } {
  const changes: RouteChange[] = [];
  const cidr = `${lab.plan.vip}/32`;
  const off = lab.controller.cloud.on((e) => {
    if (e.type !== 'route-changed' || e.destinationCidrBlock !== cidr) return;
    const eni = e.target !== null && 'networkInterfaceId' in e.target ? e.target.networkInterfaceId : null;
    changes.push({ at: Date.now(), table: e.routeTableId, eni, node: lab.plan.instances.find((i) => i.role === 'lb-node' && i.eni.id === eni)?.name ?? null });
  });
  t.after(() => {
    off();
  });
  return { changes };
}

/**
 * The sum of a Prometheus counter's samples on a node's agent /metrics (0 when absent; also 0 when
 * the agent does not answer, unless `required`: then that throws).
 */
export async function agentCounter(lab: LabHandle, node: string, name: string, options: { readonly required?: boolean } = {}): Promise<number> {
  const r = await lab.exec(node, ['curl', '-fsS', '--max-time', '5', 'http://127.0.0.1:8406/metrics'], { signal: AbortSignal.timeout(20_000), allowFailure: true, timeoutMs: 10_000 });
  if (r.code !== 0 && options.required === true) throw new Error(`${node}'s agent /metrics did not answer: ${r.stderr.trim()}`);
  if (r.code !== 0) return 0;
  return r.stdout.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `)).reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
}

/** An Elastic IP association seen by the lab's cloud: the node it maps to from then on. */
export interface EipMove {
  /** When the API changed the association (ms epoch). */
  readonly at: number;
  /** When the lab's kernel had followed (ms epoch, set once it has): the move took effect in [at, appliedAt]. */
  appliedAt: number | null;
  /** The LB node of the new association (null: disassociated, or not an LB node). */
  readonly node: string | null;
}

/** Records every association of the lab's Elastic IP from now on (by anyone). Stops in t.after. */
export function recordEipMoves(t: TestContext, e2e: E2eLab): { readonly moves: EipMove[] } {
  const moves: EipMove[] = [];
  const { lab } = e2e;
  const seen = (node: string | null): void => {
    const move: EipMove = { at: Date.now(), appliedAt: null, node };
    moves.push(move);
    // settled() resolves once every change so far is in the kernel, this one included.
    void lab.settled().then(() => {
      move.appliedAt = Date.now();
    });
  };
  const off = lab.controller.cloud.on((e) => {
    if (e.type === 'address-associated' && e.allocationId === e2e.eip?.allocationId) {
      seen(lab.plan.instances.find((i) => i.role === 'lb-node' && i.eni.privateIp === e.privateIp)?.name ?? null);
    } else if (e.type === 'address-disassociated' && e.allocationId === e2e.eip?.allocationId) {
      seen(null);
    }
  });
  t.after(() => {
    off();
  });
  return { moves };
}
