import type { RouteApi, RouteTableInfo } from './types.js';
import { retry } from '../util/retry.js';
import { systemClock } from '../util/clock.js';
import type { Clock } from '../util/clock.js';
import { OverlayError } from '../util/errors.js';
import type { ErrorCode } from '../util/errors.js';
import type { TokenBucket } from '../util/token-bucket.js';
import { timeoutSignal } from '../util/abort.js';

/** How one route table ended after a claim. */
export type TableOutcome =
  | { readonly kind: 'claimed'; readonly table: string; readonly ms: number; readonly calls: number }
  | { readonly kind: 'already-ours'; readonly table: string; readonly ms: number }
  | { readonly kind: 'failed'; readonly table: string; readonly ms: number; readonly code: ErrorCode; readonly reason: string }
  | { readonly kind: 'aborted'; readonly table: string; readonly ms: number };

export interface ClaimBuckets {
  readonly mutating: TokenBucket;
  readonly describe: TokenBucket;
}

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
  | { readonly type: 'api-call'; readonly action: 'DescribeRouteTables' | 'ReplaceRoute' | 'CreateRoute'; readonly table?: string }
  | { readonly type: 'api-error'; readonly action: string; readonly code: ErrorCode; readonly retryable: boolean; readonly table?: string }
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
      if (flips < 2 && err instanceof OverlayError && (replace ? isRouteMissing(err) : err.details['awsCode'] === 'RouteAlreadyExists')) {
        replace = !replace;
        continue;
      }
      throw err;
    }
  }
}

/**
 * The per-call timeout of every cloud call of the failover path (claims, re-checks, the heartbeat,
 * the Elastic IP claimer): 3 s, chosen from measurements on a busy node, not guessed. With one busy
 * loop per core beside the lab (bench/lab-api-latency.ts, the agent's calls from an LB node through
 * the lab's relay, AWS SDK, keep-alive), DescribeRouteTables took p50 7.6 ms, p99 32 ms, max 76 ms
 * (quiet: p99 40 ms, max 70 ms); in the e2e tests under the same hog, with both agents running, the
 * lab API's own share was p99 160 ms, max 391 ms. 3 s is ~8x the worst seen: a call still pending
 * then is an unreachable or hanging API (the lab's `api-unreachable --mode hang`), which the claim
 * retries within its deadline. The ECONNRESETs of issue 15 were not timeouts: the lab's API had
 * stopped (fixed in src/lab/lab.ts).
 */
export const DEFAULT_CALL_TIMEOUT_MS = 3000;

async function call<T>(ctx: Ctx, action: 'DescribeRouteTables' | 'ReplaceRoute' | 'CreateRoute', table: string | undefined, bucket: TokenBucket, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const timeout = ctx.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
  return retry(async () => {
    await bucket.take(ctx.signal);
    ctx.onEvent?.({ type: 'api-call', action, ...(table ? { table } : {}) });
    try {
      return await fn(timeoutSignal(timeout, ctx.signal));
    } catch (err) {
      const e = err instanceof OverlayError ? err : new OverlayError('CLOUD_UNAVAILABLE', `${action} failed: ${(err as Error).message}`, { cause: err });
      if (e.code === 'CLOUD_THROTTLED') bucket.drain();
      ctx.onEvent?.({ type: 'api-error', action, code: e.code, retryable: e.retryable, ...(table ? { table } : {}) });
      throw e;
    }
  }, { signal: ctx.signal, deadline: ctx.deadline, baseMs: 100, maxMs: 2000, clock: ctx.clock, ...(ctx.random ? { random: ctx.random } : {}) });
}

/**
 * ReplaceRoute on a table without the route answers InvalidParameterValue ("There is no route
 * defined for '<cidr>' in the route table. Please use CreateRoute instead."), not
 * InvalidRoute.NotFound (that one is DeleteRoute's).
 */
function isRouteMissing(err: OverlayError): boolean {
  const code = err.details['awsCode'];
  return code === 'InvalidRoute.NotFound' || (code === 'InvalidParameterValue' && /no route defined/i.test(err.message));
}
