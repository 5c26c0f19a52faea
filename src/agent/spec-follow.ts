import type { AgentStatus, DesiredSpecPointer, PublishedNodeStatus } from '../agent-api/contract.js';
import type { Spec } from '../model/spec.js';
import { parseSpec } from '../speclang/parse.js';
import { untilAborted } from '../util/abort.js';
import type { Clock } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import { formatDiagnostic } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import type { Counter, Gauge } from '../util/metrics.js';
import { describeError } from './problems.js';
import type { ProblemBoard } from './problems.js';
import type { SpecRollout } from './spec-rollout.js';

/** What a poll of the pointer found. */
export type DesiredRead =
  | { readonly kind: 'unchanged' }
  | { readonly kind: 'absent' }
  | { readonly kind: 'found'; readonly etag: string; readonly body: string };

/**
 * The release bucket as the agent sees it: this node's pointer (read with `If-None-Match`, so an
 * unchanged one costs no body), a spec version, and this node's published status. Implemented
 * over S3 with the instance role by src/cloud/aws/provision/release-follow.ts.
 */
export interface ReleaseFollowApi {
  /** This node's pointer; `etag`: the one read last (answers `unchanged` while it holds). */
  readDesired(options: { readonly etag: string | null; readonly signal: AbortSignal }): Promise<DesiredRead>;
  /** The spec object's text at `versionId`. */
  readSpecVersion(versionId: string, options: { readonly signal: AbortSignal }): Promise<string>;
  /** Writes this node's published status (JSON). */
  publishStatus(body: string, options: { readonly signal: AbortSignal }): Promise<void>;
  /** Where it reads and writes, for logs and problems. */
  readonly where: string;
}

/** How often an agent of a provisioned cluster polls its pointer (and looks whether its status changed). @see docs/provisioning.md */
export const DEFAULT_FOLLOW_INTERVAL_MS = 10_000;

/**
 * The longest an agent leaves its published status unwritten when nothing a reader uses changed:
 * the status key is in a versioned bucket and every write is kept as a version, so an unchanged
 * status is refreshed only every {@link REFRESH_POLLS} polls, at most this often, and says so in
 * `intervalMs` (readers call it stale after three of them). @see docs/provisioning.md
 */
export const DEFAULT_STATUS_REFRESH_MS = 60_000;

/** An unchanged status is refreshed every this many polls (at the default 10 s: 60 s), capped by {@link DEFAULT_STATUS_REFRESH_MS}. */
export const REFRESH_POLLS = 6;

/** Problem components: the bucket could not be read / the version it names cannot run. */
export const SOURCE_PROBLEM = 'spec-source';
export const VERSION_PROBLEM = 'spec-version';

/** The poll results, a closed set (metric label `result`). */
export type FollowPollResult = 'unchanged' | 'absent' | 'applied' | 'rejected' | 'failed' | 'invalid' | 'unreachable';

export interface SpecFollowOptions {
  readonly api: ReleaseFollowApi;
  readonly node: string;
  readonly rollout: Pick<SpecRollout, 'offer' | 'current'>;
  /** Poll period; a changed status is published at the next poll. @default DEFAULT_FOLLOW_INTERVAL_MS */
  readonly intervalMs?: number;
  /** The longest gap between two writes of an unchanged status (at least `intervalMs`). @default REFRESH_POLLS intervals, at most DEFAULT_STATUS_REFRESH_MS */
  readonly refreshMs?: number;
  /** The node's `/status` now. */
  readonly status: () => AgentStatus;
  /** Sessions through the spec's frontends (HAProxy's stats). */
  readonly traffic: (signal: AbortSignal) => Promise<PublishedNodeStatus['traffic']>;
  readonly problems: ProblemBoard;
  /** `overlay_lb_spec_source_polls_total`, by result. */
  readonly polls: Counter;
  /** `overlay_lb_spec_source_last_success_timestamp_seconds`. */
  readonly lastSuccess: Gauge;
  /** `overlay_lb_status_publishes_total`, by result. */
  readonly publishes: Counter;
  readonly log: Logger;
  /** @default systemClock */
  readonly clock?: Clock;
}

/**
 * An agent of a provisioned cluster follows the spec in the release bucket: every interval it
 * polls its own desired-version pointer (`<prefix>desired/<node>.json`, written by
 * `overlay-lb apply --cluster` one node at a time) with `If-None-Match`, and when it names a new
 * version fetches that version, validates it and rolls it out through the one spec path
 * (`SpecRollout.offer`, the same rules as a spec file change). It then publishes its status
 * (`<prefix>status/<node>.json`), which is how the CLI gates each node. When the bucket cannot be
 * read, or the version is invalid, the node keeps running what it runs and says so (`/status`
 * problems `spec-source` / `spec-version`, `overlay_lb_spec_source_polls_total`).
 *
 * Every write of the status is kept as a version of its key, so the status is written only when
 * something a reader uses changed ({@link statusSignature}: at once after a pointer was acted on,
 * else at the next poll), and otherwise refreshed every `refreshMs`, the `intervalMs` it states.
 */
export class SpecFollower {
  readonly #o: SpecFollowOptions;
  readonly #clock: Clock;
  readonly #intervalMs: number;
  readonly #refreshMs: number;
  /** The last status written: when, and what of it readers use. */
  #published: { readonly at: number; readonly signature: string } | null = null;
  #etag: string | null = null;
  /** The last version rolled out (or found running) and its spec hash. */
  #applied: { readonly version: string; readonly hash: string } | null = null;

  constructor(options: SpecFollowOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#intervalMs = options.intervalMs ?? DEFAULT_FOLLOW_INTERVAL_MS;
    this.#refreshMs = Math.max(this.#intervalMs, options.refreshMs ?? Math.min(DEFAULT_STATUS_REFRESH_MS, REFRESH_POLLS * this.#intervalMs));
  }

  /** The S3 version of the spec this node runs (null: not known to come from the bucket). */
  get specVersion(): string | null {
    const a = this.#applied;
    return a !== null && a.hash === this.#o.rollout.current.hash ? a.version : null;
  }

  /** Polls every interval, publishing a changed (or due) status, until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const result = await this.pollOnce(signal);
      // An invalid pointer or version is a problem the rollout gate reads at once.
      if (result === 'invalid') await this.publishOnce(signal);
      else await this.publishIfChanged(signal);
      await untilAborted(this.#clock.sleep(this.#intervalMs, signal).catch(() => undefined), signal);
    }
  }

  /** One poll of the pointer; rolls a new version out. */
  async pollOnce(signal: AbortSignal): Promise<FollowPollResult> {
    const { api, log, problems } = this.#o;
    let read: DesiredRead;
    try {
      read = await api.readDesired({ etag: this.#etag, signal });
    } catch (err) {
      return this.#unreachable(err, `its desired-version pointer in ${api.where}`);
    }
    this.#o.lastSuccess.set({}, this.#clock.now() / 1000);
    if (read.kind !== 'found') {
      problems.clear(SOURCE_PROBLEM);
      return this.#count(read.kind);
    }
    const pointer = parsePointer(read.body);
    if (typeof pointer === 'string') {
      this.#etag = read.etag;
      problems.clear(SOURCE_PROBLEM);
      return this.#invalid('SPEC_VERSION_INVALID', `the desired-version pointer of node ${this.#o.node} in ${api.where} is not valid: ${pointer}; the node keeps running its current spec`);
    }
    let text: string;
    try {
      text = await api.readSpecVersion(pointer.specVersion, { signal });
    } catch (err) {
      return this.#unreachable(err, `spec version ${pointer.specVersion} in ${api.where}`);
    }
    problems.clear(SOURCE_PROBLEM);
    // From here on this pointer is settled: a version that cannot run is not fetched again until the pointer changes.
    this.#etag = read.etag;
    const parsed = parseSpec(text, { file: `${api.where} version ${pointer.specVersion}` });
    if (!parsed.ok) {
      const errors = parsed.diagnostics.map(formatDiagnostic);
      return this.#invalid(parsed.diagnostics[0]?.code ?? 'SPEC_YAML', `spec version ${pointer.specVersion} is invalid (${errors.length} problem(s); first: ${errors[0] ?? '?'}); the node keeps running its current spec`);
    }
    if (parsed.hash !== pointer.specHash) {
      return this.#invalid('SPEC_VERSION_INVALID', `spec version ${pointer.specVersion} has hash ${parsed.hash.slice(0, 12)}, but its pointer says ${pointer.specHash.slice(0, 12)}; the node keeps running its current spec`);
    }
    const outcome = await this.#offer(parsed.spec, parsed.hash, signal);
    if (outcome === 'applied') {
      this.#applied = { version: pointer.specVersion, hash: parsed.hash };
      problems.clear(VERSION_PROBLEM);
      log.info({ event: 'spec-version-applied', specVersion: pointer.specVersion, specHash: parsed.hash }, 'spec version from the release bucket rolled out');
      // Tell the CLI at once rather than on the next interval.
      await this.publishOnce(signal);
    } else {
      problems.clear(VERSION_PROBLEM); // the rollout's own `spec` problem says why
      log.error({ event: 'spec-version-not-applied', specVersion: pointer.specVersion, result: outcome }, 'spec version from the release bucket did not roll out; the node keeps running its current spec');
      await this.publishOnce(signal);
    }
    return this.#count(outcome);
  }

  /** Publishes this node's status (`PublishedNodeStatus`) now; a failure is counted and logged only. */
  async publishOnce(signal: AbortSignal): Promise<boolean> {
    return this.#publish(await this.#body(signal), signal);
  }

  /**
   * Publishes this node's status if something a reader uses changed since the last write, or if
   * waiting one more poll would leave it unwritten longer than `refreshMs`; else writes nothing.
   * Answers whether it wrote.
   */
  async publishIfChanged(signal: AbortSignal): Promise<boolean> {
    const body = await this.#body(signal);
    const signature = statusSignature(body);
    const last = this.#published;
    const due = last === null || signature !== last.signature || body.publishedAt - last.at + this.#intervalMs > this.#refreshMs;
    return due ? this.#publish(body, signal, signature) : false;
  }

  async #body(signal: AbortSignal): Promise<PublishedNodeStatus> {
    const traffic = await this.#o.traffic(signal).catch(() => ({ currentSessions: 0, totalSessions: 0 }));
    return { format: 1, publishedAt: this.#clock.now(), intervalMs: this.#refreshMs, specVersion: this.specVersion, status: this.#o.status(), traffic };
  }

  async #publish(body: PublishedNodeStatus, signal: AbortSignal, signature = statusSignature(body)): Promise<boolean> {
    const { api, log } = this.#o;
    try {
      await api.publishStatus(JSON.stringify(body), { signal });
      this.#published = { at: body.publishedAt, signature };
      this.#o.publishes.inc({ result: 'ok' });
      return true;
    } catch (err) {
      this.#o.publishes.inc({ result: 'failed' });
      log.warn({ event: 'status-publish-failed', err }, `could not publish this node's status to ${api.where}`);
      return false;
    }
  }

  async #offer(spec: Spec, hash: string, signal: AbortSignal): Promise<'applied' | 'rejected' | 'failed' | 'invalid'> {
    try {
      return (await this.#o.rollout.offer({ spec, hash }, signal)).result;
    } catch (err) {
      this.#o.log.error({ event: 'spec-version-failed', err }, 'rolling out a spec version failed');
      return 'failed';
    }
  }

  #unreachable(err: unknown, what: string): FollowPollResult {
    const e = describeError(err);
    const running = this.specVersion === null ? `spec ${this.#o.rollout.current.hash.slice(0, 12)}` : `spec version ${this.specVersion}`;
    this.#o.problems.report({ component: SOURCE_PROBLEM, code: e.code, message: `cannot read ${what}: ${e.message}; the node keeps running ${running}`, at: this.#clock.now() });
    this.#o.log.warn({ event: 'spec-source-unreachable', err }, `cannot read ${what}; keeps running ${running}`);
    return this.#count('unreachable');
  }

  #invalid(code: string, message: string): FollowPollResult {
    this.#o.problems.report({ component: VERSION_PROBLEM, code, message, at: this.#clock.now() });
    this.#o.log.error({ event: 'spec-version-invalid', code }, message);
    return this.#count('invalid');
  }

  #count(result: FollowPollResult): FollowPollResult {
    this.#o.polls.inc({ result });
    return result;
  }
}

/** The pointer, or why it is not one. Pure. */
export function parsePointer(body: string): DesiredSpecPointer | string {
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    return 'not JSON';
  }
  if (typeof v !== 'object' || v === null) return 'not a JSON object';
  const o = v as Record<string, unknown>;
  if (o['format'] !== 1) return `format ${JSON.stringify(o['format'])} (this agent reads format 1)`;
  if (typeof o['specVersion'] !== 'string' || o['specVersion'] === '') return 'no specVersion';
  if (typeof o['specHash'] !== 'string' || !/^[0-9a-f]{64}$/.test(o['specHash'])) return 'no specHash (64 hex digits)';
  return { format: 1, specVersion: o['specVersion'], specHash: o['specHash'], writtenAt: typeof o['writtenAt'] === 'number' ? o['writtenAt'] : 0 };
}

/**
 * What of a published status its readers use, as a string to compare: the spec version and hash,
 * the last rollout, VRRP state, HAProxy's and keepalived's health, the problems (without their
 * times: a problem reported again is the same problem) and whether sessions are open (down's
 * `current-sessions`). Not the timestamps, nor the session total: its growth (down's
 * `sessions-grew`) shows at each refresh, and down pauses longer than `intervalMs` between its
 * two reads. Pure.
 */
export function statusSignature(body: PublishedNodeStatus): string {
  const s = body.status;
  return JSON.stringify([
    body.specVersion, s.specHash, s.specGeneration, s.configHash, s.specRollout,
    s.vrrp.vrrp, s.haproxy.alive, s.haproxy.healthy, s.keepalived.alive,
    s.problems.map((p) => [p.component, p.code, p.message]),
    body.traffic.currentSessions > 0,
  ]);
}
