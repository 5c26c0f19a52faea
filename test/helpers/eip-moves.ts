/**
 * What an Elastic IP move may cost the lab's test clients, and no more (docs/switchover.md,
 * "Elastic IP mode"): EC2 maps every packet by the current association, so each connection open
 * through the address when it moves may fail one request: its next one with a reset (the new node
 * has no such connection), or the one in flight with a reset or a timeout (its answer, sent by
 * the old node, no longer maps to the address). A connection opened after the move reaches the
 * new node.
 */
import type { ProbeSample } from './lab-probe.js';

/** A move of the address: the API changed it at `at`, the kernel had followed by `appliedAt`. */
export interface MoveWindow {
  readonly at: number;
  readonly appliedAt: number | null;
}

/**
 * The most failed requests of test/helpers/vip-client.ts that `moves` moves may cause: it holds
 * at most two keep-alive connections (two back-to-back loops) and one new connection at a time.
 */
export function clientConnectionsAtMoves(moves: number): { readonly keepAlive: number; readonly fresh: number } {
  return { keepAlive: 2 * moves, fresh: moves };
}

/**
 * Whether a client's failure is what a move does to a connection open across it: a reset
 * (`ECONNRESET`, `EPIPE`, `socket hang up`) or a timeout, as test/helpers/vip-client.ts
 * (`kind: CODE at TIME`) words it.
 */
export function isMoveFailure(failure: string): boolean {
  return /: (ECONNRESET|EPIPE|socket hang up|timeout)\b/.test(failure);
}

/**
 * The probe's failed requests that were not open across a move (sent after its kernel change,
 * or answered before its API change): with the probe's new connection per request, only a
 * request in flight at a move may fail.
 */
export function probeFailuresOutsideMoves(samples: readonly ProbeSample[], moves: readonly MoveWindow[]): ProbeSample[] {
  return samples.filter((s) => !s.ok && !moves.some((m) => s.sentAt <= (m.appliedAt ?? Number.POSITIVE_INFINITY) && s.sentAt + s.ms >= m.at));
}
