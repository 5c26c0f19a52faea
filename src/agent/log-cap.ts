import { stat, truncate } from 'node:fs/promises';
import type { Logger } from '../util/log.js';
import { systemClock } from '../util/clock.js';

/**
 * Keeps the logs haproxy and keepalived append to (in the run dir, on tmpfs by default) from
 * filling memory: every `intervalMs`, a file larger than `maxBytes` is truncated to zero. Both
 * programs write with O_APPEND, so they go on writing at the new end. For long-term logs, send
 * HAProxy's to syslog or journald instead (docs/install.md).
 */
export async function capLogs(files: readonly string[], options: { signal: AbortSignal; log: Logger; maxBytes?: number; intervalMs?: number }): Promise<void> {
  const max = options.maxBytes ?? 64 * 1024 * 1024;
  while (!options.signal.aborted) {
    await systemClock.sleep(options.intervalMs ?? 60_000, options.signal).catch(() => undefined);
    if (options.signal.aborted) break;
    for (const file of files) {
      const size = await stat(file).then((s) => s.size, () => 0);
      if (size <= max) continue;
      await truncate(file, 0).catch(() => undefined);
      options.log.warn({ event: 'log-truncated', file, bytes: size, maxBytes: max }, 'a process log reached its cap and was truncated');
    }
  }
}
