import { cloudErrorOutcome } from './types.js';
import type { RouteApi, RouteTableInfo } from './types.js';
import { systemClock } from '../util/clock.js';
import type { Clock } from '../util/clock.js';
import { OverlayError } from '../util/errors.js';
import type { ErrorCode } from '../util/errors.js';
import type { TokenBucket } from '../util/token-bucket.js';
import { guardedCall } from './guarded-call.js';
import type { CloudBuckets, CloudCallEvent } from './guarded-call.js';

export { DEFAULT_CALL_TIMEOUT_MS } from './guarded-call.js';

/** How one route table ended after a claim. */
export type TableOutcome =
  | { readonly kind: 'claimed'; readonly table: string; readonly ms: number; readonly calls: number }
  | { readonly kind: 'already-ours'; readonly table: string; readonly ms: number }
  | { readonly kind: 'failed'; readonly table: string; readonly ms: number; readonly code: ErrorCode; readonly reason: string }
  | { readonly kind: 'aborted'; readonly table: string; readonly ms: number };

export type ClaimBuckets = CloudBuckets;

export interface ClaimOptions {
  readonly api: RouteApi;
  /** The owned route tables. */
  readonly tables: readonly string[];
  /** The VIP as a /32. */
  readonly destinationCidr: string;
  /** Our ENI: the route's target. */
  readonly networkInterfaceId: string;
  /** Only tables of this VPC are claimed; others fail as not found. */
  readonly vpcId?: string;
  readonly buckets: ClaimBuckets;
  /** A newer transition aborts the claim in flight. */
  readonly signal: AbortSignal;
  readonly clock?: Clock;
  /**
   * Timeout of each API call. @default 3000 (`DEFAULT_CALL_TIMEOUT_MS`: why 3 s)
   */
  readonly callTimeoutMs?: number;
  /** Give up on a table (failed, reason `timeout`) after this long. @default 60000 */
  readonly deadlineMs?: number;
  /** Progress for logs and metrics. */
  readonly onEvent?: (event: ClaimEvent) => void;
  /**
   * Runs once after the first describe and before any route is written, with the tables about to
   * be written and what they show now (the takeover handoff starts here). Bounded by the caller;
   * an error is logged by the caller's hook, never fails the claim.
   */
  readonly beforeWrite?: (tables: readonly RouteTableInfo[], signal: AbortSignal) => Promise<void>;
  readonly random?: () => number;
}

export type ClaimEvent =
  | CloudCallEvent
  | { readonly type: 'table-done'; readonly outcome: TableOutcome };

/**
 * Points the VIP route of every owned table at our ENI and reads it back until every table
 * agrees, as fast as the EC2 API's token buckets allow:
 *
 * 1. one DescribeRouteTables for all tables (tables already pointing at us are done);
 * 2. ReplaceRoute for every other table in parallel, each under the mutating bucket
 *    (CreateRoute where the route is missing; a concurrent create turns back into a replace);
 * 3. read back with batched DescribeRouteTables until each table shows our ENI (the API is
 *    eventually consistent), replacing again a table that still shows another target.
 *
 * Throttling and 5xx are retried with jittered exponential backoff (and empty our bucket, since
 * the API's bucket is shared); permission and validation errors are not. Never deletes a route.
 * Returns one typed outcome per table, in the order of `tables`.
 */
export async function claimRoutes(options: ClaimOptions): Promise<TableOutcome[]> {
  const clock = options.clock ?? systemClock;
  const start = clock.now();
  const deadline = start + (options.deadlineMs ?? 60_000);
  const outcomes = new Map<string, TableOutcome>();
  const calls = new Map<string, number>();
  const elapsed = (): number => clock.now() - start;
  const finish = (outcome: TableOutcome): void => {
    if (outcomes.has(outcome.table)) return;
    outcomes.set(outcome.table, outcome);
    options.onEvent?.({ type: 'table-done', outcome });
  };
  const fail = (table: string, err: unknown): void => {
    if (options.signal.aborted) return finish({ kind: 'aborted', table, ms: elapsed() });
    const code: ErrorCode = err instanceof OverlayError ? err.code : 'INTERNAL';
    finish({ kind: 'failed', table, ms: elapsed(), code, reason: err instanceof Error ? err.message : String(err) });
  };
  const ctx = { ...options, clock, deadline };

  try {
    const tables = [...new Set(options.tables)];
    if (tables.length === 0) return [];
    let current: Map<string, RouteTableInfo>;
    try {
      current = await describe(ctx, tables);
    } catch (err) {
      for (const t of tables) fail(t, err);
      return tables.map((t) => outcomes.get(t)!);
    }
    for (const t of tables) {
      const info = current.get(t);
      if (info === undefined) fail(t, new OverlayError('CLOUD_NOT_FOUND', `route table ${t} does not exist${options.vpcId !== undefined ? ` in ${options.vpcId}` : ''}; remove it from cloud.routeTables or create it`));
      else if (isOurs(info, options.networkInterfaceId)) finish({ kind: 'already-ours', table: t, ms: elapsed() });
    }

    let pending = tables.filter((t) => !outcomes.has(t));
    let toWrite = pending;
    if (pending.length > 0 && options.beforeWrite) {
      await options.beforeWrite(pending.map((t) => current.get(t)!), options.signal).catch(() => undefined);
    }
    let poll = 0;
    while (pending.length > 0) {
      // Write every table that does not show us yet, in parallel under the bucket.
      await Promise.all(toWrite.map(async (table) => {
        try {
          await writeRoute(ctx, table, current.get(table)?.vipRoute != null);
          calls.set(table, (calls.get(table) ?? 0) + 1);
        } catch (err) {
          fail(table, err);
        }
      }));
      pending = pending.filter((t) => !outcomes.has(t));
      // Read back until each table agrees; a table that shows another target is written again.
      for (;;) {
        if (pending.length === 0) break;
        if (clock.now() > deadline) {
          for (const t of pending) fail(t, new OverlayError('CLOUD_UNAVAILABLE', `route table ${t} did not show ${options.networkInterfaceId} for ${options.destinationCidr} within ${options.deadlineMs ?? 60_000} ms`));
          pending = [];
          break;
        }
        // The write took effect when the API accepted it; the read-back only confirms it, so start
        // early (10 ms) and back off (one batched describe for every pending table per round).
        await clock.sleep(Math.min(1000, 10 * 2 ** Math.min(poll++, 7)), options.signal);
        try {
          current = await describe(ctx, pending);
        } catch (err) {
          if (err instanceof OverlayError && !err.retryable) {
            for (const t of pending) fail(t, err);
            pending = [];
          }
          continue;
        }
        const stillOther: string[] = [];
        for (const t of pending) {
          const info = current.get(t);
          if (info && isOurs(info, options.networkInterfaceId)) finish({ kind: 'claimed', table: t, ms: elapsed(), calls: calls.get(t) ?? 1 });
          else if (info?.vipRoute && info.vipRoute.networkInterfaceId !== options.networkInterfaceId) stillOther.push(t);
          // Otherwise the write is not visible yet (eventual consistency): keep reading.
        }
        pending = pending.filter((t) => !outcomes.has(t));
        // Shown with another target after our write was accepted: stale read or a competing
        // writer. Write again after reading a few times, so a stale read does not cost a write.
        if (stillOther.length > 0 && poll % 4 === 0) {
          toWrite = stillOther;
          break;
        }
      }
    }
  } catch (err) {
    if (!options.signal.aborted) throw err;
  }
  return options.tables.filter((t, i, a) => a.indexOf(t) === i).map((t) => outcomes.get(t) ?? { kind: 'aborted', table: t, ms: elapsed() });
}

/** Whether the table's VIP route is active and targets our ENI. */
export function isOurs(info: RouteTableInfo, eni: string): boolean {
  return info.vipRoute?.networkInterfaceId === eni && info.vipRoute.state === 'active';
}

type Ctx = ClaimOptions & { clock: Clock; deadline: number };

async function describe(ctx: Ctx, tables: readonly string[]): Promise<Map<string, RouteTableInfo>> {
  const infos = await call(ctx, 'DescribeRouteTables', undefined, ctx.buckets.describe, (signal) =>
    ctx.api.describeRouteTables({ routeTableIds: tables, destinationCidr: ctx.destinationCidr, ...(ctx.vpcId !== undefined ? { vpcId: ctx.vpcId } : {}) }, { signal }));
  return new Map(infos.map((i) => [i.id, i]));
}

async function writeRoute(ctx: Ctx, table: string, exists: boolean): Promise<void> {
  const input = { routeTableId: table, destinationCidr: ctx.destinationCidr, networkInterfaceId: ctx.networkInterfaceId };
  let replace = exists;
  // A route that appears or disappears between our describe and our write flips the action once.
  for (let flips = 0; ; flips++) {
    try {
      if (replace) await call(ctx, 'ReplaceRoute', table, ctx.buckets.mutating, (signal) => ctx.api.replaceRoute(input, { signal }));
      else await call(ctx, 'CreateRoute', table, ctx.buckets.mutating, (signal) => ctx.api.createRoute(input, { signal }));
      return;
    } catch (err) {
      if (flips < 2 && err instanceof OverlayError && cloudErrorOutcome(err) === (replace ? 'route-missing' : 'route-exists')) {
        replace = !replace;
        continue;
      }
      throw err;
    }
  }
}

/** One call of the claim: the guarded cloud call (src/cloud/guarded-call.ts) within the claim's deadline. */
function call<T>(ctx: Ctx, action: 'DescribeRouteTables' | 'ReplaceRoute' | 'CreateRoute', table: string | undefined, bucket: TokenBucket, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  return guardedCall({
    action, bucket, signal: ctx.signal, deadline: ctx.deadline, clock: ctx.clock,
    ...(table === undefined ? {} : { table }),
    ...(ctx.callTimeoutMs === undefined ? {} : { callTimeoutMs: ctx.callTimeoutMs }),
    ...(ctx.random ? { random: ctx.random } : {}),
    ...(ctx.onEvent ? { onEvent: ctx.onEvent } : {}),
  }, fn);
}
