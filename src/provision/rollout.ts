/**
 * `overlay-lb apply SPEC --cluster`, `rollback --cluster` and `status --cluster` as library
 * operations (docs/provisioning.md "Rolling a spec out"): the spec is validated locally first
 * (nothing changes anywhere for a bad one), stored as a new version in the release bucket, and the
 * nodes are advanced one at a time by their desired-version pointers, backups first and the master
 * last, each gated on its published status and on the doctor's checks about it (read-only
 * describes of the EC2 API); the first node that fails stops the rollout and the
 * nodes after it stay on their version. Everything is read from and written to S3 with the
 * operator's credentials: no SSH, no route into the VPC.
 */
import type { DesiredSpecPointer, PublishedNodeStatus } from '../agent-api/contract.js';
import type { Spec } from '../model/spec.js';
import { loadSpecFile } from '../ops/load-spec.js';
import { parseSpec } from '../speclang/parse.js';
import { desiredKey, releaseKeys, statusKey } from '../cloud/aws/provision/names.js';
import { ReleaseBucket } from '../cloud/aws/provision/release-rollout.js';
import { ProvisionSession, type ProvisionSessionOptions } from '../cloud/aws/provision/session.js';
import type { Clock } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import { OverlayError, UserError } from '../util/errors.js';
import { gateDoctorChecks, gateNode, isStale, previousVersion, rolloutOrder, type GateVerdict, type RolloutTarget } from './rollout-gate.js';

/** How long one node may take to show the new version applied and healthy. */
export const DEFAULT_NODE_DEADLINE_MS = 120_000;
/** How often the CLI reads a node's published status while it waits. */
const GATE_POLL_MS = 1_000;

export interface ClusterOptions {
  readonly specFile: string;
  /** IAM, S3 and STS endpoint (the lab's API). @default AWS's */
  readonly endpoint?: string;
  readonly credentials?: ProvisionSessionOptions['credentials'];
  readonly signal: AbortSignal;
  readonly clock?: Clock;
}

export interface RolloutOptions extends ClusterOptions {
  /** Per node. @default DEFAULT_NODE_DEADLINE_MS */
  readonly nodeDeadlineMs?: number;
  /** Progress, for the CLI's lines. */
  readonly onEvent?: (event: RolloutEvent) => void;
}

export type RolloutEvent =
  | { readonly kind: 'uploaded'; readonly specVersion: string; readonly written: boolean }
  | { readonly kind: 'order'; readonly order: readonly string[]; readonly master: string }
  | { readonly kind: 'node-started'; readonly node: string }
  | { readonly kind: 'node-passed'; readonly node: string; readonly reason: string };

/** What a rollout did. */
export interface RolloutResult {
  readonly cluster: string;
  readonly target: RolloutTarget;
  /** The nodes that passed their gate, in order. */
  readonly passed: readonly string[];
  /** The node that failed (null: every node passed) and why; the nodes after it were not asked. */
  readonly failed: { readonly node: string; readonly code: GateVerdict['code'] | 'deadline'; readonly reason: string } | null;
  /** The nodes never asked to take the version (they stay on theirs). */
  readonly untouched: readonly string[];
}

interface ClusterContext {
  readonly spec: Spec;
  readonly bucket: ReleaseBucket;
  readonly prefix: string;
  readonly specKey: string;
  readonly session: ProvisionSession;
}

function open(spec: Spec, file: string, options: ClusterOptions): ClusterContext {
  const provision = spec.provision;
  const region = spec.cluster.cloud.region;
  if (provision === undefined || region === undefined) {
    throw new UserError('SPEC_REQUIRED', `${file} has no provision section (or no cluster.cloud.region): --cluster works on clusters made by overlay-lb up; add the provision section (docs/spec.md, "provision")`);
  }
  const session = new ProvisionSession({ region, endpoint: options.endpoint, credentials: options.credentials });
  return { spec, session, prefix: provision.prefix, specKey: releaseKeys(provision.prefix).specKey, bucket: new ReleaseBucket({ session, bucket: provision.bucket, cluster: spec.cluster.name }) };
}

/** Every node's published status (null: none, or not JSON of format 1). */
export async function readStatuses(ctx: { readonly bucket: ReleaseBucket; readonly prefix: string }, nodes: readonly string[], signal: AbortSignal): Promise<Map<string, PublishedNodeStatus | null>> {
  const out = new Map<string, PublishedNodeStatus | null>();
  await Promise.all(nodes.map(async (node) => {
    const o = await ctx.bucket.read(statusKey(ctx.prefix, node), { signal });
    out.set(node, o === null ? null : parsePublished(o.body));
  }));
  return out;
}

function parsePublished(body: string): PublishedNodeStatus | null {
  try {
    const v = JSON.parse(body) as PublishedNodeStatus;
    return v.format === 1 && typeof v.publishedAt === 'number' && typeof v.status === 'object' ? v : null;
  } catch {
    return null;
  }
}

/** `apply SPEC --cluster`: validate, upload, advance the nodes one at a time. */
export async function applyCluster(options: RolloutOptions): Promise<RolloutResult> {
  // Validation first: a spec that does not validate throws here, before any call to the cloud.
  const loaded = await loadSpecFile(options.specFile, { signal: options.signal });
  const ctx = open(loaded.spec, options.specFile, options);
  try {
    const clock = options.clock ?? systemClock;
    const nodes = loaded.spec.cluster.nodes.map((n) => n.name);
    // The order is decided before anything is written: a cluster that cannot be gated is refused untouched.
    const order = decideOrder(nodes, await readStatuses(ctx, nodes, options.signal), clock.now());
    const put = await ctx.bucket.putSpec(ctx.specKey, loaded.text, { signal: options.signal });
    options.onEvent?.({ kind: 'uploaded', specVersion: put.versionId, written: put.written });
    return await advance(ctx, { specVersion: put.versionId, specHash: loaded.hash }, order, options);
  } finally {
    ctx.session.destroy();
  }
}

/**
 * `rollback --cluster`: every node back to the spec version stored before the newest one any
 * node is asked to run, by the same gated, one-node-at-a-time path.
 */
export async function rollbackCluster(options: RolloutOptions): Promise<RolloutResult & { readonly from: string }> {
  const loaded = await loadSpecFile(options.specFile, { signal: options.signal });
  const ctx = open(loaded.spec, options.specFile, options);
  try {
    const { signal } = options;
    const clock = options.clock ?? systemClock;
    const nodes = loaded.spec.cluster.nodes.map((n) => n.name);
    const desired: string[] = [];
    for (const node of nodes) {
      const o = await ctx.bucket.read(desiredKey(ctx.prefix, node), { signal });
      const v = o === null ? null : (JSON.parse(o.body) as Partial<DesiredSpecPointer>).specVersion;
      if (typeof v === 'string') desired.push(v);
    }
    const versions = await ctx.bucket.listVersions(ctx.specKey, { signal });
    const step = previousVersion(versions, desired);
    if (step === null) {
      throw new UserError('ROLLOUT_NOTHING_TO_ROLL_BACK', desired.length === 0
        ? `no node of cluster ${loaded.spec.cluster.name} has been given a spec version by apply --cluster yet: there is nothing to roll back`
        : `s3://${ctx.spec.provision?.bucket ?? ''}/${ctx.specKey} keeps no version older than ${desired.join(', ')}: there is nothing to roll back to`);
    }
    const text = await ctx.bucket.getVersion(ctx.specKey, step.previous, { signal });
    const parsed = parseSpec(text, { file: `${ctx.specKey} version ${step.previous}` });
    if (!parsed.ok) throw new UserError('ROLLOUT_NOTHING_TO_ROLL_BACK', `the previous spec version ${step.previous} does not validate with this overlay-lb (${parsed.diagnostics[0]?.message ?? '?'}): apply a fixed spec instead`);
    const order = decideOrder(nodes, await readStatuses(ctx, nodes, signal), clock.now());
    return { ...(await advance(ctx, { specVersion: step.previous, specHash: parsed.hash }, order, options)), from: step.current };
  } finally {
    ctx.session.destroy();
  }
}

function decideOrder(nodes: readonly string[], statuses: ReadonlyMap<string, PublishedNodeStatus | null>, now: number): { order: readonly string[]; master: string } {
  const order = rolloutOrder(nodes, statuses, now);
  if (order.kind === 'refuse') throw new UserError('ROLLOUT_REFUSED', `${order.reason}; nothing was changed`, { details: { reason: order.code } });
  return order;
}

/** Advances the nodes in `order` to `target`, each gated; stops at the first that fails. */
async function advance(ctx: ClusterContext, target: RolloutTarget, order: { readonly order: readonly string[]; readonly master: string }, options: RolloutOptions): Promise<RolloutResult> {
  const { signal } = options;
  const clock = options.clock ?? systemClock;
  const deadlineMs = options.nodeDeadlineMs ?? DEFAULT_NODE_DEADLINE_MS;
  options.onEvent?.({ kind: 'order', order: order.order, master: order.master });
  const passed: string[] = [];
  for (const [i, node] of order.order.entries()) {
    options.onEvent?.({ kind: 'node-started', node });
    // The pointer's time and the node's status are both epoch ms; a status counts only when written
    // after the pointer (a skew between the clocks can only make the CLI wait longer, up to the deadline).
    const since = clock.now();
    const pointer: DesiredSpecPointer = { format: 1, specVersion: target.specVersion, specHash: target.specHash, writtenAt: since };
    await ctx.bucket.putPointer(desiredKey(ctx.prefix, node), JSON.stringify(pointer), { signal });
    const deadline = since + deadlineMs;
    let verdict: GateVerdict = { verdict: 'wait', code: 'no-status-yet', reason: 'no status read yet' };
    let health: GateVerdict = verdict;
    for (;;) {
      const o = await ctx.bucket.read(statusKey(ctx.prefix, node), { signal });
      verdict = health = gateNode(target, o === null ? null : parsePublished(o.body), since);
      // Then doctor's checks about the node, over what EC2 describes now and every node's status.
      if (verdict.verdict === 'pass') verdict = await doctorGate(ctx, node, options);
      if (verdict.verdict !== 'wait' || clock.now() >= deadline) break;
      await clock.sleep(GATE_POLL_MS, signal);
    }
    if (verdict.verdict !== 'pass') {
      const failed = verdict.verdict === 'fail'
        ? { node, code: verdict.code, reason: verdict.reason }
        : { node, code: 'deadline' as const, reason: `not on version ${target.specVersion} and healthy within ${Math.round(deadlineMs / 1000)} s: ${verdict.reason}` };
      return { cluster: ctx.spec.cluster.name, target, passed, failed, untouched: order.order.slice(i + 1) };
    }
    passed.push(node);
    options.onEvent?.({ kind: 'node-passed', node, reason: `${health.reason}; ${verdict.reason}` });
  }
  return { cluster: ctx.spec.cluster.name, target, passed, failed: null, untouched: [] };
}

/**
 * `gateDoctorChecks` for `node`: the instances and groups as EC2 describes them (doctor's
 * read-only collector, loaded on use like doctor itself), every node's published status. A
 * describe that fails (the operator may not call ec2:Describe*, the EC2 API does not answer) fails
 * the gate: the node cannot be checked, so the next one is not asked.
 */
async function doctorGate(ctx: ClusterContext, node: string, options: RolloutOptions): Promise<GateVerdict> {
  const { signal } = options;
  const { spec } = ctx;
  const { region, vpcId } = spec.cluster.cloud;
  if (region === undefined || vpcId === undefined) {
    return { verdict: 'fail', code: 'doctor-check', reason: 'the doctor checks need cluster.cloud.region and cluster.cloud.vpcId (the VPC of the LB nodes): set them in the spec' };
  }
  const { AwsDoctorCollector } = await import('../cloud/aws/provision/doctor-collect.js');
  const endpoint = options.endpoint ?? spec.cluster.cloud.endpoint;
  const collector = new AwsDoctorCollector({
    region,
    ...(endpoint === undefined ? {} : { endpoint }),
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  });
  try {
    const nodes = spec.cluster.nodes.map((n) => n.name);
    const [facts, statuses] = await Promise.all([
      collector.describe({ vpcId, vip: spec.cluster.vip, nodes: spec.cluster.nodes.map((n) => ({ name: n.name, address: n.address })) }, { signal }),
      readStatuses(ctx, nodes, signal),
    ]);
    if (facts.vpc === null) return { verdict: 'fail', code: 'doctor-check', reason: `doctor check vpc fails: VPC ${vpcId} was not found in region ${region}; fix: set cluster.cloud.vpcId and cluster.cloud.region to the VPC of the LB nodes` };
    return gateDoctorChecks(spec, node, facts, statuses, (options.clock ?? systemClock).now());
  } catch (err) {
    if (signal.aborted || !(err instanceof OverlayError)) throw err;
    return { verdict: 'fail', code: 'doctor-check', reason: `the doctor checks could not run: ${err.message} [${err.code}]; fix: grant the credentials apply --cluster runs with ec2:Describe* on * (and check --endpoint-url)` };
  } finally {
    collector.destroy();
  }
}

/** One node as `status --cluster` shows it. */
export interface BucketNodeStatus {
  readonly node: string;
  /** The version its pointer asks for (null: no pointer). */
  readonly desiredVersion: string | null;
  readonly published: PublishedNodeStatus | null;
  /** How old its published status is (ms; null: none). */
  readonly ageMs: number | null;
  readonly stale: boolean;
  /** What is wrong with this node, in sentences (empty: nothing). */
  readonly problems: readonly string[];
}

/** `status SPEC --cluster`: every node's published status and pointer, from the release bucket. */
export async function clusterStatusFromBucket(options: ClusterOptions): Promise<{ readonly cluster: string; readonly nodes: readonly BucketNodeStatus[] }> {
  const loaded = await loadSpecFile(options.specFile, { signal: options.signal });
  const ctx = open(loaded.spec, options.specFile, options);
  try {
    const { signal } = options;
    const now = (options.clock ?? systemClock).now();
    const names = loaded.spec.cluster.nodes.map((n) => n.name);
    const statuses = await readStatuses(ctx, names, signal);
    const nodes = await Promise.all(names.map(async (node): Promise<BucketNodeStatus> => {
      const pointer = await ctx.bucket.read(desiredKey(ctx.prefix, node), { signal });
      let desiredVersion: string | null = null;
      try {
        const v = pointer === null ? undefined : (JSON.parse(pointer.body) as Partial<DesiredSpecPointer>).specVersion;
        desiredVersion = typeof v === 'string' ? v : null;
      } catch {
        desiredVersion = null;
      }
      const published = statuses.get(node) ?? null;
      const stale = published !== null && isStale(published, now);
      const problems: string[] = [];
      if (published === null) problems.push('no status published: its agent has not started, or cannot write to the bucket');
      else {
        if (stale) problems.push(`stale: published ${Math.round((now - published.publishedAt) / 1000)} s ago (every ${published.intervalMs / 1000} s expected): its agent is stopped or cannot reach S3`);
        if (!published.status.haproxy.healthy) problems.push('haproxy not healthy');
        if (desiredVersion !== null && published.specVersion !== desiredVersion) problems.push(`runs version ${published.specVersion ?? '(not from the bucket)'}, asked for ${desiredVersion}`);
        for (const p of published.status.problems) problems.push(`${p.component}: ${p.message} [${p.code}]`);
      }
      return { node, desiredVersion, published, ageMs: published === null ? null : now - published.publishedAt, stale, problems };
    }));
    return { cluster: loaded.spec.cluster.name, nodes };
  } finally {
    ctx.session.destroy();
  }
}

/** The rollout's failure as an error for the CLI (exit status 1), naming the node and why. */
export function rolloutFailure(result: RolloutResult): OverlayError {
  const f = result.failed;
  if (f === null) throw new Error('rolloutFailure: the rollout did not fail');
  const rest = result.untouched.length === 0 ? '' : `; ${result.untouched.join(', ')} ${result.untouched.length === 1 ? 'stays' : 'stay'} on ${result.untouched.length === 1 ? 'its' : 'their'} previous version`;
  return new UserError('ROLLOUT_NODE_FAILED', `node ${f.node} failed its gate for spec version ${result.target.specVersion}: ${f.reason}${rest}. Fix the cause and apply again, or run overlay-lb rollback`, { details: { node: f.node, reason: f.code } });
}
