import type { SpecRolloutResult, SpecRolloutStatus } from '../agent-api/contract.js';
import type { ApplyPipeline } from '../apply/pipeline.js';
import type { ClusterNode, Spec } from '../model/spec.js';
import { renderKeepalived } from '../render/keepalived.js';
import type { Clock } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import { writeFileAtomic } from '../util/fs-atomic.js';
import type { Logger } from '../util/log.js';
import type { Counter } from '../util/metrics.js';
import type { ProblemBoard } from './problems.js';
import { withRunDir } from './run-dir.js';
import { watchSpec } from './spec-watch.js';

export interface SpecRolloutOptions {
  readonly specFile: string;
  /** The node's run dir (every spec is moved under it: src/agent/run-dir.ts). */
  readonly runDir: string;
  /** This node. */
  readonly node: ClusterNode;
  /** The spec the agent started with (moved under the run dir) and its hash. */
  readonly spec: Spec;
  readonly hash: string;
  /** Rolls a spec change out (runtime where possible, else one reload). */
  readonly pipeline: Pick<ApplyPipeline, 'applySpec'>;
  /** keepalived.conf: rewritten (its header's spec hash) when a change rolls out, never reloaded. */
  readonly keepalivedConfig: string;
  /** `overlay_lb_spec_rollouts_total`, by result. */
  readonly rollouts: Counter;
  /** A change that did not roll out is the `spec` problem until one does. */
  readonly problems: ProblemBoard;
  readonly log: Logger;
  /** Its `reload` events re-read the file at once (SIGHUP). */
  readonly reloadRequests?: EventTarget;
  /** @default systemClock */
  readonly clock?: Clock;
}

/** The spec a node runs now. */
export interface CurrentSpec {
  readonly spec: Spec;
  readonly hash: string;
  /** 1 at start, +1 per change rolled out. */
  readonly generation: number;
}

/**
 * The spec rollout on a node: the spec file is watched, and a valid change rolls out through the
 * apply pipeline (runtime where possible, else one reload); an invalid one is logged with every
 * diagnostic and changes nothing. The cluster and admin sections (VIP, nodes, VRRP, cloud,
 * sockets, ports) shape the running failover controller, keepalived and the listeners: they change
 * with an agent restart, one node at a time, never half-applied from a file watch.
 */
export class SpecRollout {
  readonly #o: SpecRolloutOptions;
  readonly #clock: Clock;
  #current: CurrentSpec;
  #last: SpecRolloutStatus | null = null;
  /** File changes and offered specs roll out one at a time, in order. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: SpecRolloutOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#current = { spec: options.spec, hash: options.hash, generation: 1 };
  }

  get current(): CurrentSpec {
    return this.#current;
  }

  /** The last spec file change and what became of it (null: none since start). */
  get last(): SpecRolloutStatus | null {
    return this.#last;
  }

  /** Watches the spec file until `signal` aborts. */
  watch(signal: AbortSignal): Promise<void> {
    const { log, reloadRequests } = this.#o;
    return watchSpec(this.#o.specFile, this.#current.hash, {
      signal, log,
      ...(reloadRequests === undefined ? {} : { reloadRequests }),
      onRejected: (r) => this.#record(r.kind, r.specHash, r.error),
      onChange: (next) => this.#serial(() => this.#apply(next, signal)),
    });
  }

  /**
   * Rolls out a spec that came from elsewhere than the file (the release bucket:
   * src/agent/spec-follow.ts), by the same path and rules as a file change, after any change in
   * flight. Answers what became of it (`applied` at once when it is the spec running now).
   */
  offer(next: { readonly spec: Spec; readonly hash: string }, signal: AbortSignal): Promise<SpecRolloutStatus> {
    return this.#serial(async () => {
      if (next.hash === this.#current.hash) {
        // Asked for what runs (a rollback to it): no change is pending any more.
        this.#o.problems.clear('spec');
        return { result: 'applied' as const, at: this.#clock.now(), specHash: next.hash };
      }
      await this.#apply(next, signal);
      return this.#last ?? { result: 'failed' as const, at: this.#clock.now(), specHash: next.hash };
    });
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Rolls one valid change out, or refuses it (recorded either way). */
  async #apply(next: { spec: Spec; hash: string }, signal: AbortSignal): Promise<void> {
    const { node, log } = this.#o;
    const nextSpec = withRunDir(next.spec, this.#o.runDir);
    if (!nextSpec.cluster.nodes.some((n) => n.name === node.name)) {
      log.error({ event: 'spec-rejected', reason: `node ${node.name} is no longer in the spec` }, 'spec change ignored');
      this.#record('rejected', next.hash, { code: 'SPEC_NODE', message: `node ${node.name} is no longer in the spec: nothing was changed` });
      return;
    }
    const changed = (['cluster', 'admin'] as const).filter((k) => JSON.stringify(nextSpec[k]) !== JSON.stringify(this.#current.spec[k]));
    if (changed.length > 0) {
      log.error({ event: 'spec-rejected', sections: changed, specHash: next.hash }, `the spec's ${changed.join(' and ')} section changed: restart the agent to apply it (systemctl restart overlay-lb-agent); nothing was changed`);
      this.#record('rejected', next.hash, { code: 'SPEC_CONFLICT', message: `the spec's ${changed.join(' and ')} section changed: restart the agent to apply it; nothing was changed` });
      return;
    }
    const outcome = await this.#o.pipeline.applySpec(nextSpec, next.hash);
    if (outcome.result.kind === 'failed') {
      log.error({ event: 'spec-apply-failed', specHash: next.hash, error: outcome.result.error }, 'the spec change could not be applied; the last good config keeps serving');
      this.#record('failed', next.hash, outcome.result.error);
      return;
    }
    // Only the header's spec hash differs: keep the file true for a reader, without a reload.
    await writeFileAtomic(this.#o.keepalivedConfig, renderKeepalived(nextSpec, { node: node.name, specHash: next.hash }), { signal, mode: 0o600 });
    this.#current = { spec: nextSpec, hash: next.hash, generation: this.#current.generation + 1 };
    this.#record('applied', next.hash);
    log.info({ event: 'spec-applied', specHash: next.hash, generation: this.#current.generation, result: outcome.result.kind }, 'spec change rolled out');
  }

  #record(result: SpecRolloutResult, specHash: string | null, error?: { code: string; message: string }): void {
    this.#o.rollouts.inc({ result });
    const last: SpecRolloutStatus = { result, at: this.#clock.now(), specHash, ...(error === undefined ? {} : { error }) };
    this.#last = last;
    if (result === 'applied') this.#o.problems.clear('spec');
    else this.#o.problems.report({ component: 'spec', code: error?.code ?? 'INTERNAL', message: error?.message ?? result, at: last.at });
  }
}
