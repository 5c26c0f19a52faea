import type { AgentStatus, Problem } from '../agent-api/contract.js';
import type { ApplyPipeline } from '../apply/pipeline.js';
import type { HaproxyProcess } from '../haproxy/process.js';
import type { KeepalivedProcess } from '../keepalived/process.js';
import type { ClusterNode } from '../model/spec.js';
import { VRRP_STATES } from '../render/keepalived.js';
import type { HandoffManager } from '../handoff/handoff-manager.js';
import type { Clock } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import { isProcessAlive } from '../util/pid.js';
import type { AgentMetrics } from './agent-metrics.js';
import type { PriorityPreference } from './control-routes.js';
import type { FailoverUnit } from './failover-unit.js';
import type { ProblemBoard } from './problems.js';
import type { ProcessSupervisor } from './process-supervisor.js';
import type { SpecRollout } from './spec-rollout.js';

/** The parts of a running agent that its status reads. */
export interface AgentStatusParts {
  /** This node. */
  readonly node: ClusterNode;
  readonly cluster: string;
  /** The VRRP instance (a label of `overlay_lb_vrrp_state`). */
  readonly instance: string;
  readonly rollout: SpecRollout;
  readonly pipeline: ApplyPipeline;
  readonly failover: FailoverUnit;
  readonly haproxy: ProcessSupervisor<HaproxyProcess>;
  readonly keepalived: ProcessSupervisor<KeepalivedProcess>;
  readonly health: { readonly healthy: boolean };
  readonly handoff: HandoffManager;
  readonly priority: PriorityPreference;
  readonly problems: ProblemBoard;
  /** @default systemClock */
  readonly clock?: Clock;
}

/** Everything not well right now (src/agent/problems.ts). */
function problemsOf(p: AgentStatusParts): Problem[] {
  return p.problems.list(p.pipeline.status());
}

/** The agent's `GET /status` (src/agent-api/contract.ts), read synchronously from its parts. */
export function agentStatus(p: AgentStatusParts): AgentStatus {
  const haproxy = p.haproxy.current;
  const keepalived = p.keepalived.current;
  const h = p.handoff.current;
  return {
    node: p.node.name,
    address: p.node.address,
    cluster: p.cluster,
    specHash: p.rollout.current.hash,
    configHash: p.pipeline.status().configHash ?? null,
    specGeneration: p.rollout.current.generation,
    apply: p.pipeline.status(),
    identity: p.failover.identity,
    vrrp: p.failover.controller.status(),
    haproxy: { pid: haproxy.masterPid, alive: haproxy.isAlive(), healthy: p.health.healthy },
    keepalived: { pid: keepalived.pid, alive: isProcessAlive(keepalived.pid) },
    switchover: { priorityAdjust: p.priority.adjust, handoff: h === null ? null : { role: h.role, peer: h.peer, peerAddress: h.peerAddress, reason: h.reason, since: h.since, until: h.until } },
    specRollout: p.rollout.last,
    problems: problemsOf(p),
  };
}

/** The gauges derived from the status, set at scrape time (nothing to keep in step, never stale). */
export function refreshAgentGauges(p: AgentStatusParts, m: AgentMetrics): void {
  const now = (p.clock ?? systemClock).now();
  m.healthy.set({}, p.health.healthy ? 1 : 0);
  for (const src of p.pipeline.status().sources) {
    m.sourceUp.set({ source: src.name }, src.state === 'ok' ? 1 : 0);
    m.sourceFailures.set({ source: src.name }, src.failures);
    if (src.lastSuccessAt !== undefined) {
      m.discoveryLastSuccess.set({ source: src.name }, src.lastSuccessAt / 1000);
      m.apply.sourceStaleness.set({ source: src.name }, Math.max(0, (now - src.lastSuccessAt) / 1000));
    }
  }
  const byComponent = new Map<string, number>();
  for (const problem of problemsOf(p)) {
    const kind = problem.component.split(':')[0] ?? problem.component;
    byComponent.set(kind, (byComponent.get(kind) ?? 0) + 1);
  }
  for (const kind of ['discovery', 'apply', 'spec', 'task', 'cloud', 'tls']) m.problems.set({ component: kind }, byComponent.get(kind) ?? 0);
  m.specInfo.clear();
  m.specInfo.set({ cluster: p.cluster, spec_hash: p.rollout.current.hash }, 1);
  const vrrp = p.failover.controller.status().vrrp;
  for (const state of ['INIT', ...VRRP_STATES]) m.vrrpState.set({ cluster: p.cluster, vrrp_instance: p.instance, state }, state === vrrp ? 1 : 0);
}
