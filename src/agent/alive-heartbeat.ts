import { utimes, writeFile } from 'node:fs/promises';
import { AGENT_HEARTBEAT_INTERVAL_MS } from '../render/keepalived.js';
import type { Clock } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import type { Logger } from '../util/log.js';

/**
 * Touches `path` (its modification time) every AGENT_HEARTBEAT_INTERVAL_MS, creating it when
 * missing, and once more when `signal` aborts (a planned stop: the next agent gets the whole
 * grace). A failed touch is logged once per run of failures and retried; keepalived's agent check
 * then sees the heartbeat age, which is what it should see.
 */
export async function runHeartbeat(path: string, options: { readonly signal: AbortSignal; readonly log: Logger; readonly clock?: Clock }): Promise<void> {
  const clock = options.clock ?? systemClock;
  let failing = false;
  for (;;) {
    try {
      const now = new Date(clock.now());
      await utimes(path, now, now).catch(async (err: unknown) => {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        await writeFile(path, 'the agent touches this file every second (keepalived checks its age)\n', { mode: 0o600 });
      });
      if (failing) options.log.info({ event: 'heartbeat-restored', path }, 'heartbeat file written again');
      failing = false;
    } catch (err) {
      if (!failing) options.log.error({ event: 'heartbeat-failed', path, err }, 'cannot touch the heartbeat file: keepalived will count this agent as dead after the grace');
      failing = true;
    }
    if (options.signal.aborted) return;
    await clock.sleep(AGENT_HEARTBEAT_INTERVAL_MS, options.signal).catch(() => undefined);
  }
}
