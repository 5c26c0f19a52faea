/**
 * Whether the VIP still carries traffic, decided from outside the VPC before `overlay-lb down`
 * removes anything. The operator's machine cannot reach the nodes, so the facts are what each
 * agent publishes beside the spec (`PublishedNodeStatus`, read twice one publishing interval apart) and
 * where the VIP route points. A pure decision, no I/O, no clock: the caller passes `now`; the
 * reasons are a closed set (log field, JSON output, docs/provisioning.md's table).
 */
import type { PublishedNodeStatus } from '../agent-api/contract.js';

/** What down needs of a published status. */
export type TrafficStatus = Pick<PublishedNodeStatus, 'publishedAt' | 'intervalMs' | 'traffic'>;

/** What is known of one node of the spec. */
export interface NodeTrafficFacts {
  readonly node: string;
  /** The first read of its published status (null: none, or unreadable). */
  readonly first: TrafficStatus | null;
  /** The second read, a few seconds later. */
  readonly second: TrafficStatus | null;
  /** Whether down would remove this node's instance (up made one for it). */
  readonly removed: boolean;
  /** Whether a VIP route points at this node's network interface now. */
  readonly routed: boolean;
}

/**
 * - `current-sessions`: a fresh status shows sessions open through HAProxy now;
 * - `sessions-grew`: the total sessions grew between the two reads (requests come and go);
 * - `no-fresh-status`: no status younger than three publishing intervals, while down would remove
 *   the node and the VIP route points at it: down cannot tell.
 */
export type TrafficReason = 'current-sessions' | 'sessions-grew' | 'no-fresh-status';

export interface TrafficFinding {
  readonly node: string;
  readonly reason: TrafficReason;
  /** In the user's terms. */
  readonly message: string;
}

export interface TrafficDecision {
  /** True: down refuses unless `--force`. */
  readonly refuse: boolean;
  readonly findings: readonly TrafficFinding[];
}

/** A reader calls a status stale after three publishing intervals (contract.ts). */
export const STALE_INTERVALS = 3;

function fresh(status: TrafficStatus | null, now: number): status is TrafficStatus {
  return status !== null && status.intervalMs > 0 && now - status.publishedAt <= STALE_INTERVALS * status.intervalMs;
}

const ago = (now: number, at: number): string => `${Math.max(0, Math.round((now - at) / 1000))} s ago`;

/** Decides, per node, whether the VIP may still carry traffic through it. */
export function decideDownTraffic(nodes: readonly NodeTrafficFacts[], now: number): TrafficDecision {
  const findings: TrafficFinding[] = [];
  for (const n of nodes) {
    const latest = fresh(n.second, now) ? n.second : fresh(n.first, now) ? n.first : null;
    if (latest !== null) {
      if (latest.traffic.currentSessions > 0) {
        findings.push({ node: n.node, reason: 'current-sessions', message: `node ${n.node} has ${latest.traffic.currentSessions} session${latest.traffic.currentSessions === 1 ? '' : 's'} open (its status of ${ago(now, latest.publishedAt)})` });
      } else if (n.first !== null && n.second !== null && fresh(n.first, now) && fresh(n.second, now) && n.second.traffic.totalSessions > n.first.traffic.totalSessions) {
        findings.push({ node: n.node, reason: 'sessions-grew', message: `node ${n.node} served ${n.second.traffic.totalSessions - n.first.traffic.totalSessions} new session${n.second.traffic.totalSessions - n.first.traffic.totalSessions === 1 ? '' : 's'} between two reads of its status` });
      }
      continue;
    }
    if (n.removed && n.routed) {
      const last = n.second ?? n.first;
      const why = last === null ? 'has published no status' : `published its status last ${ago(now, last.publishedAt)} (stale after ${STALE_INTERVALS} intervals of ${last.intervalMs / 1000} s)`;
      findings.push({ node: n.node, reason: 'no-fresh-status', message: `node ${n.node} ${why} and the VIP route still points at it, so down cannot tell whether it carries traffic` });
    }
  }
  return { refuse: findings.length > 0, findings };
}

/**
 * A published status object's text as down needs it; null when it is not one (malformed JSON,
 * another format, missing fields): such a node counts as having no status.
 */
export function parseTrafficStatus(text: string | null): TrafficStatus | null {
  if (text === null) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Partial<Record<keyof PublishedNodeStatus, unknown>>;
  const traffic = v.traffic as Partial<Record<'currentSessions' | 'totalSessions', unknown>> | null | undefined;
  const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n) && n >= 0;
  if (v.format !== 1 || !isCount(v.publishedAt) || !isCount(v.intervalMs) || typeof traffic !== 'object' || traffic === null) return null;
  if (!isCount(traffic.currentSessions) || !isCount(traffic.totalSessions)) return null;
  return { publishedAt: v.publishedAt, intervalMs: v.intervalMs, traffic: { currentSessions: traffic.currentSessions, totalSessions: traffic.totalSessions } };
}
