import type { ClusterNode, Spec } from '../model/spec.js';
import type { InstanceIdentity } from '../cloud/types.js';
import { cloudDriver } from '../cloud/registry.js';
import { FailoverController } from '../failover/controller.js';
import { createFailoverParts } from '../failover/create-failover.js';
import type { FailoverMetrics } from '../failover/metrics.js';
import { NO_CLAIMER } from '../failover/types.js';
import type { Claimer } from '../failover/types.js';
import type { VrrpState } from '../keepalived/notify-fifo.js';
import type { HandoffManager } from '../handoff/handoff-manager.js';
import type { PeerView } from '../handoff/peer-channel.js';
import { timeoutSignal } from '../util/abort.js';
import type { Clock } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import type { Logger } from '../util/log.js';
import { retry } from '../util/retry.js';
import { DeferredClaimer, DeferredHeartbeat } from './deferred-cloud.js';
import type { DeferredInstances } from './deferred-cloud.js';
import type { HaproxyReloads } from './drain-reload.js';
import { describeError } from './problems.js';
import type { ProblemBoard } from './problems.js';
import type { AgentTasks } from './tasks.js';

/** After losing mastership, how often the drain looks whether the routes have left. */
const DRAIN_POLL_MS = 2000;
/** Beyond the preempt delay, how long the drain waits for the routes to leave (a healed partition's master retakes after the delay). */
const DRAIN_WAIT_EXTRA_MS = 60_000;

export interface FailoverUnitOptions {
  readonly spec: Spec;
  /** This node. */
  readonly node: ClusterNode;
  /** The VRRP instance this unit follows (keepalived's instance name). */
  readonly instance: string;
  /** The cloud API's endpoint. @default the driver's */
  readonly ec2Endpoint?: string;
  /** The metadata service's endpoint. @default the driver's */
  readonly imdsEndpoint?: string;
  /** The connection handoff: peers' answers, the takeover hooks, whether a switchover drains by itself. */
  readonly handoff: HandoffManager;
  /** This node's HAProxy health, for the peers' view. */
  readonly health: { readonly healthy: boolean };
  /** The `instances` capability, handed to discovery's `ec2-tags` sources once the identity is known. */
  readonly instances: DeferredInstances;
  /** Reloads HAProxy to drain after losing mastership. */
  readonly reloads: HaproxyReloads;
  readonly tasks: AgentTasks;
  readonly problems: ProblemBoard;
  readonly metrics: FailoverMetrics;
  readonly log: Logger;
  /** The agent's lifetime. */
  readonly signal: AbortSignal;
  /** @default systemClock */
  readonly clock?: Clock;
}

/**
 * Everything failover of one VRRP instance needs on a node: the instance identity (looked up in
 * the background, retried and reported until IMDS answers, so that a slow or failing IMDS never
 * holds back keepalived's attach, /status and the health track file, nor stops the agent; claims
 * wait for it meanwhile), the claimer and the master heartbeat of the spec's failover mode, the
 * failover controller that follows keepalived's transitions, and the drain after losing
 * mastership. Without a cloud (provider `none`) the VRRP state is still followed and reported.
 */
export class FailoverUnit {
  readonly controller: FailoverController;
  readonly claimer: Claimer;
  readonly #o: FailoverUnitOptions;
  readonly #clock: Clock;
  #identity: InstanceIdentity | null = null;
  #drain: AbortController | null = null;

  constructor(options: FailoverUnitOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    const { spec, node, handoff } = options;
    const cloudOn = spec.cluster.cloud.provider !== 'none';
    const claimer = new DeferredClaimer(spec.cluster.cloud.failover === 'eip' ? 'eip' : 'route');
    const heartbeat = new DeferredHeartbeat();
    if (cloudOn) this.#lookUpIdentity(claimer, heartbeat);
    this.claimer = cloudOn ? claimer : NO_CLAIMER;
    this.controller = new FailoverController({
      instance: options.instance,
      claimer: this.claimer,
      priority: node.priority,
      recheckIntervalMs: spec.cluster.cloud.recheckIntervalMs,
      retakeDelayMs: spec.cluster.vrrp.preemptDelayMs,
      peerState: (peer, s) => handoff.askPeer(peer, s),
      ...(cloudOn ? { heartbeat } : {}),
      log: options.log,
      metrics: options.metrics,
    });
  }

  /** This node's instance identity (null: no cloud, or not known yet). */
  get identity(): InstanceIdentity | null {
    return this.#identity;
  }

  /** What this node answers its peers over the handoff link. */
  peerView(): PeerView {
    return { node: this.#o.node.name, vrrp: this.controller.status().vrrp, healthy: this.#o.health.healthy };
  }

  /** Runs the controller until `signal` aborts. */
  run(signal: AbortSignal): Promise<void> {
    return this.controller.run(signal);
  }

  /**
   * A VRRP transition (keepalived's notify, an attach, keepalived's exit). After losing
   * mastership to another node (a failback, a healed partition) in route mode, drain: once no owned
   * resource points here any more, reload HAProxy, so that its old worker closes each keep-alive
   * connection after its next response (the client reconnects to the new master) while the new
   * master hands this node's open connections back to it meanwhile. Any other change ends a drain
   * that is waiting.
   */
  onTransition(state: VrrpState, reason: string): void {
    const was = this.controller.status().vrrp;
    this.controller.onTransition({ name: this.#o.instance, state }, reason);
    const now = this.controller.status().vrrp;
    if (now === was) return;
    this.#o.handoff.vrrpChanged(now);
    this.#drain?.abort();
    this.#drain = null;
    if (was === 'MASTER' && now === 'BACKUP' && this.claimer.mode === 'route') {
      const d = new AbortController();
      this.#drain = d;
      const { signal, log } = this.#o;
      void this.#drainAfterRoutesLeave(AbortSignal.any([signal, d.signal])).catch((err: unknown) => {
        if (!d.signal.aborted && !signal.aborted) log.warn({ event: 'drain-failed', err }, 'could not drain after losing mastership');
      });
    }
  }

  async #drainAfterRoutesLeave(s: AbortSignal): Promise<void> {
    const { handoff, log } = this.#o;
    const waitMs = this.#o.spec.cluster.vrrp.preemptDelayMs + DRAIN_WAIT_EXTRA_MS;
    const deadline = this.#clock.now() + waitMs;
    for (;;) {
      await this.#clock.sleep(DRAIN_POLL_MS, s);
      if (handoff.current?.reason === 'switchover') return; // the switchover drains by itself
      const views = await this.claimer.inspect(await this.claimer.list(s), s);
      if (views.every((v) => v.holder.kind !== 'us')) break;
      if (this.#clock.now() > deadline) {
        log.warn({ event: 'drain-skipped', still: views.filter((v) => v.holder.kind === 'us').map((v) => v.id), waitedMs: waitMs }, 'routes still point here long after losing mastership: not draining');
        return;
      }
    }
    await this.#o.reloads.drain({ code: 'INTERNAL', why: 'lost mastership and every route moved away', signal: s });
  }

  /** The identity from IMDS in the background, then the real claimer and heartbeat behind the stand-ins. */
  #lookUpIdentity(claimer: DeferredClaimer, heartbeat: DeferredHeartbeat): void {
    const { spec, node, signal, log, problems, handoff } = this.#o;
    const cloud = cloudDriver(spec.cluster.cloud.provider).open({
      cloud: spec.cluster.cloud, signal,
      ...(this.#o.ec2Endpoint === undefined ? {} : { endpoint: this.#o.ec2Endpoint }),
      ...(this.#o.imdsEndpoint === undefined ? {} : { metadataEndpoint: this.#o.imdsEndpoint }),
    });
    this.#o.tasks.supervise('cloud-identity', (async () => {
      const found = await retry(() => cloud.identity(node.address, { signal, deadlineMs: 20_000 }), {
        signal, baseMs: 1000, maxMs: 30_000, isRetryable: () => true,
        onRetry: ({ error, delayMs }) => {
          problems.report({ component: 'cloud', ...describeError(error), at: this.#clock.now() });
          log.error({ event: 'identity-failed', retryInMs: delayMs, err: error }, 'cannot read the instance identity from IMDSv2 yet: retrying; nothing can be claimed until it answers');
        },
      });
      this.#identity = found;
      problems.clear('cloud');
      log.info({ event: 'identity', instanceId: found.instanceId, eni: found.networkInterfaceId, az: found.availabilityZone }, 'instance identity from IMDSv2');
      const capabilities = cloud.connect(found);
      const made = createFailoverParts({ spec, node, capabilities, metrics: this.#o.metrics, onTakeover: (from, s) => handoff.onTakeover(from, s), afterTakeover: (outcomes) => handoff.afterTakeover(outcomes) });
      this.#o.instances.set(capabilities.instances ?? null);
      claimer.set(made.claimer);
      heartbeat.set(made.heartbeat);
      this.#prefetchPeers(made.prefetchPeers);
    })());
  }

  /** The peers' ENIs, so that a claim never waits for that lookup (inspect refreshes them). */
  #prefetchPeers(prefetch: ((signal: AbortSignal) => Promise<void>) | undefined): void {
    if (!prefetch) return;
    const { signal, log } = this.#o;
    void retry(() => prefetch(timeoutSignal(5000, signal)), { signal, deadline: this.#clock.now() + 120_000, baseMs: 500, maxMs: 10_000 })
      .catch((err: unknown) => log.warn({ event: 'peer-lookup-failed', err }, 'could not look the peers\' ENIs up yet; the first takeover looks them up'));
  }
}
