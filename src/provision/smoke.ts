/**
 * The real-account smoke run (docs/provisioning.md, "A real-account smoke run"): the scenario of
 * the lab's end-to-end test, as one operation a user with AWS credentials runs against a real
 * account and region, through the same functions the commands call: `up` (the cluster must be
 * new), a client instance in the VPC sending a bounded request loop to the VIP, the master's
 * instance terminated and the failover timed (the VIP routes moving, the client's outage), `up`
 * again (the node replaced), `apply --cluster` of a spec change, then always the client
 * terminated and, unless `keep`, `down`. Every wait has a deadline; the result is a report, also
 * when a step failed (then `error` names it and what was made is still removed).
 */
import type { Spec } from '../model/spec.js';
import { loadSpecFile } from '../ops/load-spec.js';
import type { Ec2Scope } from '../cloud/aws/provision/ec2-common.js';
import { ProvisionSession, type ProvisionSessionOptions } from '../cloud/aws/provision/session.js';
import { consoleOutput, launchClient, runningNodes, terminateInstances, vipRouteTargets, type RunningNode } from '../cloud/aws/provision/smoke-instances.js';
import type { Clock } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import { timeoutSignal } from '../util/abort.js';
import { OverlayError, UserError } from '../util/errors.js';
import { retry } from '../util/retry.js';
import { down } from './down.js';
import { downCounts } from './down-plan.js';
import { applyCluster } from './rollout.js';
import { clientUserData, failoverOutage, mergeClientLines, summarizeClient, type ClientLog, type ClientSummary, type Outage } from './smoke-client.js';
import { requireProvisionable, up } from './up.js';

export interface SmokeOptions {
  readonly specFile: string;
  /** The Debian package the nodes install (up's `--package`). */
  readonly packageFile: string;
  /** The spec `apply --cluster` rolls out (same cluster, a routing change). */
  readonly changeSpecFile: string;
  /** EC2, IAM, S3 and STS endpoint (the lab). @default AWS's */
  readonly endpoint?: string | undefined;
  readonly credentials?: ProvisionSessionOptions['credentials'];
  /** Leave the cluster up at the end (the client is terminated anyway). @default false */
  readonly keep?: boolean;
  /** The client's subnet. @default the subnet of the spec's first node */
  readonly clientSubnet?: string | undefined;
  /** The deadline of each wait (the client's first answer, the routes moving...). @default 15 minutes */
  readonly waitMs?: number;
  /** How often a wait reads again. @default 2 s */
  readonly pollMs?: number;
  readonly clock?: Clock;
  readonly signal: AbortSignal;
  /** One line per step, as it happens. */
  readonly onProgress?: (line: string) => void;
}

/** The report of a smoke run; times in ms, instants in epoch ms. */
export interface SmokeReport {
  readonly cluster: string;
  readonly region: string;
  readonly account: string | null;
  readonly ok: boolean;
  /** The step that failed, and why (null: every step passed). */
  readonly error: { readonly step: string; readonly code: string; readonly message: string } | null;
  readonly startedAt: number;
  readonly durationMs: number;
  /** Each step done, in order, with how long it took. */
  readonly steps: readonly { readonly step: string; readonly ms: number; readonly detail: string }[];
  readonly client: {
    readonly instanceId: string;
    readonly subnetId: string;
    readonly url: string;
    /** From the client's launch to its first answer from the VIP. */
    readonly firstAnswerMs: number | null;
    readonly summary: ClientSummary;
  } | null;
  readonly failover: {
    readonly master: string;
    readonly masterInstanceId: string;
    readonly servedBy: string;
    readonly terminatedAt: number;
    /** From TerminateInstances to every VIP route at the other node (the operator's clock, through the API). */
    readonly routesMovedMs: number | null;
    /** The client's outage: first failed request to first answer again (its clock); null: no failed request. */
    readonly outage: Outage | null;
  } | null;
  readonly apply: { readonly specVersion: string; readonly passed: readonly string[]; readonly ms: number } | null;
  readonly down: { readonly removed: number; readonly leftAfter: number; readonly ms: number } | null;
  readonly kept: boolean;
}

const DEFAULT_WAIT_MS = 15 * 60_000;

/** The http frontend bound on the VIP the client requests, as `{port}`; a user error without one. */
export function smokeTarget(spec: Spec, file: string): { readonly vip: string; readonly port: number } {
  for (const f of spec.frontends) {
    if (f.mode !== 'http') continue;
    const bind = f.binds.find((b) => b.address === 'vip' && b.tls === undefined);
    if (bind !== undefined) return { vip: spec.cluster.vip, port: bind.port };
  }
  throw new UserError('SPEC_REQUIRED', `${file}: the smoke run's client requests the VIP over plain HTTP: add a frontend with mode http and a bind {address: vip} without tls`);
}

/** Runs the smoke run; never throws for a failed step (the report says which), only for bad input before anything was made. */
export async function smokeRun(options: SmokeOptions): Promise<SmokeReport> {
  const clock = options.clock ?? systemClock;
  const { signal } = options;
  const waitMs = options.waitMs ?? DEFAULT_WAIT_MS;
  const pollMs = options.pollMs ?? 2_000;
  const progress = (line: string): void => options.onProgress?.(line);
  const startedAt = clock.now();

  // Bad input first, before anything is made: both specs, the same cluster, a target to request.
  const loaded = await loadSpecFile(options.specFile, { signal });
  const region = requireProvisionable(loaded.spec, options.specFile);
  const target = smokeTarget(loaded.spec, options.specFile);
  const change = await loadSpecFile(options.changeSpecFile, { signal });
  const spec = loaded.spec;
  if (change.spec.cluster.name !== spec.cluster.name || change.spec.provision?.bucket !== spec.provision?.bucket || change.spec.provision?.prefix !== spec.provision?.prefix) {
    throw new UserError('CLI_USAGE', `--change ${options.changeSpecFile} is for another cluster or release location than ${options.specFile}: give a changed copy of the same spec (same cluster.name and provision bucket and prefix)`);
  }

  const session = new ProvisionSession({ region, endpoint: options.endpoint, credentials: options.credentials });
  const scope = (account: string): Ec2Scope => ({ session, account, vpcId: spec.cluster.cloud.vpcId ?? '', cluster: spec.cluster.name });
  const common = { ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }), ...(options.credentials === undefined ? {} : { credentials: options.credentials }), signal };
  const steps: { step: string; ms: number; detail: string }[] = [];
  let current = 'credentials';
  let account: string | null = null;
  let clientId: string | null = null;
  let client: SmokeReport['client'] = null;
  let clientLog: ClientLog = { lines: [], end: null };
  let failover: SmokeReport['failover'] = null;
  let applied: SmokeReport['apply'] = null;
  let downed: SmokeReport['down'] = null;
  let error: SmokeReport['error'] = null;
  let madeSomething = false;

  const step = async <T>(name: string, fn: () => Promise<T>, detail: (v: T) => string): Promise<T> => {
    current = name;
    const t0 = clock.now();
    progress(`${name}...`);
    const v = await fn();
    const ms = clock.now() - t0;
    const d = detail(v);
    steps.push({ step: name, ms, detail: d });
    progress(`${name}: ${d} (${(ms / 1000).toFixed(1)} s)`);
    return v;
  };
  /** Polls `read` until it answers a value, every pollMs, for at most waitMs. */
  const waitUntil = async <T>(what: string, read: () => Promise<T | undefined>): Promise<T> => {
    const deadline = clock.now() + waitMs;
    for (;;) {
      const v = await read();
      if (v !== undefined) return v;
      if (clock.now() + pollMs > deadline) throw new OverlayError('SMOKE_STEP_FAILED', `gave up after ${Math.round(waitMs / 1000)} s waiting for ${what}`);
      await clock.sleep(pollMs, signal);
    }
  };
  const readClient = async (): Promise<ClientLog> => {
    if (clientId === null) return clientLog;
    clientLog = mergeClientLines(clientLog, await consoleOutput(session, clientId, { signal }));
    return clientLog;
  };
  const liveNodes = (acct: string): Promise<RunningNode[]> => runningNodes(scope(acct), { signal });
  /** The node every VIP route points at (by its primary interface), or undefined while they disagree. */
  const routedNode = async (nodes: readonly RunningNode[]): Promise<RunningNode | undefined> => {
    const targets = [...(await vipRouteTargets(session, { vpcId: spec.cluster.cloud.vpcId ?? '', vip: spec.cluster.vip }, { signal })).values()];
    if (targets.length === 0 || targets.some((t) => t === null || t !== targets[0])) return undefined;
    return nodes.find((n) => n.eni === targets[0]);
  };

  try {
    const acct = await step('credentials', () => session.account({ signal }), (a) => `account ${a}, region ${region}`);
    account = acct;
    await step('fresh cluster', async () => {
      const plan = await up({ specFile: options.specFile, packageFile: options.packageFile, mode: 'plan', ...common });
      const there = plan.plan.steps.filter((s) => s.action !== 'create');
      if (there.length > 0) {
        throw new UserError('SMOKE_CLUSTER_EXISTS', `the smoke run makes and removes its own cluster, but ${there.length} resource${there.length === 1 ? '' : 's'} of cluster ${spec.cluster.name} exist already (${there.slice(0, 3).map((s) => `${s.label}: ${s.action}`).join('; ')}): give a spec with a cluster.name and provision.bucket/prefix not in use, or remove that cluster first (overlay-lb down SPEC --yes)`);
      }
      return plan.plan.steps.length;
    }, (n) => `nothing of cluster ${spec.cluster.name} exists; up will create ${n} resources`);
    madeSomething = true;
    const first = await step('up', () => up({ specFile: options.specFile, packageFile: options.packageFile, mode: 'apply', ...common }), (r) => `${r.applied?.created.length ?? 0} created`);
    if (first.applied === null) throw new OverlayError('SMOKE_STEP_FAILED', 'up applied nothing (a conflict appeared after the plan): see up\'s plan');
    const nodes = await liveNodes(acct);
    const subnetId = options.clientSubnet ?? nodes.find((n) => n.node === spec.cluster.nodes[0]?.name)?.subnetId ?? nodes[0]?.subnetId;
    if (subnetId === undefined) throw new OverlayError('SMOKE_STEP_FAILED', 'up made no running node instance to place the client beside');
    const url = `http://${target.vip}:${target.port}/`;
    const launchedAt = clock.now();
    clientId = await step('client launched', () => launchClient(session, {
      cluster: spec.cluster.name, imageId: spec.provision?.imageId ?? '', instanceType: spec.provision?.instanceType ?? '', subnetId,
      userData: clientUserData({ vip: target.vip, port: target.port, intervalMs: 200, requestTimeoutMs: 2000, maxSeconds: Math.ceil((waitMs * 4) / 1000) }),
    }, { signal }), (id) => `${id} in ${subnetId}, requesting ${url} every 200 ms`);
    const firstAnswer = await step('client answered', () => waitUntil(`the client's first answer from ${url} (its console output; on AWS it lags)`, async () => summarizeClient(await readClient()).firstAnswerAt ?? undefined), (at) => `first answer at ${new Date(at).toISOString()}`);
    client = { instanceId: clientId, subnetId, url, firstAnswerMs: firstAnswer - launchedAt, summary: summarizeClient(clientLog) };

    // The preferred node (the highest priority): the node whose agent starts first holds the routes
    // until the preferred one takes them over after the preempt delay, and terminating a node in
    // the middle of that would time a failback and a failover at once.
    const preferred = [...spec.cluster.nodes].sort((a, b) => b.priority - a.priority)[0]?.name ?? '';
    const master = await step('master found', () => waitUntil(`every VIP route at ${preferred}, the preferred node (until its preempt delay has passed, the node that booted first may hold them)`, async () => {
      const n = await routedNode(await liveNodes(acct));
      return n?.node === preferred ? n : undefined;
    }), (m) => `${m.node} (${m.instanceId}) holds every VIP route`);
    const terminatedAt = clock.now();
    await step('master terminated', () => terminateInstances(session, [master.instanceId], { signal }), () => `TerminateInstances ${master.instanceId} at ${new Date(terminatedAt).toISOString()}`);
    const other = await step('routes moved', () => waitUntil('every VIP route at another node', async () => {
      const n = await routedNode((await liveNodes(acct)).filter((i) => i.instanceId !== master.instanceId));
      return n === undefined ? undefined : { node: n, at: clock.now() };
    }), (o) => `every VIP route at ${o.node.node} ${((o.at - terminatedAt) / 1000).toFixed(2)} s after the terminate call`);
    const outage = await step('client served again', () => waitUntil('an answer to the client after the termination', async () => {
      const log = await readClient();
      return log.lines.some((l) => l.answered && l.at > terminatedAt) ? failoverOutage(summarizeClient(log), terminatedAt) : undefined;
    }), (o) => (o === null ? 'no failed request' : `outage ${o.ms === null ? '?' : (o.ms / 1000).toFixed(2)} s, ${o.failedRequests} failed request${o.failedRequests === 1 ? '' : 's'}`));
    failover = { master: master.node, masterInstanceId: master.instanceId, servedBy: other.node.node, terminatedAt, routesMovedMs: other.at - terminatedAt, outage };

    await step('up again', () => up({ specFile: options.specFile, packageFile: options.packageFile, mode: 'apply', ...common }), (r) => `${r.applied?.created.length ?? 0} created (the terminated node replaced)`);
    const rolloutStart = clock.now();
    let lastRefusal = '';
    // apply --cluster refuses, changing nothing, until every node publishes a fresh status and one
    // is master (the replacement boots first): retried on that refusal only, up to the deadline.
    const result = await step('apply --cluster', () => retry(() => applyCluster({ specFile: options.changeSpecFile, ...common }), {
      signal, clock, baseMs: pollMs, maxMs: Math.max(pollMs, 10_000), deadline: clock.now() + waitMs,
      isRetryable: (e) => e instanceof OverlayError && e.code === 'ROLLOUT_REFUSED',
      // Each new reason once: what the wait is for (a node's first status, a second master...).
      onRetry: ({ error: e }) => {
        const why = e instanceof Error ? e.message : String(e);
        if (why !== lastRefusal) progress(`apply --cluster waits: ${why}`);
        lastRefusal = why;
      },
    }), (r) => (r.failed === null ? `spec version ${r.target.specVersion} on ${r.passed.join(', ')}` : `stopped at ${r.failed.node}: ${r.failed.reason}`));
    if (result.failed !== null) throw new OverlayError('SMOKE_STEP_FAILED', `apply --cluster stopped at node ${result.failed.node}: ${result.failed.reason}`);
    applied = { specVersion: result.target.specVersion, passed: result.passed, ms: clock.now() - rolloutStart };
    const rolledAt = clock.now();
    await step('client after the rollout', () => waitUntil('a client line written after the rollout', async () => {
      const log = await readClient();
      return log.lines.some((l) => l.at > rolledAt) || log.end !== null ? summarizeClient(log) : undefined;
    }), (c) => `${c.requests} requests, ${c.answered} answered, ${c.failed} failed`);
  } catch (err) {
    error = { step: current, code: err instanceof OverlayError ? err.code : 'INTERNAL', message: err instanceof Error ? err.message : String(err) };
    progress(`${current} failed: ${error.message}`);
    // Bad input the user must fix before anything was made: the same error as the commands give.
    if (!madeSomething && err instanceof UserError && err.code !== 'SMOKE_CLUSTER_EXISTS') {
      session.destroy();
      throw err;
    }
  }

  // Always: the client's last lines, the client terminated; then down unless kept.
  // Interrupted (Ctrl-C): the clean-up still runs, under its own deadline.
  const cleanupOptions = { signal: signal.aborted ? timeoutSignal(waitMs) : signal };
  try {
    if (clientId !== null) {
      await readClient().catch(() => clientLog);
      if (client !== null) client = { ...client, summary: summarizeClient(clientLog) };
      await terminateInstances(session, [clientId], cleanupOptions);
      progress(`client ${clientId} terminated`);
    }
    if (madeSomething && options.keep !== true && !(error?.code === 'SMOKE_CLUSTER_EXISTS')) {
      const t0 = clock.now();
      progress('down...');
      // The smoke run made this cluster (it was new) and its one client is gone: force, so a
      // failed run still removes what it made even when nodes publish no status.
      const removed = await down({ specFile: options.specFile, mode: 'apply', force: true, ...common, signal: cleanupOptions.signal });
      const again = await down({ specFile: options.specFile, mode: 'plan', ...common, signal: cleanupOptions.signal });
      downed = { removed: removed.applied?.removed.length ?? 0, leftAfter: downCounts(again.plan).remove, ms: clock.now() - t0 };
      steps.push({ step: 'down', ms: downed.ms, detail: `${downed.removed} removed; a second down finds ${downed.leftAfter} to remove` });
      progress(`down: ${downed.removed} removed, ${downed.leftAfter} left`);
    }
  } catch (err) {
    const e = { step: 'clean-up', code: err instanceof OverlayError ? err.code : 'INTERNAL', message: err instanceof Error ? err.message : String(err) };
    progress(`clean-up failed: ${e.message}`);
    error ??= e;
  } finally {
    session.destroy();
  }
  const ok = error === null && (downed === null || downed.leftAfter === 0);
  return {
    cluster: spec.cluster.name, region, account, ok, error, startedAt, durationMs: clock.now() - startedAt, steps, client, failover,
    apply: applied, down: downed, kept: options.keep === true,
  };
}
