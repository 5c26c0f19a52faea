/**
 * The thin, I/O side of the aggregator: runs every source, feeds their snapshots to the
 * {@link AggregatorCore}, and flushes when the core's debounce window closes.
 */
import { systemClock, type Clock } from '../util/clock.js';
import type { AggregatorCore, HeldChange, Publication } from './aggregator.js';
import { type DiscoverySourceRunner, type Logger, type SourceHealth, silentLogger } from './types.js';

export interface RunAggregatorOptions {
  readonly core: AggregatorCore;
  readonly sources: readonly DiscoverySourceRunner[];
  readonly signal: AbortSignal;
  /** Called with every publication that changes something (generation strictly increasing). */
  readonly onPublish: (publication: Publication) => void;
  /** Called with changes held back by the removal guard. */
  readonly onHeld?: (held: readonly HeldChange[]) => void;
  readonly onHealth?: (source: string, health: SourceHealth) => void;
  readonly clock?: Clock;
  readonly logger?: Logger;
}

/** Runs until `signal` aborts. Never throws otherwise (sources report failures as health). */
export async function runAggregator(options: RunAggregatorOptions): Promise<void> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? silentLogger;
  const { core, signal } = options;
  let wake: () => void = () => undefined;
  let poked = false;
  const poke = (): void => {
    poked = true;
    wake();
  };

  const sourcesDone = Promise.all(
    options.sources.map((source) =>
      source.run({
        signal,
        onEvent: (event) => {
          if (event.kind === 'health') {
            options.onHealth?.(event.source, event.health);
            return;
          }
          const result = core.offer(event.snapshot, clock.now());
          if (result.kind === 'accepted') poke();
        },
      }),
    ),
  );

  while (!signal.aborted) {
    poked = false;
    const result = core.flush(clock.now());
    if (result.kind === 'published' || result.kind === 'held') {
      const held = result.held;
      if (held.length > 0) {
        for (const h of held) logger.warn({ backend: h.backend, source: h.source, reason: h.reason, removing: h.removing, current: h.current, share: h.share }, 'discovery change held back');
        options.onHeld?.(held);
      }
      if (result.kind === 'published') {
        const p = result.publication;
        logger.info({ generation: p.generation, changed: p.changed }, 'discovery membership published');
        options.onPublish(p);
      }
      continue;
    }
    if (poked) continue;
    const waitCtl = new AbortController();
    const woken = new Promise<void>((resolve) => {
      wake = () => {
        waitCtl.abort();
        resolve();
      };
    });
    const both = AbortSignal.any([signal, waitCtl.signal]);
    const sleep = result.kind === 'waiting' ? clock.sleep(Math.max(0, result.dueAt - clock.now()), both) : new Promise<void>((resolve) => both.addEventListener('abort', () => resolve(), { once: true }));
    await Promise.race([sleep.catch(() => undefined), woken]);
    wake = () => undefined;
    waitCtl.abort();
  }
  await sourcesDone;
}
