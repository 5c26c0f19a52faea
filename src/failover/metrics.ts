import type { Counter, Gauge, Histogram, Registry } from '../util/metrics.js';

/** The failover metrics the agent exports on /metrics. */
export interface FailoverMetrics {
  readonly transitions: Counter;
  readonly detectToClaimed: Histogram;
  readonly claimSeconds: Histogram;
  readonly claims: Counter;
  readonly contests: Counter;
  readonly drift: Counter;
  readonly apiCalls: Counter;
  readonly apiErrors: Counter;
  readonly apiThrottles: Counter;
  /** When a claim last left a resource pointing here (claimed or already ours), by `vrrp_instance`. */
  readonly lastClaimSuccess: Gauge;
  /** When a re-check pass while MASTER last completed (every owned resource read back), by `vrrp_instance`. */
  readonly lastRecheckSuccess: Gauge;
}

const SECONDS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60];

export function createFailoverMetrics(registry: Registry): FailoverMetrics {
  return {
    transitions: registry.counter('overlay_lb_vrrp_transitions_total', 'VRRP transitions seen from keepalived, by target state.'),
    detectToClaimed: registry.histogram('overlay_lb_detect_to_claimed_seconds', 'From the MASTER transition to every owned resource pointing at this node.', SECONDS),
    claimSeconds: registry.histogram('overlay_lb_claim_seconds', 'Time to claim one resource (route table or EIP), by resource.', SECONDS),
    claims: registry.counter('overlay_lb_claims_total', 'Claim outcomes: claimed, already-ours, failed, aborted.'),
    contests: registry.counter('overlay_lb_contests_total', 'Resources found held by another node of the cluster while master, by resolution.'),
    drift: registry.counter('overlay_lb_drift_total', 'Resources found pointing elsewhere (not a cluster node) while master, restored.'),
    apiCalls: registry.counter('overlay_lb_cloud_api_calls_total', 'Cloud API calls, by action.'),
    apiErrors: registry.counter('overlay_lb_cloud_api_errors_total', 'Cloud API errors, by action and code.'),
    apiThrottles: registry.counter('overlay_lb_cloud_api_throttles_total', 'Cloud API calls answered RequestLimitExceeded, by action.'),
    lastClaimSuccess: registry.gauge('overlay_lb_claim_last_success_timestamp_seconds', 'When a claim last left a resource pointing at this node (claimed or already ours), in seconds since the Unix epoch.'),
    lastRecheckSuccess: registry.gauge('overlay_lb_recheck_last_success_timestamp_seconds', 'When this node, as master, last completed a re-check of every owned resource, in seconds since the Unix epoch.'),
  };
}
