/**
 * The decisions of `overlay-lb apply --cluster` and `rollback`, pure (no I/O, no clock: `now` is
 * given): in which order the nodes take a new spec version (backups first, the master last, read
 * from the statuses the agents publish), whether a node's published status is stale, and whether
 * a node passed its gate (its published status, then the doctor's checks about it), is still on
 * its way, or failed. Each answer carries a reason code (a
 * closed set) and a sentence for the operator. Table-tested in test/provision/rollout-gate.test.ts.
 */
import type { PublishedNodeStatus } from '../agent-api/contract.js';
import type { ClusterFacts } from '../cloud/doctor-facts.js';
import type { Spec } from '../model/spec.js';
import { checkInstances, checkNodeTraffic, checkSourceDestCheck, resultsForNode } from './doctor-checks.js';

/** A published status older than this many of its own intervals is stale. */
export const STALE_INTERVALS = 3;

/** Whether `published` is older than three of its intervals at `now`. */
export function isStale(published: PublishedNodeStatus, now: number): boolean {
  return now - published.publishedAt > STALE_INTERVALS * published.intervalMs;
}

export type OrderRefusal = 'no-status' | 'stale' | 'two-masters' | 'no-master';

/** The order the nodes take a version in, or why a rollout cannot start (nothing was changed). */
export type RolloutOrder =
  | { readonly kind: 'ok'; readonly order: readonly string[]; readonly master: string }
  | { readonly kind: 'refuse'; readonly code: OrderRefusal; readonly reason: string };

/**
 * Backups first (in the spec's order), the master last. Every node must have published a fresh
 * status (else the rollout could not gate it) and exactly one must be master (else "last" means
 * nothing: two masters is a split brain to fix first; none, a cluster that serves nobody).
 */
export function rolloutOrder(nodes: readonly string[], statuses: ReadonlyMap<string, PublishedNodeStatus | null>, now: number): RolloutOrder {
  for (const node of nodes) {
    const s = statuses.get(node) ?? null;
    if (s === null) return { kind: 'refuse', code: 'no-status', reason: `node ${node} has published no status in the release bucket: is its agent running and does it follow the bucket (docs/provisioning.md)?` };
    if (isStale(s, now)) return { kind: 'refuse', code: 'stale', reason: `node ${node}'s published status is ${Math.round((now - s.publishedAt) / 1000)} s old (stale after ${STALE_INTERVALS} intervals of ${s.intervalMs / 1000} s): its agent is stopped or cannot reach S3` };
  }
  const masters = nodes.filter((n) => statuses.get(n)?.status.vrrp.vrrp === 'MASTER');
  if (masters.length > 1) return { kind: 'refuse', code: 'two-masters', reason: `nodes ${masters.join(' and ')} both report VRRP MASTER: fix the split (overlay-lb doctor) before rolling out` };
  const master = masters[0];
  if (master === undefined) return { kind: 'refuse', code: 'no-master', reason: 'no node reports VRRP MASTER: nobody serves the VIP; fix that before rolling out' };
  return { kind: 'ok', order: [...nodes.filter((n) => n !== master), master], master };
}

/** The version a node is asked to take. */
export interface RolloutTarget {
  readonly specVersion: string;
  readonly specHash: string;
}

export type GateCode =
  | 'passed'
  | 'no-status-yet' | 'not-on-version' | 'haproxy-unhealthy' | 'vrrp-unsettled' | 'problems'
  | 'rollout-failed' | 'version-invalid'
  | 'vrrp-split' | 'doctor-check';

/** A node's gate: passed, still waiting (the reason of the wait), or failed for good. */
export interface GateVerdict {
  readonly verdict: 'pass' | 'wait' | 'fail';
  readonly code: GateCode;
  readonly reason: string;
}

/**
 * Whether `published` (null: none) shows `target` applied and the node healthy, with no problem
 * and a settled VRRP state (MASTER or BACKUP), in a status written after `since` (when the
 * pointer was written). A rollout of this very version that the node refused or failed, or a
 * version it found invalid, fails at once (waiting cannot fix it).
 */
export function gateNode(target: RolloutTarget, published: PublishedNodeStatus | null, since: number): GateVerdict {
  if (published === null || published.publishedAt < since) return { verdict: 'wait', code: 'no-status-yet', reason: 'no status published since its pointer was written' };
  const s = published.status;
  const r = s.specRollout;
  if (r !== null && r.specHash === target.specHash && r.result !== 'applied' && r.at >= since) {
    return { verdict: 'fail', code: 'rollout-failed', reason: `the node did not roll the version out (${r.result}${r.error === undefined ? '' : `: ${r.error.message} [${r.error.code}]`}); it keeps running its previous spec` };
  }
  const invalid = s.problems.find((p) => p.component === 'spec-version' && p.at >= since);
  if (invalid !== undefined) return { verdict: 'fail', code: 'version-invalid', reason: `the node refused the version: ${invalid.message} [${invalid.code}]` };
  if (published.specVersion !== target.specVersion || s.specHash !== target.specHash) {
    return { verdict: 'wait', code: 'not-on-version', reason: `the node runs version ${published.specVersion ?? '(not from the bucket)'} (spec ${s.specHash.slice(0, 12)}), not yet ${target.specVersion}` };
  }
  if (!s.haproxy.alive || !s.haproxy.healthy) return { verdict: 'wait', code: 'haproxy-unhealthy', reason: `haproxy is ${s.haproxy.alive ? 'running but not healthy (its health URI fails)' : 'not running'}` };
  if (s.vrrp.vrrp !== 'MASTER' && s.vrrp.vrrp !== 'BACKUP') return { verdict: 'wait', code: 'vrrp-unsettled', reason: `VRRP state ${s.vrrp.vrrp}, not MASTER or BACKUP` };
  if (s.problems.length > 0) return { verdict: 'wait', code: 'problems', reason: `the node reports ${s.problems.map((p) => `${p.component}: ${p.message} [${p.code}]`).join('; ')}` };
  return { verdict: 'pass', code: 'passed', reason: `on version ${target.specVersion}, healthy, VRRP ${s.vrrp.vrrp}, no problems` };
}

/**
 * The doctor's checks that apply to a node being rolled, run once its own gate (`gateNode`)
 * passed and before the next node is asked: `doctor`'s own decisions (doctor-checks.ts) over what
 * the cloud describes now (`facts`: the instances holding the nodes' addresses and their groups),
 * kept to those about `node`: its instance running (exactly one), its source/destination check
 * off, VRRP (protocol 112) and the handoff link (UDP 4789) passing between it and every other
 * node; and, over every node's published status (`statuses`, fresh ones only), at most one VRRP
 * MASTER (a node that took the version and claimed the VIP beside the master is a split brain:
 * waited out, as an election may still be settling, until the node's deadline). A failed doctor
 * check fails the node at once (waiting does not fix a security group), naming the check and
 * its fix.
 */
export function gateDoctorChecks(spec: Spec, node: string, facts: Pick<ClusterFacts, 'instances' | 'groups'>, statuses: ReadonlyMap<string, PublishedNodeStatus | null>, now: number): GateVerdict {
  const results = resultsForNode(spec, [...checkInstances(spec, facts), ...checkSourceDestCheck(spec, facts), ...checkNodeTraffic(spec, facts)], node);
  const failed = results.find((r) => r.status === 'fail');
  if (failed !== undefined) {
    return { verdict: 'fail', code: 'doctor-check', reason: `doctor check ${failed.id} (${failed.subject}) fails: ${failed.message}; fix: ${failed.fix ?? '(none)'}` };
  }
  const masters = spec.cluster.nodes.map((n) => n.name).filter((n) => {
    const s = statuses.get(n) ?? null;
    return s !== null && !isStale(s, now) && s.status.vrrp.vrrp === 'MASTER';
  });
  if (masters.length > 1) return { verdict: 'wait', code: 'vrrp-split', reason: `nodes ${masters.join(' and ')} both report VRRP MASTER (a split brain: check VRRP between them with overlay-lb doctor)` };
  return { verdict: 'pass', code: 'passed', reason: `doctor checks pass (${results.map((r) => r.id).filter((id, i, all) => all.indexOf(id) === i).join(', ')}), ${masters.length === 1 ? `one VRRP MASTER (${masters[0] ?? ''})` : 'no other VRRP MASTER'}` };
}

/**
 * The version `rollback` returns to: the one stored just before the newest version any node is
 * asked to run (`versions` newest first). Null: nothing to return to.
 */
export function previousVersion(versions: readonly { readonly versionId: string }[], desired: readonly string[]): { readonly current: string; readonly previous: string } | null {
  const index = versions.findIndex((v) => desired.includes(v.versionId));
  if (index < 0) return null;
  const current = versions[index];
  const previous = versions[index + 1];
  return current === undefined || previous === undefined ? null : { current: current.versionId, previous: previous.versionId };
}
