/**
 * `overlay-lb down` as a library operation (the CLI and the tests call it): load and validate the
 * spec, open a provisioning session with the operator's credentials, build the resources from the
 * kind registry (the same up builds, plus what the agents publish), plan the removal, check that
 * the VIP carries no traffic (down-traffic.ts, from the agents' published status and the VIP
 * routes), and remove when asked.
 */
import type { Clock } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import { loadSpecFile } from '../ops/load-spec.js';
import { PENDING_KINDS, removalResources } from '../cloud/aws/provision/kinds.js';
import { readStatusObjects, readVipRouting } from '../cloud/aws/provision/down-reads.js';
import { resourceNames, statusKey } from '../cloud/aws/provision/names.js';
import { ProvisionSession, type ProvisionSessionOptions } from '../cloud/aws/provision/session.js';
import type { CloudCallEvent } from '../cloud/guarded-call.js';
import type { Spec } from '../model/spec.js';
import { UserError } from '../util/errors.js';
import { applyDown, downCounts, planDown, type DownPlan, type DownApplied, type DownStep } from './down-plan.js';
import { decideDownTraffic, parseTrafficStatus, type NodeTrafficFacts, type TrafficDecision } from './down-traffic.js';
import { requireProvisionable } from './up.js';
import { nodeSubnets } from './subnets.js';

export interface DownOptions {
  readonly specFile: string;
  /** `plan`: observe and print only; `apply`: also remove. */
  readonly mode: 'plan' | 'apply';
  /** Remove even while the VIP carries traffic (or down cannot tell). @default false */
  readonly force?: boolean;
  /** EC2, IAM, S3 and STS endpoint (the lab's API: `lab env`). @default AWS's */
  readonly endpoint?: string;
  /** @default the SDK's default credential chain */
  readonly credentials?: ProvisionSessionOptions['credentials'];
  /**
   * The pause between the two reads of the nodes' status. @default the longest publishing
   * interval among the first read's statuses plus 5 s (so every live agent has published again in
   * between, its write included: two reads of the same object could not show sessions that grew;
   * an agent refreshes an unchanged status every interval), at least 5 s, at most 130 s
   */
  readonly trafficRecheckMs?: number;
  readonly clock?: Clock;
  readonly signal: AbortSignal;
  /** Called with the plan (and the traffic verdict, when there is something to remove) before anything is removed. */
  readonly onPlan?: (plan: DownPlan, context: DownContext) => void;
  readonly onStep?: (step: DownStep) => void;
  readonly onEvent?: (event: CloudCallEvent) => void;
  /** The session's call pace (the lab's tests give CALL_PACE_LAB). @default CALL_PACE_AWS */
  readonly pace?: ProvisionSessionOptions['pace'];
}

export interface DownContext {
  readonly cluster: string;
  readonly account: string;
  readonly region: string;
  /** Null when nothing is to be removed (no traffic check needed). */
  readonly traffic: TrafficDecision | null;
}

export interface DownResult {
  readonly context: DownContext;
  readonly plan: DownPlan;
  /** Null for `--plan`, and when there is nothing to remove. */
  readonly applied: DownApplied | null;
  /** True when down removed while the traffic check refused (`force`). */
  readonly forced: boolean;
}

/** The longest pause between the two reads: above the agents' default refresh (spec-follow.ts `DEFAULT_STATUS_REFRESH_MS`, 60 s) with room for a slower one. */
const RECHECK_MAX_MS = 130_000;

/** The default pause between the two reads: {@link DownOptions.trafficRecheckMs}. */
function recheckPause(first: ReadonlyMap<string, string | null>): number {
  const intervals = [...first.values()].map((text) => parseTrafficStatus(text)?.intervalMs ?? 0);
  return Math.min(RECHECK_MAX_MS, Math.max(5_000, ...intervals.map((ms) => ms + 5_000)));
}

/**
 * Reads every node's published status twice, `recheckMs` apart (default: {@link recheckPause}),
 * and where the VIP routes point. The second read (and its pause, about a minute with the agents'
 * default refresh) is skipped when `once`, or when the first read already refuses (a fresh status
 * shows open sessions): the second read could only add a refusal.
 */
async function gatherTraffic(spec: Spec, session: ProvisionSession, options: { readonly recheckMs: number | undefined; readonly once: boolean; readonly clock: Clock; readonly signal: AbortSignal }): Promise<NodeTrafficFacts[]> {
  const { signal } = options;
  const names = resourceNames(spec);
  const prefix = spec.provision?.prefix ?? '';
  const nodes = spec.cluster.nodes.map((n) => n.name);
  const keys = nodes.map((n) => statusKey(prefix, n));
  const routing = await readVipRouting(session, { cluster: spec.cluster.name, vpcId: spec.cluster.cloud.vpcId ?? '', vip: spec.cluster.vip, nodes }, { signal });
  const facts = (first: ReadonlyMap<string, string | null>, second: ReadonlyMap<string, string | null>): NodeTrafficFacts[] => nodes.map((node, i) => ({
    node,
    first: parseTrafficStatus(first.get(keys[i]!) ?? null),
    second: parseTrafficStatus(second.get(keys[i]!) ?? null),
    removed: routing.get(node)?.removed ?? false,
    routed: routing.get(node)?.routed ?? false,
  }));
  const first = await readStatusObjects(session, { bucket: names.bucket, keys }, { signal });
  const once = facts(first, first);
  if (options.once || decideDownTraffic(once, options.clock.now()).findings.some((f) => f.reason === 'current-sessions')) return once;
  await options.clock.sleep(options.recheckMs ?? recheckPause(first), signal);
  return facts(first, await readStatusObjects(session, { bucket: names.bucket, keys }, { signal }));
}

/** Plans (and with mode `apply` carries out) the removal of what up made for a spec. */
export async function down(options: DownOptions): Promise<DownResult> {
  const { signal } = options;
  const clock = options.clock ?? systemClock;
  const loaded = await loadSpecFile(options.specFile, { signal });
  const region = requireProvisionable(loaded.spec, options.specFile);
  const session = new ProvisionSession({ region, endpoint: options.endpoint, credentials: options.credentials, onEvent: options.onEvent, pace: options.pace });
  try {
    const account = await session.account({ signal });
    // Down reads no package: the objects' content is not compared, only their ownership.
    const resources = await removalResources({ spec: loaded.spec, specText: Buffer.from(loaded.text, 'utf8'), packageBytes: new Uint8Array(0), session, account, placeNodes: (subnets) => nodeSubnets(loaded.spec, subnets) }, { signal });
    const plan = await planDown(resources, PENDING_KINDS, { signal });
    const toRemove = downCounts(plan).remove > 0;
    const traffic = toRemove ? decideDownTraffic(await gatherTraffic(loaded.spec, session, { recheckMs: options.trafficRecheckMs, once: options.force === true && options.mode === 'apply', clock, signal }), clock.now()) : null;
    const context: DownContext = { cluster: loaded.spec.cluster.name, account, region, traffic };
    options.onPlan?.(plan, context);
    const refused = traffic?.refuse === true;
    if (options.mode !== 'apply' || !toRemove) return { context, plan, applied: null, forced: false };
    if (refused && options.force !== true) {
      throw new UserError('DOWN_VIP_IN_USE', `nothing was removed: the VIP ${loaded.spec.cluster.vip} may still carry traffic: ${traffic.findings.map((f) => f.message).join('; ')}. Move the clients off the VIP and run down again, or give --force to remove it anyway`, { details: { findings: traffic.findings.map((f) => ({ node: f.node, reason: f.reason })) } });
    }
    const applied = await applyDown(plan, resources, { signal, ...(options.onStep === undefined ? {} : { onStep: options.onStep }) });
    return { context, plan, applied, forced: refused };
  } finally {
    session.destroy();
  }
}
