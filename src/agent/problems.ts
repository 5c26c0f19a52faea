import type { Problem } from '../agent-api/contract.js';
import type { PipelineStatus } from '../apply/pipeline.js';
import { OverlayError } from '../util/errors.js';

/**
 * The agent's failures that it survives (a task restarted, the identity retried, a spec change or
 * a certificate refused): the latest of each component, until it is well again. `/status`
 * `problems` and the `overlay_lb_agent_problems` gauge read them, with the apply pipeline's own.
 */
export class ProblemBoard {
  readonly #failures = new Map<string, Problem>();

  /** Records the latest failure of `problem.component` (replacing the one before). */
  report(problem: Problem): void {
    this.#failures.set(problem.component, problem);
  }

  /** `component` is well again. */
  clear(component: string): void {
    this.#failures.delete(component);
  }

  /** Everything that is not well right now: sources not ok, the last apply if it failed, the rest. */
  list(p: PipelineStatus): Problem[] {
    const out: Problem[] = [];
    for (const src of p.sources) {
      if ((src.state === 'failed' || src.state === 'stale') && src.lastError !== undefined) out.push({ component: `discovery:${src.name}`, ...src.lastError });
    }
    if (p.discoveryError !== undefined) out.push({ component: 'discovery', ...p.discoveryError });
    if (p.lastApply?.result.kind === 'failed') out.push({ component: 'apply', ...p.lastApply.result.error, at: p.lastApply.at });
    out.push(...this.#failures.values());
    return out;
  }
}

/** An error's code and message for a problem (INTERNAL for what is not ours). */
export function describeError(err: unknown): { code: string; message: string } {
  if (err instanceof OverlayError) return { code: err.code, message: err.message };
  return { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) };
}
