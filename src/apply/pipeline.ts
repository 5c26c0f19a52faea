/**
 * The per-node apply pipeline: spec + discovery sources -> aggregator -> desiredState -> plan ->
 * executor, one apply at a time.
 *
 * - Serialized with latest-wins coalescing: a publication or spec that arrives while an apply
 *   runs only marks the pipeline dirty; when the apply ends, ONE more apply runs with the newest
 *   membership and spec (a burst becomes at most two applies).
 * - `applied` (the state haproxy runs) is persisted to `<runDir>/applied-state.json` after every
 *   apply and checked against `show servers state` at start, so a restart plans correctly (no
 *   reload, no change when nothing changed meanwhile).
 * - A spec change (`applySpec`) goes through the same path: runtime where the planner allows,
 *   otherwise one reload with reasons. Discovery sources restart only when the spec's discovery
 *   settings changed; the current membership is kept meanwhile.
 * - A failed apply is retried with backoff; a failed reload leaves the last known good serving.
 * - Nothing a valid spec can lead to stops `run`: a source that cannot be built or started reports
 *   `failed` health (its backends keep their servers), and an unexpected error of the discovery
 *   loop or of an apply is logged, counted in `status().counts` and retried with backoff, while
 *   haproxy keeps serving what it runs. `run` ends only when its signal aborts.
 */
import type { Spec } from '../model/spec.js';
import { AggregatorCore, type HeldChange, type Publication } from '../discovery/aggregator.js';
import { runAggregator } from '../discovery/aggregator-runner.js';
import { createDiscoverySourceOrFailed, type SourceDeps } from '../discovery/create-source.js';
import type { SourceHealth } from '../discovery/types.js';
import type { HaproxyState } from '../plan/state.js';
import type { MemberServer } from '../plan/slots.js';
import { haproxyPaths } from '../haproxy/config-writer.js';
import type { Reloader } from '../haproxy/master-cli.js';
import type { RuntimeApi } from '../haproxy/runtime-api.js';
import { systemClock, type Clock } from '../util/clock.js';
import { OverlayError, SystemError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { describeReasons, type ExecuteResult } from './executor.js';
import { applyOnce } from './apply-once.js';
import type { ApplyMetrics } from './metrics.js';
import { readAppliedState, verifyAppliedState, withApplyLock, writeAppliedState } from './state-store.js';

export interface ApplyPipelineOptions {
  readonly spec: Spec;
  /** sha256 of the spec (`parseSpec`'s hash). */
  readonly specHash: string;
  readonly node: string;
  /** haproxy.cfg, maps/, applied-state.json and apply.lock live here. */
  readonly runDir: string;
  readonly haproxy: {
    readonly runtime: RuntimeApi;
    /** `null`: write files only (haproxy is not running yet). */
    readonly reloader: Reloader | null;
    /** @default "haproxy" */
    readonly binary?: string;
  };
  readonly log: Logger;
  readonly metrics?: ApplyMetrics;
  /** @default systemClock */
  readonly clock?: Clock;
  /** Source settings the spec does not carry (resolvers, EC2 describer, limits). */
  readonly sourceDeps?: Omit<SourceDeps, 'clock' | 'logger'>;
  /** Debounce and removal guard. @default {minWaitMs: 200, maxWaitMs: 2000, maxRemovalShare: 0.5} */
  readonly aggregator?: { readonly minWaitMs?: number; readonly maxWaitMs?: number; readonly maxRemovalShare?: number };
  /** Backoff after a failed apply. @default {minMs: 500, maxMs: 30000} */
  readonly retry?: { readonly minMs: number; readonly maxMs: number };
}

/** The outcome of one apply, as `status()` and `applySpec` report it. */
export interface ApplyOutcome {
  readonly at: number;
  /** Discovery generation the apply used (0: none published yet). */
  readonly generation: number;
  readonly specHash: string;
  readonly result: ExecuteResult;
  /** sha256 of the haproxy.cfg written (same spec + membership -> same hash on a node). */
  readonly configHash?: string;
}

export interface SourceStatus extends SourceHealth {
  readonly name: string;
  /** now - lastSuccessAt, when there was a success. */
  readonly stalenessMs?: number;
}

export interface PipelineStatus {
  readonly node: string;
  readonly specHash: string;
  /** Last discovery generation published by the aggregator. */
  readonly publishedGeneration: number;
  /** Generation of the last successful apply. */
  readonly appliedGeneration: number;
  readonly applying: boolean;
  readonly pending: boolean;
  readonly lastApply?: ApplyOutcome;
  readonly configHash?: string;
  readonly structuralHash?: string;
  readonly sources: readonly SourceStatus[];
  readonly held: readonly HeldChange[];
  /** Counts since start. */
  readonly counts: { readonly applies: number; readonly reloads: number; readonly runtime: number; readonly fallbacks: number; readonly failures: number; readonly discoveryRestarts: number };
  /** The last unexpected error of the discovery loop (it restarts after a backoff). */
  readonly discoveryError?: { readonly code: string; readonly message: string; readonly at: number };
}

export interface ApplyPipeline {
  /** Runs sources, aggregator and applies until `signal` aborts. Call once. */
  run(signal: AbortSignal): Promise<void>;
  /** Rolls out a new (validated) spec; resolves with the apply that includes it. */
  applySpec(spec: Spec, specHash: string): Promise<ApplyOutcome>;
  /** Lets a change held by the removal guard through. */
  approve(backend: string): void;
  status(): PipelineStatus;
  /** Resolves once nothing is pending or applying (tests and benchmarks). */
  idle(signal: AbortSignal): Promise<void>;
}

/** Builds the pipeline. Nothing runs until `run`. */
export function createApplyPipeline(options: ApplyPipelineOptions): ApplyPipeline {
  return new Pipeline(options);
}

type Membership = ReadonlyMap<string, readonly MemberServer[]>;

class Pipeline implements ApplyPipeline {
  readonly #o: ApplyPipelineOptions;
  readonly #clock: Clock;
  readonly #mapDir: string;
  #spec: Spec;
  #specHash: string;
  #membership: Membership = new Map();
  #publishedGeneration = 0;
  #applied: HaproxyState | null = null;
  #appliedGeneration = 0;
  #seq = 0;
  #dirty = true;
  #applying = false;
  #lastApply: ApplyOutcome | undefined;
  #configHash: string | undefined;
  #health = new Map<string, SourceHealth>();
  #held = new Map<string, HeldChange>();
  #core: AggregatorCore | undefined;
  #discoveryRestart = new AbortController();
  #wake: () => void = () => undefined;
  #waiters: ((o: ApplyOutcome) => void)[] = [];
  #idleWaiters: (() => void)[] = [];
  #counts = { applies: 0, reloads: 0, runtime: 0, fallbacks: 0, failures: 0, discoveryRestarts: 0 };
  #discoveryError: { code: string; message: string; at: number } | undefined;

  constructor(options: ApplyPipelineOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#mapDir = haproxyPaths(options.runDir).mapDir;
    this.#spec = options.spec;
    this.#specHash = options.specHash;
  }

  async run(signal: AbortSignal): Promise<void> {
    await this.#loadApplied(signal);
    const worker = this.#worker(signal);
    const discovery = this.#discoveryLoop(signal);
    await Promise.all([worker, discovery]);
  }

  applySpec(spec: Spec, specHash: string): Promise<ApplyOutcome> {
    const restart = discoveryKey(spec) !== discoveryKey(this.#spec);
    this.#spec = spec;
    this.#specHash = specHash;
    if (restart) {
      // Keep the servers of backends whose source is unchanged until the new aggregator publishes.
      const keep = new Map<string, readonly MemberServer[]>();
      for (const b of spec.backends) {
        const servers = this.#membership.get(b.name);
        if (b.discovery !== undefined && servers !== undefined) keep.set(b.name, servers);
      }
      this.#membership = keep;
      this.#discoveryRestart.abort();
    }
    const done = new Promise<ApplyOutcome>((resolve) => this.#waiters.push(resolve));
    this.#request();
    return done;
  }

  approve(backend: string): void {
    this.#core?.approve(backend, this.#clock.now());
  }

  status(): PipelineStatus {
    const now = this.#clock.now();
    const sources: SourceStatus[] = [...this.#health].map(([name, h]) => ({ name, ...h, ...(h.lastSuccessAt === undefined ? {} : { stalenessMs: now - h.lastSuccessAt }) }));
    return {
      node: this.#o.node,
      specHash: this.#specHash,
      publishedGeneration: this.#publishedGeneration,
      appliedGeneration: this.#appliedGeneration,
      applying: this.#applying,
      pending: this.#dirty,
      ...(this.#lastApply === undefined ? {} : { lastApply: this.#lastApply }),
      ...(this.#configHash === undefined ? {} : { configHash: this.#configHash }),
      ...(this.#applied === null ? {} : { structuralHash: this.#applied.structuralHash }),
      sources,
      held: [...this.#held.values()],
      counts: { ...this.#counts },
      ...(this.#discoveryError === undefined ? {} : { discoveryError: this.#discoveryError }),
    };
  }

  async idle(signal: AbortSignal): Promise<void> {
    while (this.#dirty || this.#applying) {
      await new Promise<void>((resolve, reject) => {
        this.#idleWaiters.push(resolve);
        signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
      });
    }
  }

  #request(): void {
    this.#dirty = true;
    this.#wake();
  }

  async #loadApplied(signal: AbortSignal): Promise<void> {
    let saved: Awaited<ReturnType<typeof readAppliedState>>;
    try {
      saved = await readAppliedState(this.#o.runDir, { signal });
    } catch (err) {
      if (signal.aborted) throw err;
      this.#o.log.warn({ event: 'applied-state-unreadable', error: describeError(err) }, 'cannot read the persisted applied state; planning from nothing (one reload)');
      return;
    }
    if (saved === undefined) return;
    this.#seq = saved.seq;
    this.#membership = new Map(saved.membership);
    const state = saved.state;
    if (state === null) return;
    if (state.node !== this.#o.node || state.mapDir !== this.#mapDir.replace(/\/+$/, '')) {
      this.#o.log.warn({ node: state.node, mapDir: state.mapDir }, 'persisted applied state is for another node or run dir; planning from nothing');
      return;
    }
    try {
      const mismatch = await verifyAppliedState(this.#o.haproxy.runtime, state, { signal });
      if (mismatch !== undefined) {
        this.#o.log.warn({ mismatch }, 'haproxy does not run the persisted applied state; planning from nothing (one reload)');
        return;
      }
    } catch (err) {
      if (signal.aborted) throw err;
      this.#o.log.warn({ error: err }, 'cannot compare the persisted applied state with haproxy; planning from nothing');
      return;
    }
    this.#applied = state;
    this.#appliedGeneration = saved.generation;
  }

  async #discoveryLoop(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      try {
        await this.#discoveryRound(signal);
        failures = 0;
      } catch (err) {
        if (signal.aborted) break;
        // A bug or an unforeseen failure: report it and start the sources again after a backoff;
        // the membership published so far stays, haproxy keeps serving.
        failures++;
        this.#counts.discoveryRestarts++;
        this.#discoveryError = { ...describeError(err), at: this.#clock.now() };
        const backoff = this.#o.retry ?? { minMs: 500, maxMs: 30_000 };
        const waitMs = Math.min(backoff.maxMs, backoff.minMs * 2 ** Math.min(failures - 1, 16));
        this.#o.log.error({ event: 'discovery-failed', error: this.#discoveryError, restartInMs: waitMs }, 'the discovery loop failed; restarting it, the last membership keeps serving');
        await this.#clock.sleep(waitMs, signal).catch(() => undefined);
      }
    }
  }

  /** One run of the sources and the aggregator, until the spec's discovery settings change or `signal` aborts. */
  async #discoveryRound(signal: AbortSignal): Promise<void> {
    this.#discoveryRestart = new AbortController();
    const inner = AbortSignal.any([signal, this.#discoveryRestart.signal]);
    const spec = this.#spec;
    const backends = spec.backends.flatMap((b) => (b.discovery === undefined ? [] : [{ name: b.name, source: b.discovery.source }]));
    const agg = this.#o.aggregator ?? {};
    const core = new AggregatorCore({ backends, ...agg });
    this.#core = core;
    this.#held.clear();
    const used = new Set(backends.map((b) => b.source));
    const sources = spec.discovery.filter((s) => used.has(s.name)).map((s) => createDiscoverySourceOrFailed(s, { ...this.#o.sourceDeps, clock: this.#clock, logger: this.#o.log.child({ source: s.name }) }));
    for (const name of [...this.#health.keys()]) if (!used.has(name)) this.#health.delete(name);
    if (sources.length === 0) {
      await new Promise<void>((resolve) => inner.addEventListener('abort', () => resolve(), { once: true }));
      return;
    }
    await runAggregator({
      core,
      sources,
      signal: inner,
      clock: this.#clock,
      logger: this.#o.log,
      onPublish: (p) => this.#onPublish(p),
      onHeld: (held) => {
        for (const h of held) this.#held.set(h.backend, h);
        this.#updateHeldMetric();
      },
      onHealth: (source, health) => {
        this.#health.set(source, health);
        if (health.lastSuccessAt !== undefined) this.#o.metrics?.sourceStaleness.set({ source }, Math.max(0, (this.#clock.now() - health.lastSuccessAt) / 1000));
      },
    });
  }

  #onPublish(p: Publication): void {
    const next = new Map(this.#membership);
    for (const [backend, servers] of p.membership) next.set(backend, servers);
    this.#membership = next;
    this.#publishedGeneration = p.generation;
    for (const b of p.changed) this.#held.delete(b);
    this.#updateHeldMetric();
    this.#request();
  }

  #updateHeldMetric(): void {
    for (const b of this.#spec.backends) if (b.discovery !== undefined) this.#o.metrics?.held.set({ backend: b.name }, this.#held.has(b.name) ? 1 : 0);
  }

  async #worker(signal: AbortSignal): Promise<void> {
    let failures = 0;
    let timerAt: number | undefined;
    while (!signal.aborted) {
      if (!this.#dirty) {
        for (const w of this.#idleWaiters.splice(0)) w();
        const wait = new AbortController();
        this.#wake = () => wait.abort();
        const both = AbortSignal.any([signal, wait.signal]);
        const sleep = timerAt === undefined ? new Promise<void>((resolve) => both.addEventListener('abort', () => resolve(), { once: true })) : this.#clock.sleep(Math.max(0, timerAt - this.#clock.now()), both);
        await sleep.catch(() => undefined);
        this.#wake = () => undefined;
        wait.abort();
        if (signal.aborted) break;
        if (!this.#dirty && (timerAt === undefined || this.#clock.now() < timerAt)) continue;
      }
      this.#dirty = false;
      timerAt = undefined;
      this.#applying = true;
      const waiters = this.#waiters.splice(0);
      let outcome: ApplyOutcome;
      try {
        outcome = await withApplyLock(this.#o.runDir, () => this.#applyOnce(signal), { signal, clock: this.#clock });
      } catch (err) {
        if (signal.aborted) break;
        // Not only OverlayErrors: a bug in one apply must not stop the pipeline (and the agent);
        // it is reported like any failed apply and retried with backoff.
        const error = describeError(err);
        outcome = { at: this.#clock.now(), generation: this.#publishedGeneration, specHash: this.#specHash, result: { kind: 'failed', reasons: [], ops: 0, error, live: 'unchanged' } };
        this.#counts.failures++;
        this.#o.log.error({ event: 'apply-failed', error, ...(err instanceof OverlayError ? {} : { stack: err instanceof Error ? err.stack : undefined }) }, 'apply failed; retrying with backoff, the last good config keeps serving');
      } finally {
        this.#applying = false;
      }
      this.#lastApply = outcome;
      for (const w of waiters) w(outcome);
      if (outcome.result.kind === 'failed') {
        failures++;
        const retry = this.#o.retry ?? { minMs: 500, maxMs: 30_000 };
        timerAt = this.#clock.now() + Math.min(retry.maxMs, retry.minMs * 2 ** Math.min(failures - 1, 16));
      } else {
        failures = 0;
        // A draining server frees its slot at its deadline: apply again then.
        const deadline = this.#applied?.nextDeadline;
        if (deadline !== undefined) timerAt = deadline;
      }
    }
    for (const w of this.#idleWaiters.splice(0)) w();
  }

  async #applyOnce(signal: AbortSignal): Promise<ApplyOutcome> {
    // Another writer (overlay-lb apply) may have changed what haproxy runs: adopt its state.
    const saved = await readAppliedState(this.#o.runDir, { signal });
    if (saved !== undefined && saved.seq !== this.#seq) {
      this.#o.log.info({ seq: saved.seq }, 'applied state changed by another writer; adopting it');
      this.#seq = saved.seq;
      this.#applied = saved.state;
    }
    const spec = this.#spec;
    const specHash = this.#specHash;
    const generation = this.#publishedGeneration;
    const membership = this.#membership;
    // `now`: removed servers drain for their backend's drainTime (spec), deadlines on this clock.
    const once = await applyOnce({ spec, specHash, node: this.#o.node, membership, applied: this.#applied, now: this.#clock.now(), log: this.#o.log, context: { generation } }, {
      runtime: this.#o.haproxy.runtime,
      reloader: this.#o.haproxy.reloader,
      runDir: this.#o.runDir,
      log: this.#o.log,
      ...(this.#o.haproxy.binary === undefined ? {} : { haproxyBinary: this.#o.haproxy.binary }),
      ...(this.#o.metrics === undefined ? {} : { metrics: this.#o.metrics }),
    }, { signal });
    const result = once.result;
    if (result === undefined) throw new SystemError('INTERNAL', 'an apply that is no dry run returned no result');
    this.#counts.applies++;
    this.#applied = once.applied;
    let configHash: string | undefined;
    if (result.kind === 'failed') {
      this.#counts.failures++;
      this.#o.log.error({ error: result.error, reasons: describeReasons(result.reasons), live: result.live }, 'apply failed; retrying with backoff');
    } else {
      if (result.kind === 'reloaded') this.#counts.reloads++;
      if (result.kind === 'runtime') this.#counts.runtime++;
      if (result.kind === 'fell-back-to-reload') this.#counts.fallbacks++;
      this.#appliedGeneration = generation;
      this.#o.metrics?.generation.set({}, generation);
      configHash = once.configHash;
      this.#configHash = configHash;
    }
    if (result.kind !== 'noop' || saved === undefined) {
      this.#seq++;
      await writeAppliedState(this.#o.runDir, { seq: this.#seq, state: this.#applied, membership: [...membership], generation: this.#appliedGeneration }, { signal });
    }
    return { at: this.#clock.now(), generation, specHash, result, ...(configHash === undefined ? {} : { configHash }) };
  }
}

/** What decides whether sources and the aggregator must restart after a spec change. */
function discoveryKey(spec: Spec): string {
  return JSON.stringify({ sources: spec.discovery, backends: spec.backends.flatMap((b) => (b.discovery === undefined ? [] : [[b.name, b.discovery.source]])) });
}


/** Code and message of any thrown value (INTERNAL for what is not an OverlayError). */
function describeError(err: unknown): { code: string; message: string } {
  if (err instanceof OverlayError) return { code: err.code, message: err.message };
  return { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) };
}
