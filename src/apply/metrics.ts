/**
 * Metrics of the apply pipeline, registered once on the agent's registry.
 */
import type { Counter, Gauge, Registry } from '../util/metrics.js';

export interface ApplyMetrics {
  /** Runtime API operations sent, by `op` (set-server-addr, map-replace...). */
  readonly ops: Counter;
  /** Successful reloads, by `reason` (a plan reason code, or `runtime-fallback`). */
  readonly reloads: Counter;
  /** Reloads haproxy refused (the last known good config kept serving). */
  readonly reloadFailures: Counter;
  /** Runtime plans that fell back to a reload because an operation failed. */
  readonly fallbacks: Counter;
  /** Executions by result `kind` (noop, runtime, reloaded, fell-back-to-reload, failed). */
  readonly results: Counter;
  /** Last applied discovery generation. */
  readonly generation: Gauge;
  /** Seconds since each source's last good read, by `source`. */
  readonly sourceStaleness: Gauge;
  /** Backends whose discovery change is held back by the removal guard, by `backend` (1/0). */
  readonly held: Gauge;
  /** When haproxy last took a new config by a reload (verified), in seconds since the epoch. */
  readonly lastReloadSuccess: Gauge;
}

/** Registers the pipeline's metrics (`overlay_lb_apply_*`, `overlay_lb_discovery_*`) on `registry`. */
export function createApplyMetrics(registry: Registry): ApplyMetrics {
  return {
    ops: registry.counter('overlay_lb_apply_runtime_ops_total', 'Runtime API operations sent to haproxy, by operation.'),
    reloads: registry.counter('overlay_lb_apply_reloads_total', 'Seamless haproxy reloads, by reason code.'),
    reloadFailures: registry.counter('overlay_lb_apply_reload_failures_total', 'Reloads haproxy refused; the last known good config kept serving.'),
    fallbacks: registry.counter('overlay_lb_apply_runtime_fallbacks_total', 'Runtime plans replaced by a reload because a Runtime API command failed.'),
    results: registry.counter('overlay_lb_apply_results_total', 'Plan executions by result kind.'),
    generation: registry.gauge('overlay_lb_discovery_generation', 'Last discovery generation applied to haproxy.'),
    sourceStaleness: registry.gauge('overlay_lb_discovery_source_staleness_seconds', 'Seconds since the last good read of a discovery source.'),
    lastReloadSuccess: registry.gauge('overlay_lb_reload_last_success_timestamp_seconds', 'When haproxy last loaded a new config by a verified reload, in seconds since the Unix epoch.'),
    held: registry.gauge('overlay_lb_discovery_held_backends', 'Backends whose discovery change is held back by the removal guard (1) or not (0).'),
  };
}
