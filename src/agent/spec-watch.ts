import { watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Spec } from '../model/spec.js';
import { parseSpec } from '../spec/parse.js';
import { formatDiagnostic } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { systemClock } from '../util/clock.js';

/**
 * Watches the spec file (its directory, so editors' atomic renames are seen, plus a 2 s poll as a
 * fallback) and calls `onChange` with each new VALID spec whose hash differs. Invalid specs are
 * logged with every diagnostic and change nothing: what runs keeps running.
 */
export async function watchSpec(file: string, initialHash: string, options: { signal: AbortSignal; log: Logger; onChange: (next: { spec: Spec; hash: string }) => Promise<void> }): Promise<void> {
  const { signal, log } = options;
  let lastHash = initialHash;
  let lastText: string | null = null;
  let wake: (() => void) | null = null;
  const watcher = watch(dirname(file), { persistent: false }, (_event, name) => {
    if (name === null || name === basename(file)) wake?.();
  });
  watcher.on('error', () => undefined);
  try {
    while (!signal.aborted) {
      await Promise.race([
        systemClock.sleep(2000, signal).catch(() => undefined),
        new Promise<void>((r) => { wake = r; }),
      ]);
      wake = null;
      if (signal.aborted) break;
      // Let an editor finish writing before reading.
      await systemClock.sleep(100, signal).catch(() => undefined);
      const text = await readFile(file, 'utf8').catch(() => null);
      if (text === null || text === lastText) continue;
      lastText = text;
      const parsed = parseSpec(text, { file });
      if (!parsed.ok) {
        log.error({ event: 'spec-invalid', file, errors: parsed.diagnostics.map(formatDiagnostic) }, 'the spec file changed but is invalid: nothing changes');
        continue;
      }
      if (parsed.hash === lastHash) continue;
      try {
        await options.onChange({ spec: parsed.spec, hash: parsed.hash });
        lastHash = parsed.hash;
      } catch (err) {
        log.error({ event: 'spec-apply-failed', file, err }, 'the spec change could not be applied; the last good config keeps serving');
        lastText = null; // try again on the next poll
      }
    }
  } finally {
    watcher.close();
  }
}
