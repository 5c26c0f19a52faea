import { setMaxListeners } from 'node:events';
import { access, mkdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { ClusterNode } from '../model/spec.js';
import { findNode } from '../spec/nodes.js';
import { loadSpecFile } from '../ops/load-spec.js';
import { renderHaproxy } from '../render/haproxy.js';
import { adminHost } from '../render/admin-host.js';
import { AGENT_HEARTBEAT_INTERVAL_MS, VRRP_STATES, keepalivedAlivePath, keepalivedFifoPath, keepalivedInstanceName, keepalivedPriorityPath, keepalivedTrackPath, renderKeepalived } from '../render/keepalived.js';
import { applyConfig, haproxyPaths } from '../haproxy/config-writer.js';
import { attachHaproxy, startHaproxy } from '../haproxy/process.js';
import { MasterCli } from '../haproxy/master-cli.js';
import { RuntimeApi } from '../haproxy/runtime-api.js';
import { createApplyPipeline } from '../apply/pipeline.js';
import { createApplyMetrics } from '../apply/metrics.js';
import { withApplyLock } from '../apply/state-store.js';
import { watchSpec } from './spec-watch.js';
import { watchCertificates } from '../apply/cert-watch.js';
import { tlsCertificateFiles } from '../render/tls.js';
import { capLogs } from './log-cap.js';
import type { HaproxyProcess } from '../haproxy/process.js';
import { readNotifyFifo } from '../keepalived/notify-fifo.js';
import type { VrrpState } from '../keepalived/notify-fifo.js';
import { startKeepalived } from '../keepalived/process.js';
import { isProcessAlive as isAlive } from '../util/pid.js';
import type { KeepalivedProcess } from '../keepalived/process.js';
import type { InstanceIdentity } from '../cloud/types.js';
import type { Ec2InstanceDescriber } from '../discovery/ec2-tags-source.js';
import type { PipelineStatus } from '../apply/pipeline.js';
import { FailoverController } from '../failover/controller.js';
import { createFailoverParts } from '../failover/create-failover.js';
import { cloudDriver } from '../cloud/registry.js';
import { retry } from '../util/retry.js';
import { timeoutSignal, untilAborted } from '../util/abort.js';
import type { MasterHeartbeat } from '../failover/heartbeat.js';
import { NO_CLAIMER } from '../failover/types.js';
import type { Claimer } from '../failover/types.js';
import { createFailoverMetrics } from '../failover/metrics.js';
import { HealthMonitor } from './health.js';
import { startStatusServer } from './status-server.js';
import { agentSocketPath, startControlServer } from './control-server.js';
import { HandoffManager, SWITCHOVER_HANDOFF_MS } from '../switchover/handoff-manager.js';
import type { PeerView } from '../switchover/peer-channel.js';
import { withRunDir } from './run-dir.js';
import type { AgentStatus, Problem, SpecRolloutResult, SpecRolloutStatus } from '../agent-api/contract.js';
import { DeferredClaimer, DeferredHeartbeat } from './deferred-cloud.js';
import { runCommand } from '../util/exec.js';
import { writeFileAtomic } from '../util/fs-atomic.js';
import { OverlayError, UserError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { Registry } from '../util/metrics.js';
import { registerProcessMetrics } from '../util/process-metrics.js';
import { buildInfo } from '../util/build-info.js';
import { systemClock } from '../util/clock.js';
import { nodePaths } from '../util/node-paths.js';

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
}

/** Abort listeners the agent's long-running tasks may hold on its signal (see runAgent). */
const AGENT_SIGNAL_LISTENERS = 40;

/** The lab serves its EC2-compatible API here, inside every lab VPC. */
export { LAB_EC2_ENDPOINT } from '../cloud/aws/driver.js';

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

  const tasks: Promise<unknown>[] = [];
  const supervise = (name: string, task: Promise<unknown>): void => {
    tasks.push(task.catch((err: unknown) => {
      if (signal.aborted) return;
      log.error({ event: 'agent-task-failed', task: name, err }, 'an agent task failed: stopping the agent (haproxy and keepalived keep running)');
      fatal.abort(err);
    }));
  };
  // The heartbeat keepalived's agent check reads: before anything slow (haproxy, IMDS, the
  // status server), so that a restarted agent is seen alive long before it could answer HTTP.
  supervise('heartbeat', runHeartbeat(keepalivedAlivePath(runDir), { signal, log }));

  const registry = new Registry();
  const failoverMetrics = createFailoverMetrics(registry);
  const applyMetrics = createApplyMetrics(registry);
  const healthGauge = registry.gauge('overlay_lb_node_healthy', '1 when HAProxy serves (the track file says 0), else 0.');
  const restarts = registry.counter('overlay_lb_process_restarts_total', 'Restarts of haproxy or keepalived after they exited.');
  const taskRestarts = registry.counter('overlay_lb_agent_task_restarts_total', 'Agent tasks that failed and were restarted after a backoff, by task.');
  const rollouts = registry.counter('overlay_lb_spec_rollouts_total', 'Spec file changes seen by the agent, by result: applied, invalid, rejected (needs an agent restart) or failed.');
  const sourceUp = registry.gauge('overlay_lb_discovery_source_up', '1 when a discovery source\'s last read succeeded, 0 when it is starting, stale or failed.');
  const sourceFailures = registry.gauge('overlay_lb_discovery_source_failures', 'Consecutive failures of a discovery source since its last good read.');
  const problemsGauge = registry.gauge('overlay_lb_agent_problems', 'Problems the agent reports in /status (failed sources, applies, spec rollouts, tasks), by component.');
  const build = buildInfo();
  registry.gauge('overlay_lb_build_info', 'Always 1; the labels say which overlay-lb runs here: version, commit and Node.js runtime.').set({ version: build.version, commit: build.commit, runtime: build.runtime }, 1);
  const specInfo = registry.gauge('overlay_lb_spec_info', 'Always 1; the labels name the cluster and the hash of the spec this node runs (every node of a cluster should show the same).');
  const vrrpState = registry.gauge('overlay_lb_vrrp_state', '1 for the VRRP state this node is in (keepalived\'s last transition), 0 for every other state, by cluster, vrrp_instance and state.');
  const discoveryLastSuccess = registry.gauge('overlay_lb_discovery_last_success_timestamp_seconds', 'When a discovery source last read a valid snapshot, in seconds since the Unix epoch, by source.');
  const stopProcessMetrics = registerProcessMetrics(registry);
  /** The latest failure of each part that keeps running (restarted, retried or kept at its last good state). */
  const failures = new Map<string, Problem>();

  // The VIP is static on every node (the route decides who gets the traffic); keepalived never
  // manages it. `lo` because it must not answer ARP on the subnet.
  await ensureVip(spec.cluster.vip, signal);

  // HAProxy: the file on disk is always the desired, validated config; attach when one runs.
  const hpDir = paths.haproxyDir;
  const hp = haproxyPaths(hpDir);
  const pidFile = paths.haproxyPid;
  let haproxy: HaproxyProcess | null = await attachHaproxy({ pidFile, masterSocket: spec.admin.masterSocket, signal }).catch(() => null);
  // A running haproxy keeps its config (the pipeline below plans from what it runs); a stopped one
  // starts from the last config written, or from a first render when there is none.
  const hadConfig = await exists(hp.config);
  if (!haproxy && !hadConfig) {
    const rendered = renderHaproxy(spec, { node: node.name, specHash: loaded.hash, mapDir: hp.mapDir });
    await applyConfig({ dir: hpDir, config: rendered.config, maps: rendered.maps }, { signal, reload: null, reason: 'initial' });
  }
  if (!haproxy) haproxy = await startHaproxy({ configPath: hp.config, masterSocket: spec.admin.masterSocket, pidFile, logFile: paths.haproxyLog, signal });
  log.info({ event: 'haproxy', pid: haproxy.masterPid, attached: !haproxy.owned }, 'haproxy running');

  // `ec2-tags` discovery: DescribeInstances through the same client as failover, known once the
  // instance identity (region, role credentials) is (the pipeline starts after that).
  // The provider's `instances` capability (src/cloud/registry.ts), once the identity is known.
  let instances: Ec2InstanceDescriber | null = null;
  const ec2Describer: Ec2InstanceDescriber = {
    describeInstancesByTags: (tags, o) => (instances === null
      ? Promise.reject(new OverlayError('CLOUD_UNAVAILABLE', 'DescribeInstances: the EC2 client is not ready (the instance identity is not known yet)'))
      : instances.describeInstancesByTags(tags, o)),
  };
  // From here on the apply pipeline owns haproxy's config: discovered servers, switches and
  // splits change through the Runtime API, anything else is one reload with its reasons. The
  // master CLI socket is stable across haproxy restarts, so it is the reloader.
  const pipeline = createApplyPipeline({
    spec,
    specHash: loaded.hash,
    node: node.name,
    runDir: hpDir,
    haproxy: { runtime: new RuntimeApi({ socketPath: spec.admin.runtimeSocket }), reloader: new MasterCli({ socketPath: spec.admin.masterSocket }) },
    log,
    metrics: applyMetrics,
    ...(spec.cluster.cloud.provider === 'none' ? {} : { sourceDeps: { ec2: ec2Describer } }),
  });
  let current = { spec, hash: loaded.hash, generation: 1 };
  /** The last spec file change and what became of it (null: none since start). */
  let specRollout: SpecRolloutStatus | null = null;
  const masterCli = new MasterCli({ socketPath: spec.admin.masterSocket });

  // keepalived's track file starts at FAULT until HAProxy answers its health URI.
  const trackFile = keepalivedTrackPath(runDir);
  if (!(await exists(trackFile))) await writeFileAtomic(trackFile, '1\n', { signal });
  const health = new HealthMonitor({
    url: `http://${adminHost(spec.admin.health.bind, node, spec.cluster.vip)}:${spec.admin.health.port}${spec.admin.health.path}`,
    trackFile,
    log,
    onChange: (healthy) => healthGauge.set({}, healthy ? 1 : 0),
  });

  // The connection handoff: this node's end of the link is always up (a peer that takes the
  // routes from us hands our open connections back through it); the target side is turned on by
  // a planned switchover or by a takeover from a live lower-priority peer (failback).
  // The peer channel on the link answers this node's VRRP state and health (controller below).
  let peerView = (): PeerView => ({ node: node.name, vrrp: 'INIT', healthy: false });
  const handoff = new HandoffManager({
    runDir, vip: spec.cluster.vip, self: node, nodes: spec.cluster.nodes, log, advertIntervalMs: spec.cluster.vrrp.advertIntervalMs, peerPort: spec.admin.agent.port, view: () => peerView(),
  });
  await handoff.start(signal);

  // The failover controller (no cloud: VRRP state is still followed and reported). With a cloud,
  // the claimer and the master heartbeat need the instance identity from IMDS: they are looked up
  // in the background, retried and reported until they answer, so that a slow or failing IMDS
  // never holds back keepalived's attach, /status and the health track file, nor stops the agent
  // (claims wait for the identity meanwhile).
  const instance = keepalivedInstanceName(spec.cluster.name);
  let identity: InstanceIdentity | null = null;
  const cloudOn = spec.cluster.cloud.provider !== 'none';
  const deferredClaimer = new DeferredClaimer(spec.cluster.cloud.failover === 'eip' ? 'eip' : 'route');
  const claimer: Claimer = cloudOn ? deferredClaimer : NO_CLAIMER;
  const heartbeat: MasterHeartbeat | undefined = cloudOn ? new DeferredHeartbeat() : undefined;
  if (cloudOn && heartbeat instanceof DeferredHeartbeat) {
    const cloud = cloudDriver(spec.cluster.cloud.provider).open({
      cloud: spec.cluster.cloud, signal,
      ...(options.ec2Endpoint === undefined ? {} : { endpoint: options.ec2Endpoint }),
      ...(options.imdsEndpoint === undefined ? {} : { metadataEndpoint: options.imdsEndpoint }),
    });
    supervise('cloud-identity', (async () => {
      const found = await retry(() => cloud.identity(node.address, { signal, deadlineMs: 20_000 }), {
        signal, baseMs: 1000, maxMs: 30_000, isRetryable: () => true,
        onRetry: ({ error, delayMs }) => {
          failures.set('cloud', { component: 'cloud', ...describeError(error), at: Date.now() });
          log.error({ event: 'identity-failed', retryInMs: delayMs, err: error }, 'cannot read the instance identity from IMDSv2 yet: retrying; nothing can be claimed until it answers');
        },
      });
      identity = found;
      failures.delete('cloud');
      log.info({ event: 'identity', instanceId: found.instanceId, eni: found.networkInterfaceId, az: found.availabilityZone }, 'instance identity from IMDSv2');
      const capabilities = cloud.connect(found);
      const made = createFailoverParts({ spec, node, capabilities, metrics: failoverMetrics, onTakeover: (from, s) => handoff.onTakeover(from, s), afterTakeover: (outcomes) => handoff.afterTakeover(outcomes) });
      instances = capabilities.instances ?? null;
      deferredClaimer.set(made.claimer);
      heartbeat.set(made.heartbeat);
      const prefetch = made.prefetchPeers;
      if (prefetch) {
        // The peers' ENIs, so that a claim never waits for that lookup (inspect refreshes them).
        void retry(() => prefetch(timeoutSignal(5000, signal)), { signal, deadline: Date.now() + 120_000, baseMs: 500, maxMs: 10_000 })
          .catch((err: unknown) => log.warn({ event: 'peer-lookup-failed', err }, 'could not look the peers\' ENIs up yet; the first takeover looks them up'));
      }
    })());
  }
  const controller = new FailoverController({
    instance,
    claimer,
    priority: node.priority,
    recheckIntervalMs: spec.cluster.cloud.recheckIntervalMs,
    retakeDelayMs: spec.cluster.vrrp.preemptDelayMs,
    peerState: (peer, s) => handoff.peerState(peer, s),
    ...(heartbeat ? { heartbeat } : {}),
    log,
    metrics: failoverMetrics,
  });
  // After losing mastership to another node (a failback, a healed partition), drain: once no
  // owned resource points here any more, reload HAProxy, so that its old worker closes each
  // keep-alive connection after its next response (the client reconnects to the new master)
  // while the new master hands this node's open connections back to it meanwhile.
  let drain: AbortController | null = null;
  peerView = () => ({ node: node.name, vrrp: controller.status().vrrp, healthy: health.healthy });
  const onTransition = (state: VrrpState, reason: string): void => {
    const was = controller.status().vrrp;
    controller.onTransition({ name: instance, state }, reason);
    const now = controller.status().vrrp;
    if (now === was) return;
    drain?.abort();
    drain = null;
    if (was === 'MASTER' && now === 'BACKUP' && claimer.mode === 'route') {
      const d = new AbortController();
      drain = d;
      void drainAfterRoutesLeave(AbortSignal.any([signal, d.signal])).catch((err: unknown) => {
        if (!d.signal.aborted && !signal.aborted) log.warn({ event: 'drain-failed', err }, 'could not drain after losing mastership');
      });
    }
  };
  // A healed partition's master retakes after the preempt delay: wait that long and a minute.
  const drainWaitMs = spec.cluster.vrrp.preemptDelayMs + 60_000;
  const drainAfterRoutesLeave = async (s: AbortSignal): Promise<void> => {
    const deadline = Date.now() + drainWaitMs;
    for (;;) {
      await systemClock.sleep(2000, s);
      if (handoff.current?.reason === 'switchover') return; // the switchover drains by itself
      const views = await claimer.inspect(await claimer.list(s), s);
      if (views.every((v) => v.holder.kind !== 'us')) break;
      if (Date.now() > deadline) {
        log.warn({ event: 'drain-skipped', still: views.filter((v) => v.holder.kind === 'us').map((v) => v.id), waitedMs: drainWaitMs }, 'routes still point here long after losing mastership: not draining');
        return;
      }
    }
    const r = await withApplyLock(hpDir, () => masterCli.reload({ signal: s }), { signal: s, clock: systemClock });
    if (!r.ok) throw new OverlayError('INTERNAL', `haproxy reload for the drain failed (${r.reason}): ${r.detail}`);
    log.info({ event: 'drain', oldWorkers: r.previousWorkerPids, why: 'lost mastership and every route moved away' }, 'haproxy reloaded to drain established connections');
  };

  // keepalived: the FIFO reader is open before keepalived starts, so no transition is missed.
  const kconfPath = paths.keepalivedConfig;
  const kconf = renderKeepalived(spec, { node: node.name, specHash: loaded.hash });
  const kconfChanged = (await readFile(kconfPath, 'utf8').catch(() => '')) !== kconf;
  if (kconfChanged) await writeFileAtomic(kconfPath, kconf, { signal, mode: 0o600 });
  const fifo = keepalivedFifoPath(runDir);
  if (!(await exists(fifo))) await runCommand(['mkfifo', '-m', '0600', fifo], { signal });
  // A task whose failure says nothing about this node's ability to serve (the spec watcher) is
  // restarted after a backoff, its failure reported; it never stops the agent.
  const superviseRestarting = (name: string, run: (s: AbortSignal) => Promise<unknown>): void => {
    tasks.push((async () => {
      let n = 0;
      while (!signal.aborted) {
        try {
          await run(signal);
          if (signal.aborted) break;
          throw new OverlayError('INTERNAL', `the ${name} task ended without being stopped`);
        } catch (err) {
          if (signal.aborted) break;
          n++;
          const waitMs = Math.min(30_000, 500 * 2 ** Math.min(n - 1, 10));
          failures.set(`task:${name}`, { component: `task:${name}`, ...describeError(err), at: Date.now() });
          taskRestarts.inc({ task: name });
          log.error({ event: 'agent-task-failed', task: name, restartInMs: waitMs, err }, 'an agent task failed: restarting it after a backoff (haproxy keeps serving the last good config)');
          await systemClock.sleep(waitMs, signal).catch(() => undefined);
        }
      }
    })());
  };
  supervise('notify-fifo', (async () => {
    for await (const t of readNotifyFifo(fifo, { signal })) {
      if (t.kind === 'INSTANCE') onTransition(t.state, 'keepalived notify');
    }
  })());
  let keepalived: KeepalivedProcess = await startKeepalived({ config: kconfPath, runDir }, { signal });
  if (keepalived.attached) {
    if (kconfChanged) keepalived.reload();
    // An agent restart: keepalived does not repeat its last transition, but only the master holds
    // the marker address.
    const master = await hasAddress(spec.cluster.vrrp.markerAddress, signal);
    onTransition(master ? 'MASTER' : 'BACKUP', `agent attached to running keepalived: marker address ${master ? 'present (master)' : 'absent'}`);
  }
  log.info({ event: 'keepalived', pid: keepalived.pid, attached: keepalived.attached }, 'keepalived running');

  // Planned switchover state, cached for the synchronous /status.
  const priorityFile = keepalivedPriorityPath(runDir);
  const readPriority = async (): Promise<number | null> => {
    const n = Number((await readFile(priorityFile, 'utf8').catch(() => '')).trim());
    return Number.isInteger(n) ? n : null;
  };
  const sw: { priorityAdjust: number | null } = { priorityAdjust: await readPriority() };

  let stopping = false;
  const problems = (): Problem[] => listProblems(pipeline.status(), failures);
  const status = (): AgentStatus => ({
    node: node.name,
    address: node.address,
    cluster: spec.cluster.name,
    specHash: current.hash,
    configHash: pipeline.status().configHash ?? null,
    specGeneration: current.generation,
    apply: pipeline.status(),
    identity,
    vrrp: controller.status(),
    haproxy: { pid: haproxy?.masterPid ?? null, alive: haproxy?.isAlive() ?? false, healthy: health.healthy },
    keepalived: { pid: keepalived.pid, alive: isAlive(keepalived.pid) },
    switchover: { priorityAdjust: sw.priorityAdjust, handoff: handoff.current === null ? null : { role: handoff.current.role, peer: handoff.current.peer, peerAddress: handoff.current.peerAddress, reason: handoff.current.reason, since: handoff.current.since, until: handoff.current.until } },
    specRollout,
    problems: problems(),
  });
  // Gauges derived from the status at scrape time (nothing to keep in step, never stale).
  const refreshGauges = (): void => {
    const now = Date.now();
    healthGauge.set({}, health.healthy ? 1 : 0);
    for (const src of pipeline.status().sources) {
      sourceUp.set({ source: src.name }, src.state === 'ok' ? 1 : 0);
      sourceFailures.set({ source: src.name }, src.failures);
      if (src.lastSuccessAt !== undefined) {
        discoveryLastSuccess.set({ source: src.name }, src.lastSuccessAt / 1000);
        applyMetrics.sourceStaleness.set({ source: src.name }, Math.max(0, (now - src.lastSuccessAt) / 1000));
      }
    }
    const byComponent = new Map<string, number>();
    for (const p of problems()) {
      const kind = p.component.split(':')[0] ?? p.component;
      byComponent.set(kind, (byComponent.get(kind) ?? 0) + 1);
    }
    for (const kind of ['discovery', 'apply', 'spec', 'task', 'cloud', 'tls']) problemsGauge.set({ component: kind }, byComponent.get(kind) ?? 0);
    specInfo.clear();
    specInfo.set({ cluster: spec.cluster.name, spec_hash: current.hash }, 1);
    const vrrp = controller.status().vrrp;
    for (const state of ['INIT', ...VRRP_STATES]) vrrpState.set({ cluster: spec.cluster.name, vrrp_instance: instance, state }, state === vrrp ? 1 : 0);
  };
  registry.collect(refreshGauges);
  const server = await startStatusServer({
    host: adminHost(spec.admin.agent.bind, node, spec.cluster.vip),
    port: spec.admin.agent.port,
    signal,
    status,
    metrics: () => registry.render(),
    alive: () => !stopping,
  });
  log.info({ event: 'status-server', url: server.url }, 'agent status endpoint listening');

  // Mutating operations (planned switchover) only on a unix socket (mode 0600) in the run dir.
  const peerNode = (name: unknown): ClusterNode => {
    const peer = current.spec.cluster.nodes.find((n) => n.name === name && n.name !== node.name);
    if (!peer) throw new UserError('SWITCHOVER_INVALID', `peer ${JSON.stringify(name)} is not another node of the spec; nodes: ${current.spec.cluster.nodes.map((n) => n.name).join(', ')}`);
    return peer;
  };
  const PRIORITY_MODES = { preferred: 254 - node.priority, neutral: 0, fault: -254 } as const;
  await startControlServer({
    socketPath: agentSocketPath(runDir),
    signal,
    routes: {
      'GET /status': () => Promise.resolve(status()),
      // Fresh view of every owned route table (or the EIP): who holds it now, from the cloud API.
      'GET /routes': async (_body, s) => ({ resources: await claimer.inspect(await claimer.list(s), s) }),
      'POST /switchover/handoff': async (body, s) => {
        const peer = peerNode(body['peer']);
        const role = body['role'];
        if (role !== 'target' && role !== 'origin') throw new UserError('SWITCHOVER_INVALID', `handoff role ${JSON.stringify(role)} is not target or origin`);
        return { handoff: await handoff.on(role, peer.name, 'switchover', SWITCHOVER_HANDOFF_MS, s) };
      },
      'POST /switchover/handoff-off': async (body) => ({ removed: await handoff.endSwitchover(body['claimFailed'] === true) }),
      'POST /switchover/yield': (body) => {
        if (body['to'] === null) {
          controller.yieldTo(null);
          return Promise.resolve({ yieldingTo: null });
        }
        const to = peerNode(body['to']).name;
        controller.yieldTo(to, typeof body['ttlMs'] === 'number' ? body['ttlMs'] : 60_000);
        return Promise.resolve({ yieldingTo: to });
      },
      'POST /switchover/claim': async (_body, s) => ({ outcomes: await controller.claimNow('planned switchover', s) }),
      'POST /switchover/priority': async (body, s) => {
        const mode = body['mode'];
        if (mode !== 'preferred' && mode !== 'neutral' && mode !== 'fault') throw new UserError('SWITCHOVER_INVALID', `priority mode ${JSON.stringify(mode)} is not preferred, neutral or fault`);
        const value = PRIORITY_MODES[mode];
        await writeFileAtomic(priorityFile, `${value}\n`, { signal: s });
        sw.priorityAdjust = value;
        log.info({ event: 'priority', mode, adjust: value }, 'VRRP priority adjustment written');
        return { priorityAdjust: value };
      },
      'POST /switchover/drain': async (_body, s) => {
        // A reload: the old worker serves its established connections to their end (keep-alive
        // clients get `Connection: close`), the new one takes new connections (none arrive here now).
        // Under the apply pipeline's lock: two overlapping reloads cannot be told apart.
        const r = await withApplyLock(hpDir, () => masterCli.reload({ signal: s }), { signal: s, clock: systemClock });
        if (!r.ok) throw new OverlayError('SWITCHOVER_FAILED', `haproxy reload for the drain failed (${r.reason}): ${r.detail}`);
        log.info({ event: 'drain', oldWorkers: r.previousWorkerPids }, 'haproxy reloaded to drain established connections');
        return { draining: r.previousWorkerPids };
      },
      'GET /switchover/drain': async (_body, s) => ({ oldWorkers: (await masterCli.showProc({ signal: s })).oldWorkers.length }),
    },
  });
  log.info({ event: 'control-socket', path: agentSocketPath(runDir) }, 'agent control socket listening');

  supervise('health', health.run(signal));
  supervise('log-cap', capLogs([paths.haproxyLog, paths.keepalivedLog], { signal, log }));
  supervise('failover', controller.run(signal));
  supervise('apply', pipeline.run(signal));
  // The spec file is watched: a valid change rolls out (runtime where possible, else one reload);
  // an invalid one is logged with every diagnostic and changes nothing.
  const rollout = (result: SpecRolloutResult, specHash: string | null, error?: { code: string; message: string }): void => {
    rollouts.inc({ result });
    specRollout = { result, at: Date.now(), specHash, ...(error === undefined ? {} : { error }) };
    if (result === 'applied') failures.delete('spec');
    else failures.set('spec', { component: 'spec', code: error?.code ?? 'INTERNAL', message: error?.message ?? result, at: specRollout.at });
  };
  superviseRestarting('spec-watch', (s) => watchSpec(options.specFile, current.hash, { signal: s, log, ...(options.reloadRequests === undefined ? {} : { reloadRequests: options.reloadRequests }), onRejected: (r) => rollout(r.kind, r.specHash, r.error), onChange: async (next) => {
    const nextSpec = withRunDir(next.spec, runDir);
    if (!nextSpec.cluster.nodes.some((n) => n.name === node.name)) {
      log.error({ event: 'spec-rejected', reason: `node ${node.name} is no longer in the spec` }, 'spec change ignored');
      rollout('rejected', next.hash, { code: 'SPEC_NODE', message: `node ${node.name} is no longer in the spec: nothing was changed` });
      return;
    }
    // The cluster and admin sections (VIP, nodes, VRRP, cloud, sockets, ports) shape the running
    // failover controller, keepalived and the listeners: they change with an agent restart, one
    // node at a time, never half-applied from a file watch.
    const changed = (['cluster', 'admin'] as const).filter((k) => JSON.stringify(nextSpec[k]) !== JSON.stringify(current.spec[k]));
    if (changed.length > 0) {
      log.error({ event: 'spec-rejected', sections: changed, specHash: next.hash }, `the spec's ${changed.join(' and ')} section changed: restart the agent to apply it (systemctl restart overlay-lb-agent); nothing was changed`);
      rollout('rejected', next.hash, { code: 'SPEC_CONFLICT', message: `the spec's ${changed.join(' and ')} section changed: restart the agent to apply it; nothing was changed` });
      return;
    }
    const outcome = await pipeline.applySpec(nextSpec, next.hash);
    if (outcome.result.kind === 'failed') {
      log.error({ event: 'spec-apply-failed', specHash: next.hash, error: outcome.result.error }, 'the spec change could not be applied; the last good config keeps serving');
      rollout('failed', next.hash, outcome.result.error);
      return;
    }
    // Only the header's spec hash differs: keep the file true for a reader, without a reload.
    await writeFileAtomic(kconfPath, renderKeepalived(nextSpec, { node: node.name, specHash: next.hash }), { signal, mode: 0o600 });
    current = { spec: nextSpec, hash: next.hash, generation: current.generation + 1 };
    rollout('applied', next.hash);
    log.info({ event: 'spec-applied', specHash: next.hash, generation: current.generation, result: outcome.result.kind }, 'spec change rolled out');
  } }));
  // Certificate files are watched: a changed file is swapped in through the Runtime API (no
  // reload; one too large for it is loaded by a reload), a refused one reported as a problem.
  const certRuntime = new RuntimeApi({ socketPath: spec.admin.runtimeSocket });
  superviseRestarting('cert-watch', (s) => watchCertificates({
    files: () => current.spec.frontends.flatMap((fe) => fe.binds.flatMap((b) => (b.tls === undefined ? [] : tlsCertificateFiles(b.tls)))),
    runtime: certRuntime,
    signal: s,
    log,
    reload: async (reason, rs) => {
      const r = await withApplyLock(hpDir, () => masterCli.reload({ signal: rs }), { signal: rs, clock: systemClock });
      if (!r.ok) throw new OverlayError('HAPROXY_RELOAD_FAILED', `haproxy reload (${reason}) failed (${r.reason}): ${r.detail}`);
    },
    onEvent: (e) => {
      if (e.kind === 'failed') failures.set(`tls:${e.file}`, { component: `tls:${e.file}`, code: e.error.code, message: e.error.message, at: Date.now() });
      else failures.delete(`tls:${e.file}`);
    },
  }));
  // Supervision: a dead haproxy means FAULT at once (no waiting for health checks), then a restart.
  supervise('haproxy-supervisor', (async () => {
    let backoff = 500;
    while (!signal.aborted) {
      await systemClock.sleep(200, signal).catch(() => undefined);
      if (signal.aborted || !haproxy || haproxy.isAlive()) continue;
      await health.markDown('haproxy exited', signal);
      log.error({ event: 'haproxy-exited', pid: haproxy.masterPid }, 'haproxy exited: node unhealthy, restarting it');
      restarts.inc({ process: 'haproxy' });
      await systemClock.sleep(backoff, signal).catch(() => undefined);
      try {
        haproxy = await startHaproxy({ configPath: hp.config, masterSocket: spec.admin.masterSocket, pidFile, logFile: paths.haproxyLog, signal });
        backoff = 500;
      } catch (err) {
        backoff = Math.min(backoff * 2, 10_000);
        log.error({ event: 'haproxy-restart-failed', err }, 'haproxy did not start');
      }
    }
  })());
  // A dead keepalived: this node is no longer in the election, so stop claiming (never delete).
  supervise('keepalived-supervisor', (async () => {
    let backoff = 500;
    while (!signal.aborted) {
      await untilAborted(keepalived.exited, signal);
      if (signal.aborted) break;
      onTransition('STOP', 'keepalived exited');
      restarts.inc({ process: 'keepalived' });
      log.error({ event: 'keepalived-exited', pid: keepalived.pid }, 'keepalived exited: stopped claiming, restarting it');
      await systemClock.sleep(backoff, signal).catch(() => undefined);
      try {
        keepalived = await startKeepalived({ config: kconfPath, runDir }, { signal });
        backoff = 500;
      } catch (err) {
        backoff = Math.min(backoff * 2, 10_000);
        log.error({ event: 'keepalived-restart-failed', err }, 'keepalived did not start');
      }
    }
  })());

  log.info({ event: 'ready' }, 'agent ready: haproxy and keepalived running, every task started');
  options.onReady?.();

  await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
  stopping = true;
  log.info({ event: 'agent-stopping' }, 'agent stopping; haproxy and keepalived keep running');
  // A handoff stays on (an upgrade must not reset the connections a failback hands back): the next
  // agent picks it up, and the kernel stops it at its deadline if none comes (src/switchover/handoff.ts).
  if (handoff.current !== null) log.info({ event: 'handoff-left-on', reason: handoff.current.reason, peer: handoff.current.peer, until: handoff.current.until }, 'the connection handoff stays on until its deadline');
  await Promise.allSettled(tasks);
  stopProcessMetrics();
  if (fatal.signal.aborted) throw fatal.signal.reason;
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

/** Everything that is not well right now: sources not ok, the last apply if it failed, the rest. */
function listProblems(p: PipelineStatus, failures: ReadonlyMap<string, Problem>): Problem[] {
  const out: Problem[] = [];
  for (const src of p.sources) {
    if ((src.state === 'failed' || src.state === 'stale') && src.lastError !== undefined) out.push({ component: `discovery:${src.name}`, ...src.lastError });
  }
  if (p.discoveryError !== undefined) out.push({ component: 'discovery', ...p.discoveryError });
  if (p.lastApply?.result.kind === 'failed') out.push({ component: 'apply', ...p.lastApply.result.error, at: p.lastApply.at });
  out.push(...failures.values());
  return out;
}

function describeError(err: unknown): { code: string; message: string } {
  if (err instanceof OverlayError) return { code: err.code, message: err.message };
  return { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) };
}

/**
 * Touches `path` (its modification time) every AGENT_HEARTBEAT_INTERVAL_MS, creating it when
 * missing, and once more when `signal` aborts (a planned stop: the next agent gets the whole
 * grace). A failed touch is logged once per run of failures and retried; keepalived's agent check
 * then sees the heartbeat age, which is what it should see.
 */
async function runHeartbeat(path: string, options: { readonly signal: AbortSignal; readonly log: Logger }): Promise<void> {
  let failing = false;
  for (;;) {
    try {
      const now = new Date();
      await utimes(path, now, now).catch(async (err: unknown) => {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        await writeFile(path, 'the agent touches this file every second (keepalived checks its age)\n', { mode: 0o600 });
      });
      if (failing) options.log.info({ event: 'heartbeat-restored', path }, 'heartbeat file written again');
      failing = false;
    } catch (err) {
      if (!failing) options.log.error({ event: 'heartbeat-failed', path, err }, 'cannot touch the heartbeat file: keepalived will count this agent as dead after the grace');
      failing = true;
    }
    if (options.signal.aborted) return;
    await systemClock.sleep(AGENT_HEARTBEAT_INTERVAL_MS, options.signal).catch(() => undefined);
  }
}
