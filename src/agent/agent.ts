import { setMaxListeners } from 'node:events';
import { access, mkdir, readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { ClusterNode, Spec } from '../model/spec.js';
import { findNode } from '../speclang/nodes.js';
import { loadSpecFile } from '../ops/load-spec.js';
import { renderHaproxy } from '../render/haproxy.js';
import { adminHost } from '../render/admin-host.js';
import { keepalivedAlivePath, keepalivedFifoPath, keepalivedInstanceName, keepalivedPriorityPath, keepalivedTrackPath, renderKeepalived } from '../render/keepalived.js';
import { applyConfig, haproxyPaths } from '../haproxy/config-writer.js';
import { attachHaproxy, startHaproxy } from '../haproxy/process.js';
import type { HaproxyProcess } from '../haproxy/process.js';
import { MasterCli } from '../haproxy/master-cli.js';
import { RuntimeApi } from '../haproxy/runtime-api.js';
import { createApplyPipeline } from '../apply/pipeline.js';
import { watchCertificates } from '../apply/cert-watch.js';
import { tlsCertificateFiles } from '../render/tls.js';
import { readNotifyFifo } from '../keepalived/notify-fifo.js';
import { startKeepalived } from '../keepalived/process.js';
import type { KeepalivedProcess } from '../keepalived/process.js';
import { HandoffManager } from '../handoff/handoff-manager.js';
import { untilAborted } from '../util/abort.js';
import { runCommand } from '../util/exec.js';
import { writeFileAtomic } from '../util/fs-atomic.js';
import { OverlayError } from '../util/errors.js';
import { systemClock } from '../util/clock.js';
import type { Logger } from '../util/log.js';
import { Registry } from '../util/metrics.js';
import { nodePaths } from '../util/node-paths.js';
import type { NodePaths } from '../util/node-paths.js';
import { createDroppedLogsCounter, prepareAccessLog, superviseAccessLog, warnIfOutputStale } from './access-log.js';
import type { AccessLogPlan } from './access-log.js';
import { createAgentMetrics } from './agent-metrics.js';
import type { AgentMetrics } from './agent-metrics.js';
import { runHeartbeat } from './alive-heartbeat.js';
import { PriorityPreference, controlRoutes } from './control-routes.js';
import { agentSocketPath, startControlServer } from './control-server.js';
import { DeferredInstances } from './deferred-cloud.js';
import { HaproxyReloads } from './drain-reload.js';
import { FailoverUnit } from './failover-unit.js';
import { HealthMonitor } from './health.js';
import { capLogs } from './log-cap.js';
import { ProblemBoard } from './problems.js';
import { ProcessSupervisor, exitedByPolling } from './process-supervisor.js';
import { withRunDir } from './run-dir.js';
import { SpecRollout } from './spec-rollout.js';
import { agentStatus, refreshAgentGauges } from './status.js';
import type { AgentStatusParts } from './status.js';
import { startStatusServer } from './status-server.js';
import { AgentTasks } from './tasks.js';

export interface AgentOptions {
  readonly specFile: string;
  readonly node: string;
  /** Per-node runtime directory. @default the spec's admin.stateDir */
  readonly runDir?: string;
  /** @default http://169.254.169.254 */
  readonly imdsEndpoint?: string;
  /** @default cloud.endpoint, or http://169.254.169.250 for provider `lab` */
  readonly ec2Endpoint?: string;
  readonly log: Logger;
  readonly signal: AbortSignal;
  /**
   * Called once, when the node is ready: haproxy serves the rendered config, keepalived runs, the
   * status endpoint and the control socket listen and every task is started. The CLI tells
   * systemd (`Type=notify`) from here.
   */
  readonly onReady?: () => void;
  /**
   * Fires `reload` when the spec file must be re-read at once (SIGHUP: `systemctl reload`),
   * besides the file watch; the same rules apply to what it may change.
   */
  readonly reloadRequests?: EventTarget;
  /**
   * This node was installed by `overlay-lb up` (its user-data passes `--follow-release`): it
   * follows the spec versions `apply --cluster` gives it in the release bucket of the spec's
   * `provision` section and publishes its status there. Off for a node installed any other way
   * (by hand, or by the CDK construct, whose nodes may read only their own S3 assets).
   * @default false
   */
  readonly followRelease?: boolean;
  /**
   * How often a node that follows the release bucket polls its desired spec version there and
   * publishes its status. @default 10 s
   */
  readonly followIntervalMs?: number;
}

/** Abort listeners the agent's long-running tasks may hold on its signal (see runAgent). */
const AGENT_SIGNAL_LISTENERS = 40;
/** How often the supervisor looks whether haproxy still runs (an attached one is not our child). */
const HAPROXY_POLL_MS = 200;

/**
 * The node agent: the composition root on every LB node. Starts (or attaches to) HAProxy and
 * keepalived with the compiled configs, keeps keepalived's track file in step with HAProxy's
 * health, follows keepalived's notify FIFO and moves the VIP (routes or EIP) through the
 * failover controller, and serves /status, /metrics and /alive.
 *
 * When the agent stops, HAProxy and keepalived keep running: a restarted agent attaches to them
 * and moves nothing (it learns whether this node is master from the marker address keepalived
 * holds only on the master). The agent touches its heartbeat file every second, first thing at
 * start and once more when it stops; keepalived's agent check gives up mastership when the
 * heartbeat is older than its grace (src/render/keepalived.ts `AGENT_DEAD_BOUND_MS`), so a restart
 * never fails the node over and a dead agent is noticed within that bound.
 *
 * A valid spec never stops the agent: a discovery source that cannot start, a spec change that
 * cannot be applied, a failed apply or cloud call is reported (`/status` `problems`, `/metrics`,
 * a log line with the cause) while haproxy serves the last good config and the node stays in
 * the election.
 *
 * Resolves when `signal` aborts.
 */
export async function runAgent(options: AgentOptions): Promise<void> {
  // A task that fails unexpectedly stops the agent (logged, exit status 1, systemd restarts it);
  // haproxy and keepalived keep serving meanwhile.
  const fatal = new AbortController();
  const signal = AbortSignal.any([options.signal, fatal.signal]);
  // Every long-running task (heartbeat, supervisors, servers, watchers, loops) holds one abort
  // listener on this signal for the agent's lifetime: a dozen without a cloud, more with one. That
  // is by design, not a leak, but it passes Node's default of 10 (MaxListenersExceededWarning in
  // every agent log). A count that keeps growing still warns: listeners added per round of a loop
  // are removed (`untilAborted`).
  setMaxListeners(AGENT_SIGNAL_LISTENERS, signal);
  const loaded = await loadSpecFile(options.specFile, { signal });
  const node = findNode(loaded.spec.cluster, options.node);
  const runDir = resolve(options.runDir ?? loaded.spec.admin.stateDir);
  const spec = withRunDir(loaded.spec, runDir);
  const log = options.log.child({ node: node.name, cluster: spec.cluster.name });
  const paths = nodePaths(runDir);
  await mkdir(paths.haproxyDir, { recursive: true, mode: 0o700 });
  const registry = new Registry();
  const metrics = createAgentMetrics(registry);
  const problems = new ProblemBoard();
  const tasks = new AgentTasks({ signal, fatal, log, problems, restarts: metrics.taskRestarts });
  // The heartbeat keepalived's agent check reads: before anything slow (haproxy, IMDS, the
  // status server), so that a restarted agent is seen alive long before it could answer HTTP.
  tasks.supervise('heartbeat', runHeartbeat(keepalivedAlivePath(runDir), { signal, log }));

  // The VIP is static on every node (the route decides who gets the traffic); keepalived never
  // manages it. `lo` because it must not answer ARP on the subnet.
  await ensureVip(spec.cluster.vip, signal);
  // Where haproxy's access log and keepalived's log go (admin.accessLog): syslog, or FIFOs the
  // agent drains into rotated files (made before haproxy starts; drained once tasks start below).
  const accessLog = await prepareAccessLog(spec, runDir, { signal, log });
  const droppedLogs = createDroppedLogsCounter(registry);
  const ctx: AgentContext = { options, spec, hash: loaded.hash, node, runDir, paths, log, signal, metrics, problems, tasks, accessLog };
  const haproxy = await haproxyRunning(ctx);
  // `ec2-tags` discovery: the provider's `instances` capability, once the identity is known.
  const instances = new DeferredInstances();
  // From here on the apply pipeline owns haproxy's config: discovered servers, switches and
  // splits change through the Runtime API, anything else is one reload with its reasons. The
  // master CLI socket is stable across haproxy restarts, so it is the reloader.
  const pipeline = createApplyPipeline({
    spec,
    specHash: loaded.hash,
    node: node.name,
    runDir: paths.haproxyDir,
    haproxy: { runtime: new RuntimeApi({ socketPath: spec.admin.runtimeSocket }), reloader: new MasterCli({ socketPath: spec.admin.masterSocket }) },
    log,
    metrics: metrics.apply,
    ...(spec.cluster.cloud.provider === 'none' ? {} : { sourceDeps: { ec2: instances } }),
  });
  const masterCli = new MasterCli({ socketPath: spec.admin.masterSocket });
  const reloads = new HaproxyReloads({ dir: paths.haproxyDir, reloader: masterCli, log });
  const health = await healthMonitor(ctx);
  const { handoff, failover } = await startFailover(ctx, { health, instances, reloads });
  const keepalived = await keepalivedRunning(ctx, failover);
  const rollout = new SpecRollout({
    specFile: options.specFile, runDir, node, spec, hash: loaded.hash, pipeline, keepalivedConfig: paths.keepalivedConfig, rollouts: metrics.rollouts, problems, log,
    ...(options.reloadRequests === undefined ? {} : { reloadRequests: options.reloadRequests }),
  });
  const supervisors = processSupervisors(ctx, { haproxy, keepalived: keepalived.process, health, failover, keepalivedConfig: keepalived.config });
  const parts: AgentStatusParts = {
    node, cluster: spec.cluster.name, instance: keepalivedInstanceName(spec.cluster.name), rollout, pipeline, failover, ...supervisors, health, handoff,
    priority: await PriorityPreference.read(keepalivedPriorityPath(runDir)), problems,
  };
  const alive = await serve(ctx, { registry, parts, masterCli, reloads });

  tasks.supervise('health', health.run(signal));
  // haproxy's stderr (start-up messages, alerts) stays in the run dir, capped; so does keepalived's
  // console output under syslog. Drained logs are rotated, never cut.
  tasks.supervise('log-cap', capLogs(accessLog.target.to === 'syslog' ? [paths.haproxyLog, paths.keepalivedLog] : [paths.haproxyLog], { signal, log }));
  superviseAccessLog(accessLog, { tasks, runtime: new RuntimeApi({ socketPath: spec.admin.runtimeSocket }), droppedLogs, log });
  tasks.supervise('failover', failover.run(signal));
  tasks.supervise('apply', pipeline.run(signal));
  tasks.superviseRestarting('spec-watch', (s) => rollout.watch(s));
  await followReleaseBucket(ctx, { rollout, parts });
  watchCertificatesTask(ctx, { rollout, reloads });
  // Supervision: a dead haproxy means FAULT at once (no waiting for health checks), then a
  // restart; a dead keepalived: this node is no longer in the election, so stop claiming (never delete).
  tasks.supervise('haproxy-supervisor', supervisors.haproxy.run(signal));
  tasks.supervise('keepalived-supervisor', supervisors.keepalived.run(signal));

  log.info({ event: 'ready' }, 'agent ready: haproxy and keepalived running, every task started');
  options.onReady?.();

  await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
  alive.stopping = true;
  log.info({ event: 'agent-stopping' }, 'agent stopping; haproxy and keepalived keep running');
  // A handoff stays on (an upgrade must not reset the connections a failback hands back): the next
  // agent picks it up, and the kernel stops it at its deadline if none comes (src/handoff/handoff.ts).
  if (handoff.current !== null) log.info({ event: 'handoff-left-on', reason: handoff.current.reason, peer: handoff.current.peer, until: handoff.current.until }, 'the connection handoff stays on until its deadline');
  await tasks.settled();
  metrics.stopProcessMetrics();
  if (fatal.signal.aborted) throw fatal.signal.reason;
}

/** What every start-up step of the agent reads. */
interface AgentContext {
  readonly options: AgentOptions;
  /** The spec, moved under the run dir. */
  readonly spec: Spec;
  readonly hash: string;
  readonly node: ClusterNode;
  readonly runDir: string;
  readonly paths: NodePaths;
  readonly log: Logger;
  readonly signal: AbortSignal;
  readonly metrics: AgentMetrics;
  readonly problems: ProblemBoard;
  readonly tasks: AgentTasks;
  /** Where haproxy's and keepalived's logs go (admin.accessLog), fixed when each starts. */
  readonly accessLog: AccessLogPlan;
}

/** HAProxy: the file on disk is always the desired, validated config; attach when one runs. */
async function haproxyRunning(ctx: AgentContext): Promise<HaproxyProcess> {
  const { spec, paths, signal, node } = ctx;
  const hp = haproxyPaths(paths.haproxyDir);
  const pidFile = paths.haproxyPid;
  let haproxy: HaproxyProcess | null = await attachHaproxy({ pidFile, masterSocket: spec.admin.masterSocket, signal }).catch(() => null);
  // A running haproxy keeps its config (the pipeline plans from what it runs); a stopped one
  // starts from the last config written, or from a first render when there is none.
  const hadConfig = await exists(hp.config);
  if (!haproxy && !hadConfig) {
    const rendered = renderHaproxy(spec, { node: node.name, specHash: ctx.hash, mapDir: hp.mapDir });
    await applyConfig({ dir: paths.haproxyDir, config: rendered.config, maps: rendered.maps }, { signal, reload: null, reason: 'initial' });
  }
  if (!haproxy) haproxy = await startHaproxyProcess(ctx, signal);
  ctx.log.info({ event: 'haproxy', pid: haproxy.masterPid, attached: !haproxy.owned }, 'haproxy running');
  if (!haproxy.owned) await warnIfOutputStale({ pid: haproxy.masterPid, what: 'haproxy', plan: ctx.accessLog, runDir: ctx.runDir, log: ctx.log });
  return haproxy;
}

/** Starts haproxy on the config on disk (at start and by its supervisor). */
function startHaproxyProcess(ctx: AgentContext, signal: AbortSignal): Promise<HaproxyProcess> {
  const { paths, spec, accessLog } = ctx;
  const output = accessLog.haproxyOutput === undefined ? {} : { accessLogOutput: accessLog.haproxyOutput };
  return startHaproxy({ configPath: haproxyPaths(paths.haproxyDir).config, masterSocket: spec.admin.masterSocket, pidFile: paths.haproxyPid, logFile: paths.haproxyLog, ...output, signal });
}

/** keepalived's track file starts at FAULT until HAProxy answers its health URI. */
async function healthMonitor(ctx: AgentContext): Promise<HealthMonitor> {
  const { spec, node, runDir, log, metrics } = ctx;
  const trackFile = keepalivedTrackPath(runDir);
  if (!(await exists(trackFile))) await writeFileAtomic(trackFile, '1\n', { signal: ctx.signal });
  return new HealthMonitor({
    url: `http://${adminHost(spec.admin.health.bind, node, spec.cluster.vip)}:${spec.admin.health.port}${spec.admin.health.path}`,
    trackFile,
    log,
    onChange: (healthy) => metrics.healthy.set({}, healthy ? 1 : 0),
  });
}

/**
 * The connection handoff and the failover unit of the cluster's VRRP instance. This node's end of
 * the link is always up (a peer that takes the routes from us hands our open connections back
 * through it); the target side is turned on by a planned switchover or by a takeover from a live
 * lower-priority peer (failback). The peer channel on the link answers this node's VRRP state and
 * health.
 */
async function startFailover(ctx: AgentContext, deps: { readonly health: HealthMonitor; readonly instances: DeferredInstances; readonly reloads: HaproxyReloads }): Promise<{ handoff: HandoffManager; failover: FailoverUnit }> {
  const { spec, node, runDir, log, signal, options } = ctx;
  let failover: FailoverUnit | null = null;
  const handoff = new HandoffManager({
    runDir, vip: spec.cluster.vip, self: node, nodes: spec.cluster.nodes, log, advertIntervalMs: spec.cluster.vrrp.advertIntervalMs, peerPort: spec.admin.agent.port,
    preemptDelayMs: spec.cluster.vrrp.preemptDelayMs, questions: ctx.metrics.peerQuestions,
    view: () => failover?.peerView() ?? { node: node.name, vrrp: 'INIT', healthy: false },
  });
  await handoff.start(signal);
  failover = new FailoverUnit({
    spec, node, instance: keepalivedInstanceName(spec.cluster.name), handoff, health: deps.health, instances: deps.instances, reloads: deps.reloads,
    tasks: ctx.tasks, problems: ctx.problems, metrics: ctx.metrics.failover, log, signal,
    ...(options.ec2Endpoint === undefined ? {} : { ec2Endpoint: options.ec2Endpoint }),
    ...(options.imdsEndpoint === undefined ? {} : { imdsEndpoint: options.imdsEndpoint }),
  });
  return { handoff, failover };
}

/** keepalived: the FIFO reader is open before keepalived starts, so no transition is missed. */
async function keepalivedRunning(ctx: AgentContext, failover: FailoverUnit): Promise<{ process: KeepalivedProcess; config: string }> {
  const { spec, node, runDir, signal } = ctx;
  const config = ctx.paths.keepalivedConfig;
  const kconf = renderKeepalived(spec, { node: node.name, specHash: ctx.hash });
  const kconfChanged = (await readFile(config, 'utf8').catch(() => '')) !== kconf;
  if (kconfChanged) await writeFileAtomic(config, kconf, { signal, mode: 0o600 });
  const fifo = keepalivedFifoPath(runDir);
  if (!(await exists(fifo))) await runCommand(['mkfifo', '-m', '0600', fifo], { signal });
  ctx.tasks.supervise('notify-fifo', (async () => {
    for await (const t of readNotifyFifo(fifo, { signal })) {
      if (t.kind === 'INSTANCE') failover.onTransition(t.state, 'keepalived notify');
    }
  })());
  const keepalived = await startKeepalivedProcess(ctx, config, signal);
  if (keepalived.attached) {
    // An agent restart: keepalived does not repeat its last transition, but only the master holds
    // the marker address. Read it before a reload: while keepalived reloads it takes its
    // addresses down and puts them back without a transition (a master stays master), so a read
    // during the reload saw a master as BACKUP and no notify line ever corrected it.
    const master = await hasAddress(spec.cluster.vrrp.markerAddress, signal);
    failover.onTransition(master ? 'MASTER' : 'BACKUP', `agent attached to running keepalived: marker address ${master ? 'present (master)' : 'absent'}`);
    if (kconfChanged) keepalived.reload();
  }
  ctx.log.info({ event: 'keepalived', pid: keepalived.pid, attached: keepalived.attached }, 'keepalived running');
  if (keepalived.attached) await warnIfOutputStale({ pid: keepalived.pid, what: 'keepalived', plan: ctx.accessLog, runDir, log: ctx.log });
  return { process: keepalived, config };
}

/** Starts keepalived, or attaches to the one a previous agent started (at start and by its supervisor). */
function startKeepalivedProcess(ctx: AgentContext, config: string, signal: AbortSignal): Promise<KeepalivedProcess> {
  return startKeepalived({ config, runDir: ctx.runDir }, { signal, log: ctx.accessLog.keepalived });
}

/** One supervisor for haproxy and one for keepalived (src/agent/process-supervisor.ts). */
function processSupervisors(ctx: AgentContext, p: { readonly haproxy: HaproxyProcess; readonly keepalived: KeepalivedProcess; readonly health: HealthMonitor; readonly failover: FailoverUnit; readonly keepalivedConfig: string }): { haproxy: ProcessSupervisor<HaproxyProcess>; keepalived: ProcessSupervisor<KeepalivedProcess> } {
  const common = { restarts: ctx.metrics.processRestarts, log: ctx.log };
  return {
    haproxy: new ProcessSupervisor({
      ...common, name: 'haproxy', process: p.haproxy, pid: (h) => h.masterPid,
      // Our child: its exit is an event. Attached after an agent restart: polled.
      exited: async (h, s) => {
        const exit = h.childExit;
        if (exit !== null) await untilAborted(exit, s);
        else await exitedByPolling(() => h.isAlive(), { intervalMs: HAPROXY_POLL_MS, signal: s });
      },
      onExit: (_h, s) => p.health.markDown('haproxy exited', s),
      exitMessage: 'haproxy exited: node unhealthy, restarting it',
      start: (s) => startHaproxyProcess(ctx, s),
    }),
    keepalived: new ProcessSupervisor({
      ...common, name: 'keepalived', process: p.keepalived, pid: (k) => k.pid,
      exited: async (k, s) => void (await untilAborted(k.exited, s)),
      onExit: () => p.failover.onTransition('STOP', 'keepalived exited'),
      exitMessage: 'keepalived exited: stopped claiming, restarting it',
      start: (s) => startKeepalivedProcess(ctx, p.keepalivedConfig, s),
    }),
  };
}

/**
 * The status endpoint (`/status`, `/metrics`, `/alive`: read-only, localhost or the node address)
 * and the control socket (mutating operations, planned switchover: a unix socket, mode 0600, in
 * the run dir). Returns the flag `/alive` reads.
 */
async function serve(ctx: AgentContext, p: { readonly registry: Registry; readonly parts: AgentStatusParts; readonly masterCli: MasterCli; readonly reloads: HaproxyReloads }): Promise<{ stopping: boolean }> {
  const { spec, node, runDir, log, signal } = ctx;
  const alive = { stopping: false };
  const status = (): ReturnType<typeof agentStatus> => agentStatus(p.parts);
  p.registry.collect(() => refreshAgentGauges(p.parts, ctx.metrics));
  const server = await startStatusServer({
    host: adminHost(spec.admin.agent.bind, node, spec.cluster.vip),
    port: spec.admin.agent.port,
    signal,
    status,
    metrics: () => p.registry.render(),
    alive: () => !alive.stopping,
  });
  log.info({ event: 'status-server', url: server.url }, 'agent status endpoint listening');
  const { failover } = p.parts;
  await startControlServer({
    socketPath: agentSocketPath(runDir),
    signal,
    routes: controlRoutes({
      node, nodes: () => p.parts.rollout.current.spec.cluster.nodes, claimer: failover.claimer, controller: failover.controller, handoff: p.parts.handoff,
      priority: p.parts.priority, reloads: p.reloads, masterCli: p.masterCli, status: () => Promise.resolve(status()), log,
    }),
  });
  log.info({ event: 'control-socket', path: agentSocketPath(runDir) }, 'agent control socket listening');
  return alive;
}

/**
 * The agent of a node `overlay-lb up` installed (`--follow-release`; the spec has `provision`,
 * and a cloud) follows the spec versions `overlay-lb apply --cluster` gives it in the release
 * bucket and publishes its status there (src/agent/spec-follow.ts). The S3 client is loaded only
 * then (its memory stays out of other agents).
 */
async function followReleaseBucket(ctx: AgentContext, p: { readonly rollout: SpecRollout; readonly parts: AgentStatusParts }): Promise<void> {
  const { spec, node, log, options, metrics, problems } = ctx;
  const provision = spec.provision;
  if (options.followRelease !== true || provision === undefined || spec.cluster.cloud.provider === 'none') {
    if (options.followRelease === true) log.warn({ event: 'spec-follow-off' }, '--follow-release, but the spec has no provision section or no cloud: this node does not follow the release bucket');
    return;
  }
  const region = spec.cluster.cloud.region;
  if (region === undefined) {
    log.warn({ event: 'spec-follow-off' }, 'the spec has a provision section but no cluster.cloud.region: this node does not follow the release bucket');
    return;
  }
  const [{ s3ReleaseFollow }, { SpecFollower }, { nodeS3Endpoint }, { releaseKeys }] = await Promise.all([
    import('../cloud/aws/provision/release-follow.js'), import('./spec-follow.js'), import('../cloud/aws/endpoints.js'), import('../cloud/aws/provision/names.js'),
  ]);
  const endpoint = options.ec2Endpoint ?? nodeS3Endpoint(spec) ?? undefined;
  const api = s3ReleaseFollow({
    bucket: provision.bucket, prefix: provision.prefix, specKey: releaseKeys(provision.prefix).specKey, node: node.name, cluster: spec.cluster.name, region, signal: ctx.signal,
    ...(endpoint === undefined ? {} : { endpoint }), ...(options.imdsEndpoint === undefined ? {} : { imdsEndpoint: options.imdsEndpoint }),
  });
  ctx.signal.addEventListener('abort', () => api.destroy(), { once: true });
  const runtime = new RuntimeApi({ socketPath: spec.admin.runtimeSocket });
  const follower = new SpecFollower({
    api, node: node.name, rollout: p.rollout, status: () => agentStatus(p.parts), problems, log,
    polls: metrics.specSourcePolls, lastSuccess: metrics.specSourceLastSuccess, publishes: metrics.statusPublishes,
    ...(options.followIntervalMs === undefined ? {} : { intervalMs: options.followIntervalMs }),
    traffic: async (signal) => {
      const names = new Set(p.rollout.current.spec.frontends.map((f) => f.name));
      const rows = (await runtime.showStat({ signal })).filter((r) => r['svname'] === 'FRONTEND' && names.has(r['pxname'] ?? ''));
      const sum = (field: string): number => rows.reduce((n, r) => n + (Number(r[field]) || 0), 0);
      return { currentSessions: sum('scur'), totalSessions: sum('stot') };
    },
  });
  log.info({ event: 'spec-follow', where: api.where }, 'following the spec versions of the release bucket');
  ctx.tasks.superviseRestarting('spec-follow', (s) => follower.run(s));
}

/**
 * Certificate files are watched: a changed file is swapped in through the Runtime API (no reload;
 * one too large for it is loaded by a reload), a refused one reported as a problem.
 */
function watchCertificatesTask(ctx: AgentContext, p: { readonly rollout: SpecRollout; readonly reloads: HaproxyReloads }): void {
  const { spec, log, problems } = ctx;
  const runtime = new RuntimeApi({ socketPath: spec.admin.runtimeSocket });
  ctx.tasks.superviseRestarting('cert-watch', (s) => watchCertificates({
    files: () => p.rollout.current.spec.frontends.flatMap((fe) => fe.binds.flatMap((b) => (b.tls === undefined ? [] : tlsCertificateFiles(b.tls)))),
    runtime,
    signal: s,
    log,
    reload: async (reason, rs) => {
      const r = await p.reloads.reload(rs);
      if (!r.ok) throw new OverlayError('HAPROXY_RELOAD_FAILED', `haproxy reload (${reason}) failed (${r.reason}): ${r.detail}`);
    },
    onEvent: (e) => {
      if (e.kind === 'failed') problems.report({ component: `tls:${e.file}`, code: e.error.code, message: e.error.message, at: systemClock.now() });
      else problems.clear(`tls:${e.file}`);
    },
  }));
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

async function ensureVip(vip: string, signal: AbortSignal): Promise<void> {
  const r = await runCommand(['ip', '-o', '-4', 'addr', 'show', 'dev', 'lo'], { signal });
  if (r.stdout.includes(` ${vip}/`)) return;
  const add = await runCommand(['ip', 'addr', 'add', `${vip}/32`, 'dev', 'lo'], { signal });
  if (add.code !== 0) throw new OverlayError('INTERNAL', `could not add the VIP ${vip}/32 to lo: ${add.stderr.trim()}`);
}

async function hasAddress(address: string, signal: AbortSignal): Promise<boolean> {
  const r = await runCommand(['ip', '-o', '-4', 'addr', 'show'], { signal });
  return r.stdout.split('\n').some((l) => l.includes(` ${address}/`));
}
