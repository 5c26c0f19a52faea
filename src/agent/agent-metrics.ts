import { createApplyMetrics } from '../apply/metrics.js';
import type { ApplyMetrics } from '../apply/metrics.js';
import { createFailoverMetrics } from '../failover/metrics.js';
import type { FailoverMetrics } from '../failover/metrics.js';
import { buildInfo } from '../util/build-info.js';
import type { Counter, Gauge, Registry } from '../util/metrics.js';
import { registerProcessMetrics } from '../util/process-metrics.js';

/** Every metric the agent exports (docs/metrics.md), registered in the order /metrics lists them. */
export interface AgentMetrics {
  readonly failover: FailoverMetrics;
  readonly apply: ApplyMetrics;
  readonly healthy: Gauge;
  readonly processRestarts: Counter;
  readonly taskRestarts: Counter;
  readonly rollouts: Counter;
  readonly sourceUp: Gauge;
  readonly sourceFailures: Gauge;
  readonly problems: Gauge;
  readonly specInfo: Gauge;
  readonly vrrpState: Gauge;
  readonly discoveryLastSuccess: Gauge;
  readonly specSourcePolls: Counter;
  readonly specSourceLastSuccess: Gauge;
  readonly statusPublishes: Counter;
  readonly peerQuestions: Counter;
  /** Stops the process metrics' sampling. */
  readonly stopProcessMetrics: () => void;
}

/** Registers the agent's metrics in `registry`. */
export function createAgentMetrics(registry: Registry): AgentMetrics {
  const failover = createFailoverMetrics(registry);
  const apply = createApplyMetrics(registry);
  const healthy = registry.gauge('overlay_lb_node_healthy', '1 when HAProxy serves (the track file says 0), else 0.');
  const processRestarts = registry.counter('overlay_lb_process_restarts_total', 'Restarts of haproxy or keepalived after they exited.');
  const taskRestarts = registry.counter('overlay_lb_agent_task_restarts_total', 'Agent tasks that failed and were restarted after a backoff, by task.');
  const rollouts = registry.counter('overlay_lb_spec_rollouts_total', 'Spec file changes seen by the agent, by result: applied, invalid, rejected (needs an agent restart) or failed.');
  const sourceUp = registry.gauge('overlay_lb_discovery_source_up', '1 when a discovery source\'s last read succeeded, 0 when it is starting, stale or failed.');
  const sourceFailures = registry.gauge('overlay_lb_discovery_source_failures', 'Consecutive failures of a discovery source since its last good read.');
  const problems = registry.gauge('overlay_lb_agent_problems', 'Problems the agent reports in /status (failed sources, applies, spec rollouts, tasks), by component.');
  const build = buildInfo();
  registry.gauge('overlay_lb_build_info', 'Always 1; the labels say which overlay-lb runs here: version, commit and Node.js runtime.').set({ version: build.version, commit: build.commit, runtime: build.runtime }, 1);
  const specInfo = registry.gauge('overlay_lb_spec_info', 'Always 1; the labels name the cluster and the hash of the spec this node runs (every node of a cluster should show the same).');
  const vrrpState = registry.gauge('overlay_lb_vrrp_state', '1 for the VRRP state this node is in (keepalived\'s last transition), 0 for every other state, by cluster, vrrp_instance and state.');
  const discoveryLastSuccess = registry.gauge('overlay_lb_discovery_last_success_timestamp_seconds', 'When a discovery source last read a valid snapshot, in seconds since the Unix epoch, by source.');
  const specSourcePolls = registry.counter('overlay_lb_spec_source_polls_total', 'Polls of this node\'s desired spec version in the release bucket (provisioned clusters), by result: unchanged, absent, applied, rejected, failed, invalid or unreachable.');
  const specSourceLastSuccess = registry.gauge('overlay_lb_spec_source_last_success_timestamp_seconds', 'When the release bucket last answered this node\'s poll, in seconds since the Unix epoch.');
  const statusPublishes = registry.counter('overlay_lb_status_publishes_total', 'Writes of this node\'s published status to the release bucket, by result: ok or failed.');
  const peerQuestions = registry.counter('overlay_lb_peer_questions_total', 'Questions this node asked a lower-priority peer over the handoff link (twice per VRRP advert interval while a takeover from it may come, once a second otherwise, and one per takeover), by peer and result: answered or unanswered (an answer naming another node included).');
  const stopProcessMetrics = registerProcessMetrics(registry);
  return { failover, apply, healthy, processRestarts, taskRestarts, rollouts, sourceUp, sourceFailures, problems, specInfo, vrrpState, discoveryLastSuccess, specSourcePolls, specSourceLastSuccess, statusPublishes, peerQuestions, stopProcessMetrics };
}
